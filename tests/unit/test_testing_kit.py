"""`comfygen_runtime.testing.FakeBackend` under the real job lifecycle (the app-facing
examples are in examples/test_app.py)."""

from __future__ import annotations

import asyncio

import pytest
from comfygen_runtime import (
    Event,
    ExecutionError,
    IdempotencyConflictError,
    JobInterruptedError,
    ParameterError,
    attach,
    submit,
)
from comfygen_runtime.testing import FakeBackend, FakeFile
from gen import book_cover, caption_text, text_preview

from tests.conftest import SlowCancel


async def test_events_and_result_fields() -> None:
    fake = FakeBackend()
    fake.respond("text_preview", preview=["one", "two"])
    events: list[Event] = []
    result = await text_preview(text="x", client=fake, on_event=events.append)
    assert [t.text for t in result.preview] == ["one", "two"]
    assert [t.node_id for t in result.preview] == ["3", "3"]
    assert [e.kind for e in events] == ["queued", "started", "executing", "finished"]
    assert events[0].position == 0 and result.server == fake.base_url
    assert result.prompt_id == fake.calls[0].job_id


async def test_placeholders_for_unscripted_fields() -> None:
    fake = FakeBackend()
    result = await book_cover(prompt="x", client=fake)
    assert [i.filename for i in result.cover] == ["cover.png"]
    assert (await result.cover[0].read()).startswith(b"\x89PNG\r\n\x1a\n")
    saved = await result.thumbnail[0].read()
    assert saved.startswith(b"\x89PNG")


async def test_scripts_apply_per_workflow_until_replaced() -> None:
    fake = FakeBackend()
    fake.respond(caption_text, caption=["first"])
    assert [t.text for t in (await caption_text(subject="a", client=fake)).caption] == ["first"]
    assert [t.text for t in (await caption_text(subject="b", client=fake)).caption] == ["first"]
    fake.interrupt(caption_text, node="2")
    with pytest.raises(JobInterruptedError) as caught:
        await caption_text(subject="c", client=fake)
    assert caught.value.node_id == "2"
    assert [call.params["subject"] for call in fake.calls] == ["a", "b", "c"]
    assert (await text_preview(text="x", client=fake)).preview[0].text == ""  # unscripted


async def test_idempotency_keys_and_handles() -> None:
    fake = FakeBackend()
    fake.respond(book_cover, cover=[FakeFile("c.png", b"png", subfolder="covers")])
    first = await book_cover(prompt="x", client=fake, idempotency_key="task-1")
    again = await book_cover(prompt="x", client=fake, idempotency_key="task-1")
    assert first.prompt_id == again.prompt_id and len(fake.calls) == 1, "not submitted twice"
    handle = await submit(book_cover, prompt="y", client=fake, idempotency_key="task-2")
    later = await attach(book_cover, prompt_id=handle.prompt_id, client=fake)
    result = await later.result()
    assert result.cover[0].subfolder == "covers" and await result.cover[0].read() == b"png"
    assert len(fake.calls) == 2


async def test_media_are_handled_as_against_a_server() -> None:
    from pathlib import Path

    from gen import invert_uploaded_image

    fake = FakeBackend()
    with pytest.raises(ParameterError, match="is not a file"):  # a Path must exist
        await invert_uploaded_image(image=Path("/no/such/dir/cat.png"), client=fake)
    assert fake.calls == []
    # A string that names no local file is the name of a file on the server: sent as is.
    await invert_uploaded_image(image="on-the-server.png", client=fake)
    assert fake.calls[0].graph["1"]["inputs"]["image"] == "on-the-server.png"
    await invert_uploaded_image(image=b"\x89PNG data", client=fake)
    (name,) = fake.uploads
    assert name.startswith("comfygen-") and fake.calls[1].graph["1"]["inputs"]["image"] == name


async def test_rejecting_an_unknown_parameter_is_a_test_bug() -> None:
    fake = FakeBackend()
    fake.reject(book_cover, param="widht")
    with pytest.raises(ValueError, match="has no parameter 'widht'"):
        await book_cover(prompt="x", client=fake)


async def test_a_caller_cancelled_while_a_timed_out_job_is_cancelled_is_cancelled() -> None:
    fake = SlowCancel()
    fake.hang(text_preview)
    run = asyncio.ensure_future(text_preview(text="x", client=fake, timeout=0.01))
    await fake.cancelling.wait()  # the deadline passed: the run is cancelling its job
    run.cancel()  # and its caller is cancelled (a TaskGroup, a request handler)
    fake.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert fake.cancelled == [fake.calls[0].job_id], "the job was cancelled all the same"


async def test_a_key_stands_for_one_request() -> None:
    fake = FakeBackend()
    first = await text_preview(text="a", client=fake, idempotency_key="k")
    assert (await text_preview(text="a", client=fake, idempotency_key="k")) == first
    with pytest.raises(IdempotencyConflictError):
        await text_preview(text="b", client=fake, idempotency_key="k")
    fake.fail(text_preview, node="2")
    with pytest.raises(ExecutionError):
        await text_preview(text="c", client=fake, idempotency_key="failing")
    fake.respond(text_preview, preview=["fixed"])
    retried = await text_preview(text="d", client=fake, idempotency_key="failing")
    assert retried.preview[0].text == "fixed", "a failed job frees its key for any values"
    assert len(fake.calls) == 3
