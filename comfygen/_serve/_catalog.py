"""The served workflows: the one place where `comfygen serve` touches the compiler and the
runtime.

`load_catalog` runs the compiler's own stages (sources -> DSL -> IR) over the given files
and directories and turns each workflow into an `Entry`: its name, description, strict
params model, result model and runtime spec. `Catalog.run` makes the same runtime call a
generated function makes. The MCP tools and the HTTP API are built from these entries
only, so when the compiler or the runtime change shape, this module is what follows.

The params model is the strict one of generated code: unknown keys are refused, numbers
are bounded, combos are `Literal` choices. Media parameters take an http(s) URL or a
`data:` URI (base64); a local path is never accepted from a client.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from comfygen_runtime import (
    Backend,
    ComfyUI,
    ComfyUIPool,
    EventHandler,
    OutputKind,
    RunningHub,
    WorkflowResult,
    WorkflowSpec,
    run_workflow,
    server_urls,
)
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .._build import analyze_sources
from .._diagnostics import BuildError, Diagnostic, quote
from .._dynamic import result_model
from .._ir import OutputIR, WorkflowIR
from .._schema import Schemas, bundled
from .._translate import ParamField, translate

__all__ = [
    "DESCRIPTION_TITLE",
    "MAX_MEDIA_BYTES",
    "Catalog",
    "Entry",
    "MediaValue",
    "OutputInfo",
    "load_catalog",
    "media_value",
    "open_backend",
    "params_model",
]

# ComfyUI refuses larger uploads (server.py's max_upload_size default).
MAX_MEDIA_BYTES = 100 * 1024 * 1024

_DATA_URI = re.compile(r"data:(?P<type>[^,;]*)(?P<params>(;[^,;]*)*?);base64,(?P<data>.*)", re.S)
_MEDIA_PATTERN = r"^(https?://|data:)"
_MEDIA_HELP = (
    "An http(s) URL (fetched by the service) or a data: URI with base64 content, "
    "e.g. data:image/png;base64,iVBORw0..."
)


def media_value(value: str) -> bytes | str:
    """A client's media value: an http(s) URL stays as is, a data: URI becomes its bytes."""
    if re.match(r"https?://", value):
        return value
    match = _DATA_URI.fullmatch(value)
    if match is None:
        raise ValueError("expected an http(s) URL or a data: URI with ';base64,' content")
    if len(match["data"]) > MAX_MEDIA_BYTES * 4 // 3 + 4:
        raise ValueError(f"the data is larger than {MAX_MEDIA_BYTES // (1024 * 1024)} MiB")
    try:
        return base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the data: URI's content is not valid base64") from None


MediaValue = Annotated[
    str,
    Field(pattern=_MEDIA_PATTERN, json_schema_extra={"format": "uri"}),
    AfterValidator(media_value),
]

_SCALARS: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class OutputInfo:
    """A result field of a workflow: its name, kind and what it holds."""

    name: str
    kind: OutputKind
    description: str


@dataclass(frozen=True)
class Entry:
    """One served workflow."""

    name: str
    source: str
    description: str
    params_model: type[BaseModel]
    result_model: type[WorkflowResult]
    spec: WorkflowSpec
    outputs: tuple[OutputInfo, ...]


@dataclass
class Catalog:
    """The workflows served, by name, and the backend they run on."""

    entries: dict[str, Entry]
    backend: Backend
    backend_label: str
    timeout: float | None = None
    notes: tuple[str, ...] = ()

    async def run(
        self,
        entry: Entry,
        params: BaseModel,
        *,
        on_event: EventHandler | None = None,
        idempotency_key: str | None = None,
    ) -> WorkflowResult:
        """Run `entry` with validated `params` on the catalog's backend.

        `idempotency_key` goes to the runtime, which derives the job's id from it (and the
        workflow): a key seen again — after a restart of the service, by another replica —
        attaches to the job it started instead of submitting it again.
        """
        return await run_workflow(
            entry.spec,
            params,
            entry.result_model,
            client=self.backend,
            on_event=on_event,
            timeout=self.timeout,
            idempotency_key=idempotency_key,
        )

    async def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            await close()


def load_catalog(
    sources: Sequence[str | Path],
    *,
    backend: Backend,
    backend_label: str,
    runninghub: bool = False,
    runninghub_ids: Mapping[Path, str] | None = None,
    schemas: Schemas | None = None,
    timeout: float | None = None,
    notes: Sequence[str] = (),
) -> tuple[Catalog, list[Diagnostic]]:
    """Compile every workflow under `sources` into a catalog; raises `BuildError`.

    Returns the catalog and the compiler's warnings. With `runninghub`, every workflow
    must have a RunningHub id (from `runninghub_ids`).
    """
    irs, diagnostics = analyze_sources(
        list(sources), runninghub_ids, bundled() if schemas is None else schemas
    )
    if runninghub:
        diagnostics += [
            Diagnostic(
                "error",
                "no-runninghub-id",
                "--runninghub serves workflows by their RunningHub id, and this one has none",
                ir.source,
                hint="attach one with --runninghub-id FILE=ID or in comfygen.toml "
                "([runninghub]), or serve rh:<id> instead of the file",
            )
            for ir in irs
            if ir.runninghub_id is None
        ]
    if any(d.severity == "error" for d in diagnostics):
        raise BuildError(diagnostics)
    roots = [Path(source) for source in sources if Path(source).exists()]
    entries = {str(ir.function): _entry(ir, _description(ir, roots)) for ir in irs}
    catalog = Catalog(entries, backend, backend_label, timeout, tuple(notes))
    return catalog, diagnostics


def open_backend(
    servers: Sequence[str], *, runninghub: bool
) -> tuple[Backend, str, tuple[str, ...]]:
    """The backend to run on, a label for it, and notes about the choice: several
    servers make a `ComfyUIPool` (each job runs on one of them)."""
    if runninghub:
        client: Backend = RunningHub()
        return client, "RunningHub", ()
    urls = list(servers) or server_urls(os.environ.get("COMFYUI_BASE_URL"))
    if len(urls) > 1:
        pool = ComfyUIPool(urls)
        shown = ", ".join(_display(member) for member in pool.members)
        return pool, f"a pool of {len(urls)} ComfyUI servers ({shown})", ()
    comfyui = ComfyUI(servers[0] if servers else None)
    return comfyui, f"ComfyUI at {_display(comfyui)}", ()


def _display(client: ComfyUI) -> str:
    return repr(client).removeprefix("ComfyUI(").removesuffix(")").strip("'\"")


# -- the strict params model -------------------------------------------------------------


def _param_description(field: ParamField) -> str:
    if field.type == "media":
        return f"{field.description.rstrip('.')}. {_MEDIA_HELP}"
    return field.description


def _bound(field: ParamField, value: float | None) -> float | None:
    if value is not None and field.type == "int" and float(value).is_integer():
        return int(value)
    return value


def _param_field(field: ParamField) -> tuple[Any, Any]:
    """The field generated code declares (the one translation, `translate`), with media
    taken as a URL or a data: URI instead of a local path."""
    annotation: Any
    if field.type == "media":
        annotation = MediaValue
    elif field.choices:
        annotation = Literal[field.choices]  # the tuple's items are the choices
    else:
        annotation = _SCALARS[field.type]
    if field.nullable:  # the nodes keep their own (differing) values
        annotation = annotation | None
    info = Field(
        ... if field.required else field.default,
        ge=_bound(field, field.minimum),
        le=_bound(field, field.maximum),
        description=_param_description(field),
    )
    return annotation, info


def params_model(ir: WorkflowIR) -> type[BaseModel]:
    """The params model of generated code: strict keys, typed, bounded, documented."""
    fields: dict[str, Any] = {str(f.name): _param_field(f) for f in translate(ir).params}
    model: type[BaseModel] = pydantic.create_model(
        str(ir.params_class),
        __config__=ConfigDict(extra="forbid", frozen=True, title=str(ir.params_class)),
        __doc__=f"Parameters of the workflow {quote(ir.source)}.",
        **fields,
    )
    return model


# -- outputs and descriptions ------------------------------------------------------------

_KIND_WORDS = {"image": "images", "video": "videos", "audio": "audio files", "text": "texts",
               "file": "files"}  # fmt: skip


def _output_info(output: OutputIR) -> OutputInfo:
    nodes = ", ".join(f"{n.node_id} ({n.class_type})" for n in output.nodes)
    return OutputInfo(
        output.name, output.kind, f"{_KIND_WORDS[output.kind].capitalize()} from node {nodes}."
    )


def _entry(ir: WorkflowIR, description: str | None) -> Entry:
    outputs = tuple(_output_info(output) for output in ir.outputs)
    summary = description or f"Runs the ComfyUI workflow {quote(ir.source)}."
    if outputs:
        listed = "; ".join(f"{o.name} ({_KIND_WORDS[o.kind]})" for o in outputs)
        summary = f"{summary.rstrip()}\n\nReturns {listed}."
    return Entry(
        name=str(ir.function),
        source=ir.source,
        description=summary,
        params_model=params_model(ir),
        result_model=result_model(ir),
        spec=translate(ir).spec,
        outputs=outputs,
    )


DESCRIPTION_TITLE = "$description"


def _description(ir: WorkflowIR, roots: list[Path]) -> str | None:
    """The workflow's own description, if it has one (proposed DSL addition):

    - in an editor (UI-format) save, the text of a Note or MarkdownNote node titled
      `$description` (notes never reach the API graph, so nothing else sees it);
    - else a Markdown file beside the workflow with the same stem (`book_cover.md`).
    """
    path = _source_path(ir.source, roots)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        data = None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if (
            isinstance(node, dict)
            and node.get("type") in ("Note", "MarkdownNote")
            and str(node.get("title", "")).strip() == DESCRIPTION_TITLE
        ):
            values = node.get("widgets_values")
            if isinstance(values, list) and values and isinstance(values[0], str):
                return values[0].strip() or None
    beside = path.with_suffix(".md")
    try:
        # bytes, not text mode: the description is kept exactly, "\r" included
        return beside.read_bytes().decode("utf-8", "replace").strip() or None
    except OSError:
        return None


def _source_path(display: str, roots: list[Path]) -> Path | None:
    """The file a workflow came from (`ir.source` is shown relative to its root)."""
    for root in roots:
        candidate = root / display if root.is_dir() else root
        if candidate.is_file() and (root.is_dir() or root.name == display):
            return candidate
    return None
