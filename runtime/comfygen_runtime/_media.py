"""Values accepted by media parameters (`$~image`) and turning them into uploads."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from ._errors import ParameterError
from ._spec import ParamSpec

__all__ = [
    "MediaInput",
    "Upload",
    "UploadOnce",
    "hashed",
    "is_url",
    "media_sources",
    "read_local",
    "upload_for",
    "url_suffix",
]

_HASH_HERE = 1 << 20  # bytes hashed on the event loop; larger contents in a worker thread

MediaInput: TypeAlias = Path | bytes | str
"""A `Path` or existing file path, raw `bytes`, an http(s) URL, or a file name already on
the server; the runtime uploads what needs uploading and writes the server's name."""


@dataclass(frozen=True)
class Upload:
    """Bytes to upload under a name derived from their content."""

    name: str
    data: bytes
    content_type: str


_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF8", ".gif"),
    (b"RIFF", ".wav"),  # refined below for WEBP
    (b"ID3", ".mp3"),
    (b"fLaC", ".flac"),
    (b"OggS", ".ogg"),
    (b"\x1aE\xdf\xa3", ".webm"),
]


def _sniff_suffix(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[4:8] == b"ftyp":
        return ".mp4"
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    return ".bin"


def upload_for(data: bytes, suffix: str | None) -> Upload:
    """Name uploads by content, so the same bytes always get the same server name."""
    chosen = (suffix or "").lower()
    if chosen and not chosen.startswith("."):
        chosen = "." + chosen
    chosen = chosen or _sniff_suffix(data)
    if len(chosen) > 12 or not chosen[1:].isalnum():
        chosen = _sniff_suffix(data)
    digest = hashlib.sha256(data).hexdigest()[:32]
    content_type = mimetypes.types_map.get(chosen, "application/octet-stream")
    return Upload(f"comfygen-{digest}{chosen}", data, content_type)


async def hashed(data: bytes, suffix: str | None) -> Upload:
    """`upload_for`, with a large content's digest computed off the event loop."""
    if len(data) <= _HASH_HERE:
        return upload_for(data, suffix)
    return await asyncio.to_thread(upload_for, data, suffix)


def is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


def url_suffix(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).suffix


async def read_local(value: Path | str, param: str) -> Upload:
    """Read a local file for upload; a missing file is a clear error before any submit."""
    path = Path(value)
    if not path.is_file():
        raise ParameterError(
            f"media parameter {param!r}: {str(path)!r} is not a file "
            "(pass an existing path, bytes, an http(s) URL, or a file name on the server)"
        )
    return await asyncio.to_thread(lambda: upload_for(path.read_bytes(), path.suffix))


class UploadOnce:
    """A client's uploads: each content is sent once, and concurrent callers of the same
    content share one upload. `send` uploads and returns the backend's name for the file."""

    def __init__(self, send: Callable[[Upload], Awaitable[str]]) -> None:
        self._send = send
        self._sent: dict[str, asyncio.Future[str]] = {}

    async def __call__(self, upload: Upload) -> str:
        pending = self._sent.get(upload.name)
        if pending is None or _failed(pending):  # a failed upload is tried again
            pending = self._sent[upload.name] = asyncio.ensure_future(self._send(upload))
            pending.add_done_callback(self._settled)
        return await asyncio.shield(pending)  # one caller's cancellation spares the others

    def _settled(self, sent: asyncio.Future[str]) -> None:
        """Forget an upload that failed, also when no caller was left to see it fail
        (it was cancelled meanwhile): the next caller of that content sends it anew."""
        if _failed(sent):
            for name, known in list(self._sent.items()):
                if known is sent:
                    del self._sent[name]


def _failed(sent: asyncio.Future[str]) -> bool:
    return sent.done() and (sent.cancelled() or sent.exception() is not None)


async def media_sources(
    params: Iterable[ParamSpec], values: Mapping[str, Any]
) -> dict[str, Upload | str]:
    """What each media value needs, by parameter: bytes to upload, or an http(s) URL.

    Values absent here need nothing: a string that is not a local file names a file the
    backend already has. Every local file is read (and checked) before the caller uploads
    anything, so a missing path fails before any upload or submission.
    """
    sources: dict[str, Upload | str] = {}
    for param in params:
        value = values.get(param.name)
        if not param.media or value is None:
            continue
        if isinstance(value, bytes):
            sources[param.name] = await hashed(value, None)
        elif isinstance(value, str) and is_url(value):
            sources[param.name] = value
        elif isinstance(value, str) and not os.path.isfile(value):
            continue
        else:
            sources[param.name] = await read_local(value, param.name)
    return sources
