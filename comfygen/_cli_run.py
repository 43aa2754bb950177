"""`comfygen run`: one workflow from the command line, for people and for scripts.

People get live progress on a terminal and an outputs table; logs (not a terminal) get one
line per step that never wraps; scripts get one JSON document with `--json`. Problems with
what was typed (an unknown, missing or badly typed `-p`, a workflow that does not exist)
are usage errors (exit 2) that list the workflow's parameters; a run that fails exits 1
with the server's message; Ctrl-C cancels the job on the server and exits 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import click
import httpx
import pydantic

from ._ir import ParamIR, WorkflowIR
from ._project import load_runninghub_ids
from ._sources import parse_runninghub_source, workflow_source

__all__ = ["run_command"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


@click.command("run")
@click.argument("workflow")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter (repeatable); VALUE is parsed by the parameter's type.",
)
@click.option("--server", metavar="URL", help="The ComfyUI server (default: COMFYUI_BASE_URL).")
@click.option(
    "--runninghub",
    is_flag=True,
    help="Run on RunningHub (RUNNINGHUB_API_KEY); WORKFLOW is a RunningHub id, or a file "
    "whose id is attached in a comfygen.toml or pyproject.toml beside or above it.",
)
@click.option(
    "--save",
    "save_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Download every output (files and texts) into this directory, keeping the "
    "server's subfolders; existing files are kept (new names get -1, -2, ...).",
)
@click.option("--overwrite", is_flag=True, help="With --save: replace existing files.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@click.option("--timeout", type=float, help="Give up (and cancel the job) after this many seconds.")
@click.option(
    "--random-seed/--keep-seed",
    default=True,
    show_default=True,
    help="Replace seed inputs of 0 with a random seed, as comfykit does.",
)
def run_command(
    workflow: str,
    params: tuple[str, ...],
    server: str | None,
    runninghub: bool,
    save_dir: Path | None,
    overwrite: bool,
    as_json: bool,
    timeout: float | None,
    random_seed: bool,
) -> None:
    """Run WORKFLOW (a file, an http(s) URL, or a RunningHub id) and show its outputs.

    \b
    comfygen run examples/workflows/text_preview.json -p text=hello
    comfygen run examples/workflows/invert_uploaded_image.json -p image=cat.png --save out/
    comfygen run 1987654322 -p text=hello            (a RunningHub workflow id)
    comfygen run wf.json -p seed=7 --json | jq .outputs

    Exit status: 0 done, 1 the workflow failed or could not run, 2 bad usage (the
    parameters are listed), 130 interrupted (the job is cancelled on the server).
    """
    raw: dict[str, str] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="-p")
        raw[name] = value
    if not _is_remote(workflow) and not Path(workflow).is_file():
        raise click.BadParameter(
            f"{workflow!r} is neither an existing file, an http(s) URL nor a RunningHub id",
            param_hint="WORKFLOW",
        )
    run = _Run(workflow, raw, server, runninghub, save_dir, overwrite, as_json, timeout)
    sys.exit(asyncio.run(run.main(random_seed)))


def _is_url(workflow: str) -> bool:
    return workflow.strip().startswith(("http://", "https://"))


def _is_remote(workflow: str) -> bool:
    return (
        workflow.isdigit()
        or parse_runninghub_source(workflow) is not None
        or workflow.startswith(("http://", "https://"))
    )


# -- parameters -------------------------------------------------------------------------------


def _type_label(param: ParamIR) -> str:
    kind = "path|url|name" if param.type == "media" else param.type
    if param.choices:
        shown = ", ".join(map(str, param.choices[:6])) + (", …" if len(param.choices) > 6 else "")
        return f"{kind}, one of: {shown}"
    if param.minimum is not None or param.maximum is not None:
        low = "-inf" if param.minimum is None else repr(param.minimum)
        high = "inf" if param.maximum is None else repr(param.maximum)
        return f"{kind} in [{low}, {high}]"
    return kind


def parameter_help(ir: WorkflowIR) -> str:
    """The workflow's parameters, one per line: name, type, required or default."""
    if not ir.params:
        return f"{ir.source} has no parameters."
    rows = []
    for param in ir.params:
        if param.required:
            status = "required"
        elif param.default is None:
            status = "optional (each node keeps its own value)"
        else:
            status = f"default {param.default!r}"
        rows.append((param.name, _type_label(param), status))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"  {n:<{widths[0]}}  {t:<{widths[1]}}  {s}" for n, t, s in rows]
    return f"Parameters of {ir.source}:\n" + "\n".join(lines)


class _UsageProblem(Exception):
    """What was typed does not fit the workflow; shown with the parameter list, exit 2."""


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _parse(param: ParamIR, text: str) -> Any:
    """A `-p` value as the parameter's type."""
    try:
        if param.type == "int":
            return int(text)
        if param.type == "float":
            return float(text)
    except ValueError:
        raise _UsageProblem(f"parameter {param.name!r}: {text!r} is not {param.type}") from None
    if param.type == "bool":
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise _UsageProblem(f"parameter {param.name!r}: {text!r} is not true or false")
    return text


def _parse_all(ir: WorkflowIR, raw: Mapping[str, str]) -> dict[str, Any]:
    by_name = {p.name: p for p in ir.params} | {p.key: p for p in ir.params}
    unknown = [name for name in raw if name not in by_name]
    if unknown:
        raise _UsageProblem(f"unknown parameter {', '.join(map(repr, unknown))}")
    values: dict[str, Any] = {
        by_name[name].name: _parse(by_name[name], text) for name, text in raw.items()
    }
    missing = [p.name for p in ir.params if p.required and p.name not in values]
    if missing:
        raise _UsageProblem(
            f"missing required parameter {', '.join(map(repr, missing))} (give -p NAME=VALUE)"
        )
    return values


def _media_notes(ir: WorkflowIR, values: Mapping[str, Any]) -> list[str]:
    """Hints for media values that look like local paths but name no local file."""
    notes = []
    for param in ir.params:
        value = values.get(param.name)
        if param.type != "media" or not isinstance(value, str) or _is_remote(value):
            continue
        if not os.path.exists(value):
            notes.append(
                f"note: {param.name}={value}: there is no such local file, so it is sent as "
                "the name of a file already on the server (give an existing path to upload it)"
            )
    return notes


def _validation_problem(error: pydantic.ValidationError) -> str:
    lines = []
    for entry in error.errors():
        where = ".".join(str(part) for part in entry["loc"]) or "parameters"
        lines.append(f"parameter {where!r}: {entry['msg']}")
    return "; ".join(lines)


# -- running ----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Run:
    workflow: str
    raw: dict[str, str]
    server: str | None
    runninghub: bool
    save_dir: Path | None
    overwrite: bool
    as_json: bool
    timeout: float | None
    prompt_id: str | None = None

    @property
    def shown(self) -> str:
        """The workflow as messages name it: a URL without credentials or query (either may
        hold a token); a file as it was typed."""
        return workflow_source(self.workflow).display if _is_url(self.workflow) else self.workflow

    def _err(self, text: str) -> None:
        click.echo(text, err=True)

    async def main(self, random_seed: bool) -> int:
        from ._dynamic import ComfyKit

        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        # Ctrl-C cancels the run, and so the job on the server, before the process ends.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, task.cancel)
        kit = ComfyKit(
            comfyui_url=self.server,
            random_seed=random_seed,
            timeout=self.timeout,
            runninghub_timeout=self.timeout,
            cancel_on_timeout=True,  # --timeout gives up on the job: it must not run on
        )
        try:
            return await self._main(kit)
        except asyncio.CancelledError:
            job = (
                f"job {self.prompt_id} was cancelled on the server"
                if self.prompt_id
                else ("nothing had been submitted")
            )
            self._err(f"comfygen: interrupted; {job}.")
            return EXIT_INTERRUPTED
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
            await kit.close()

    async def _main(self, kit: Any) -> int:
        from comfygen_runtime import ComfygenError, WorkflowTimeoutError

        from ._dynamic import params_model

        started = time.monotonic()
        try:
            ir = await self._load(kit)
        except (ComfygenError, ValueError, OSError, httpx.HTTPError) as error:
            if self.as_json:
                document = self._document(None, "error", None, started, [], error=error)
                click.echo(json.dumps(document, indent=2))
            self._err(f"comfygen: {self.shown}: {error}")
            return EXIT_FAILED
        try:
            values = _parse_all(ir, self.raw)
            params_model(ir, strict=True).model_validate(values)  # as generated code does
        except _UsageProblem as problem:
            return self._usage(ir, str(problem))
        except pydantic.ValidationError as error:
            return self._usage(ir, _validation_problem(error))
        for note in _media_notes(ir, values):
            self._err(note)
        started = time.monotonic()
        try:
            result = await self._execute(kit, ir, values)
        except (ComfygenError, ValueError, OSError, httpx.HTTPError) as error:
            self.prompt_id = self.prompt_id or getattr(error, "prompt_id", None)
            if self.as_json:
                status = "timeout" if isinstance(error, WorkflowTimeoutError) else "error"
                document = self._document(ir, status, None, started, [], error=error)
                click.echo(json.dumps(document, indent=2))
            self._err(f"comfygen: {ir.source}: failed: {error}")
            return EXIT_FAILED
        saved = await self._save(ir, result) if self.save_dir is not None else []
        if self.as_json:
            document = self._document(ir, "completed", result, started, saved)
            click.echo(json.dumps(document, indent=2))
        else:
            self._show(ir, result, saved)
        return 0

    def _usage(self, ir: WorkflowIR, problem: str) -> int:
        self._err(f"Usage: comfygen run {self.shown} [-p NAME=VALUE]...")
        self._err(f"Error: {problem}\n")
        self._err(parameter_help(ir))
        return EXIT_USAGE

    async def _load(self, kit: Any) -> WorkflowIR:
        from comfygen_runtime import ComfygenError

        attached = None
        if self.runninghub and Path(self.workflow).is_file():
            # the settings nearest the workflow file: it may be run from anywhere
            path = Path(self.workflow).resolve()
            attached = load_runninghub_ids(path.parent).get(path)
        ir: WorkflowIR = await kit.load(self.workflow, runninghub_id=attached)
        if self.runninghub and ir.runninghub_id is None:
            raise ComfygenError(
                f"{self.shown} has no RunningHub workflow id: pass the id itself, or attach "
                "one in comfygen.toml ([runninghub]) or pyproject.toml "
                "([tool.comfygen.runninghub]) beside or above the workflow"
            )
        return ir

    async def _execute(self, kit: Any, ir: WorkflowIR, values: dict[str, Any]) -> Any:
        from comfygen_runtime import Event
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        classes = {node_id: node.get("class_type", "") for node_id, node in ir.graph().items()}
        name = ir.source

        def label(event: Event) -> str | None:
            if event.kind == "queued":
                self.prompt_id = event.prompt_id
                ahead = f" ({event.position} ahead)" if event.position else ""
                return f"{name}: queued{ahead}"
            if event.kind in ("executing", "progress") and event.node:
                text = f"{name}: node {event.node} {classes.get(event.node, '')}".rstrip()
                if event.nodes_total:
                    text += f" ({(event.nodes_done or 0) + 1}/{event.nodes_total})"
                return text
            return f"{name}: running" if event.kind == "started" else None

        console = Console(stderr=True, highlight=False, soft_wrap=True)
        if not console.is_terminal:
            # A log or a CI job: one line per step, never wrapped.
            def log(event: Event) -> None:
                text = label(event)
                if text and event.kind == "progress" and event.max:
                    text = f"{text} step {event.value:.0f}/{event.max:.0f}"
                if text:
                    click.echo(text, err=True)

            result = await kit.run(ir, values, on_event=log)
            click.echo(f"{name}: done", err=True)
            return result
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task(escape(f"{name}: submitting"), total=None)

            def show(event: Event) -> None:
                # The bar is the whole job: nodes to run (cached ones excluded) plus the
                # running node's steps; the description names the node and its steps.
                text = label(event)
                if text and event.kind == "progress" and event.max:
                    text = f"{text} step {event.value:.0f}/{event.max:.0f}"
                fraction = event.fraction
                if fraction is not None:
                    progress.update(bar, total=1.0, completed=fraction)
                if text:
                    progress.update(bar, description=escape(text))

            result = await kit.run(ir, values, on_event=show)
            progress.update(bar, description=escape(f"{name}: done"), total=1.0, completed=1.0)
            return result

    # -- outputs ----------------------------------------------------------------------------

    def _items(self, ir: WorkflowIR, result: Any) -> list[tuple[str, Any]]:
        return [(o.name, item) for o in ir.outputs for item in getattr(result, o.name)]

    async def _save(self, ir: WorkflowIR, result: Any) -> list[tuple[Any, Path]]:
        from comfygen_runtime import File
        from comfygen_runtime import Text as TextOutput

        assert self.save_dir is not None
        root = self.save_dir.resolve()
        saved: list[tuple[Any, Path]] = []
        for field, item in self._items(ir, result):
            if isinstance(item, TextOutput) and item.file is None:
                target = self._claim(root, f"{field}.txt")
                await asyncio.to_thread(target.write_text, item.text, encoding="utf-8")
                saved.append((item, target))
                continue
            ref = item.file if isinstance(item, TextOutput) else item
            if not isinstance(ref, File):
                continue
            folder = _inside(root, ref.subfolder)
            target = self._claim(folder, PurePosixPath(ref.filename).name)
            try:
                saved.append((item, await ref.save(target.parent, target.name)))
            except BaseException:
                if not self.overwrite:
                    target.unlink(missing_ok=True)  # the name reserved for it
                raise
        return saved

    def _claim(self, folder: Path, name: str) -> Path:
        """A path for a new file in `folder`: `name`, else `stem-1.ext`, `stem-2.ext`, ...

        Without --overwrite the name is reserved by creating the file exclusively, so two
        outputs (or two runs) never pick the same name; the download then replaces it.
        """
        folder.mkdir(parents=True, exist_ok=True)
        candidate = folder / name
        if self.overwrite:
            return candidate
        stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
        for counter in range(1, 100_000):
            try:
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                candidate = folder / f"{stem}-{counter}{suffix}"
                continue
            return candidate
        raise click.ClickException(f"no free file name for {name!r} in {folder}")

    def _show(self, ir: WorkflowIR, result: Any, saved: list[tuple[Any, Path]]) -> None:
        from comfygen_runtime import File
        from comfygen_runtime import Text as TextOutput
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        rows = []
        for field, item in self._items(ir, result):
            if isinstance(item, TextOutput):
                rows.append((field, "text", item.text))
            elif isinstance(item, File):
                rows.append((field, type(item).__name__.lower(), item.url))
        console = Console(highlight=False, soft_wrap=True)
        if console.is_terminal:
            table = Table(title=Text(f"{ir.function}: {result.prompt_id}"), title_justify="left")
            table.add_column("output")
            table.add_column("kind")
            table.add_column("value", overflow="ignore", no_wrap=False)
            for field, kind, value in rows:
                shown = value if kind != "text" or len(value) <= 200 else value[:200] + "…"
                table.add_row(Text(field), Text(kind), Text(shown))
            console.print(table)
        else:
            # Plain lines for logs and pipes: tab-separated, URLs whole, texts on one line.
            click.echo(f"{ir.function}: {result.prompt_id}")
            for field, kind, value in rows:
                click.echo(f"{field}\t{kind}\t{json.dumps(value) if kind == 'text' else value}")
        for _, path in saved:
            click.echo(f"saved {path}")
        if result.seeds:
            click.echo(f"seeds: {result.seeds}")

    def _document(
        self,
        ir: WorkflowIR | None,
        status: str,
        result: Any,
        started: float,
        saved: list[tuple[Any, Path]],
        *,
        error: BaseException | None = None,
    ) -> dict[str, Any]:
        from comfygen_runtime import File
        from comfygen_runtime import Text as TextOutput

        paths = {id(item): str(path) for item, path in saved}
        outputs: dict[str, list[dict[str, Any]]] = {}
        if result is not None and ir is not None:
            for output in ir.outputs:
                entries = outputs.setdefault(output.name, [])
                for item in getattr(result, output.name):
                    entry: dict[str, Any] = {"node_id": item.node_id}
                    if isinstance(item, TextOutput):
                        entry |= {"kind": "text", "text": item.text}
                        if item.file is not None:
                            entry["url"] = item.file.url
                    elif isinstance(item, File):
                        entry |= {
                            "kind": type(item).__name__.lower(),
                            "url": item.url,
                            "filename": item.filename,
                            "subfolder": item.subfolder,
                        }
                    if id(item) in paths:
                        entry["saved"] = paths[id(item)]
                    entries.append(entry)
        document: dict[str, Any] = {
            "workflow": ir.source if ir is not None else self.shown,
            "status": status,
            "prompt_id": result.prompt_id if result is not None else self.prompt_id,
            "outputs": outputs,
            "seeds": result.seeds if result is not None else {},
            "duration": result.duration if result is not None else None,
            "elapsed": round(time.monotonic() - started, 3),
        }
        if error is not None:
            document["error"] = {"type": type(error).__name__, "message": str(error)}
        return document


def _inside(root: Path, subfolder: str) -> Path:
    """`root/subfolder`, or `root` itself when the server's subfolder would leave it."""
    folder = (root / subfolder).resolve()
    return folder if folder == root or root in folder.parents else root
