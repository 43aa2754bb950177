"""The build pipeline: sources -> JSON -> IR -> rendered files, all in memory.

A large build (many workflows) spreads the per-workflow work — load, analyze, render,
parse — over the cores with forked worker processes; results are the same, in the same
order, as a build in one process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ._analyze import analyze
from ._diagnostics import BuildError, Diagnostic
from ._ir import WorkflowIR
from ._names import function_name
from ._schema import Schemas, bundled
from ._sources import Loaded, Source, find_sources, load_all
from ._write import GeneratedFile

__all__ = ["Build", "analyze_sources", "build"]


@dataclass(frozen=True)
class Build:
    """A successful build: the workflows' IR, the files to write, and any warnings."""

    workflows: tuple[WorkflowIR, ...]
    files: tuple[GeneratedFile, ...]
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True)
class _Options:
    schemas: Schemas
    strict_combos: bool
    render: bool
    verify: bool


@dataclass(frozen=True)
class _Compiled:
    """One workflow compiled: its IR and module text, or what is wrong with it."""

    ir: WorkflowIR | None
    diagnostics: tuple[Diagnostic, ...]
    text: str | None = None
    parse_error: str | None = None  # a bug in comfygen, see `_render.parse_error`


def _analyze_loaded(
    loaded: Loaded, options: _Options
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
        schemas=options.schemas,
        strict_combos=options.strict_combos,
    )


def _compile(sources: Sequence[Source], options: _Options) -> list[_Compiled]:
    from ._render import parse_error, render_module

    compiled = []
    for loaded in load_all(sources, options.schemas):
        ir, diagnostics = _analyze_loaded(loaded, options)
        text = problem = None
        if (
            ir is not None
            and options.render
            and not any(d.severity == "error" for d in diagnostics)
        ):
            text = render_module(ir)
            problem = parse_error(text, f"{ir.function}.py") if options.verify else None
        compiled.append(_Compiled(ir, tuple(diagnostics), text, problem))
    return compiled


# What forked workers compile with: set before the pool starts, inherited by the workers.
_forked_options: _Options | None = None


def _compile_in_worker(sources: Sequence[Source]) -> list[_Compiled]:
    assert _forked_options is not None
    return _compile(sources, _forked_options)


PARALLEL_FROM = 64  # workflows; below this, starting workers costs more than it saves


def _workers(count: int, requested: int | None) -> int:
    """Worker processes for `count` workflows: forked ones only, from a process that runs
    no other thread (forking one that does can deadlock), on Linux, for large builds."""
    if requested is not None:
        wanted = requested
    elif count < PARALLEL_FROM:
        return 1
    else:
        wanted = min(os.cpu_count() or 1, 8)
    safe = sys.platform == "linux" and threading.active_count() == 1
    return wanted if wanted > 1 and safe else 1


def _compile_all(sources: Sequence[Source], options: _Options, workers: int) -> list[_Compiled]:
    global _forked_options
    if workers <= 1:
        return _compile(sources, options)
    size = -(-len(sources) // (workers * 4))  # a few chunks per worker evens out the load
    chunks = [sources[start : start + size] for start in range(0, len(sources), size)]
    _forked_options = options
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(_compile_in_worker, chunks))
    finally:
        _forked_options = None
    return [item for part in parts for item in part]


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


def _sources_or_problem(
    roots: Sequence[str | Path], runninghub_ids: Mapping[Path, str] | None
) -> tuple[list[Source], list[Diagnostic]]:
    attached = {Path(path).resolve(): str(value) for path, value in (runninghub_ids or {}).items()}
    sources = find_sources(list(roots), attached)
    if sources:
        return sources, []
    shown = ", ".join(str(root) for root in roots)
    return [], [
        Diagnostic(
            "error",
            "no-workflows",
            f"no workflow (*.json) found in {shown}",
            shown,
            hint="pass API-format workflow files or directories that contain them",
        )
    ]


def analyze_sources(
    roots: Sequence[str | Path],
    runninghub_ids: Mapping[Path, str] | None = None,
    schemas: Schemas | None = None,
    strict_combos: bool = False,
    *,
    workers: int | None = None,
) -> tuple[list[WorkflowIR], list[Diagnostic]]:
    """Load and analyze every workflow under `roots` (no rendering): the IR of those that
    compile, and every diagnostic, cross-workflow clashes included."""
    sources, diagnostics = _sources_or_problem(roots, runninghub_ids)
    options = _Options(bundled() if schemas is None else schemas, strict_combos, False, False)
    compiled = _compile_all(sources, options, _workers(len(sources), workers))
    irs = [item.ir for item in compiled if item.ir is not None]
    for item in compiled:
        diagnostics.extend(item.diagnostics)
    diagnostics.extend(_clashes(irs))
    return irs, diagnostics


def build(
    roots: Sequence[str | Path],
    *,
    verify: bool = True,
    runninghub_ids: Mapping[Path, str] | None = None,
    schemas: Schemas | None = None,
    strict_combos: bool = False,
    workers: int | None = None,
) -> Build:
    """Compile every workflow under `roots`; raises `BuildError` if anything is wrong.

    With `verify` (the default) every rendered file must parse (CPython's parser) before
    anything is written. `check` passes False: it only compares text with what is on disk
    and writes nothing. `schemas` defaults to the bundled core-node schemas. Sources on
    the network (URLs, RunningHub) are fetched concurrently, also when `build` is called
    from a running event loop. `workers`: processes to compile with (default: one per
    core for large builds, where that is safe; 1 compiles in this process).
    """
    # Rendering needs jinja2; the dynamic API (`import comfygen`) must not pay for it.
    from ._render import RenderError, parse_error, render_package_init

    schemas = bundled() if schemas is None else schemas
    sources, diagnostics = _sources_or_problem(roots, runninghub_ids)
    options = _Options(schemas, strict_combos, render=True, verify=verify)
    compiled = _compile_all(sources, options, _workers(len(sources), workers))
    irs = [item.ir for item in compiled if item.ir is not None]
    for item in compiled:
        diagnostics.extend(item.diagnostics)
    diagnostics.extend(_clashes(irs))
    if any(d.severity == "error" for d in diagnostics):
        raise BuildError(diagnostics)
    files = [
        GeneratedFile(f"{item.ir.function}.py", item.text)
        for item in compiled
        if item.ir is not None and item.text is not None
    ]
    init = render_package_init(irs)
    files.append(GeneratedFile("__init__.py", init))
    problems = [item.parse_error for item in compiled] + [
        parse_error(init, "__init__.py") if verify else None
    ]
    failed = [problem for problem in problems if problem]
    if failed:
        raise RenderError("generated code does not parse:\n" + "\n".join(failed))
    return Build(tuple(irs), tuple(sorted(files, key=lambda f: f.path)), tuple(diagnostics))
