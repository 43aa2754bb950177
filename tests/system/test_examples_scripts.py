"""The example scripts (examples/0*.py, examples/run_all.py) run end to end.

They run as users run them, in their own Python process, against a fake ComfyUI and a fake
RunningHub named by the environment. The fakes serve from this test's event loop, so the
scripts are awaited with `asyncio.create_subprocess_exec`, never run blocking.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fakes import FakeComfyUI, FakeRunningHub
from tests.fakes.runninghub import DEFAULT_API_KEY

pytestmark = pytest.mark.slow  # each test runs example scripts as processes

EXAMPLES = ROOT / "examples"
WORKFLOWS = EXAMPLES / "workflows"
SCRIPT_TIMEOUT = 300.0


def environment(**values: str) -> dict[str, str]:
    """This process's environment without any example configuration, plus `values`."""
    prefixes = ("COMFYUI_", "RUNNINGHUB_", "COMFYGEN_EXAMPLE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(values, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return env


async def run_script(script: Path, env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """Run a script with this Python; its exit status and its output (stdout + stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=cwd,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), SCRIPT_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode("utf-8", "replace")


@pytest.fixture
def runninghub(fake_runninghub: FakeRunningHub) -> FakeRunningHub:
    # It serves the examples under the ids examples/comfygen.toml gives (examples/gen
    # records them); it answers each task at its first poll: a faster run.
    fake_runninghub.polls_before_done = 0
    return fake_runninghub


async def test_run_all_passes_against_the_fakes(
    fake_comfyui: FakeComfyUI, runninghub: FakeRunningHub, tmp_path: Path
) -> None:
    output_dir = tmp_path / "outputs"
    env = environment(
        COMFYUI_BASE_URL=fake_comfyui.base_url,
        RUNNINGHUB_API_KEY=DEFAULT_API_KEY,
        RUNNINGHUB_BASE_URL=runninghub.base_url,
        COMFYGEN_EXAMPLE_RH_WORKFLOW="1987654322",
        COMFYGEN_EXAMPLE_OUTPUT_DIR=str(output_dir),
    )
    # From another directory: the scripts find workflows/ and gen/ next to themselves.
    code, output = await run_script(EXAMPLES / "run_all.py", env, tmp_path)

    assert code == 0, output
    assert "Traceback" not in output, output
    for name in ("01_quick_start", "02_configuration", "03_local_workflows"):
        assert f"ok   {name}" in output
    assert "ok   04_runninghub_cloud" in output and "ok   05_advanced_features" in output
    assert "Passed: 5, skipped: 0, failed: 0 (of 5)" in output
    assert "All examples passed." in output

    # 01: the dynamic API and the generated function, side by side
    assert "[dynamic] status: completed" in output
    assert "[dynamic] images_by_var['image']: ['" + fake_comfyui.base_url in output
    assert "[typed] downloaded" in output and "(PNG: True)" in output
    # 02: configuration from the environment, and synchronous code
    assert "[dynamic] texts: ['configured by the environment!']" in output
    assert "[typed] preview: ['configured by the environment?']" in output
    assert "[typed] run_sync: from sync code!" in output
    # 03: files, dicts, URLs, outputs by variable and by node id
    assert "[dynamic] caption: A photograph of a lighthouse at dawn | oil painting" in output
    assert "[typed] caption: A photograph of a lighthouse at dawn | oil painting" in output
    assert "[dynamic] execute_json: ['from a dict!']" in output
    assert "/caption_text.json -> ['A photograph of a workflow from the web," in output
    assert "[dynamic] images_by_var['3']:" in output and "[typed] .node_3:" in output
    # 04: RunningHub by workflow id, and the typed functions on a RunningHub client
    assert "[dynamic] workflow 1987654322: status completed, texts ['a beautiful sunset!']" in (
        output
    )
    assert "[typed] text_preview on RunningHub: ['a beautiful sunset!']" in output
    assert "[dynamic] cloud: ['same parameters everywhere.']" in output
    assert "[dynamic] local: ['same parameters everywhere.']" in output
    assert "[typed] account: 10000 coins left" in output
    assert "[dynamic] unknown workflow: status error" in output
    assert "[typed] wrong key: AuthenticationError (code 802)" in output
    # 05: batches, events, timeouts, cancellation, seeds, uploads, saving, errors
    assert "[dynamic] completed 3/3" in output
    assert "[dynamic] on_event: queued" in output and "[typed] watch(): queued" in output
    assert "[dynamic] timeout 0.001: status timeout" in output
    assert "[typed] timeout=0.001: WorkflowTimeoutError" in output
    assert "[typed] cancelled; job" in output and "[dynamic] cancelled; job" in output
    assert "[dynamic] seed 0 -> random seeds used (node id -> seed): {'4': " in output
    assert "[dynamic] ComfyKit(random_seed=False) keeps 0: {}" in output
    assert "[typed] from a Path:" in output and "[typed] from bytes:" in output
    assert "[dynamic] out of bounds: error, ParameterError: invalid parameters for" in output
    assert "[dynamic] rejected input: error, WorkflowValidationError" in output
    assert "[dynamic] node failure: error, ExecutionError" in output
    assert "[typed] rejected input: parameter ('image',)" in output
    assert "[typed] out of bounds: ValidationError" in output

    # What the servers saw: every kind of run reached them.
    assert {c["workflowId"] for c in runninghub.created} >= {"1987654321", "1987654322"}
    assert fake_comfyui.uploads, "05 uploads a picture"
    saved = {p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*.png")}
    assert "typed/inverted.png" in saved and "dynamic/image_0.png" in saved


async def test_runninghub_example_skips_without_a_key(tmp_path: Path) -> None:
    # No server at all: without a key, the example must not try to reach anything.
    env = environment(COMFYUI_BASE_URL="http://127.0.0.1:9")
    code, output = await run_script(EXAMPLES / "04_runninghub_cloud.py", env, tmp_path)
    assert code == 0, output
    assert "SKIPPED: RUNNINGHUB_API_KEY is not set" in output
    assert "Traceback" not in output and "[dynamic]" not in output

    code, output = await run_script(EXAMPLES / "run_all.py", env, tmp_path, "04")
    assert code == 0, output
    assert "skip 04_runninghub_cloud" in output
    assert "Passed: 0, skipped: 1, failed: 0 (of 1)" in output


async def test_run_all_fails_when_an_example_fails(tmp_path: Path) -> None:
    # A URL that is not http(s): the example reports the failure at once, run_all exits 1.
    env = environment(COMFYUI_BASE_URL="ftp://127.0.0.1:9")
    code, output = await run_script(EXAMPLES / "run_all.py", env, tmp_path, "01")
    assert code == 1, output
    assert "FAIL 01_quick_start" in output
    assert "[dynamic] failed (error): ComfyUI base URL must be http(s)" in output
    assert "Passed: 0, skipped: 0, failed: 1 (of 1)" in output
