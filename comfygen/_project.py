"""Project settings: `[tool.comfygen]` in `pyproject.toml`, or a standalone `comfygen.toml`.

    # pyproject.toml                                 # comfygen.toml (same tables, no prefix)
    [tool.comfygen.runninghub]                       [runninghub]
    "workflows/generate_cover.json" = "1987654321"   "workflows/generate_cover.json" = "1987654321"

Each line says that a workflow file is also RunningHub workflow 1987654321. Paths are
relative to the directory of the file that holds them: the nearest `comfygen.toml`, or
`pyproject.toml` with a `[tool.comfygen]` table, at or above the current directory.
`comfygen.toml` suits a folder of workflows that is not a Python project (a
`pyproject.toml` there would make tools such as uv treat it as one).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ProjectConfigError", "load_runninghub_ids"]


class ProjectConfigError(ValueError):
    """The settings file is malformed; the message says where and how."""


def _settings(folder: Path) -> tuple[Path, Any] | None:
    """The comfygen table of `folder`'s settings file, if it has one."""
    for name, prefix in (("comfygen.toml", ()), ("pyproject.toml", ("tool", "comfygen"))):
        candidate = folder / name
        if not candidate.is_file():
            continue
        try:
            data: Any = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ProjectConfigError(f"{candidate}: not valid TOML: {error}") from None
        for key in prefix:
            data = data.get(key) if isinstance(data, dict) else None
        if data is not None:
            return candidate, data
    return None


def load_runninghub_ids(start: Path) -> dict[Path, str]:
    """RunningHub ids attached to workflow files, keyed by resolved path."""
    for folder in (start.resolve(), *start.resolve().parents):
        found = _settings(folder)
        if found is None:
            continue
        candidate, section = found
        table_name = (
            "[runninghub]" if candidate.name == "comfygen.toml" else ("[tool.comfygen.runninghub]")
        )
        table = section.get("runninghub", {}) if isinstance(section, dict) else None
        if not isinstance(table, dict):
            raise ProjectConfigError(f"{candidate}: {table_name} must map workflow paths to ids")
        ids: dict[Path, str] = {}
        for path, value in table.items():
            if not str(value).isdigit():
                raise ProjectConfigError(
                    f"{candidate}: {table_name} {path!r} = {value!r}: a "
                    'RunningHub workflow id is a number, e.g. "1987654321"'
                )
            ids[(folder / path).resolve()] = str(value)
        return ids
    return {}
