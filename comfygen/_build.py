"""The build pipeline: sources -> JSON -> IR -> rendered files, all in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._analyze import analyze
from ._diagnostics import BuildError, Diagnostic
from ._ir import WorkflowIR
from ._names import function_name
from ._schema import Schemas, bundled
from ._sources import Loaded, find_sources, load_all
from ._write import GeneratedFile

__all__ = ["Build", "analyze_sources", "build"]


@dataclass(frozen=True)
class Build:
    """A successful build: the workflows' IR, the files to write, and any warnings."""

    workflows: tuple[WorkflowIR, ...]
    files: tuple[GeneratedFile, ...]
    diagnostics: tuple[Diagnostic, ...]


def analyze_sources(
    roots: Sequence[str | Path],
    runninghub_ids: Mapping[Path, str] | None = None,
    schemas: Schemas | None = None,
    strict_combos: bool = False,
) -> tuple[list[WorkflowIR], list[Diagnostic]]:
    """Load and analyze every workflow under `roots`; cross-workflow clashes included.

    `runninghub_ids` attaches RunningHub workflow ids to local files (by path).
    """
    diagnostics: list[Diagnostic] = []
    attached = {Path(path).resolve(): str(value) for path, value in (runninghub_ids or {}).items()}
    sources = find_sources(list(roots), attached)
    if not sources:
        shown = ", ".join(str(root) for root in roots)
        diagnostics.append(
            Diagnostic(
                "error",
                "no-workflows",
                f"no workflow (*.json) found in {shown}",
                shown,
                hint="pass API-format workflow files or directories that contain them",
            )
        )
    irs: list[WorkflowIR] = []
    for loaded in load_all(sources, schemas):
        ir, found = _analyze_loaded(loaded, schemas, strict_combos)
        diagnostics.extend(found)
        if ir is not None:
            irs.append(ir)
    diagnostics.extend(_clashes(irs))
    return irs, diagnostics


def _analyze_loaded(
    loaded: Loaded, schemas: Schemas | None, strict_combos: bool
) -> tuple[WorkflowIR | None, list[Diagnostic]]:
    source = loaded.source
    function = function_name(source.stem)
    if function is None:
        return None, [
            Diagnostic(
                "error",
                "bad-name",
                "the file name yields no Python function name",
                source.display,
                hint="rename the file with ASCII letters or digits, e.g. generate_cover.json",
            )
        ]
    if loaded.diagnostics:
        return None, list(loaded.diagnostics)
    return analyze(
        loaded.graph,
        source=source.display,
        function=function,
        runninghub_id=loaded.runninghub_id,
        schemas=schemas,
        strict_combos=strict_combos,
    )


def _clashes(irs: list[WorkflowIR]) -> list[Diagnostic]:
    owners: dict[str, WorkflowIR] = {}
    diagnostics = []
    for ir in irs:
        for exported in (ir.function, ir.params_class, ir.result_class):
            owner = owners.setdefault(exported, ir)
            if owner is not ir:
                diagnostics.append(
                    Diagnostic(
                        "error",
                        "name-clash",
                        f"this workflow and {owner.source} both generate {exported!r}",
                        ir.source,
                        hint="rename one of the two files; names come from the file name",
                    )
                )
                break
    return diagnostics


def build(
    roots: Sequence[str | Path],
    *,
    verify: bool = True,
    runninghub_ids: Mapping[Path, str] | None = None,
    schemas: Schemas | None = None,
    strict_combos: bool = False,
) -> Build:
    """Compile every workflow under `roots`; raises `BuildError` if anything is wrong.

    With `verify` (the default) every rendered file must parse (CPython's parser) before
    anything is written. `check` passes False: it only compares text with what is on disk
    and writes nothing. `schemas` defaults to the bundled core-node schemas. Sources on
    the network (URLs, RunningHub) are fetched concurrently, also when `build` is called
    from a running event loop.
    """
    # Rendering needs jinja2; the dynamic API (`import comfygen`) must not pay for it.
    from ._render import render_module, render_package_init, syntax_gate

    schemas = bundled() if schemas is None else schemas
    irs, diagnostics = analyze_sources(roots, runninghub_ids, schemas, strict_combos)
    if any(d.severity == "error" for d in diagnostics):
        raise BuildError(diagnostics)
    files = [GeneratedFile(f"{ir.function}.py", render_module(ir)) for ir in irs]
    files.append(GeneratedFile("__init__.py", render_package_init(irs)))
    if verify:
        syntax_gate({file.path: file.text for file in files})
    return Build(tuple(irs), tuple(sorted(files, key=lambda f: f.path)), tuple(diagnostics))
