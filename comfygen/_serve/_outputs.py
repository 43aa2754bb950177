"""What a finished job returns to clients: JSON items (HTTP, MCP structured content),
typed per workflow for the OpenAPI document, and MCP content blocks (images and audio
inline, every file as a link, texts as text)."""

from __future__ import annotations

import base64
import contextlib
import mimetypes
from pathlib import PurePosixPath
from typing import Any, Literal, TypeVar, cast

import mcp.types as mcp
import pydantic
from comfygen_runtime import (
    Audio,
    ComfygenError,
    File,
    Image,
    Output,
    Text,
    Video,
    WorkflowResult,
    WorkflowValidationError,
)
from pydantic import BaseModel, ConfigDict, Field

from ._catalog import Entry

__all__ = [
    "INLINE_LIMIT",
    "ErrorView",
    "FileItem",
    "Item",
    "JobView",
    "TextItem",
    "error_view",
    "job_model",
    "json_safe",
    "mcp_content",
    "output_items",
    "outputs_model",
    "result_items",
]

T = TypeVar("T")

# Images and audio up to this size go inline into MCP results; larger ones are links only.
INLINE_LIMIT = 8 * 1024 * 1024

_MIME_FALLBACK = {".flac": "audio/flac", ".webp": "image/webp", ".opus": "audio/ogg",
                  ".mkv": "video/x-matroska", ".webm": "video/webm"}  # fmt: skip
_KIND_MIME = {"image": "image/png", "video": "video/mp4", "audio": "audio/flac"}


class FileItem(BaseModel):
    """A file a workflow wrote."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["image", "video", "audio", "file"]
    node_id: str = Field(description="The node that wrote it.")
    url: str = Field(description="The file on the backend (ComfyUI /view or RunningHub).")
    href: str | None = Field(default=None, description="The file through this service.")
    filename: str
    mime_type: str


class TextItem(BaseModel):
    """A text a workflow returned."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["text"]
    node_id: str = Field(description="The node that returned it.")
    text: str


Item = FileItem | TextItem


class ErrorView(BaseModel):
    type: str = Field(description="The runtime's exception class, e.g. ExecutionError.")
    message: str
    details: list[str] = Field(
        default_factory=list, description="One line per input the server rejected."
    )


class JobView(BaseModel):
    """A job of the service, as GET /jobs/{id} shows it."""

    id: str
    workflow: str
    state: Literal["pending", "queued", "running", "succeeded", "failed", "cancelled"]
    href: str = Field(description="This job's URL (GET: status and outputs, DELETE: cancel).")
    events: str = Field(description="Its progress as server-sent events.")
    prompt_id: str | None = Field(default=None, description="The backend's job id.")
    idempotency_key: str | None = None
    outputs: dict[str, list[Item]] | None = Field(
        default=None, description="The result fields, once the job has succeeded."
    )
    seeds: dict[str, int] = Field(
        default_factory=dict, description="Seeds picked at random (node id -> seed)."
    )
    error: ErrorView | None = None


def json_safe(value: T) -> T:
    """`value` with every lone surrogate in its strings replaced by U+FFFD.

    Titles, descriptions, defaults and node texts are untrusted; JSON text may spell a lone
    surrogate (`"\\ud800"`), which Python keeps but no UTF-8 encoder writes. Everything
    this service sends passes through here, so one hostile string cannot break a listing.
    """
    cleaned: Any = value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            cleaned = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    elif isinstance(value, dict):
        cleaned = {json_safe(key): json_safe(item) for key, item in value.items()}
    elif isinstance(value, list | tuple):
        cleaned = [json_safe(item) for item in value]
    return cast(T, cleaned)


def _mime_type(filename: str, kind: str) -> str:
    suffix = PurePosixPath(filename).suffix.lower()
    guessed = mimetypes.guess_type(f"x{suffix}")[0]
    return guessed or _MIME_FALLBACK.get(suffix) or _KIND_MIME.get(kind, "application/octet-stream")


def _kind(item: File) -> Literal["image", "video", "audio", "file"]:
    if isinstance(item, Image):
        return "image"
    if isinstance(item, Video):
        return "video"
    if isinstance(item, Audio):
        return "audio"
    return "file"


def result_items(entry: Entry, result: WorkflowResult) -> list[tuple[str, int, Output]]:
    """Every output item of a result with its field name and index in that field."""
    found: list[tuple[str, int, Output]] = []
    for info in entry.outputs:
        items: list[Output] = getattr(result, info.name)
        found += [(info.name, index, item) for index, item in enumerate(items)]
    return found


def output_items(
    entry: Entry, result: WorkflowResult, job_href: str | None
) -> dict[str, list[dict[str, Any]]]:
    """The result's fields as JSON data; `job_href` gives each file a link through us."""
    fields: dict[str, list[dict[str, Any]]] = {info.name: [] for info in entry.outputs}
    text: Any
    for name, index, item in result_items(entry, result):
        if isinstance(item, Text):
            text = {"kind": "text", "node_id": item.node_id, "text": json_safe(item.text)}
            fields[name].append(text)
        elif isinstance(item, File):
            kind = _kind(item)
            fields[name].append(
                {
                    "kind": kind,
                    "node_id": item.node_id,
                    "url": item.url,
                    "href": f"{job_href}/files/{name}/{index}" if job_href else None,
                    "filename": item.filename,
                    "mime_type": _mime_type(item.filename, kind),
                }
            )
    return fields


def outputs_model(entry: Entry) -> type[BaseModel]:
    """The typed outputs of one workflow (for OpenAPI and MCP output schemas)."""
    fields: dict[str, Any] = {}
    for info in entry.outputs:
        item: Any = {"text": TextItem, "file": Item}.get(info.kind, FileItem)
        fields[info.name] = (list[item], Field(description=info.description))
    stem = entry.params_model.__name__.removesuffix("Params")
    model: type[BaseModel] = pydantic.create_model(
        f"{stem}Outputs", __config__=ConfigDict(frozen=True), **fields
    )
    return model


def job_model(entry: Entry) -> type[JobView]:
    """`JobView` with this workflow's typed outputs."""
    stem = entry.params_model.__name__.removesuffix("Params")
    outputs: Any = outputs_model(entry) | None
    model: type[JobView] = pydantic.create_model(
        f"{stem}Job", __base__=JobView, outputs=(outputs, Field(default=None))
    )
    return model


def error_view(error: BaseException) -> ErrorView:
    details = [str(e) for e in error.errors] if isinstance(error, WorkflowValidationError) else []
    message = str(error) or type(error).__name__
    if not isinstance(error, ComfygenError | ValueError):
        message = f"{type(error).__name__}: {message}"
    return ErrorView(type=type(error).__name__, message=message, details=details)


async def mcp_content(entry: Entry, result: WorkflowResult) -> list[mcp.ContentBlock]:
    """The result as MCP content: a summary, texts, images and audio inline, file links."""
    items = result_items(entry, result)
    counts = ", ".join(
        f"{info.name}: {sum(1 for name, _, _ in items if name == info.name)}"
        for info in entry.outputs
    )
    blocks: list[mcp.ContentBlock] = [
        mcp.TextContent(
            text=json_safe(f"{entry.name} finished (prompt {result.prompt_id}). {counts}")
        )
    ]
    for name, index, item in items:
        if isinstance(item, Text):
            blocks.append(mcp.TextContent(text=json_safe(item.text)))
            continue
        if not isinstance(item, File):
            continue
        kind = _kind(item)
        mime = _mime_type(item.filename, kind)
        if kind in ("image", "audio"):
            data = await _read_up_to(item, INLINE_LIMIT)
            if data is not None:
                encoded = base64.b64encode(data).decode("ascii")
                blocks.append(
                    mcp.ImageContent(data=encoded, mime_type=mime)
                    if kind == "image"
                    else mcp.AudioContent(data=encoded, mime_type=mime)
                )
        blocks.append(
            mcp.ResourceLink(
                uri=item.url,
                name=item.filename,
                description=f"{name}[{index}]: {kind} from node {item.node_id}",
                mime_type=mime,
            )
        )
    return blocks


async def _read_up_to(item: File, limit: int) -> bytes | None:
    """The file's bytes, or None as soon as it turns out larger than `limit` (the rest
    is never read)."""
    data = bytearray()
    async with contextlib.aclosing(item.stream()) as chunks:
        async for chunk in chunks:
            data += chunk
            if len(data) > limit:
                return None
    return bytes(data)
