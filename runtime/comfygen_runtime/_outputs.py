"""Typed references to what a workflow produced, and mapping raw outputs onto them.

Every item of a result field is one of these. Files (`Image`, `Video`, `Audio`, `File`)
name a file on the backend and can be read or saved; `Text` carries text that a node
returned (and, for nodes that also write it, the file it was written to).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, PrivateAttr

from ._errors import ComfygenError
from ._spec import OutputKind, WorkflowSpec

__all__ = [
    "Audio",
    "File",
    "FileSource",
    "Image",
    "MakeFile",
    "Output",
    "Text",
    "Video",
    "map_outputs",
    "node_items",
]


class FileSource(Protocol):
    """Where a file reference's bytes come from (the backend that produced it)."""

    def stream_file(self, ref: File) -> AsyncGenerator[bytes, None]: ...


class Output(BaseModel):
    """Base of every output reference: which node produced it."""

    model_config = ConfigDict(frozen=True)

    node_id: str


class File(Output):
    """A file written by an output node (generic: 3D models, archives, unknown kinds)."""

    filename: str
    subfolder: str = ""
    type: str = "output"
    url: str = ""
    _source: FileSource | None = PrivateAttr(default=None)

    async def read(self) -> bytes:
        """Download the whole file."""
        return b"".join([chunk async for chunk in self._stream()])

    def stream(self) -> AsyncGenerator[bytes, None]:
        """The file's bytes as they arrive, chunk by chunk (nothing is kept in memory)."""
        return self._stream()

    async def save(self, directory: str | os.PathLike[str], name: str | None = None) -> Path:
        """Stream the file into `directory` (created if missing) and return its path.

        The file is saved under its own base name (or `name`); a name that would land
        outside `directory` is refused. The write is atomic: no partial file is left.
        """
        folder = Path(directory).resolve()
        chosen = name if name is not None else PurePosixPath(self.filename).name
        target = (folder / chosen).resolve()
        if not chosen or target.parent != folder:
            raise ComfygenError(
                f"refusing to save {chosen!r}: it would be written outside {str(folder)!r}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        # A unique temporary name, opened as the final file would be (0o666 less the
        # process umask, applied by the OS): no need to read the umask, which only
        # os.umask(), a process-wide change racing other threads, could tell.
        temporary = folder / f".download-{uuid.uuid4().hex}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        descriptor = os.open(temporary, flags, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                async for chunk in self._stream():
                    handle.write(chunk)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return target

    def _stream(self) -> AsyncGenerator[bytes, None]:
        if self._source is None:
            raise ComfygenError(f"{self.filename!r} is not attached to a backend to read from")
        return self._source.stream_file(self)


class Image(File):
    """An image (still or animated) written by an output node."""

    animated: bool = False


class Video(File):
    """A video written by an output node."""


class Audio(File):
    """An audio file written by an output node."""


class Text(Output):
    """Text returned by a node (`PreviewAny`, `SaveText`, ...)."""

    text: str
    file: File | None = None


_KIND_CLASS: dict[OutputKind, type[File]] = {"image": Image, "video": Video, "audio": Audio}
_VIDEO_EXTENSIONS = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"}
_AUDIO_EXTENSIONS = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"}
_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tiff", ".avif"}
_TEXT_EXTENSIONS = {".txt", ".json", ".md", ".csv"}

MakeFile = Callable[[type[File], str, Mapping[str, Any]], File]
"""Build a file reference of a class for a node from a raw record (sets url and source)."""


def _suffix(record: Mapping[str, Any]) -> str:
    return PurePosixPath(str(record.get("filename", ""))).suffix.lower()


def _guess_class(key: str, record: Mapping[str, Any]) -> type[File]:
    suffix = _suffix(record)
    if suffix in _VIDEO_EXTENSIONS or key in ("video", "videos"):
        return Video
    if suffix in _AUDIO_EXTENSIONS or key == "audio":
        return Audio
    if suffix in _IMAGE_EXTENSIONS or key in ("images", "gifs"):
        return Image
    return File


def _file_records(record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    found: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in record.items():
        if isinstance(value, list):
            found += [
                (key, item) for item in value if isinstance(item, dict) and "filename" in item
            ]
    return found


def node_items(
    kind: OutputKind, node_id: str, record: Mapping[str, Any], make_file: MakeFile
) -> list[Output]:
    """The references in one node's raw output record, typed for a field of `kind`.

    An image/video/audio field takes every file the node wrote as that kind (a node's kind
    is known from its class: VHS writes videos under `gifs`, SaveVideo under `images`);
    a text field takes the node's texts, each with the file it was saved to, if any; a
    generic field classifies each file by its key and extension.
    """
    files = _file_records(record)
    text_files = [item for item in files if _suffix(item[1]) in _TEXT_EXTENSIONS]
    raw = record.get("text", [])
    raw = [raw] if isinstance(raw, str) else raw  # a node may report one text, not a list
    texts = [str(text) for text in raw if isinstance(text, str)]
    items: list[Output] = []
    if kind in _KIND_CLASS:
        cls = _KIND_CLASS[kind]
        for _, item in files:
            if _suffix(item) in _TEXT_EXTENSIONS:
                continue  # a node's text written as a file is no image/video/audio
            ref = make_file(cls, node_id, item)
            if isinstance(ref, Image) and record.get("animated") in ([True], True):
                ref = ref.model_copy(update={"animated": True})
            items.append(ref)
        return items
    if kind == "text":
        for index, text in enumerate(texts):
            attached = (
                make_file(File, node_id, text_files[index][1]) if index < len(text_files) else None
            )
            items.append(Text(node_id=node_id, text=text, file=attached))
        return items
    items += [make_file(_guess_class(key, item), node_id, item) for key, item in files]
    items += [Text(node_id=node_id, text=text) for text in texts]
    return items


def map_outputs(
    spec: WorkflowSpec, outputs: Mapping[str, Any], make_file: MakeFile
) -> dict[str, list[Output]]:
    """Result fields (by name) from the raw per-node outputs of a finished job."""
    fields: dict[str, list[Output]] = {}
    for output in spec.outputs:
        items: list[Output] = []
        for node_id in output.node_ids:
            record = outputs.get(node_id)
            if isinstance(record, Mapping):
                items += node_items(output.kind, node_id, record, make_file)
        fields[output.name] = items
    return fields
