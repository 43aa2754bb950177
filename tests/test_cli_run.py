"""`comfygen run`: a workflow from the command line, with progress and an outputs table."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result

from comfygen.cli import main
from tests.fakes import FakeComfyUI, FakeRunningHub
from tests.fakes.runninghub import DEFAULT_API_KEY

EXAMPLES = Path(__file__).parent.parent / "examples" / "workflows"


async def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    # The command runs its own event loop: a thread keeps the fakes (on this loop) serving.
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(args), env=env)


async def test_run_shows_progress_and_outputs(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    outcome = await _invoke(
        "run", str(EXAMPLES / "invert_color_image.json"), "-p", "width=16", "-p", "height=8",
        "--server", fake_comfyui.base_url, "--save", str(tmp_path / "out"),
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    assert "invert_color_image.json: done" in outcome.output
    assert "image" in outcome.output and "/view?filename=" in outcome.output
    (saved,) = (tmp_path / "out").iterdir()
    assert saved.read_bytes().startswith(b"\x89PNG")
    assert f"saved {saved}" in outcome.output
    (prompt,) = fake_comfyui.prompts_received
    assert prompt["prompt"]["1"]["inputs"]["width"] == 16, "values parsed by the parameter's type"


async def test_run_reports_step_progress(tmp_path: Path) -> None:
    graph = json.loads((EXAMPLES / "sdxl_text_to_image.json").read_text())
    from tests.fakes import models_used_by

    server = FakeComfyUI(models=models_used_by(graph))
    await server.start()
    try:
        outcome = await _invoke(
            "run", str(EXAMPLES / "sdxl_text_to_image.json"), "-p", "prompt=a cat",
            "-p", "steps=3", "--server", server.base_url,
        )  # fmt: skip
    finally:
        await server.stop()
    assert outcome.exit_code == 0, outcome.output
    assert "3/3" in outcome.output and "KSampler" in outcome.output


async def test_run_text_and_failure(fake_comfyui: FakeComfyUI) -> None:
    ok = await _invoke(
        "run", str(EXAMPLES / "text_preview.json"), "-p", "text=hello",
        "--server", fake_comfyui.base_url,
    )  # fmt: skip
    assert ok.exit_code == 0 and "hello!" in ok.output
    failed = await _invoke(
        "run", str(EXAMPLES / "blur_preview.json"), "-p", "width=8", "-p", "height=8",
        "-p", "radius=31", "--server", fake_comfyui.base_url,
    )  # fmt: skip
    assert failed.exit_code == 1
    assert "ImageBlur" in failed.output and "Padding size" in failed.output
    invalid = await _invoke(
        "run", str(EXAMPLES / "text_preview.json"), "-p", "text=x", "-p", "nope=1",
        "--server", fake_comfyui.base_url,
    )  # fmt: skip
    assert invalid.exit_code == 1 and "nope" in invalid.output
    usage = await _invoke("run", str(EXAMPLES / "text_preview.json"), "-p", "novalue")
    assert usage.exit_code == 2


async def test_run_on_runninghub(tmp_path: Path) -> None:
    hub = FakeRunningHub()
    await hub.start()
    hub.add_workflow("1987654322", json.loads((EXAMPLES / "text_preview.json").read_text()))
    env = {"RUNNINGHUB_API_KEY": DEFAULT_API_KEY, "RUNNINGHUB_BASE_URL": hub.base_url}
    try:
        by_id = await _invoke("run", "1987654322", "-p", "text=cloud", env=env)
        by_file = await _invoke(
            "run", str(EXAMPLES / "text_preview.json"), "--runninghub", "-p", "text=file", env=env
        )
    finally:
        await hub.stop()
    assert by_id.exit_code == 0 and "cloud!" in by_id.output, by_id.output
    assert by_file.exit_code == 0 and "file!" in by_file.output, by_file.output
