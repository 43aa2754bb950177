"""`comfygen models`: the model files a ComfyUI server has, by folder.

Which checkpoints, LoRAs or VAEs a server offers decides whether a workflow can run there
(a missing one is a `WorkflowValidationError` naming the input); this lists them without
opening the editor. `--json` prints `{folder: [file, ...]}` for scripts.
"""

from __future__ import annotations

import asyncio
import json
import sys

import click

__all__ = ["models_command"]


@click.command("models")
@click.argument("folder", required=False)
@click.option("--server", metavar="URL", help="The ComfyUI server (default: COMFYUI_BASE_URL).")
@click.option("--json", "as_json", is_flag=True, help="Print {folder: [files]} as JSON.")
def models_command(folder: str | None, server: str | None, as_json: bool) -> None:
    """List the model files of a ComfyUI server, by folder (or only FOLDER's).

    \b
    comfygen models --server http://gpu-1:8188
    comfygen models loras --json

    Exit status: 0 listed, 1 the server could not be asked.
    """
    from comfygen_runtime import ComfygenError

    async def ask() -> dict[str, tuple[str, ...]]:
        from comfygen_runtime import ComfyUI

        async with ComfyUI(server) as comfy:
            return await comfy.model_files(folder)

    try:
        listing = asyncio.run(ask())
    except (ComfygenError, ValueError) as error:
        click.echo(f"comfygen: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({name: list(files) for name, files in listing.items()}, indent=2))
        return
    for name, files in listing.items():
        click.echo(f"{name} ({len(files)})")
        for file in files:
            click.echo(f"  {file}")
