"""Faults injected into the fake ComfyUI: nothing is lost, nothing runs twice, nothing hangs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import comfygen_runtime as rt
import httpx
import pytest
from gen import invert_color_image, text_preview

from tests.fakes import FakeComfyUI


@pytest.fixture
async def client(fake_comfyui: FakeComfyUI) -> Any:
    async with rt.ComfyUI(
        fake_comfyui.base_url, unavailable_after=5.0, liveness_interval=0.5
    ) as client:
        yield client


async def _pending_job(server: FakeComfyUI, run: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Start `run` with the server's worker held, once the server has queued its job."""
    server.hold()
    task = asyncio.ensure_future(run)
    while not server.prompts_received:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the POST's answer reaches the client
    return task


async def _job_status(server: FakeComfyUI, prompt_id: str) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        reply = await http.get(f"/api/jobs/{prompt_id}")
        return reply.json() if reply.status_code == 200 else None


async def test_socket_dropped_mid_run(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    fake_comfyui.node_delay = 0.05
    fake_comfyui.drop_ws_after_frames = 6
    result = await invert_color_image(width=8, height=8, client=client, timeout=20)
    assert result.image and fake_comfyui.executions == [result.prompt_id]


async def test_socket_never_available_falls_back_to_polling(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "_socket_url", lambda: "ws://127.0.0.1:9/ws")
    result = await text_preview(text="poll", client=client, timeout=20)
    assert result.preview[0].text == "poll!"
    assert client.sockets_opened == 0


@pytest.mark.parametrize("failure", ["500", "reset"])
async def test_failure_after_the_server_accepted(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI, failure: Any
) -> None:
    fake_comfyui.fail_next_post_prompt_after_accept = failure
    result = await text_preview(text="once", client=client, timeout=20)
    assert result.preview[0].text == "once!"
    assert fake_comfyui.executions == [result.prompt_id], "the job must run exactly once"
    assert len(fake_comfyui.prompts_received) == 1


async def test_server_errors_before_accepting_are_retried(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="comfygen_runtime")
    fake_comfyui.fail_next_requests = {"/prompt": 2}
    result = await text_preview(text="retry", client=client, timeout=20)
    assert fake_comfyui.executions == [result.prompt_id]
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2 and all("503" in message for message in retries), retries


async def test_a_proxy_s_refusals_of_a_job(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    fake_comfyui.fail_status = 429  # rate limited: tried again
    fake_comfyui.fail_next_requests = {"/prompt": 2}
    result = await text_preview(text="later", client=client)
    assert result.preview[0].text == "later!" and len(fake_comfyui.executions) == 1
    fake_comfyui.fail_status = 401  # not allowed: the server is unusable, not the workflow
    fake_comfyui.fail_next_requests = {"/prompt": 1}
    with pytest.raises(rt.BackendUnavailableError, match=r"refused the job \(HTTP 401\)"):
        await text_preview(text="denied", client=client)
    assert len(fake_comfyui.executions) == 1


async def test_slow_server_within_timeout(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    fake_comfyui.http_delay = 0.05
    fake_comfyui.node_delay = 0.05
    result = await invert_color_image(width=8, height=8, client=client, timeout=20)
    assert result.image


async def test_timeout_cancels_the_running_job(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    fake_comfyui.node_delay = 1.0
    with pytest.raises(rt.WorkflowTimeoutError, match=r"within 0\.5 s"):
        await invert_color_image(width=8, height=8, client=client, timeout=0.5)
    (prompt,) = fake_comfyui.prompts_received
    job = await _job_status(fake_comfyui, prompt["prompt_id"])
    assert job is not None and job["status"] == "cancelled"


async def test_cancelling_a_pending_job_removes_it(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    task = await _pending_job(fake_comfyui, text_preview(text="never", client=client))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fake_comfyui.release()
    await asyncio.sleep(0.2)
    assert fake_comfyui.executions == []
    assert await _job_status(fake_comfyui, fake_comfyui.prompts_received[0]["prompt_id"]) is None


async def test_cancel_never_touches_other_clients_jobs(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    fake_comfyui.node_delay = 0.3
    async with rt.ComfyUI(fake_comfyui.base_url) as other:
        theirs = asyncio.ensure_future(invert_color_image(width=8, height=8, client=other))
        while not fake_comfyui.executions:
            await asyncio.sleep(0.01)
        mine = asyncio.ensure_future(text_preview(text="mine", client=client))
        await asyncio.sleep(0.1)
        mine.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mine
        result = await theirs
    assert result.image, "the other client's running job finished normally"


async def test_restart_losing_the_queue_is_detected(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    task = await _pending_job(fake_comfyui, text_preview(text="lost", client=client, timeout=20))
    await fake_comfyui.restart(lose_queue=True)
    with pytest.raises(rt.JobLostError):
        await task


async def test_job_deleted_by_another_client_is_detected(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    task = await _pending_job(fake_comfyui, text_preview(text="deleted", client=client, timeout=20))
    fake_comfyui.delete_from_queue(fake_comfyui.prompts_received[0]["prompt_id"])
    with pytest.raises(rt.JobLostError, match="deleted"):
        await asyncio.wait_for(task, 5)


async def test_interrupted_by_someone_else(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    fake_comfyui.node_delay = 0.5
    task = asyncio.ensure_future(invert_color_image(width=8, height=8, client=client))
    while not fake_comfyui.executions:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        await http.post("/interrupt")
    with pytest.raises(rt.JobInterruptedError):
        await task


async def test_uploads_are_deduplicated(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    from gen import invert_uploaded_image

    from tests.conftest import png

    data = png(5, 5)
    first, second = await asyncio.gather(
        invert_uploaded_image(image=data, client=client),
        invert_uploaded_image(image=data, client=client),
    )
    assert fake_comfyui.upload_requests == 1
    async with rt.ComfyUI(fake_comfyui.base_url) as fresh:
        await invert_uploaded_image(image=data, client=fresh)
    assert fake_comfyui.upload_requests == 1, "a new client asks the server before uploading"
    assert first.inverted and second.inverted


async def test_hundreds_of_concurrent_calls(fake_comfyui: FakeComfyUI, client: rt.ComfyUI) -> None:
    count = 300
    results = await asyncio.gather(
        *(text_preview(text=f"job {index}", client=client) for index in range(count))
    )
    assert [r.preview[0].text for r in results] == [f"job {i}!" for i in range(count)]
    assert sorted(fake_comfyui.executions) == sorted(r.prompt_id for r in results)
    assert len(set(fake_comfyui.executions)) == count
    assert fake_comfyui.ws_connections_opened == 1


async def test_api_prefix(make_module: Any) -> None:
    server = FakeComfyUI(api_prefix_only=True)
    await server.start()
    try:
        async with rt.ComfyUI(server.base_url, api_prefix=True) as client:
            result = await text_preview(text="prefixed", client=client)
            assert result.preview[0].text == "prefixed!"
            assert (
                "/api/view?"
                in (await invert_color_image(width=8, height=8, client=client)).image[0].url
            )
    finally:
        await server.stop()


async def test_output_urls_are_encoded(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI, make_module: Any
) -> None:
    def node(class_type: str, title: str, **inputs: Any) -> dict[str, Any]:
        return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}

    module = make_module(
        {
            "1": node("EmptyImage", "", width=8, height=8, batch_size=1, color=0),
            "2": node("SaveImage", "$output.image", images=["1", 0], filename_prefix=["3", 0]),
            "3": node("PrimitiveString", "$prefix.value", value="x"),
        }
    )
    for prefix in ["a b", "a&b=c", "a+b", "猫 é", "sub dir/x #1?"]:
        result = await module.wf(prefix=prefix, client=client)
        (image,) = result.image
        async with httpx.AsyncClient() as http:
            reply = await http.get(image.url)
        assert reply.status_code == 200, (prefix, image.url)
        assert " " not in image.url and reply.content == await image.read()


async def test_secrets_never_appear(
    fake_comfyui: FakeComfyUI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything any library logs, headers included
    host = fake_comfyui.base_url.removeprefix("http://")
    async with rt.ComfyUI(
        f"http://user:hunter2@{host}", api_key="sk-SECRET", cookies={"session": "COOKIE"}
    ) as client:
        result = await invert_color_image(width=8, height=8, client=client)
        shown = [repr(client), repr(result), result.image[0].url, caplog.text]
    unreachable = rt.ComfyUI("http://user:hunter2@127.0.0.1:9", api_key="sk-SECRET",
                             unavailable_after=0.2)  # fmt: skip
    with pytest.raises(rt.BackendUnavailableError) as caught:
        await text_preview(text="x", client=unreachable)
    await unreachable.close()
    shown += [str(caught.value), repr(caught.value), caplog.text]
    for text in shown:
        assert "SECRET" not in text and "COOKIE" not in text and "hunter2" not in text
    assert "/view?filename=" in result.image[0].url


async def test_closing_the_client_ends_waiting_calls(
    fake_comfyui: FakeComfyUI, client: rt.ComfyUI
) -> None:
    task = await _pending_job(fake_comfyui, text_preview(text="orphan", client=client))
    await client.close()
    with pytest.raises(rt.BackendUnavailableError, match="closed"):
        await asyncio.wait_for(task, 5)


async def test_cancel_is_bounded_when_the_server_is_gone(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.node_delay = 5.0
    async with rt.ComfyUI(fake_comfyui.base_url, unavailable_after=30.0) as client:
        task = asyncio.ensure_future(invert_color_image(width=8, height=8, client=client))
        while not fake_comfyui.executions:
            await asyncio.sleep(0.01)
        await fake_comfyui.stop()
        started = asyncio.get_running_loop().time()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert asyncio.get_running_loop().time() - started < 8


@pytest.fixture
async def old_server() -> Any:
    """A ComfyUI from before /api/jobs: cancel falls back to queue delete and interrupt."""
    server = FakeComfyUI(jobs_api=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_old_server_pending_job_is_deleted_from_the_queue(old_server: FakeComfyUI) -> None:
    async with rt.ComfyUI(old_server.base_url, liveness_interval=0.5) as client:
        task = await _pending_job(old_server, text_preview(text="never", client=client))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    old_server.release()
    await asyncio.sleep(0.2)
    assert old_server.executions == [] and old_server.queue_pending == []


async def test_old_server_running_job_is_interrupted(old_server: FakeComfyUI) -> None:
    old_server.node_delay = 1.0
    async with rt.ComfyUI(old_server.base_url) as client:
        with pytest.raises(rt.WorkflowTimeoutError):
            await invert_color_image(width=8, height=8, client=client, timeout=0.5)
    (prompt_id,) = old_server.executions
    async with httpx.AsyncClient(base_url=old_server.base_url) as http:
        for _ in range(100):  # the interrupted node stops at its next check
            record = (await http.get(f"/history/{prompt_id}")).json().get(prompt_id)
            if record:
                break
            await asyncio.sleep(0.02)
    assert record["status"]["status_str"] == "error"  # interrupted: not run to its end
    messages = [name for name, _ in record["status"]["messages"]]
    assert "execution_interrupted" in messages


async def test_old_server_never_interrupts_another_clients_job(old_server: FakeComfyUI) -> None:
    old_server.node_delay = 0.4
    async with rt.ComfyUI(old_server.base_url) as other, rt.ComfyUI(old_server.base_url) as me:
        theirs = asyncio.ensure_future(invert_color_image(width=8, height=8, client=other))
        while not old_server.executions:
            await asyncio.sleep(0.01)
        mine = asyncio.ensure_future(text_preview(text="mine", client=me))
        await asyncio.sleep(0.1)  # queued behind theirs
        mine.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mine
        result = await theirs
    assert result.image, "their running job finished"
    assert len(old_server.executions) == 1


async def test_a_server_whose_interrupt_is_global_is_never_interrupted(
    old_server: FakeComfyUI,
) -> None:
    old_server.comfyui_version = "0.3.50"  # its /interrupt ignores the prompt id
    old_server.node_delay = 0.2
    async with rt.ComfyUI(old_server.base_url) as client:
        run = asyncio.ensure_future(invert_color_image(width=8, height=8, client=client))
        while not old_server.executions:  # it runs
            await asyncio.sleep(0.01)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    (prompt_id,) = old_server.executions
    assert ("POST", "/interrupt") not in old_server.requests_received
    while prompt_id not in old_server.history:  # left to finish: no global interrupt sent
        await asyncio.sleep(0.01)
    assert old_server.history[prompt_id]["status"]["status_str"] == "success"


async def test_old_server_lost_job_is_detected(old_server: FakeComfyUI) -> None:
    async with rt.ComfyUI(old_server.base_url, liveness_interval=0.5) as client:
        task = await _pending_job(old_server, text_preview(text="lost", client=client))
        await old_server.restart(lose_queue=True)
        with pytest.raises(rt.JobLostError):
            await asyncio.wait_for(task, 10)
