"""Backend configuration: constructor arguments, then environment variables, then defaults.

Secrets (API keys, cookies, credentials in URLs) are kept in `Secret` values whose repr
and str are masked, so they cannot leak through logs, reprs or exception messages.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_COMFYUI_URL",
    "DEFAULT_RUNNINGHUB_URL",
    "ComfyUIConfig",
    "RunningHubConfig",
    "Secret",
    "parse_cookies",
    "redact_url",
    "server_urls",
]

DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"


class Secret:
    """A secret string that never shows itself in repr() or str()."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_cookies(cookies: str | Mapping[str, str] | None) -> dict[str, str]:
    """`"a=1; b=2"`, a JSON object `'{"a": "1"}'` or a mapping -> cookie names and values.

    (comfykit also takes a URL to fetch the cookies from; `ComfyKit` does that fetch.)
    """
    if cookies is None:
        return {}
    if isinstance(cookies, str):
        text = cookies.strip()
        if text.startswith(("http://", "https://")):
            raise ValueError(
                "cookies given as a URL are fetched by ComfyKit only; pass them as "
                "'name=value; other=value', as a JSON object, or as a mapping"
            )
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except ValueError:
                raise ValueError("cookies look like JSON but do not parse as JSON") from None
            if not isinstance(loaded, dict):
                raise ValueError("cookies given as JSON must be an object of names and values")
            return {str(name): str(value) for name, value in loaded.items()}
        parsed: dict[str, str] = {}
        for part in text.split(";"):
            name, sep, value = part.strip().partition("=")
            if name and sep:
                parsed[name.strip()] = value.strip()
        return parsed
    return dict(cookies)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redact_url(url: str) -> str:
    """The URL as messages show it: no user:password, no query or fragment (they may
    carry tokens). The one redactor of the runtime."""
    parts = urlsplit(_without_credentials(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def server_urls(value: str | None) -> list[str]:
    """The ComfyUI URLs in `COMFYUI_BASE_URL` or a `servers` string: one URL, or several
    separated by commas (blanks around them ignored); the default URL when there is none."""
    urls = [url.strip() for url in (value or "").split(",") if url.strip()]
    return urls or [DEFAULT_COMFYUI_URL]


@dataclass(frozen=True)
class ComfyUIConfig:
    """Where and how to reach a ComfyUI server."""

    base_url: str  # never with credentials: those are in `basic_auth`
    api_key: Secret | None = None
    cookies: Mapping[str, Secret] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth: tuple[Secret, Secret] | None = None  # from http://user:password@host
    comfy_org_api_key: Secret | None = None  # for API (partner) nodes: sent in extra_data

    @classmethod
    def resolve(
        cls,
        base_url: str | None = None,
        api_key: str | None = None,
        cookies: str | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        comfy_org_api_key: str | None = None,
    ) -> ComfyUIConfig:
        environ = os.environ if env is None else env
        url = base_url or environ.get("COMFYUI_BASE_URL") or DEFAULT_COMFYUI_URL
        if "," in url and len(server_urls(url)) > 1:
            source = "base_url" if base_url else "COMFYUI_BASE_URL"
            raise ValueError(
                f"{source} lists several ComfyUI servers; a ComfyUI client talks to one: "
                "use ComfyUIPool(...) for several (the default client does so by itself)"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"ComfyUI base URL must be http(s)://host[:port][/prefix], got {redact_url(url)!r}"
            )
        if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
            # Requests would be sent to a mangled URL, and a token there would show in it.
            raise ValueError(
                f"ComfyUI base URL {redact_url(url)!r} has a query or fragment; a base URL is "
                "http(s)://host[:port][/prefix]: pass a token as api_key=..., headers=... "
                "or cookies=..."
            )
        key = api_key if api_key is not None else environ.get("COMFYUI_API_KEY")
        org_key = (
            comfy_org_api_key if comfy_org_api_key is not None else environ.get("COMFY_ORG_API_KEY")
        )
        cookie_source = cookies if cookies is not None else environ.get("COMFYUI_COOKIES")
        credentials = None
        if parts.username is not None or parts.password is not None:
            credentials = (
                Secret(unquote(parts.username or "")),
                Secret(unquote(parts.password or "")),
            )
        return cls(
            base_url=_without_credentials(url).rstrip("/"),
            basic_auth=credentials,
            api_key=Secret(key) if key else None,
            cookies={k: Secret(v) for k, v in parse_cookies(cookie_source).items()},
            headers=dict(headers or {}),
            comfy_org_api_key=Secret(org_key) if org_key else None,
        )

    def __repr__(self) -> str:
        return (
            f"ComfyUIConfig(base_url={self.display_url!r}, "
            f"api_key={'***' if self.api_key else None}, "
            f"comfy_org_api_key={'***' if self.comfy_org_api_key else None}, "
            f"cookies={sorted(self.cookies)}, "
            f"headers={sorted(self.headers)})"
        )

    def request_headers(self) -> dict[str, str]:
        """Headers for every HTTP request and the websocket handshake."""
        headers = dict(self.headers)
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        elif self.basic_auth is not None:
            user, password = (part.reveal() for part in self.basic_auth)
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v.reveal()}" for k, v in self.cookies.items())
        return headers

    @property
    def display_url(self) -> str:
        return redact_url(self.base_url)


DEFAULT_RUNNINGHUB_URL = "https://www.runninghub.ai"


@dataclass(frozen=True)
class RunningHubConfig:
    """How to reach RunningHub: `RUNNINGHUB_*` variables as comfykit reads them."""

    api_key: Secret
    base_url: str
    timeout: float | None  # None: a run waits as long as its task runs
    retry_count: int
    instance_type: str | None

    @classmethod
    def resolve(
        cls,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        retry_count: int | None = None,
        instance_type: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunningHubConfig:
        environ = os.environ if env is None else env
        key = api_key or environ.get("RUNNINGHUB_API_KEY")
        if not key:
            raise ValueError(
                "RunningHub needs an API key: pass api_key=... or set RUNNINGHUB_API_KEY"
            )
        url = (base_url or environ.get("RUNNINGHUB_BASE_URL") or DEFAULT_RUNNINGHUB_URL).rstrip("/")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError(f"RunningHub base URL must be http(s)://host, got {redact_url(url)!r}")
        waiting = timeout if timeout is not None else environ.get("RUNNINGHUB_TIMEOUT") or None
        return cls(
            api_key=Secret(key),
            base_url=url,
            timeout=float(waiting) if waiting is not None else None,
            retry_count=int(
                retry_count if retry_count is not None else environ.get("RUNNINGHUB_RETRY_COUNT", 3)
            ),
            instance_type=instance_type or environ.get("RUNNINGHUB_INSTANCE_TYPE") or None,
        )

    def __repr__(self) -> str:
        return (
            f"RunningHubConfig(base_url={redact_url(self.base_url)!r}, api_key=***, "
            f"timeout={self.timeout}, retry_count={self.retry_count}, "
            f"instance_type={self.instance_type!r})"
        )
