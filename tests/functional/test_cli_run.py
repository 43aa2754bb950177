"""`comfygen run`: a workflow from the command line, with progress and an outputs table."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from comfygen.cli import main
from tests.conftest import ROOT, WriteWorkflow
from tests.fakes import FakeComfyUI, FakeRunningHub
from tests.fakes.runninghub import DEFAULT_API_KEY

EXAMPLES = ROOT / "examples" / "workflows"


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
    (saved,) = (tmp_path / "out" / "invert").iterdir()  # the server's subfolder is kept
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
    # The failure is reported once, after the progress lines, and never as "done".
    assert "done" not in failed.output
    assert failed.output.rstrip().splitlines()[-1].startswith("comfygen: blur_preview.json: ")
    usage = await _invoke("run", str(EXAMPLES / "text_preview.json"), "-p", "novalue")
    assert usage.exit_code == 2


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["-p", "text=x", "-p", "nope=1"], "unknown parameter 'nope'"),
        ([], "missing required parameter 'text'"),
        (["-p", "text=x", "-p", "suffix=1", "-p", "delimiter=2"], "unknown parameter 'delimiter'"),
    ],
)
async def test_usage_errors_list_the_parameters(
    fake_comfyui: FakeComfyUI, args: list[str], problem: str
) -> None:
    outcome = await _invoke(
        "run", str(EXAMPLES / "text_preview.json"), *args, "--server", fake_comfyui.base_url
    )
    assert outcome.exit_code == 2, outcome.output
    assert problem in outcome.output
    assert "Parameters of text_preview.json:" in outcome.output
    assert re.search(r"text +str +required", outcome.output)
    assert re.search(r"suffix +str +default '!'", outcome.output)
    assert fake_comfyui.prompts_received == [], "nothing is sent"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("width=abc", "parameter 'width': 'abc' is not int"),
        ("width=-5", "parameter 'width': Input should be greater than or equal to 1"),
    ],
)
async def test_badly_typed_values_are_usage_errors(
    fake_comfyui: FakeComfyUI, value: str, problem: str
) -> None:
    outcome = await _invoke(
        "run", str(EXAMPLES / "invert_color_image.json"), "-p", value,
        "--server", fake_comfyui.base_url,
    )  # fmt: skip
    assert outcome.exit_code == 2, outcome.output
    assert problem in outcome.output
    assert re.search(r"width +int in \[1, 16384\] +default 512", outcome.output), outcome.output
    assert fake_comfyui.prompts_received == []


async def test_a_missing_workflow_file_is_a_usage_error() -> None:
    outcome = await _invoke("run", "no/such/workflow.json")
    assert outcome.exit_code == 2
    assert "neither an existing file" in outcome.output


async def test_json_document(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    outcome = await _invoke(
        "run", str(EXAMPLES / "text_preview.json"), "-p", "text=hi", "--json",
        "--server", fake_comfyui.base_url, "--save", str(tmp_path),
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)
    assert document["status"] == "completed" and document["workflow"] == "text_preview.json"
    assert document["prompt_id"] == fake_comfyui.prompts_received[0]["prompt_id"]
    (entry,) = document["outputs"]["preview"]
    assert (entry["kind"], entry["text"], entry["node_id"]) == ("text", "hi!", "3")
    assert Path(entry["saved"]).read_text() == "hi!"
    assert isinstance(document["elapsed"], float) and document["seeds"] == {}

    failed = await _invoke(
        "run", str(EXAMPLES / "blur_preview.json"), "-p", "width=8", "-p", "height=8",
        "-p", "radius=31", "--json", "--server", fake_comfyui.base_url,
    )  # fmt: skip
    assert failed.exit_code == 1
    document = json.loads(failed.stdout)
    assert document["status"] == "error" and document["outputs"] == {}
    assert document["error"]["type"] == "ExecutionError"
    assert "Padding size" in document["error"]["message"] and document["prompt_id"]


async def test_save_keeps_subfolders_texts_and_existing_files(
    fake_comfyui: FakeComfyUI, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["run", str(EXAMPLES / "invert_color_image.json"), "-p", "width=16",
            "--server", fake_comfyui.base_url, "--save", str(out)]  # fmt: skip
    first, second = await _invoke(*args), await _invoke(*args)
    assert (first.exit_code, second.exit_code) == (0, 0), second.output
    # The second run is served from the server's cache: the same file name again. The first
    # download is kept; the second gets a new name.
    assert sorted(p.name for p in (out / "invert").iterdir()) == [
        "canvas_00001_-1.png",
        "canvas_00001_.png",
    ]
    text_args = ["run", str(EXAMPLES / "text_preview.json"), "-p", "text=a",
                 "--server", fake_comfyui.base_url, "--save", str(out)]  # fmt: skip
    assert (await _invoke(*text_args)).exit_code == 0
    assert (await _invoke(*text_args[:3], "text=b", *text_args[4:])).exit_code == 0
    assert (out / "preview.txt").read_text() == "a!"
    assert (out / "preview-1.txt").read_text() == "b!", "an existing file is never replaced"
    replaced = await _invoke(*text_args[:3], "text=c", *text_args[4:], "--overwrite")
    assert replaced.exit_code == 0 and (out / "preview.txt").read_text() == "c!"


async def test_plain_output_never_wraps(
    fake_comfyui: FakeComfyUI, write_workflow: WriteWorkflow
) -> None:
    # Not a terminal: one tab-separated line per output, the URL whole however long.
    prefix = "a-rather-long-subfolder-name-" * 4 + "/image"
    graph = json.loads((EXAMPLES / "invert_color_image.json").read_text())
    graph["3"]["inputs"]["filename_prefix"] = prefix
    graph["1"]["_meta"]["title"] = "A canvas whose title is long enough to wrap " * 3
    outcome = await _invoke("run", str(write_workflow(graph)), "--server", fake_comfyui.base_url)
    assert outcome.exit_code == 0, outcome.output
    (line,) = [line for line in outcome.stdout.splitlines() if "/view?" in line]
    field, kind, url = line.split("\t")
    assert (field, kind) == ("image", "image") and url.startswith(fake_comfyui.base_url)
    assert len(url) > 120 and "a-rather-long-subfolder-name-" in url


async def test_a_media_value_that_is_no_local_file_gets_a_hint(
    fake_comfyui: FakeComfyUI,
) -> None:
    outcome = await _invoke(
        "run", str(EXAMPLES / "invert_uploaded_image.json"), "-p", "image=kat.png",
        "--server", fake_comfyui.base_url,
    )  # fmt: skip
    assert "image=kat.png: there is no such local file" in outcome.output
    assert outcome.exit_code == 1 and "kat.png" in outcome.output


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


async def test_ctrl_c_cancels_the_job_on_the_server(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.hold()  # the job stays queued until we interrupt the command
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMFYUI_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "comfygen.cli", "run", str(EXAMPLES / "text_preview.json"),
        "-p", "text=x", "--server", fake_comfyui.base_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stderr is not None
    stderr = process.stderr
    seen: list[str] = []

    async def interrupt_once_queued() -> bytes:
        while "queued" not in (line := (await stderr.readline()).decode()):
            assert line, f"the command ended early: {seen}"
            seen.append(line)
        process.send_signal(signal.SIGINT)
        return (await process.communicate())[1]

    try:
        rest = await asyncio.wait_for(interrupt_once_queued(), 60)  # a hang guard only
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 130, rest
    (prompt,) = fake_comfyui.prompts_received
    assert f"interrupted; job {prompt['prompt_id']} was cancelled on the server" in rest.decode()
    assert "Aborted!" not in rest.decode() and "Traceback" not in rest.decode()
    assert fake_comfyui.queue_pending == [], "the queued job was deleted"
    fake_comfyui.release()


async def test_progress_counts_the_nodes_to_run(fake_comfyui: FakeComfyUI) -> None:
    # An idle server: no job ahead. The second run reuses node 1 from the server's cache,
    # so it runs two nodes, not three.
    base = ["run", str(EXAMPLES / "text_preview.json"), "-p", "text=hi",
            "--server", fake_comfyui.base_url]  # fmt: skip
    first = await _invoke(*base)
    second = await _invoke(*base, "-p", "suffix=?")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert "text_preview.json: queued\n" in first.output and "ahead" not in first.output
    assert [line.split(": ", 1)[1] for line in first.output.splitlines() if "node " in line] == [
        "node 1 PrimitiveString (1/3)",
        "node 2 StringConcatenate (2/3)",
        "node 3 PreviewAny (3/3)",
    ]
    assert [line.split(": ", 1)[1] for line in second.output.splitlines() if "node " in line] == [
        "node 2 StringConcatenate (1/2)",
        "node 3 PreviewAny (2/2)",
    ]


async def test_models_lists_the_servers_files() -> None:
    server = FakeComfyUI(models={"checkpoints": ["b.safetensors", "a.safetensors"],
                                 "loras": ["style.safetensors"]})  # fmt: skip
    await server.start()
    try:
        listing = await _invoke("models", "--server", server.base_url, "--json")
        loras = await _invoke("models", "loras", "--server", server.base_url)
    finally:
        await server.stop()
    assert listing.exit_code == 0, listing.output
    folders = json.loads(listing.stdout)
    assert set(folders["checkpoints"]) == {"a.safetensors", "b.safetensors"}
    assert folders["loras"] == ["style.safetensors"]
    assert loras.exit_code == 0 and loras.stdout == "loras (1)\n  style.safetensors\n"
    dead = await _invoke("models", "--server", "http://127.0.0.1:9")
    assert dead.exit_code == 1 and "127.0.0.1:9" in dead.output and "refused" in dead.output


async def test_timeout_gives_up_on_the_job(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.hold()  # the job stays queued: the timeout passes
    outcome = await _invoke(
        "run", str(EXAMPLES / "text_preview.json"), "-p", "text=x", "--timeout", "0.5",
        "--json", "--server", fake_comfyui.base_url,
    )  # fmt: skip
    fake_comfyui.release()
    assert outcome.exit_code == 1
    document = json.loads(outcome.stdout)
    assert document["status"] == "timeout" and document["error"]["type"] == "WorkflowTimeoutError"
    assert "cancelled on the server" in document["error"]["message"]
    assert fake_comfyui.queue_pending == [] and fake_comfyui.executions == []


async def test_json_even_when_the_workflow_cannot_be_loaded() -> None:
    outcome = await _invoke(
        "run", str(EXAMPLES / "text_preview.json"), "-p", "text=x", "--json",
        "--server", "http://127.0.0.1:9",
    )  # fmt: skip
    assert outcome.exit_code == 1
    document = json.loads(outcome.stdout)
    assert document["status"] == "error" and "connection refused" in document["error"]["message"]


async def test_url_credentials_and_tokens_are_never_printed() -> None:
    url = "http://user:hunter2@127.0.0.1:9/wf.json?token=SECRET"
    outcome = await _invoke("run", url, "--json")
    assert outcome.exit_code == 1
    assert "hunter2" not in outcome.output and "SECRET" not in outcome.output
    assert "http://127.0.0.1:9/wf.json" in outcome.output


async def test_runninghub_without_an_id_says_so_without_a_comfyui(tmp_path: Path) -> None:
    env = {"RUNNINGHUB_API_KEY": DEFAULT_API_KEY, "COMFYUI_BASE_URL": "http://127.0.0.1:9"}
    outcome = await _invoke("run", str(EXAMPLES / "blur_preview.json"), "--runninghub", env=env)
    assert outcome.exit_code == 1 and "has no RunningHub workflow id" in outcome.output
