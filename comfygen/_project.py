"""Project settings from `pyproject.toml`: `[tool.comfygen]`.

    [tool.comfygen.runninghub]
    "workflows/generate_cover.json" = "1987654321"   # this file is RunningHub workflow 1987654321

Paths are relative to the directory of the `pyproject.toml`, the nearest one at or above
the current directory that has a `[tool.comfygen]` table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ProjectConfigError",
    "load_runninghub_ids",
]


class ProjectConfigError(ValueError):
    """`[tool.comfygen]` is malformed; the message says where and how."""


def load_runninghub_ids(start: Path) -> dict[Path, str]:
    """RunningHub ids attached to workflow files, keyed by resolved path."""
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ProjectConfigError(f"{candidate}: not valid TOML: {error}") from None
        section: Any = data.get("tool", {}).get("comfygen")
        if section is None:
            continue
        table = section.get("runninghub", {}) if isinstance(section, dict) else None
        if not isinstance(table, dict):
            raise ProjectConfigError(
                f"{candidate}: [tool.comfygen.runninghub] must map workflow paths to ids"
            )
        ids: dict[Path, str] = {}
        for path, value in table.items():
            if not str(value).isdigit():
                raise ProjectConfigError(
                    f"{candidate}: [tool.comfygen.runninghub] {path!r} = {value!r}: a "
                    'RunningHub workflow id is a number, e.g. "1987654321"'
                )
            ids[(folder / path).resolve()] = str(value)
        return ids
    return {}
