"""How an application tests its own code without a ComfyUI server: `FakeBackend`.

These are the tests of `examples/app.py`. The fake is passed as `client=`, as a real
server would be; every call runs through the runtime's real job lifecycle (validation,
events, timeouts, cancellation, typed results), and the fake records what it received.

    uv run pytest examples/test_app.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app import invert, make_cover, smoke_test
from comfygen_runtime import ExecutionError, WorkflowTimeoutError, WorkflowValidationError
from comfygen_runtime.testing import FakeBackend, FakeFile
from gen import book_cover, invert_uploaded_image, text_preview

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082"
)


async def test_make_cover_returns_both_images() -> None:
    fake = FakeBackend()
    fake.respond(book_cover, cover=[FakeFile("cover.png", PNG)], thumbnail=[PNG])
    cover, thumbnail = await make_cover(fake, "Dune")
    assert await cover.read() == PNG and cover.filename == "cover.png"
    assert await thumbnail.read() == PNG
    (call,) = fake.calls
    assert "Dune" in call.params["prompt"] and call.params["width"] == 832
    assert call.graph["2"]["inputs"]["text"] == call.params["prompt"], "what would be sent"


async def test_a_failing_node_reaches_the_app() -> None:
    fake = FakeBackend()
    fake.fail(book_cover, node="5", exception_type="OutOfMemoryError", message="CUDA OOM")
    with pytest.raises(ExecutionError) as caught:
        await make_cover(fake, "Dune")
    assert (caught.value.node_id, caught.value.node_type) == ("5", "KSampler")


async def test_a_refused_value_names_the_parameter() -> None:
    fake = FakeBackend()
    fake.reject(book_cover, param="width", message="Value 832 bigger than max of 512")
    with pytest.raises(WorkflowValidationError) as caught:
        await make_cover(fake, "Dune")
    assert caught.value.errors[0].params == ("width",)


async def test_invert_uploads_the_local_picture(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(PNG)
    fake = FakeBackend()
    await invert(fake, picture)
    (call,) = fake.calls
    assert call.params["image"] == picture
    uploaded = call.graph["1"]["inputs"]["image"]  # the content-named upload, as on a server
    assert fake.uploads[uploaded] == PNG


async def test_a_job_that_hangs_times_out_and_is_cancelled(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(PNG)
    fake = FakeBackend()
    fake.hang(invert_uploaded_image)
    with pytest.raises(WorkflowTimeoutError) as caught:
        await invert_uploaded_image(image=picture, client=fake, timeout=0.01)
    assert caught.value.cancelled and fake.cancelled == [fake.calls[0].job_id]


async def test_smoke_test_texts() -> None:
    fake = FakeBackend()
    fake.respond(text_preview, preview=["hello, world"])
    images, texts = await smoke_test(fake)
    assert [t.text for t in texts] == ["hello, world"]
    assert len(images) == 1 and (await images[0].read()).startswith(b"\x89PNG"), "a placeholder"
    assert sorted(call.workflow for call in fake.calls) == ["invert_color_image", "text_preview"]
