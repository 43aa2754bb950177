"""Writing a build: files computed in memory, then written together, or diffed for `check`.

Only files that bear comfygen's header are ever replaced or removed, so a hand-written
file that happens to sit in the output directory is never lost.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._render import HEADER_PREFIX


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


@dataclass(frozen=True)
class GeneratedFile:
    """One file of a build: its path relative to the output directory and its text."""

    path: str
    text: str


@dataclass(frozen=True)
class Plan:
    """What writing a build to a directory changes."""

    write: tuple[GeneratedFile, ...]
    remove: tuple[str, ...]
    unchanged: tuple[str, ...]
    conflicts: tuple[str, ...]


def _is_generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline().startswith(HEADER_PREFIX)
    except OSError:
        return False


def plan(out_dir: Path, files: list[GeneratedFile]) -> Plan:
    wanted = {file.path for file in files}
    write, unchanged, conflicts = [], [], []
    for file in files:
        target = out_dir / file.path
        if not target.exists():
            write.append(file)
        elif not _is_generated(target):
            conflicts.append(file.path)
        elif target.read_text(encoding="utf-8") == file.text:
            unchanged.append(file.path)
        else:
            write.append(file)
    remove = sorted(
        path.name
        for path in (out_dir.glob("*.py") if out_dir.is_dir() else [])
        if path.name not in wanted and _is_generated(path)
    )
    return Plan(tuple(write), tuple(remove), tuple(unchanged), tuple(conflicts))


def apply(out_dir: Path, build_plan: Plan) -> None:
    """Write every changed file atomically (temp file + rename), then drop stale ones."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for file in build_plan.write:
        target = out_dir / file.path
        descriptor, temporary = tempfile.mkstemp(dir=out_dir, prefix=".comfygen-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(file.text)
            os.chmod(temporary, _FILE_MODE)  # mkstemp makes 0600; a module is for all
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    for name in build_plan.remove:
        (out_dir / name).unlink(missing_ok=True)


def diff(out_dir: Path, build_plan: Plan) -> str:
    """A unified diff from what is on disk to what a build would write."""
    chunks: list[str] = []
    for file in build_plan.write:
        target = out_dir / file.path
        before = target.read_text(encoding="utf-8") if target.exists() else ""
        chunks.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                file.text.splitlines(keepends=True),
                fromfile=f"a/{file.path}" if target.exists() else "/dev/null",
                tofile=f"b/{file.path}",
            )
        )
    for name in build_plan.remove:
        before = (out_dir / name).read_text(encoding="utf-8")
        chunks.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                [],
                fromfile=f"a/{name}",
                tofile="/dev/null",
            )
        )
    return "".join(chunks)
