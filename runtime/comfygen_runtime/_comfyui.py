"""The ComfyUI backend: HTTP through httpx and ONE websocket per client.

Every job of a client shares the socket (`/ws?clientId=...`); messages are routed to jobs
by `prompt_id`. The rules below come from recordings of a real ComfyUI server:

- Every POST /prompt carries this client's `client_id` (without it the server sends no
  execution events) and a client-chosen lowercase UUID `prompt_id`, never `number` (a
  repeated id with a repeated number can kill the server's worker thread).
- A job is done when `executing` arrives with `node: null` for its prompt_id: the server
  sends it after it has written the history (`execution_success` comes before). Then
  `/history/{id}` is the source of truth for outputs and errors.
- If the socket is unavailable or drops, jobs poll `/history/{id}` with capped backoff, and
  check on reconnect; a job the server no longer knows (restart, deleted from the queue
  by another client) raises `JobLostError` instead of waiting forever.
- A submission that fails mid-way (connection reset, 5xx) is never blindly repeated: the
  server is asked whether it knows the prompt_id first, so no job runs twice.
- Cancelling cancels only our job: `/api/jobs/{id}/cancel`, or on older servers a queue
  delete plus an interrupt targeted at the prompt_id. Never a global interrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from ._apply import apply_params
from ._config import ComfyUIConfig, redact_url
from ._errors import (
    BackendUnavailableError,
    ComfygenError,
    JobInterruptedError,
    JobLostError,
    MissingNodeError,
    ParameterError,
    PromptRejectedError,
    WorkflowTimeoutError,
)
from ._events import Event, EventHandler, emit, has_listeners
from ._failures import execution_error, validation_error
from ._media import Upload, UploadOnce, media_sources, upload_for, url_suffix
from ._outputs import File, map_outputs
from ._result import WorkflowResult
from ._seeds import randomize_zero_seeds
from ._spec import WorkflowSpec

logger = logging.getLogger("comfygen_runtime")
# websockets logs handshake headers (our API key, cookies) at DEBUG: never let it.
_SOCKET_LOG = logging.getLogger("comfygen_runtime.socket")
_SOCKET_LOG.setLevel(logging.INFO)

ResultT = TypeVar("ResultT", bound=WorkflowResult)

_PREVIEW_IMAGE = 1
_TEXT = 3
_PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "jpeg", 2: "png"}
_CHECK: dict[str, Any] = {"type": "_check"}  # is the job still known to the server?
_POLL: dict[str, Any] = {"type": "_poll"}  # no socket: look at the history


@dataclass
class _Job:
    """A job this client follows; the socket reader feeds its inbox."""

    prompt_id: str
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    submitted_at: float | None = None
    socket_epoch: int | None = None  # `sockets_opened` when submitted over a live socket


class ComfyUI:
    """A ComfyUI server. Use one per server and share it: all its jobs share one socket.

    Configuration: arguments, then `COMFYUI_BASE_URL`, `COMFYUI_API_KEY`,
    `COMFYUI_COOKIES`, then `http://127.0.0.1:8188`. `api_prefix=True` sends requests to
    the server's `/api/...` aliases (for proxies that expose only those).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        cookies: str | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        api_prefix: bool = False,
        request_timeout: float = 30.0,
        unavailable_after: float = 60.0,
        max_poll_interval: float = 1.0,
        liveness_interval: float = 10.0,
        max_connections: int = 16,
        randomize_seeds: bool = False,
    ) -> None:
        self._config = ComfyUIConfig.resolve(base_url, api_key, cookies, headers)
        self._prefix = "/api" if api_prefix else ""
        self._request_timeout = request_timeout
        self._unavailable_after = unavailable_after
        self._max_poll_interval = max_poll_interval
        self._liveness_interval = liveness_interval
        # A ComfyUI server handles requests one at a time; a small pool is faster (httpcore
        # scans its pool for every queued request) and plenty for parallel transfers.
        self._max_connections = max_connections
        self._randomize_seeds = randomize_seeds
        self.client_id = uuid.uuid4().hex
        self.sockets_opened = 0
        self._http: httpx.AsyncClient | None = None
        self._jobs: dict[str, _Job] = {}
        self._socket: ClientConnection | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._socket_ready: asyncio.Event | None = None
        self._socket_tried: asyncio.Event | None = None  # set after the first attempt
        self._socket_failed_at: float | None = None
        self._executing: str | None = None  # prompt_id the server is executing now
        self._upload_once = UploadOnce(self._upload)
        self._reconcile_task: asyncio.Task[None] | None = None
        self._reconcile_again = False
        self._has_jobs_api: bool | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"ComfyUI({self._config.display_url!r})"

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> ComfyUI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the socket and the HTTP connections; running jobs are not cancelled.

        Calls still waiting on this client fail with `BackendUnavailableError`.
        """
        self._closed = True
        self._broadcast({"type": "_disconnected"})
        for task in (self._socket_task, self._reconcile_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._socket is not None:
            await self._socket.close()
        if self._http is not None:
            await self._http.aclose()
        self._socket_task = self._reconcile_task = None
        self._socket = self._http = None

    # -- HTTP --------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self._config.base_url,
                headers=self._config.request_headers(),
                timeout=self._request_timeout,
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
            )
        return self._http

    def _path(self, path: str) -> str:
        return path if path.startswith("/api/jobs") else self._prefix + path

    async def _request(
        self, method: str, path: str, *, patience: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One HTTP request, retried while the server is unreachable (connect errors, 5xx)
        for `patience` seconds (default: the client's `unavailable_after`).

        Only for requests that are safe to repeat; POST /prompt has its own logic.
        """
        deadline = time.monotonic() + (self._unavailable_after if patience is None else patience)
        delay = 0.05
        while True:
            try:
                response = await self._client().request(method, self._path(path), **kwargs)
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as error:
                problem = type(error).__name__
            if time.monotonic() >= deadline:
                raise BackendUnavailableError(
                    f"ComfyUI at {self._config.display_url} is unavailable "
                    f"({method} {path}: {problem})"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_poll_interval)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        try:
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPStatusError, ValueError):
            raise BackendUnavailableError(
                f"ComfyUI at {self._config.display_url} answered {method} {path} with "
                f"HTTP {response.status_code} and no usable JSON"
            ) from None

    def view_url(self, record: Mapping[str, Any]) -> str:
        """The absolute `/view` URL of an output file, with its query correctly encoded."""
        query = urlencode(
            {
                "filename": str(record.get("filename", "")),
                "subfolder": str(record.get("subfolder", "")),
                "type": str(record.get("type", "output")),
            },
            quote_via=quote,
        )
        return f"{self._config.base_url}{self._prefix}/view?{query}"

    async def stream_file(self, ref: File) -> AsyncIterator[bytes]:
        """Stream an output file's bytes from `/view`."""
        params = {"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type}
        async with self._client().stream("GET", self._path("/view"), params=params) as reply:
            if reply.status_code != 200:
                raise ComfygenError(
                    f"cannot download {ref.filename!r} from {self._config.display_url}: "
                    f"HTTP {reply.status_code}"
                )
            async for chunk in reply.aiter_bytes():
                yield chunk

    # -- uploads -----------------------------------------------------------------------

    async def upload(self, data: bytes, *, suffix: str | None = None) -> str:
        """Upload bytes as an input file and return the server's file name for it.

        The name is derived from the content, so the same bytes are uploaded only once.
        """
        return await self._upload_once(upload_for(data, suffix))

    async def _upload(self, upload: Upload) -> str:
        params = {"filename": upload.name, "type": "input", "subfolder": ""}
        known = await self._request("HEAD", "/view", params=params)
        if known.status_code == 200:
            return upload.name  # the server has these bytes already: send nothing
        reply = await self._request(
            "POST",
            "/upload/image",
            files={"image": (upload.name, upload.data, upload.content_type)},
            data={"overwrite": "true"},
        )
        if reply.status_code != 200:
            raise ComfygenError(f"upload of {upload.name!r} failed: HTTP {reply.status_code}")
        name = reply.json().get("name")
        if name != upload.name:
            raise ComfygenError(f"the server stored upload {upload.name!r} as {name!r}")
        return upload.name

    async def _resolve_media(self, spec: WorkflowSpec, values: dict[str, Any]) -> None:
        """Replace media values with server file names, uploading what needs it."""
        for name, source in (await media_sources(spec.params, values)).items():
            upload = await self._download(source, name) if isinstance(source, str) else source
            values[name] = await self._upload_once(upload)

    async def _download(self, url: str, param: str) -> Upload:
        try:
            async with httpx.AsyncClient(timeout=self._request_timeout) as fetcher:
                reply = await fetcher.get(url, follow_redirects=True)
        except httpx.HTTPError as error:
            raise ParameterError(
                f"media parameter {param!r}: cannot download {_safe_url(url)}: "
                f"{type(error).__name__}"
            ) from None
        if reply.status_code != 200:
            raise ParameterError(
                f"media parameter {param!r}: downloading {_safe_url(url)} gave "
                f"HTTP {reply.status_code}"
            )
        return upload_for(reply.content, url_suffix(url))

    # -- the socket --------------------------------------------------------------------

    def _socket_url(self) -> str:
        parts = urlsplit(self._config.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}{self._prefix}/ws"
        return urlunsplit((scheme, parts.netloc, path, f"clientId={self.client_id}", ""))

    async def _ensure_socket(self) -> bool:
        """Start the shared socket if needed; wait briefly for it. False: poll instead."""
        if self._socket_task is None or self._socket_task.done():
            self._socket_ready = asyncio.Event()
            self._socket_tried = asyncio.Event()
            self._socket_task = asyncio.ensure_future(self._socket_loop())
        assert self._socket_ready is not None and self._socket_tried is not None
        if not self._socket_ready.is_set() and self._socket_failed_at is None:
            await _within(self._socket_tried.wait(), 10.0)
        return self._socket_ready.is_set()

    async def _socket_loop(self) -> None:
        """Keep one socket open for as long as jobs need it; reconnect with backoff."""
        delay = 0.05
        while not self._closed:
            try:
                async with connect(
                    self._socket_url(),
                    additional_headers=self._config.request_headers(),
                    max_size=None,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    logger=_SOCKET_LOG,
                ) as socket:
                    self.sockets_opened += 1
                    self._socket = socket
                    self._socket_failed_at = None
                    delay = 0.05
                    await socket.send(
                        json.dumps(
                            {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
                        )
                    )
                    assert self._socket_ready is not None and self._socket_tried is not None
                    self._socket_ready.set()
                    self._socket_tried.set()
                    if self.sockets_opened > 1:
                        self._broadcast({"type": "_reconnected"})
                    async for message in socket:
                        self._route(message)
            except (OSError, WebSocketException, asyncio.TimeoutError) as error:
                logger.debug("ComfyUI socket: %s", type(error).__name__)
            finally:
                self._socket = None
                if self._socket_ready is not None:
                    self._socket_ready.clear()
            if self._socket_failed_at is None:
                self._socket_failed_at = time.monotonic()
            if self._socket_tried is not None:
                self._socket_tried.set()
            self._broadcast({"type": "_disconnected"})
            if not self._jobs:
                return  # reopened lazily by the next job
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _broadcast(self, message: dict[str, Any]) -> None:
        for job in self._jobs.values():
            job.inbox.put_nowait(message)

    def _route(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._route_binary(message)
            return
        try:
            parsed = json.loads(message)
        except ValueError:
            return
        if not isinstance(parsed, dict):
            return  # custom nodes may send anything; only objects are protocol messages
        kind = parsed.get("type")
        data = parsed.get("data")
        if not isinstance(data, dict):
            data = {}
        prompt_id = data.get("prompt_id")
        if kind == "execution_start" or (kind == "executing" and data.get("node") is not None):
            self._executing = prompt_id  # binary frames carry no prompt_id: they are its
        elif kind == "executing":
            self._executing = None
        if kind == "status":
            self._schedule_reconcile()
        job = self._jobs.get(prompt_id) if isinstance(prompt_id, str) else None
        if job is not None:
            job.inbox.put_nowait(parsed)

    def _route_binary(self, frame: bytes) -> None:
        if len(frame) < 8:
            return
        (event_type,) = struct.unpack(">I", frame[:4])
        message: dict[str, Any] | None = None
        prompt_id = self._executing
        if event_type == _PREVIEW_IMAGE:
            (image_type,) = struct.unpack(">I", frame[4:8])
            message = {
                "type": "_preview",
                "image": frame[8:],
                "format": _IMAGE_FORMATS.get(image_type, "unknown"),
            }
        elif event_type == _PREVIEW_IMAGE_WITH_METADATA:
            (length,) = struct.unpack(">I", frame[4:8])
            try:
                metadata = json.loads(frame[8 : 8 + length])
            except ValueError:
                return
            if not isinstance(metadata, dict):
                return
            prompt_id = metadata.get("prompt_id") or prompt_id
            image_type = str(metadata.get("image_type", ""))
            message = {
                "type": "_preview",
                "image": frame[8 + length :],
                "format": image_type.removeprefix("image/") or "unknown",
                "node": metadata.get("node_id"),
            }
        elif event_type == _TEXT:
            (length,) = struct.unpack(">I", frame[4:8])
            node = frame[8 : 8 + length].decode("utf-8", "replace")
            text = frame[8 + length :].decode("utf-8", "replace")
            message = {"type": "_text", "node": node, "text": text}
        job = self._jobs.get(prompt_id) if prompt_id else None
        if job is not None and message is not None:
            job.inbox.put_nowait(message)

    # -- reconciling jobs the socket says nothing about ------------------------------

    def _schedule_reconcile(self) -> None:
        """A `status` broadcast may mean a job of ours was deleted; check, at most 1/s."""
        if not any(job.submitted_at is not None for job in self._jobs.values()):
            return
        if self._reconcile_task is not None and not self._reconcile_task.done():
            self._reconcile_again = True
            return
        self._reconcile_task = asyncio.ensure_future(self._reconcile())

    async def _reconcile(self) -> None:
        while True:
            self._reconcile_again = False
            started = time.monotonic()
            with contextlib.suppress(ComfygenError, httpx.HTTPError, ValueError):
                live = await self._live_ids()
                for job in list(self._jobs.values()):
                    if (
                        job.submitted_at is not None
                        and job.submitted_at < started
                        and job.prompt_id not in live
                    ):
                        job.inbox.put_nowait(_CHECK)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            if not self._reconcile_again:
                return

    async def _live_ids(self) -> set[str]:
        """Ids of every pending or running job on the server."""
        if self._has_jobs_api is not False:
            reply = await self._request(
                "GET", "/api/jobs", params={"status": "pending,in_progress"}
            )
            if reply.status_code == 200:
                self._has_jobs_api = True
                return {str(job["id"]) for job in reply.json().get("jobs", [])}
            self._has_jobs_api = False
        queue = await self._json("GET", "/queue")
        items = [*queue.get("queue_running", []), *queue.get("queue_pending", [])]
        return {str(item[1]) for item in items if len(item) > 1}

    async def _history(self, prompt_id: str) -> dict[str, Any] | None:
        record = await self._json("GET", f"/history/{prompt_id}")
        entry = record.get(prompt_id) if isinstance(record, dict) else None
        return entry if isinstance(entry, dict) else None

    async def _knows(self, prompt_id: str) -> bool:
        """Whether the server has the job: pending, running, or in its history."""
        return prompt_id in await self._live_ids() or await self._history(prompt_id) is not None

    # -- running ---------------------------------------------------------------------

    async def run(
        self,
        spec: WorkflowSpec,
        values: Mapping[str, Any],
        result_type: type[ResultT],
        *,
        on_event: EventHandler | None = None,
        timeout: float | None = None,
    ) -> ResultT:
        """Upload media, submit, follow to completion and return the typed result."""
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        prompt_id = str(uuid.uuid4())
        started = time.monotonic()
        try:
            return await asyncio.wait_for(
                self._run(prompt_id, spec, dict(values), result_type, on_event), timeout
            )
        except asyncio.TimeoutError:
            if timeout is None or time.monotonic() - started < timeout:
                raise  # a TimeoutError from inside the run, not our deadline
            raise WorkflowTimeoutError(
                f"workflow {spec.name!r} did not finish within {timeout} s "
                f"(job {prompt_id}); it was cancelled on the server",
                prompt_id=prompt_id,
            ) from None

    async def _run(
        self,
        prompt_id: str,
        spec: WorkflowSpec,
        values: dict[str, Any],
        result_type: type[ResultT],
        on_event: EventHandler | None,
    ) -> ResultT:
        await self._resolve_media(spec, values)
        graph = apply_params(spec, values)
        seeds = randomize_zero_seeds(graph) if self._randomize_seeds else {}
        job = _Job(prompt_id)
        self._jobs[prompt_id] = job
        submitting = settled = False
        try:
            if await self._ensure_socket():
                job.socket_epoch = self.sockets_opened
            submitting = True
            try:
                number = await self._submit(spec, job, graph)
            except PromptRejectedError:
                settled = True  # refused: there is no job to cancel
                raise
            position = await self._position(number, on_event)
            await emit(Event("queued", prompt_id, position=position), on_event)
            try:
                record = await self._follow(job, on_event)
            except JobLostError:
                settled = True
                raise
            settled = True
            return self._result(spec, result_type, prompt_id, record, seeds)
        except BaseException:
            # Cancelled, timed out, or a callback raised: the job must not run on unseen.
            if submitting and not settled:
                await asyncio.shield(self.cancel(prompt_id))
            raise
        finally:
            del self._jobs[prompt_id]

    async def _position(self, number: float | None, on_event: EventHandler | None) -> int | None:
        """Jobs ahead of ours; asked only when someone listens to events."""
        if number is None or (on_event is None and not has_listeners()):
            return None
        with contextlib.suppress(ComfygenError, httpx.HTTPError, ValueError, KeyError):
            queue = await self._json("GET", "/queue")
            return sum(1 for item in queue.get("queue_pending", []) if item[0] < number) + len(
                queue.get("queue_running", [])
            )
        return None

    async def _submit(self, spec: WorkflowSpec, job: _Job, graph: dict[str, Any]) -> float | None:
        """POST /prompt exactly once in effect: after an unclear failure, ask before retrying."""
        body = {"prompt": graph, "client_id": self.client_id, "prompt_id": job.prompt_id}
        deadline = time.monotonic() + self._unavailable_after
        delay = 0.05
        while True:
            problem: str
            try:
                reply = await self._client().post(self._path("/prompt"), json=body)
            except httpx.ConnectError:
                problem = "connection refused"  # nothing reached the server: safe to retry
            except httpx.TransportError as error:
                problem = type(error).__name__
                if await self._accepted(job, settle=True):
                    return None
            else:
                if reply.status_code == 200:
                    job.submitted_at = time.monotonic()
                    number = reply.json().get("number")
                    return float(number) if isinstance(number, (int, float)) else None
                if reply.status_code < 500:
                    raise _rejection(spec, reply)
                problem = f"HTTP {reply.status_code}"
                # 503: the server (or a proxy) turned the request away before handling it
                if await self._accepted(job, settle=reply.status_code != 503):
                    return None
            if time.monotonic() >= deadline:
                raise BackendUnavailableError(
                    f"ComfyUI at {self._config.display_url} did not accept the job ({problem})"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_poll_interval)

    async def _accepted(self, job: _Job, *, settle: bool) -> bool:
        """After a POST whose outcome is unclear: did the server queue the job?

        With `settle`, the server may still be validating the prompt (a proxy timed out
        first), so an unknown id is asked about again over a few seconds before it counts
        as not queued.
        """
        for wait in (0.0, 0.5, 1.0, 2.0) if settle else (0.0,):
            await asyncio.sleep(wait)
            if await self._knows(job.prompt_id):
                job.submitted_at = time.monotonic()
                return True
        return False

    async def _follow(self, job: _Job, on_event: EventHandler | None) -> dict[str, Any]:
        """Deliver the job's events until it is done; return its record (as in /history).

        When the socket was up from submission to `executing: null`, it delivered every
        `executed` output and the final status, the same data the server writes to its
        history, so no extra request is needed. Otherwise (socket down, dropped, or
        reconnected during the job) `/history/{id}` is read: it is the source of truth.
        """
        loop = asyncio.get_running_loop()
        # The socket saw everything only if it was up before the POST and never dropped.
        complete = job.socket_epoch is not None and job.socket_epoch == self.sockets_opened
        outputs: dict[str, Any] = {}
        final: list[Any] | None = None
        started: list[Any] = []
        poll_delay = 0.05
        last_check = time.monotonic()
        timer = loop.call_later(self._liveness_interval, job.inbox.put_nowait, _CHECK)
        try:
            while True:
                if self._socket_connected():
                    message = await job.inbox.get()
                else:
                    message = await _within(job.inbox.get(), poll_delay) or _POLL
                kind = message.get("type")
                data = message.get("data") or {}
                if kind == "executing" and data.get("node") is None:
                    if complete and final is not None:
                        record = {"outputs": outputs, "status": {"messages": [*started, final]}}
                    else:
                        found = await self._history(job.prompt_id)
                        if found is None:
                            raise JobLostError(job.prompt_id, "it finished but has no history")
                        record = found
                    await emit(Event("finished", job.prompt_id), on_event)
                    return record
                if kind in ("execution_success", "execution_error", "execution_interrupted"):
                    final = [kind, data]
                elif kind == "execution_start":
                    started = [[kind, data]]
                elif kind == "executed" and isinstance(data.get("output"), dict):
                    outputs[str(data.get("node"))] = data["output"]
                elif kind in ("_poll", "_check", "_reconnected", "_disconnected"):
                    complete = complete and kind == "_check"
                    if kind == "_poll":
                        poll_delay = min(poll_delay * 2, self._max_poll_interval)
                    if kind == "_check":
                        timer.cancel()  # a check from the reconcile must not start a 2nd chain
                        timer = loop.call_later(
                            self._liveness_interval, job.inbox.put_nowait, _CHECK
                        )
                    found = await self._history(job.prompt_id)
                    if found is not None and _finished(found):
                        await emit(Event("finished", job.prompt_id), on_event)
                        return found
                    since = time.monotonic() - last_check
                    if kind != "_disconnected" and (kind != "_poll" or since >= 2.0):
                        last_check = time.monotonic()
                        if not await self._knows(job.prompt_id):
                            raise JobLostError(
                                job.prompt_id,
                                "it is neither queued, running nor in the history (the "
                                "server restarted, or another client deleted it)",
                            )
                    continue
                event = _event(job.prompt_id, kind, data, message)
                if event is not None:
                    await emit(event, on_event)
        finally:
            timer.cancel()

    def _socket_connected(self) -> bool:
        return self._socket_ready is not None and self._socket_ready.is_set()

    def _result(
        self,
        spec: WorkflowSpec,
        result_type: type[ResultT],
        prompt_id: str,
        record: dict[str, Any],
        seeds: dict[str, int],
    ) -> ResultT:
        status = record.get("status") or {}
        for name, data in status.get("messages") or []:
            if name == "execution_error":
                raise execution_error(prompt_id, data)
            if name == "execution_interrupted":
                raise JobInterruptedError(prompt_id, data.get("node_id"))
        outputs = record.get("outputs") or {}
        fields = map_outputs(spec, outputs, self.file_ref)
        stamps = {
            name: data.get("timestamp")
            for name, data in status.get("messages") or []
            if isinstance(data, dict)
        }
        start, end = stamps.get("execution_start"), stamps.get("execution_success")
        duration = (end - start) / 1000 if isinstance(start, int) and isinstance(end, int) else None
        return result_type.model_validate(
            {
                "prompt_id": prompt_id,
                "outputs": outputs,
                "duration": duration,
                "seeds": seeds,
                **fields,
            }
        )

    def file_ref(self, cls: type[File], node_id: str, record: Mapping[str, Any]) -> File:
        """A reference to an output file described by a raw output record."""
        ref = cls(
            node_id=node_id,
            filename=str(record.get("filename", "")),
            subfolder=str(record.get("subfolder", "")),
            type=str(record.get("type", "output")),
            url=self.view_url(record),
        )
        ref._source = self
        return ref

    async def cancel(self, prompt_id: str) -> None:
        """Cancel one job, pending or running. Other clients' jobs are never touched.

        Best effort and bounded (5 s): it runs while a caller is being cancelled or timed
        out, and an unreachable server cannot run the job anyway.
        """
        with contextlib.suppress(ComfygenError, httpx.HTTPError, ValueError):
            await _within(self._cancel(prompt_id), 5.0)

    async def _cancel(self, prompt_id: str) -> None:
        patience = 2.0
        if self._has_jobs_api is not False:
            path = f"/api/jobs/{prompt_id}/cancel"
            reply = await self._request("POST", path, patience=patience)
            if reply.status_code == 200:
                return
        await self._request("POST", "/queue", json={"delete": [prompt_id]}, patience=patience)
        # Older servers ignore the prompt_id of /interrupt and stop whatever runs: interrupt
        # only when the running job is ours.
        queue = await self._json("GET", "/queue")
        running = {str(item[1]) for item in queue.get("queue_running", []) if len(item) > 1}
        if prompt_id in running:
            await self._request(
                "POST", "/interrupt", json={"prompt_id": prompt_id}, patience=patience
            )


T = TypeVar("T")


async def _within(waiting: Coroutine[Any, Any, T], seconds: float) -> T | None:
    """`waiting`'s result, or None after `seconds`.

    Unlike `asyncio.wait_for` on Python < 3.12, this never swallows a cancellation that
    arrives as `waiting` completes: a timeout or cancel of the caller always takes effect.
    """
    task = asyncio.ensure_future(waiting)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
    return task.result() if task in done else None


def _finished(record: dict[str, Any]) -> bool:
    status = record.get("status") or {}
    return bool(status.get("completed")) or status.get("status_str") in ("success", "error")


def _safe_url(url: str) -> str:
    """The URL for messages: no credentials, no query (it may carry tokens)."""
    parts = urlsplit(redact_url(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _event(prompt_id: str, kind: Any, data: dict[str, Any], raw: dict[str, Any]) -> Event | None:
    if kind == "execution_start":
        return Event("started", prompt_id)
    if kind == "execution_cached":
        return Event("cached", prompt_id, nodes=tuple(str(n) for n in data.get("nodes", [])))
    if kind == "executing":
        return Event("executing", prompt_id, node=data.get("node"))
    if kind == "progress":
        return Event(
            "progress", prompt_id, node=data.get("node"), value=data.get("value"),
            max=data.get("max"),
        )  # fmt: skip
    if kind == "executed":
        return Event("output", prompt_id, node=data.get("node"), output=data.get("output"))
    if kind == "_preview":
        return Event(
            "preview", prompt_id, node=raw.get("node"), image=raw["image"],
            image_format=raw["format"],
        )  # fmt: skip
    if kind == "_text":
        return Event("text", prompt_id, node=raw["node"], text=raw["text"])
    return None


def _rejection(spec: WorkflowSpec, reply: httpx.Response) -> PromptRejectedError:
    """Turn a 400 answer into the right error, naming the parameters involved."""
    try:
        body = reply.json()
    except ValueError:
        return PromptRejectedError(f"the server rejected the workflow: HTTP {reply.status_code}")
    error = body.get("error") or {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    if error.get("type") == "missing_node_type":
        info = error.get("extra_info") or {}
        return MissingNodeError(
            f"{error.get('message', 'a node class is missing')} (node {info.get('node_id')}, "
            f"class {info.get('class_type')!r}): install the custom node on the server",
            node_id=str(info.get("node_id")),
            class_type=str(info.get("class_type")),
            body=body,
        )
    node_errors = body.get("node_errors") or {}
    if node_errors:
        return validation_error(spec, node_errors, body)
    message = error.get("message") or "the server rejected the workflow"
    details = f": {error['details']}" if error.get("details") else ""
    return PromptRejectedError(f"{message}{details} ({error.get('type', 'unknown')})", body=body)
