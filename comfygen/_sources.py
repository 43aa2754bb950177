"""Finding workflow files and loading them as JSON, with format detection."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._diagnostics import Diagnostic


@dataclass(frozen=True)
class Source:
    """A workflow file and the path shown for it (relative to the build root given)."""

    path: Path
    display: str


def find_sources(roots: list[Path]) -> list[Source]:
    """Expand files and directories (recursively, `*.json`, hidden entries skipped)."""
    found: dict[Path, Source] = {}
    for root in roots:
        if root.is_dir():
            for path in sorted(root.rglob("*.json")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                    continue
                found.setdefault(path.resolve(), Source(path, relative.as_posix()))
        else:
            found.setdefault(root.resolve(), Source(root, root.name))
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


def load_json(source: Source) -> tuple[Any, list[Diagnostic]]:
    """Read a workflow file; unreadable, non-JSON and UI-format files become diagnostics."""

    def fail(code: str, message: str, hint: str) -> tuple[Any, list[Diagnostic]]:
        return None, [Diagnostic("error", code, message, source.display, hint=hint)]

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
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        return fail(
            "ui-format",
            "this is the editor's UI format (it has 'nodes' and 'links'); comfygen "
            "needs the API format",
            "in the ComfyUI editor choose Workflow > Export (API) (older menus: enable "
            "dev mode in the settings, then 'Save (API Format)') and build that file",
        )
    return data, []
