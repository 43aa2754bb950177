"""The model-free examples, through their generated functions, against a ComfyUI server.

By default the server is the fake (tests/fakes); with COMFYUI_URL set, the same tests run
unchanged against a live ComfyUI (they need no model files).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import comfygen_runtime as rt
import httpx
import pydantic
import pytest
from gen import (
    InvertColorImageResult,
    blur_preview,
    caption_text,
    invert_color_image,
    invert_uploaded_image,
    text_preview,
)

from tests.conftest import png


async def test_invert_color_image_returns_typed_images(comfyui: rt.ComfyUI, tmp_path: Path) -> None:
    result = await invert_color_image(width=64, height=32, color=0x336699, client=comfyui)
    assert isinstance(result, InvertColorImageResult)
    (image,) = result.image
    assert isinstance(image, rt.Image)
    assert image.node_id == "3" and image.type == "output"
    assert image.filename.endswith(".png") and image.subfolder == "invert"
    assert image.url.startswith(comfyui.base_url + "/view?filename=")
    data = await image.read()
    assert data.startswith(b"\x89PNG")
    async with httpx.AsyncClient() as http:
        assert (await http.get(image.url)).content == data
    saved = await image.save(tmp_path / "out")
    assert saved == (tmp_path / "out" / image.filename).resolve()
    assert saved.read_bytes() == data
    assert "3" in result.outputs and result.prompt_id


async def test_text_outputs(comfyui: rt.ComfyUI) -> None:
    result = await text_preview(text="hello", suffix=", world", client=comfyui)
    assert [t.text for t in result.preview] == ["hello, world"]
    assert all(isinstance(t, rt.Text) and t.node_id == "3" for t in result.preview)
    caption = await caption_text(subject="a fox", style="snow", client=comfyui)
    assert len(caption.caption) == 1 and "fox" in caption.caption[0].text.lower()


async def test_auto_detected_output_by_node_id(comfyui: rt.ComfyUI) -> None:
    result = await blur_preview(width=16, height=16, radius=2, client=comfyui)
    (image,) = result.node_3
    assert isinstance(image, rt.Image) and image.type == "temp"


async def test_upload_from_path_bytes_and_server_name(comfyui: rt.ComfyUI, tmp_path: Path) -> None:
    picture = tmp_path / "my picture.png"
    picture.write_bytes(png())
    from_path = await invert_uploaded_image(image=picture, client=comfyui)
    from_string = await invert_uploaded_image(image=str(picture), client=comfyui)
    from_bytes = await invert_uploaded_image(image=png(), client=comfyui)
    for result in (from_path, from_string, from_bytes):
        assert result.inverted and (await result.inverted[0].read()).startswith(b"\x89PNG")
    server_name = await comfyui.upload(png(), suffix=".png")
    assert server_name.startswith("comfygen-") and server_name.endswith(".png")
    by_name = await invert_uploaded_image(image=server_name, client=comfyui)
    assert by_name.inverted


async def test_missing_local_file_fails_before_submitting(
    comfyui: rt.ComfyUI, tmp_path: Path
) -> None:
    with pytest.raises(rt.ParameterError, match="is not a file"):
        await invert_uploaded_image(image=tmp_path / "nope.png", client=comfyui)


async def test_validation_errors_name_the_parameters(comfyui: rt.ComfyUI) -> None:
    # Bounds are checked before sending (the node schema); the server's own validation
    # (here: LoadImage's file check) comes back mapped to the parameter that set the input.
    with pytest.raises(pydantic.ValidationError):
        await invert_color_image(width=-5, client=comfyui)
    with pytest.raises(rt.WorkflowValidationError) as caught:
        await invert_uploaded_image(image="no_such_file_on_the_server.png", client=comfyui)
    (error,) = caught.value.errors
    assert error.params == ("image",)
    assert error.node_id == "1" and error.input == "image"
    assert error.type == "custom_validation_failed"
    assert "parameter image" in str(caught.value)


async def test_execution_errors_carry_node_and_traceback(comfyui: rt.ComfyUI) -> None:
    with pytest.raises(rt.ExecutionError) as caught:
        await blur_preview(width=8, height=8, radius=31, client=comfyui)
    error = caught.value
    assert (error.node_id, error.node_type) == ("2", "ImageBlur")
    assert error.exception_type and error.exception_message and error.traceback
    assert "ImageBlur" in str(error)


async def test_missing_node_class(comfyui: rt.ComfyUI, make_module: Any) -> None:
    def node(class_type: str, title: str, **inputs: Any) -> dict[str, Any]:
        return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}

    module = make_module(
        {
            "1": node("EmptyImage", "$width", width=8, height=8, batch_size=1, color=0),
            "2": node("TotallyMissingNode", "My Custom Node", image=["1", 0]),
            "3": node("SaveImage", "", images=["2", 0], filename_prefix="x"),
        }
    )
    with pytest.raises(rt.MissingNodeError) as caught:
        await module.wf(client=comfyui)
    assert caught.value.class_type == "TotallyMissingNode" and caught.value.node_id == "2"


async def test_events_arrive_in_order(comfyui: rt.ComfyUI) -> None:
    seen: list[rt.Event] = []
    await invert_color_image(width=16, height=16, client=comfyui, on_event=seen.append)
    kinds = [event.kind for event in seen]
    assert kinds[0] == "queued" and kinds[-1] == "finished"
    assert "started" in kinds and "executing" in kinds and "output" in kinds
    assert kinds.index("started") < kinds.index("executing") < kinds.index("output")
    assert {e.prompt_id for e in seen} == {seen[0].prompt_id}
    assert seen[0].position is not None and seen[0].position >= 0
    outputs = [e for e in seen if e.kind == "output"]
    assert outputs[0].node == "3" and outputs[0].output is not None


async def test_events_as_async_iterator_and_async_callback(comfyui: rt.ComfyUI) -> None:
    received: list[str] = []

    async def record(event: rt.Event) -> None:
        await asyncio.sleep(0)
        received.append(event.kind)

    stream = rt.watch(text_preview(text="hi", client=comfyui, on_event=record))
    kinds = [event.kind async for event in stream]
    result = await stream
    assert result.preview[0].text == "hi!"
    assert kinds == received and kinds[-1] == "finished"


async def test_concurrent_calls_share_one_socket(comfyui: rt.ComfyUI) -> None:
    widths = list(range(8, 8 + 40))
    results = await asyncio.gather(
        *(invert_color_image(width=w, height=8, client=comfyui) for w in widths)
    )
    assert len({r.prompt_id for r in results}) == len(widths)
    assert len({r.image[0].filename for r in results}) == len(widths)
    assert comfyui.sockets_opened == 1


async def test_default_client_comes_from_the_environment(
    comfyui_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYUI_BASE_URL", comfyui_url)
    result = await text_preview(text="env")
    assert result.preview[0].text == "env!"
    client = rt.default_client()
    assert client.base_url == comfyui_url
    await client.close()


async def test_sync_wrapper(comfyui_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMFYUI_BASE_URL", comfyui_url)
    # A script's thread: no event loop is running there (the fake server runs in this one).
    result = await asyncio.to_thread(lambda: rt.run_sync(text_preview(text="sync")))
    assert result.preview[0].text == "sync!"


async def test_a_closed_default_client_is_replaced(
    comfyui_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYUI_BASE_URL", comfyui_url)
    first = rt.default_client()
    await first.close()
    result = await text_preview(text="again")
    assert result.preview[0].text == "again!" and rt.default_client() is not first
    await rt.default_client().close()
