"""Runtime behaviour on recorded protocol workflows that only the fake can script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import comfygen_runtime as rt
import pytest

from tests.conftest import TESTS
from tests.fakes import FakeComfyUI

RECORDED = TESTS / "fakes" / "recordings" / "workflows"


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
async def client(fake_comfyui: FakeComfyUI) -> Any:
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        yield client


async def test_progress_and_preview_events(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI, make_module: Any
) -> None:
    graph = _workflow("08_slow_progress.json")
    graph["1"]["inputs"]["width"] = graph["1"]["inputs"]["height"] = 16
    module = make_module(graph)
    events: list[rt.Event] = []
    result = await module.wf(client=client, on_event=events.append)
    progress = [e for e in events if e.kind == "progress"]
    assert progress and all(e.node == "3" and e.max == 48 for e in progress)
    assert progress[-1].value == 48
    previews = [e for e in events if e.kind == "preview"]
    assert previews and previews[0].image and previews[0].image_format in ("png", "jpeg")
    assert all(e.prompt_id == result.prompt_id for e in events)
    assert len(result.node_4) == 48 and {image.type for image in result.node_4} == {"temp"}


async def test_text_frames_and_text_outputs(client: rt.ComfyUI, make_module: Any) -> None:
    module = make_module(_workflow("04_text_outputs.json"))
    events: list[rt.Event] = []
    result = await module.wf(client=client, on_event=events.append)
    texts = [(e.node, e.text) for e in events if e.kind == "text"]
    assert texts == [("2", "width: 96, height: 32\n batch size: 3")]  # as recorded
    (saved,) = result.node_7
    assert saved.text == "hello, world"
    assert saved.file is not None and saved.file.filename.endswith(".txt")
    assert (await saved.file.read()).decode() == "hello, world"
    assert [t.text for t in result.node_6] == ["hello, world"]
    assert [t.text for t in result.node_3] == ["96"]


async def test_animated_images(client: rt.ComfyUI, make_module: Any) -> None:
    result = await make_module(_workflow("03_animated_webp.json")).wf(client=client)
    webp, png = result.node_4, result.node_5
    assert webp[0].animated and webp[0].filename.endswith(".webp")
    assert png[0].animated and png[0].filename.endswith(".png")


async def test_a_1_5_mb_text_output(client: rt.ComfyUI, make_module: Any) -> None:
    module = make_module(_workflow("comfykit/ck_big_text.json"))
    big = "x" * 1_500_000
    result = await module.wf(text=big, client=client)
    assert [t.text for t in result.text] == [big]


async def test_media_from_a_url(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI, tmp_path: Path
) -> None:
    from gen import invert_color_image, invert_uploaded_image

    source = (await invert_color_image(width=8, height=8, client=client)).image[0]
    before = fake_comfyui.upload_requests
    result = await invert_uploaded_image(image=source.url, client=client)
    assert result.inverted and fake_comfyui.upload_requests == before + 1
    with pytest.raises(rt.ParameterError, match=r"127\.0\.0\.1:\d+/view gave HTTP 4"):
        await invert_uploaded_image(image=source.url + "-missing", client=client)
