"""The `comfygen` command line: build, check, inspect."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import _write
from ._build import Build, build
from ._cli_models import models_command
from ._cli_run import run_command
from ._diagnostics import BuildError, Diagnostic
from ._project import ProjectConfigError, load_runninghub_ids
from ._schema import Schemas, bundled, check_object_info, from_object_info, merged
from ._sources import parse_runninghub_source, workflow_source

__all__ = [
    "main",
]


def _shown(source: str) -> str:
    """A source as messages name it: a URL without credentials or query (tokens)."""
    return workflow_source(source).display if source.startswith(("http://", "https://")) else source


def _check_sources(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        remote = parse_runninghub_source(value) is not None or value.startswith(
            ("http://", "https://")
        )
        if not remote and not Path(value).exists():
            raise click.BadParameter(
                f"{value!r} is neither an existing file or directory, an http(s) URL, "
                "nor rh:<workflow id>",
                context,
                parameter,
            )
    return values


def _parse_ids(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> dict[Path, str]:
    ids: dict[Path, str] = {}
    for value in values:
        path, sep, workflow_id = value.rpartition("=")
        if not sep or not path or not workflow_id.isdigit():
            raise click.BadParameter(f"expected FILE=ID, got {value!r}", context, parameter)
        ids[Path(path).resolve()] = workflow_id
    return ids


_SOURCES = click.argument("sources", nargs=-1, required=True, callback=_check_sources)
_RUNNINGHUB_IDS = click.option(
    "--runninghub-id",
    "runninghub_ids",
    multiple=True,
    metavar="FILE=ID",
    callback=_parse_ids,
    help="Attach a RunningHub workflow id to a local workflow file (repeatable); "
    "also read from [tool.comfygen.runninghub] in pyproject.toml.",
)
_OUT = click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the generated package (created if missing).",
)


def _report(diagnostics: Iterable[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        click.echo(str(diagnostic), err=True)


@dataclasses.dataclass(frozen=True)
class _SchemaOptions:
    object_info: tuple[Path, ...]
    server: str | None
    strict_combos: bool
    strict: bool

    def schemas(self) -> Schemas:
        layers = [bundled()]
        for path in self.object_info:
            try:
                data = check_object_info(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as error:
                raise click.UsageError(f"--object-info {path}: {error}") from None
            layers.append(from_object_info(data))
        if self.server:
            layers.append(from_object_info(_fetch_object_info(self.server)))
        return merged(*layers)


def _fetch_object_info(server: str) -> dict[str, Any]:
    """The server's GET /object_info, read by the runtime's own client: a server that
    cannot be reached fails at once, with the cause (refused, name not resolved, TLS,
    not ComfyUI, ...), and an answer of the wrong shape is refused."""
    from comfygen_runtime import ComfygenError, ComfyUI

    async def read() -> dict[str, Any]:
        # A build waits for no restart: one attempt (the runtime's first contact is bounded).
        async with ComfyUI(server, unavailable_after=0) as client:
            return await client.object_info()

    try:
        return check_object_info(asyncio.run(read()))
    except (ComfygenError, ValueError) as error:
        raise click.UsageError(f"--server: cannot read the node schemas: {error}") from None


def _schema_options(function: Any) -> Any:
    options = [
        click.option(
            "--object-info",
            "object_info",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A server's /object_info saved as JSON: its nodes (custom ones too) "
            "replace the bundled core-node schemas. Repeatable.",
        ),
        click.option(
            "--server",
            metavar="URL",
            help="Read the node schemas from this ComfyUI server's /object_info.",
        ),
        click.option(
            "--strict-combos",
            is_flag=True,
            help="Type model-file combos (ckpt_name, ...) as Literal of the server's files.",
        ),
        click.option("--strict", is_flag=True, help="Treat warnings as errors."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _compile(
    sources: tuple[str, ...],
    runninghub_ids: dict[Path, str],
    options: _SchemaOptions,
    *,
    verify: bool = True,
) -> Build:
    try:
        attached = {**load_runninghub_ids(Path.cwd()), **runninghub_ids}
        result = build(
            list(sources),
            verify=verify,
            runninghub_ids=attached,
            schemas=options.schemas(),
            strict_combos=options.strict_combos,
        )
    except ProjectConfigError as error:
        click.echo(f"comfygen: {error}", err=True)
        sys.exit(1)
    except BuildError as error:
        _report(error.diagnostics)
        errors = sum(d.severity == "error" for d in error.diagnostics)
        click.echo(f"comfygen: {errors} error(s); nothing was written.", err=True)
        sys.exit(1)
    _report(result.diagnostics)
    if options.strict and result.diagnostics:
        click.echo(
            f"comfygen: {len(result.diagnostics)} warning(s) and --strict; nothing was written.",
            err=True,
        )
        sys.exit(1)
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="comfygen")
def main() -> None:
    """Compile annotated ComfyUI workflows into typed async Python functions.

    \b
    1. In the ComfyUI editor, mark inputs and outputs in node titles:
       $prompt.text!   $~image   Size, $width!, $height!   $output.cover
    2. Save the workflow (Workflow > Export (API), or the normal save).
    3. comfygen build workflows/ -o gen/
    4. In your app:  result = await generate_cover(prompt="a cat")

    Run `comfygen COMMAND --help` for the details of a command.
    """


@main.command("build")
@_SOURCES
@_OUT
@_RUNNINGHUB_IDS
@_schema_options
def build_command(
    sources: tuple[str, ...], out_dir: Path, runninghub_ids: dict[Path, str], **schema: Any
) -> None:
    """Generate one module per workflow in SOURCES (files or directories) into OUT.

    Directories are searched recursively for *.json; rh:ID (or rh:ID=name) fetches a
    RunningHub workflow (key from RUNNINGHUB_API_KEY). Nothing is written unless every
    workflow compiles; modules generated earlier from workflows that are gone are removed.
    Exit status: 0 built, 1 errors in a workflow, 2 bad usage.
    """
    result = _compile(sources, runninghub_ids, _SchemaOptions(**schema))
    build_plan = _write.plan(out_dir, list(result.files))
    if build_plan.conflicts:
        for path in build_plan.conflicts:
            click.echo(
                f"{out_dir / path}: error: exists and was not generated by comfygen; "
                "refusing to overwrite it\n  fix: move the file away or choose another -o",
                err=True,
            )
        sys.exit(1)
    _write.apply(out_dir, build_plan)
    click.echo(
        f"comfygen: {len(result.workflows)} workflow(s) -> {out_dir}: "
        f"{len(build_plan.write)} written, {len(build_plan.unchanged)} unchanged, "
        f"{len(build_plan.remove)} removed."
    )


@main.command("check")
@_SOURCES
@_OUT
@_RUNNINGHUB_IDS
@_schema_options
def check_command(
    sources: tuple[str, ...], out_dir: Path, runninghub_ids: dict[Path, str], **schema: Any
) -> None:
    """Exit 1 with a unified diff if OUT is not what `build` would write (for CI)."""
    result = _compile(sources, runninghub_ids, _SchemaOptions(**schema), verify=False)
    build_plan = _write.plan(out_dir, list(result.files))
    if build_plan.write or build_plan.remove or build_plan.conflicts:
        click.echo(_write.diff(out_dir, build_plan), nl=False)
        for path in build_plan.conflicts:
            click.echo(f"{out_dir / path}: exists and was not generated by comfygen", err=True)
        click.echo(
            f"comfygen: {out_dir} is stale; run `comfygen build {' '.join(map(_shown, sources))} "
            f"-o {out_dir}`.",
            err=True,
        )
        sys.exit(1)
    click.echo(f"comfygen: {out_dir} is up to date ({len(result.files)} files).")


@main.command("vet")
@_SOURCES
@_RUNNINGHUB_IDS
@_schema_options
def vet_command(sources: tuple[str, ...], runninghub_ids: dict[Path, str], **schema: Any) -> None:
    """Check workflows against the node schemas without writing anything.

    Reports bindings to inputs a node does not have, defaults outside their bounds or
    options, unknown (custom) node classes, loader inputs without an upload marker, and
    every DSL error. Exit status: 0 clean (warnings allowed unless --strict), 1 otherwise.
    """
    result = _compile(sources, runninghub_ids, _SchemaOptions(**schema), verify=False)
    click.echo(
        f"comfygen: {len(result.workflows)} workflow(s) vetted, "
        f"{len(result.diagnostics)} warning(s)."
    )


@main.command("inspect")
@_SOURCES
@_RUNNINGHUB_IDS
@_schema_options
def inspect_command(
    sources: tuple[str, ...], runninghub_ids: dict[Path, str], **schema: Any
) -> None:
    """Show each workflow's parameters and outputs as tables."""
    result = _compile(sources, runninghub_ids, _SchemaOptions(**schema))
    console = Console(highlight=False)
    for ir in result.workflows:
        table = Table(title=Text(f"{ir.function}  ({ir.source})"), title_justify="left")
        for column in ("parameter", "type", "default", "sets"):
            table.add_column(column)
        for param in ir.params:
            table.add_row(
                Text(param.name),
                Text(_type_label(param)),
                Text("required" if param.required else repr(param.default)),
                Text(
                    "\n".join(
                        f"node {t.node.node_id} {t.node.class_type}.{t.input}"
                        for t in param.targets
                    )
                ),
            )
        console.print(table)
        outputs = Table(show_header=True, title_justify="left")
        for column in ("output", "kind", "nodes"):
            outputs.add_column(column)
        for output in ir.outputs:
            nodes = ", ".join(f"{n.node_id} {n.class_type}" for n in output.nodes)
            outputs.add_row(Text(output.name), Text(output.kind), Text(nodes))
        console.print(outputs)


def _type_label(param: Any) -> str:
    if param.choices:
        shown = "|".join(map(str, param.choices[:4])) + ("|…" if len(param.choices) > 4 else "")
        return f"{param.type} in {shown}"
    if param.minimum is not None or param.maximum is not None:
        return f"{param.type} [{param.minimum}, {param.maximum}]"
    return str(param.type)


main.add_command(run_command)
main.add_command(models_command)


@main.command("serve")
@_SOURCES
@click.option(
    "--server",
    "servers",
    multiple=True,
    metavar="URL",
    help="A ComfyUI server to run on (default: COMFYUI_BASE_URL, then "
    "http://127.0.0.1:8188). Repeatable: several servers make a pool.",
)
@click.option(
    "--runninghub",
    is_flag=True,
    help="Run on RunningHub (RUNNINGHUB_API_KEY): every workflow needs a RunningHub id "
    "(rh:ID sources, --runninghub-id, or comfygen.toml).",
)
@_RUNNINGHUB_IDS
@click.option(
    "--object-info",
    "object_info",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A server's /object_info saved as JSON, for exact types of its (custom) nodes. "
    "Repeatable.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port, printed at startup).",
)
@click.option(
    "--stdio",
    is_flag=True,
    help="Speak MCP over stdin/stdout only (for MCP clients that start the server).",
)
@click.option(
    "--timeout", type=float, help="Give up on (and cancel) a job after this many seconds."
)
def serve_command(
    sources: tuple[str, ...],
    servers: tuple[str, ...],
    runninghub: bool,
    runninghub_ids: dict[Path, str],
    object_info: tuple[Path, ...],
    host: str,
    port: int,
    stdio: bool,
    timeout: float | None,
) -> None:
    """Serve the workflows in SOURCES as MCP tools and as an HTTP API.

    \b
    comfygen serve workflows/ --server http://gpu-box:8188
        HTTP API at http://127.0.0.1:8000/ (OpenAPI at /openapi.json, docs at /docs)
        MCP (streamable HTTP) at http://127.0.0.1:8000/mcp
    comfygen serve workflows/ --stdio          MCP over stdin/stdout

    Every workflow is one tool and one endpoint (POST /workflows/NAME, or
    /workflows/NAME/jobs for a job to poll, follow and cancel), with its parameters'
    types, bounds and choices as schema. Needs the serve extra: comfygen[serve].
    """
    import asyncio
    import socket

    try:
        from . import _serve
    except ImportError as error:
        raise click.UsageError(
            f"`comfygen serve` needs the serve extra ({error.name} is not installed): "
            "pip install 'comfygen[serve]'"
        ) from None
    if servers and runninghub:
        raise click.UsageError("--server and --runninghub exclude each other")
    schemas = _SchemaOptions(object_info, None, False, False).schemas()
    try:
        backend, label, notes = _serve.open_backend(servers, runninghub=runninghub)
        attached = {**load_runninghub_ids(Path.cwd()), **runninghub_ids}
        catalog, warnings = _serve.load_catalog(
            list(sources),
            backend=backend,
            backend_label=label,
            runninghub=runninghub,
            runninghub_ids=attached,
            schemas=schemas,
            timeout=timeout,
            notes=notes,
        )
    except (ValueError, ProjectConfigError) as error:
        raise click.UsageError(str(error)) from None
    except BuildError as error:
        _report(error.diagnostics)
        errors = sum(d.severity == "error" for d in error.diagnostics)
        click.echo(f"comfygen: {errors} error(s); nothing is served.", err=True)
        sys.exit(1)
    _report(warnings)

    def say(text: str) -> None:
        click.echo(text, err=stdio)  # with --stdio, stdout carries the protocol

    say(f"comfygen serve: {len(catalog.entries)} workflow(s) on {catalog.backend_label}")
    for note in catalog.notes:
        say(f"  note: {note}")
    width = max(len(name) for name in catalog.entries)
    for entry in catalog.entries.values():
        say(f"  {entry.name:<{width}}  {entry.source}")

    async def run(sock: socket.socket | None) -> None:
        try:
            if sock is None:
                await _serve.serve_stdio(catalog)
            else:
                await _serve.http_server(_serve.create_app(catalog, host=host)).serve([sock])
        finally:
            await catalog.close()

    if stdio:
        say("MCP: stdio")
        asyncio.run(run(None))
        return
    try:
        sock = socket.create_server((host, port))
    except OSError as error:
        raise click.UsageError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{sock.getsockname()[1]}"
    say(f"HTTP API: {base}/  (OpenAPI: {base}/openapi.json, docs: {base}/docs)")
    say(f"MCP: {base}/mcp  (streamable HTTP)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(sock))


if __name__ == "__main__":  # python -m comfygen.cli
    main()
