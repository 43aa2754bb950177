"""comfykit's README (shared/seed-comfykit.md), snippet by snippet, with `from comfygen import
ComfyKit` instead of `from comfykit import ComfyKit`, against the fake ComfyUI and the fake
RunningHub. Workflow file names in the snippets are the files in tests/seed_readme/."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from comfygen import ComfyKit  # the one line adapted: was `from comfykit import ComfyKit`
from tests.conftest import TESTS
from tests.fakes import FakeComfyUI, FakeRunningHub, models_used_by
from tests.fakes.runninghub import DEFAULT_API_KEY

DATA = TESTS / "seed_readme"


@pytest.fixture
async def comfy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeComfyUI]:
    graphs = [json.loads(p.read_text()) for p in DATA.glob("*.json")]
    models = models_used_by(*graphs)
    models.setdefault("checkpoints", []).append("dreamshaper_8.safetensors")
    server = FakeComfyUI(models=models)
    await server.start()
    for path in DATA.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)  # the snippets name "workflow.json" and friends
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def hub(fake_runninghub: FakeRunningHub, monkeypatch: pytest.MonkeyPatch) -> FakeRunningHub:
    fake_runninghub.add_workflow("12345", json.loads((DATA / "runninghub_12345.json").read_text()))
    monkeypatch.setenv("RUNNINGHUB_BASE_URL", fake_runninghub.base_url)
    return fake_runninghub


async def test_execute_a_workflow_in_3_lines(comfy: FakeComfyUI) -> None:
    # Connect to local ComfyUI server
    kit = ComfyKit(comfyui_url=comfy.base_url)
    result = await kit.execute("workflow.json", {"prompt": "a cute cat"})
    print(result.images)  # ['http://127.0.0.1:8188/view?filename=cat_001.png']
    assert result.images and result.images[0].startswith(f"{comfy.base_url}/view?filename=")
    # ExecuteResult object, not strings!
    assert result.status == "completed"
    assert result.images_by_var == {"9": result.images}
    assert result.videos == [] and result.audios == []
    assert isinstance(result.duration, float)
    await kit.close()


async def test_option_1_runninghub_cloud(hub: FakeRunningHub) -> None:
    # Initialize with RunningHub (only API key needed)
    kit = ComfyKit(runninghub_api_key=DEFAULT_API_KEY)
    # Execute with workflow ID
    result = await kit.execute("12345", {"prompt": "a beautiful sunset over the ocean"})
    print(f"🖼️ Generated images: {result.images}")
    assert result.status == "completed" and len(result.images) == 1
    assert result.texts == ["a beautiful sunset over the ocean"]
    assert hub.created[0]["workflowId"] == "12345"
    await kit.close()


async def test_option_2_local_comfyui(comfy: FakeComfyUI) -> None:
    kit = ComfyKit(comfyui_url=comfy.base_url)
    result = await kit.execute("workflow.json", params={"prompt": "a cute cat playing with yarn"})
    if result.status == "completed":
        print(f"✅ Success! Duration: {result.duration:.2f}s")
        print(f"🖼️ Images: {result.images}")
    else:
        print(f"❌ Failed: {result.msg}")
    assert result.status == "completed" and result.images
    await kit.close()


async def test_comfyui_url_defaults_and_environment(
    comfy: FakeComfyUI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYUI_BASE_URL", comfy.base_url)
    kit = ComfyKit()  # Default, can be omitted
    result = await kit.execute("workflow.json", {"prompt": "a cat", "seed": 42, "steps": 20})
    assert result.status == "completed"
    (prompt,) = comfy.prompts_received
    sampler = prompt["prompt"]["3"]["inputs"]
    assert (sampler["seed"], sampler["steps"]) == (42, 20)
    assert result.seeds == {}, "an explicit seed is kept"
    await kit.close()


async def test_custom_server_with_api_key_and_cookies(comfy: FakeComfyUI) -> None:
    kit = ComfyKit(comfyui_url=comfy.base_url, api_key="your-api-key", cookies="session=abc123")
    result = await kit.execute("workflow.json", {"prompt": "a cat"})
    assert result.status == "completed"
    assert "your-api-key" not in repr(kit)
    await kit.close()


async def test_seed_zero_is_randomized_and_reported(comfy: FakeComfyUI) -> None:
    async with ComfyKit(comfyui_url=comfy.base_url) as kit:
        result = await kit.execute("workflow.json", {"prompt": "a cat"})  # seed default 0
    (prompt,) = comfy.prompts_received
    used = prompt["prompt"]["3"]["inputs"]["seed"]
    assert used != 0 and result.seeds == {"3": used} and 0 < used < 2**63
    async with ComfyKit(comfyui_url=comfy.base_url, random_seed=False) as kit:
        kept = await kit.execute("workflow.json", {"prompt": "a cat"})
    assert comfy.prompts_received[1]["prompt"]["3"]["inputs"]["seed"] == 0 and kept.seeds == {}


async def test_execute_remote_workflow_url(comfy: FakeComfyUI, tmp_path: Path) -> None:
    async def serve(_: web.Request) -> web.FileResponse:
        return web.FileResponse(DATA / "workflow.json")

    app = web.Application()
    app.router.add_get("/workflow.json", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        kit = ComfyKit(comfyui_url=comfy.base_url)
        # Automatically download and execute
        result = await kit.execute(f"http://127.0.0.1:{port}/workflow.json", {"prompt": "a cat"})
        assert result.status == "completed" and result.images
        await kit.close()
    finally:
        await runner.cleanup()


async def test_execute_workflow_from_dict(comfy: FakeComfyUI) -> None:
    kit = ComfyKit(comfyui_url=comfy.base_url)
    workflow_dict = json.loads(Path("workflow.json").read_text())
    result = await kit.execute_json(workflow_dict, {"prompt": "a cat"})
    assert result.status == "completed" and result.images
    # comfykit's README shows a UI-format dict ({"nodes", "edges"}); that is an error here,
    # reported like every failure: in the result.
    ui = await kit.execute_json({"nodes": [], "edges": []}, {"prompt": "a cat"})
    assert ui.status == "error" and "Export (API)" in (ui.msg or "")
    await kit.close()


async def test_process_results(comfy: FakeComfyUI) -> None:
    kit = ComfyKit(comfyui_url=comfy.base_url)
    result = await kit.execute("cover_workflow.json", {"prompt": "a cat"})
    print(f"Status: {result.status}")  # completed / failed
    print(f"Duration: {result.duration}s")  # 3.45
    print(f"Prompt ID: {result.prompt_id}")  # uuid
    print(f"Images: {result.images}")  # ['http://...']
    print(f"Videos: {result.videos}")  # ['http://...']
    print(f"Audios: {result.audios}")  # ['http://...']
    print(f"Cover: {result.images_by_var['cover']}")
    print(f"Thumbnail: {result.images_by_var['thumbnail']}")
    cover = result.images_by_var["cover"][0]
    thumbnail = result.images_by_var["thumbnail"][0]
    assert result.images == [cover, thumbnail]
    assert result.prompt_id and result.status == "completed"
    await kit.close()


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    raw = zlib.compress((b"\x00" + b"\x10\x20\x30" * 2) * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


async def test_image_upload_parameter(comfy: FakeComfyUI, tmp_path: Path) -> None:
    (tmp_path / "cat.jpg").write_bytes(_png())
    kit = ComfyKit(comfyui_url=comfy.base_url)
    result = await kit.execute("upload_workflow.json", {
        "input_image": str(tmp_path / "cat.jpg")  # Automatically uploads to ComfyUI
    })  # fmt: skip
    assert result.status == "completed" and result.images_by_var["result"]
    assert comfy.upload_requests == 1
    await kit.close()


async def test_multiple_and_optional_parameters(comfy: FakeComfyUI) -> None:
    kit = ComfyKit(comfyui_url=comfy.base_url)
    result = await kit.execute("t2i_workflow.json", {
        "prompt": "a cute cat playing with yarn",
        "width": 1024,
        "height": 768,
        "model": "dreamshaper_8.safetensors",  # Optional, has default
    })  # fmt: skip
    output_image = result.images_by_var["result"][0]
    assert output_image and result.status == "completed"
    sent = comfy.prompts_received[-1]["prompt"]
    assert (sent["5"]["inputs"]["width"], sent["5"]["inputs"]["height"]) == (1024, 768)
    assert sent["4"]["inputs"]["ckpt_name"] == "dreamshaper_8.safetensors"
    missing = await kit.execute("t2i_workflow.json", {"prompt": "a cat"})  # width! missing
    assert missing.status == "error" and "width" in (missing.msg or "")
    await kit.close()


async def test_runninghub_configuration(
    hub: FakeRunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = ComfyKit(
        runninghub_url=hub.base_url,
        runninghub_api_key=DEFAULT_API_KEY,
        runninghub_timeout=300,  # Default: 5 minutes
        runninghub_retry_count=3,  # Default: 3 retries
        runninghub_instance_type="plus",  # Use 48GB VRAM machine
    )
    result = await kit.execute("12345", {"prompt": "a beautiful landscape"})
    assert result.status == "completed" and hub.created[0]["instanceType"] == "plus"
    await kit.close()
    monkeypatch.setenv("RUNNINGHUB_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("RUNNINGHUB_INSTANCE_TYPE", "plus")
    from_env = ComfyKit()
    again = await from_env.execute("12345", {"prompt": "env"})
    assert again.status == "completed" and hub.created[1]["instanceType"] == "plus"
    await from_env.close()


async def test_failures_come_back_as_results(comfy: FakeComfyUI, hub: FakeRunningHub) -> None:
    kit = ComfyKit(comfyui_url=comfy.base_url, runninghub_api_key=DEFAULT_API_KEY)
    missing_file = await kit.execute("does_not_exist.json", {})
    assert missing_file.status == "error" and "does not exist" in (missing_file.msg or "")
    unknown_id = await kit.execute("99999", {})
    assert unknown_id.status == "error" and unknown_id.error is not None
    await kit.close()


def test_comfykit_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMFYUI_BASE_URL", "http://example.invalid:8188")
    monkeypatch.setenv("RUNNINGHUB_TIMEOUT", "120")
    kit = ComfyKit(api_key="k", runninghub_api_key="rk", runninghub_instance_type="plus")
    assert kit.comfyui_url == "http://example.invalid:8188" and kit.api_key == "k"
    assert kit.runninghub_url == "https://www.runninghub.ai"
    assert kit.runninghub_timeout == 120 and kit.runninghub_retry_count == 3
    assert kit.runninghub_instance_type == "plus" and kit.executor_type == "http"
    assert "rk" not in repr(kit) and "'k'" not in repr(kit)
