"""Finding workflow files and loading them as JSON, with format detection."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._diagnostics import Diagnostic
from ._schema import Schemas

RUNNINGHUB_PREFIX = "rh:"


@dataclass(frozen=True)
class Source:
    """A workflow: a file (shown relative to the build root given) or a RunningHub id.

    `runninghub_id` is the id of the same workflow on RunningHub, if known; `stem` is the
    name the function is derived from.
    """

    path: Path | None
    display: str
    stem: str
    runninghub_id: str | None = None


def parse_runninghub_source(text: str) -> tuple[str, str | None] | None:
    """`rh:12345` or `rh:12345=generate_cover` -> (id, name); None if not that form."""
    if not text.startswith(RUNNINGHUB_PREFIX):
        return None
    workflow_id, _, name = text[len(RUNNINGHUB_PREFIX) :].partition("=")
    if not workflow_id.isdigit():
        return None
    return workflow_id, name or None


def find_sources(roots: list[str | Path], runninghub_ids: dict[Path, str]) -> list[Source]:
    """Expand files, directories (recursively, `*.json`, hidden entries skipped) and
    `rh:<id>[=name]` RunningHub workflows. `runninghub_ids` attaches ids to local files
    (keys are resolved paths)."""
    found: dict[Path | str, Source] = {}
    for root in roots:
        remote = parse_runninghub_source(str(root)) if isinstance(root, str) else None
        if remote is not None:
            workflow_id, name = remote
            stem = name or f"runninghub_{workflow_id}"
            display = RUNNINGHUB_PREFIX + workflow_id
            found.setdefault(display, Source(None, display, stem, workflow_id))
            continue
        root = Path(root)
        if root.is_dir():
            for path in sorted(root.rglob("*.json")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                    continue
                found.setdefault(
                    path.resolve(),
                    Source(
                        path, relative.as_posix(), path.stem, runninghub_ids.get(path.resolve())
                    ),
                )
        else:
            found.setdefault(
                root.resolve(),
                Source(root, root.name, root.stem, runninghub_ids.get(root.resolve())),
            )
    return list(found.values())


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def load_json(source: Source, schemas: Schemas | None = None) -> tuple[Any, list[Diagnostic]]:
    """Read a workflow file; unreadable, non-JSON and UI-format files become diagnostics."""

    def fail(code: str, message: str, hint: str) -> tuple[Any, list[Diagnostic]]:
        return None, [Diagnostic("error", code, message, source.display, hint=hint)]

    if source.path is None:
        return _fetch_runninghub(source)
    try:
        raw = source.path.read_bytes()
    except OSError as error:
        return fail("unreadable", f"cannot read the file: {error.strerror}", "check the path")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return fail(
            "invalid-json",
            f"the file is not UTF-8 (byte {error.start})",
            "save the workflow again from the ComfyUI editor",
        )
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKeyError as error:
        return fail(
            "invalid-json",
            f"the key {json.dumps(str(error))} appears twice in one object",
            "remove the duplicate; JSON readers would silently keep only the last one",
        )
    except (json.JSONDecodeError, RecursionError, ValueError) as error:
        where = (
            f" at line {error.lineno} column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        return fail(
            "invalid-json",
            f"the file is not valid JSON{where}: {reason}",
            "fix the JSON or export the workflow again with Workflow > Export (API)",
        )
    return from_ui_format(data, source.display, schemas)


def _fetch_runninghub(source: Source) -> tuple[Any, list[Diagnostic]]:
    """Fetch a workflow's API format from RunningHub (key from RUNNINGHUB_API_KEY)."""
    import asyncio

    from comfygen_runtime import ComfygenError, RunningHub

    assert source.runninghub_id is not None

    async def fetch() -> dict[str, Any]:
        async with RunningHub() as hub:
            return await hub.workflow_json(str(source.runninghub_id))

    try:
        return asyncio.run(fetch()), []
    except (ComfygenError, ValueError) as error:
        return None, [
            Diagnostic(
                "error",
                "runninghub",
                f"cannot fetch the workflow from RunningHub: {error}",
                source.display,
                hint="set RUNNINGHUB_API_KEY (and RUNNINGHUB_BASE_URL for .cn) and check the id",
            )
        ]


def format_problem(data: Any, display: str) -> Diagnostic | None:
    """The editor's UI format (`nodes` with `links` or `edges`) where API format belongs."""
    if isinstance(data, dict) and "nodes" in data and ("links" in data or "edges" in data):
        return Diagnostic(
            "error",
            "ui-format",
            "this is the editor's UI format (it has 'nodes' and 'links'); comfygen "
            "needs the API format",
            display,
            hint="in the ComfyUI editor choose Workflow > Export (API) (older menus: enable "
            "dev mode in the settings, then 'Save (API Format)') and build that file",
        )
    return None


def from_ui_format(
    data: Any, display: str, schemas: Schemas | None = None
) -> tuple[Any, list[Diagnostic]]:
    """API-format data as it is; the editor's UI format converted to API format (as the
    editor's own "Export (API)" does), or a `ui-format` error that says why it cannot be."""
    problem = format_problem(data, display)
    if problem is None:
        return data, []
    from ._schema import bundled
    from ._ui import ui_to_api

    graph, problems = ui_to_api(data, bundled() if schemas is None else schemas)
    if graph is not None:
        return graph, []
    shown = "; ".join(problems[:5])
    if len(problems) > 5:
        shown += f"; and {len(problems) - 5} more"
    message = f"this is the editor's UI format and it cannot be converted: {shown}"
    return None, [dataclasses.replace(problem, message=message)]
