"""Jobs that outlive a call: idempotency keys, handles, attaching from another process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import comfygen_runtime as rt
import pytest
from gen import blur_preview, invert_color_image, text_preview

from comfygen import ComfyKit
from tests.conftest import EXAMPLES, ROOT, node
from tests.fakes import FakeComfyUI, FakeRunningHub
from tests.fakes.runninghub import DEFAULT_API_KEY


@pytest.fixture
async def client(fake_comfyui: FakeComfyUI) -> AsyncIterator[rt.ComfyUI]:
    async with rt.ComfyUI(fake_comfyui.base_url, liveness_interval=0.5) as client:
        yield client


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


# -- idempotency keys ---------------------------------------------------------------------


async def test_a_key_runs_its_job_once(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    first = await text_preview(text="once", client=client, idempotency_key="order-1")
    second = await text_preview(text="once", client=client, idempotency_key="order-1")
    assert first.prompt_id == second.prompt_id
    assert second.preview[0].text == "once!" and second.outputs == first.outputs
    assert first.server == second.server == fake_comfyui.base_url
    assert len(fake_comfyui.prompts_received) == 1 and len(fake_comfyui.executions) == 1
    assert fake_comfyui.prompts_received[0]["prompt_id"] == first.prompt_id


async def test_concurrent_calls_with_one_key_share_the_job(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    fake_comfyui.node_delay = 0.02
    results = await asyncio.gather(
        *(text_preview(text="shared", client=client, idempotency_key="k") for _ in range(5))
    )
    assert len({r.prompt_id for r in results}) == 1
    assert [r.preview[0].text for r in results] == ["shared!"] * 5
    assert len(fake_comfyui.prompts_received) == 1 and len(fake_comfyui.executions) == 1


async def test_another_client_attaches_to_a_queued_job(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.hold()
    async with rt.ComfyUI(fake_comfyui.base_url) as one, rt.ComfyUI(fake_comfyui.base_url) as two:
        first = asyncio.ensure_future(text_preview(text="q", client=one, idempotency_key="q1"))
        await _until(lambda: fake_comfyui.prompts_received)
        second = asyncio.ensure_future(text_preview(text="q", client=two, idempotency_key="q1"))
        await asyncio.sleep(0.2)  # the second call has found the queued job
        fake_comfyui.release()
        results = await asyncio.gather(first, second)
    assert results[0].prompt_id == results[1].prompt_id
    assert results[1].preview[0].text == "q!"
    assert len(fake_comfyui.prompts_received) == 1 and len(fake_comfyui.executions) == 1


async def test_a_finished_job_comes_from_the_history(fake_comfyui: FakeComfyUI) -> None:
    async with rt.ComfyUI(fake_comfyui.base_url) as before:
        first = await invert_color_image(width=8, height=8, client=before, idempotency_key="x")
    async with rt.ComfyUI(fake_comfyui.base_url) as after:  # e.g. after a restart
        again = await invert_color_image(width=8, height=8, client=after, idempotency_key="x")
        data = await again.image[0].read()
    assert again.prompt_id == first.prompt_id
    assert [i.model_dump() for i in again.image] == [i.model_dump() for i in first.image]
    assert data.startswith(b"\x89PNG")
    assert len(fake_comfyui.prompts_received) == 1


async def test_a_failed_job_is_submitted_again(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    with pytest.raises(rt.ExecutionError):
        await blur_preview(width=8, height=8, radius=31, client=client, idempotency_key="b")
    result = await blur_preview(width=8, height=8, radius=2, client=client, idempotency_key="b")
    assert result.node_3
    ids = [prompt["prompt_id"] for prompt in fake_comfyui.prompts_received]
    assert ids == [result.prompt_id, result.prompt_id], "the same job id, submitted again"


async def test_the_failed_run_s_history_is_not_taken_for_the_new_one(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "_socket_url", lambda: "ws://127.0.0.1:9/ws")  # poll only
    with pytest.raises(rt.ExecutionError):
        await blur_preview(width=8, height=8, radius=31, client=client, idempotency_key="p")
    fake_comfyui.hold()
    again = asyncio.ensure_future(
        blur_preview(width=8, height=8, radius=2, client=client, idempotency_key="p")
    )
    await _until(lambda: len(fake_comfyui.prompts_received) == 2)
    await asyncio.sleep(0.3)  # polls find the failed run's record meanwhile
    fake_comfyui.release()
    assert (await again).node_3


async def test_a_failed_job_s_retry_turned_away_is_not_taken_for_queued(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    with pytest.raises(rt.ExecutionError):
        await blur_preview(width=8, height=8, radius=31, client=client, idempotency_key="b")
    fake_comfyui.fail_next_requests = {"/prompt": 1}  # a proxy turns the next POST away
    result = await blur_preview(width=8, height=8, radius=2, client=client, idempotency_key="b")
    assert result.node_3, "the new run ran; the failed run's record did not pass for it"
    assert fake_comfyui.executions == [result.prompt_id, result.prompt_id]


async def test_attaching_by_key_follows_the_new_run_not_the_failed_one(
    fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fake_comfyui.base_url
    async with rt.ComfyUI(base) as one, rt.ComfyUI(base, liveness_interval=0.5) as two:
        monkeypatch.setattr(two, "_socket_url", lambda: "ws://127.0.0.1:9/ws")  # two polls
        with pytest.raises(rt.ExecutionError):
            await blur_preview(width=8, height=8, radius=31, client=one, idempotency_key="r")
        fake_comfyui.hold()
        again = asyncio.ensure_future(
            blur_preview(width=8, height=8, radius=2, client=one, idempotency_key="r")
        )
        await _until(lambda: len(fake_comfyui.prompts_received) == 2)
        handle = await rt.attach(blur_preview, idempotency_key="r", client=two)
        follower = asyncio.ensure_future(handle.result())
        asked = ("GET", f"/history/{handle.prompt_id}")
        seen = fake_comfyui.requests_received.count(asked)
        # the follower reads the history while the new run waits in the queue
        await _until(
            lambda: follower.done() or fake_comfyui.requests_received.count(asked) >= seen + 2
        )
        fake_comfyui.release()
        submitted, followed = await again, await follower
    assert followed.prompt_id == submitted.prompt_id and followed.node_3
    assert followed.outputs == submitted.outputs


async def test_keys_are_per_workflow(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    text = await text_preview(text="t", client=client, idempotency_key="same")
    image = await invert_color_image(width=8, height=8, client=client, idempotency_key="same")
    assert text.prompt_id != image.prompt_id and len(fake_comfyui.executions) == 2


async def test_keys_are_per_workflow_graph_not_just_its_name(fake_comfyui: FakeComfyUI) -> None:
    text = (EXAMPLES / "text_preview.json").read_text()
    other = {
        "1": node("PrimitiveString", "$text.value", value="other"),
        "2": node("StringConcatenate", string_a=["1", 0], string_b="?", delimiter=""),
        "3": node("PreviewAny", "$output.answer", source=["2", 0]),
    }
    async with ComfyKit(comfyui_url=fake_comfyui.base_url) as kit:  # both named "workflow"
        first = await kit.execute_json(json.loads(text), {"text": "one"}, idempotency_key="u")
        second = await kit.execute_json(other, {"text": "two"}, idempotency_key="u")
    assert (first.status, first.texts) == ("completed", ["one!"])
    assert (second.status, second.texts) == ("completed", ["two?"])
    assert first.prompt_id != second.prompt_id and len(fake_comfyui.prompts_received) == 2


async def test_a_key_reused_with_other_parameters_is_refused(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    first = await text_preview(text="one", client=client, idempotency_key="k")
    with pytest.raises(rt.IdempotencyConflictError, match="other parameters") as caught:
        await text_preview(text="two", client=client, idempotency_key="k")
    assert caught.value.prompt_id == first.prompt_id
    async with rt.ComfyUI(fake_comfyui.base_url) as other:  # as another process would
        with pytest.raises(rt.IdempotencyConflictError):
            await text_preview(text="two", client=other, idempotency_key="k")
        again = await text_preview(text="one", client=other, idempotency_key="k")
    assert again.prompt_id == first.prompt_id and again.preview[0].text == "one!"
    fake_comfyui.hold()  # a queued job's key is bound to its parameters as well
    handle = await rt.submit(text_preview, text="queued", client=client, idempotency_key="q")
    with pytest.raises(rt.IdempotencyConflictError):
        await text_preview(text="not queued", client=client, idempotency_key="q")
    fake_comfyui.release()
    assert (await handle.result()).preview[0].text == "queued!"
    assert len(fake_comfyui.prompts_received) == 2


async def test_one_key_is_one_job_across_clients_and_event_loops(
    fake_comfyui: FakeComfyUI,
) -> None:
    base = fake_comfyui.base_url
    async with rt.ComfyUI(base) as one, rt.ComfyUI(base) as two:  # e.g. a client per request
        results = await asyncio.gather(
            text_preview(text="x", client=one, idempotency_key="clients"),
            text_preview(text="x", client=two, idempotency_key="clients"),
        )
    assert results[0].prompt_id == results[1].prompt_id
    assert len(fake_comfyui.prompts_received) == 1
    fake_comfyui.http_delay = 0.05  # lookups that take a while: the threads' overlap
    barrier = threading.Barrier(2)
    async with rt.ComfyUI(base) as shared:

        def worker() -> str:  # a sync UI: asyncio.run per call, one cached client
            barrier.wait()
            call = text_preview(text="y", client=shared, idempotency_key="threads")
            return asyncio.run(call).prompt_id

        ids = await asyncio.gather(asyncio.to_thread(worker), asyncio.to_thread(worker))
    assert ids[0] == ids[1]
    assert len(fake_comfyui.prompts_received) == 2 and len(fake_comfyui.executions) == 2


async def test_a_killed_process_loses_nothing_and_runs_nothing_twice(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    fake_comfyui.hold()
    code = (
        "import asyncio, comfygen_runtime as rt\n"
        "from gen import text_preview\n"
        "async def main():\n"
        f"    async with rt.ComfyUI({fake_comfyui.base_url!r}) as c:\n"
        "        await text_preview(text='crash', client=c, idempotency_key='task-7')\n"
        "asyncio.run(main())\n"
    )
    path = os.pathsep.join(filter(None, [str(ROOT / "examples"), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": path}
    worker = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=environment)
    try:
        await _until(lambda: fake_comfyui.prompts_received or worker.returncode is not None)
        assert worker.returncode is None, "the worker died before it submitted its job"
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    fake_comfyui.release()
    result = await text_preview(text="crash", client=client, idempotency_key="task-7")
    assert result.preview[0].text == "crash!"
    assert fake_comfyui.executions == [result.prompt_id]
    assert len(fake_comfyui.prompts_received) == 1


# -- handles ------------------------------------------------------------------------------


async def test_submit_returns_once_accepted(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    fake_comfyui.hold()
    handle = await rt.submit(text_preview, text="later", client=client)
    assert handle.prompt_id == fake_comfyui.prompts_received[0]["prompt_id"]
    assert handle.server == fake_comfyui.base_url and fake_comfyui.executions == []
    assert handle.prompt_id in repr(handle)
    fake_comfyui.release()
    result = await handle.result()
    assert type(result).__name__ == "TextPreviewResult"
    assert result.preview[0].text == "later!" and result.prompt_id == handle.prompt_id
    assert await handle.result() is result


async def test_submit_validates_before_anything_is_sent(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        await rt.submit(invert_color_image, width="wide", client=client)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a generated workflow function"):
        await rt.submit(asyncio.sleep, 0)  # type: ignore[type-var]
    assert fake_comfyui.prompts_received == []


async def test_a_handle_can_be_cancelled(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    fake_comfyui.hold()
    handle = await rt.submit(text_preview, text="never", client=client)
    assert await handle.cancel() is True
    fake_comfyui.release()
    with pytest.raises(rt.JobLostError):
        await handle.result()
    assert fake_comfyui.executions == []


async def test_waiting_for_a_handle_and_giving_up_leaves_the_job(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    fake_comfyui.hold()
    handle = await rt.submit(text_preview, text="patient", client=client)
    with pytest.raises(rt.WorkflowTimeoutError, match="left running"):
        await handle.result(timeout=0.1)
    waiting = asyncio.ensure_future(handle.result())
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    fake_comfyui.release()
    result = await handle.result()
    assert result.preview[0].text == "patient!"
    assert fake_comfyui.executions == [handle.prompt_id]


async def test_a_handle_awaited_again_at_once_after_a_timeout_gets_the_job_s_events(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    fake_comfyui.hold()
    handle = await rt.submit(text_preview, text="again", client=client)
    with pytest.raises(rt.WorkflowTimeoutError):
        await handle.result(timeout=0.05)
    events: list[rt.Event] = []

    async def release_once_followed() -> None:
        await _until(lambda: events)
        fake_comfyui.release()

    releasing = asyncio.ensure_future(release_once_followed())
    result = await handle.result(on_event=events.append)  # at once, in the same task
    await releasing
    assert result.preview[0].text == "again!"
    kinds = [event.kind for event in events]
    assert "executing" in kinds and "output" in kinds, f"the socket's events: {kinds}"


async def test_attach_by_key_or_prompt_id_from_another_client(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.hold()
    async with rt.ComfyUI(fake_comfyui.base_url) as one:
        handle = await rt.submit(text_preview, text="elsewhere", client=one, idempotency_key="e")
    events: list[rt.Event] = []
    async with rt.ComfyUI(fake_comfyui.base_url) as two:
        by_key = await rt.attach(text_preview, idempotency_key="e", client=two)
        by_id = await rt.attach(text_preview, prompt_id=handle.prompt_id, client=two)
        assert by_key.prompt_id == by_id.prompt_id == handle.prompt_id
        fake_comfyui.release()
        first = await by_key.result(on_event=events.append)
        second = await by_id.result()
        with pytest.raises(rt.JobLostError, match="no job"):
            await rt.attach(text_preview, idempotency_key="unknown", client=two)
        with pytest.raises(TypeError, match="exactly one"):
            await rt.attach(text_preview, client=two)
    assert first.preview[0].text == second.preview[0].text == "elsewhere!"
    assert events[-1].kind == "finished"
    assert len(fake_comfyui.executions) == 1


async def test_attach_to_a_failed_job_raises_its_error(client: rt.ComfyUI) -> None:
    with pytest.raises(rt.ExecutionError):
        await blur_preview(width=8, height=8, radius=31, client=client, idempotency_key="f")
    handle = await rt.attach(blur_preview, idempotency_key="f", client=client)
    with pytest.raises(rt.ExecutionError) as caught:
        await handle.result()
    assert caught.value.node_type == "ImageBlur"


# -- RunningHub: keys remembered by the client ----------------------------------------------


async def test_runninghub_remembers_keys_per_client(fake_runninghub: FakeRunningHub) -> None:
    hub = fake_runninghub

    def runninghub() -> rt.RunningHub:
        return rt.RunningHub(DEFAULT_API_KEY, base_url=hub.base_url, max_poll_interval=0.05)

    async with runninghub() as client:
        first = await text_preview(text="rh", client=client, idempotency_key="r")
        second = await text_preview(text="rh", client=client, idempotency_key="r")
        with pytest.raises(rt.IdempotencyConflictError):  # the key is bound to its values
            await text_preview(text="other", client=client, idempotency_key="r")
        handle = await rt.submit(text_preview, text="rh2", client=client)
        by_id = await rt.attach(text_preview, prompt_id=handle.prompt_id, client=client)
        assert (await by_id.result()).preview[0].text == "rh2!"
    assert first.prompt_id == second.prompt_id and second.preview[0].text == "rh!"
    assert first.server == hub.base_url
    assert len(hub.tasks) == 2
    async with runninghub() as other:  # another client (process) does not know the key
        third = await text_preview(text="rh", client=other, idempotency_key="r")
    assert third.prompt_id != first.prompt_id and len(hub.tasks) == 3
