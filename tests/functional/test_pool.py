"""`ComfyUIPool`: several fake ComfyUI servers over real sockets, faults injected.

Routing by capability and load, health and failover, idempotency keys across servers,
and the pool behind the default client, `ComfyKit` and `comfygen serve`. Waits are on
facts (prompts received, queue states, pool states), never on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import comfygen_runtime as rt
import pytest
from gen import invert_uploaded_image, sdxl_text_to_image, text_preview

from comfygen import ComfyKit
from comfygen._serve import open_backend
from tests.conftest import node
from tests.fakes import FakeComfyUI, running_fake_comfyui
from tests.fakes._images import encode_png


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeComfyUI]]:
    """Three started fake servers."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_fake_comfyui()) for _ in range(3)]


def pool_of(*servers: FakeComfyUI | str, **options: Any) -> rt.ComfyUIPool:
    urls = [s if isinstance(s, str) else s.base_url for s in servers]
    options = {"unavailable_after": 0.5, "liveness_interval": 0.5, "probe_interval": 0.05,
               "connect_timeout": 2.0, **options}  # fmt: skip
    return rt.ComfyUIPool(urls, **options)


async def until(condition: Callable[[], object], limit: float = 60.0) -> None:
    """Wait until `condition()` holds; a safety net fails the test instead of hanging."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def until_up(pool: rt.ComfyUIPool, index: int) -> None:
    """Run jobs (which probe members that are out) until member `index` is back."""
    for _ in range(500):
        if pool.servers()[index].up:
            return
        await text_preview(text="probe", client=pool)
    raise AssertionError(f"member {index} never rejoined: {pool.servers()[index]}")


def closed_port() -> str:
    """The URL of a port of 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def ran(fake: FakeComfyUI, prompt_id: str) -> int:
    return fake.executions.count(prompt_id)


# -- routing by load ------------------------------------------------------------------------


async def test_jobs_spread_by_load_one_socket_per_server(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.hold()
    b.hold()
    async with pool_of(a, b) as pool:
        runs = [asyncio.ensure_future(text_preview(text=f"t{i}", client=pool)) for i in range(6)]
        await until(lambda: len(a.prompts_received) + len(b.prompts_received) == 6)
        assert len(a.prompts_received) == len(b.prompts_received) == 3
        assert [s.jobs for s in pool.servers()] == [3, 3]
        a.release()
        b.release()
        results = await asyncio.gather(*runs)
        assert [s.jobs for s in pool.servers()] == [0, 0]
        assert [client.sockets_opened for client in pool.members] == [1, 1]
    for i, result in enumerate(results):
        assert result.preview[0].text == f"t{i}!"
        where = a if result.server == a.base_url else b
        assert result.server in (a.base_url, b.base_url)
        assert ran(where, result.prompt_id) == 1


async def test_other_clients_jobs_count_as_load(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    async with pool_of(a, b) as pool, rt.ComfyUI(a.base_url) as other:
        await asyncio.gather(*(text_preview(text=f"w{i}", client=pool) for i in range(2)))
        a.hold()
        busy = [await rt.submit(text_preview, text=f"o{i}", client=other) for i in range(3)]
        await until(lambda: pool.servers()[0].queued_by_others == 3)  # a status broadcast
        count = len(a.prompts_received) + len(b.prompts_received)
        runs = [asyncio.ensure_future(text_preview(text=f"p{i}", client=pool)) for i in range(3)]
        await until(lambda: len(a.prompts_received) + len(b.prompts_received) == count + 3)
        a.release()
        results = await asyncio.gather(*runs)
        await asyncio.gather(*(handle.result() for handle in busy))
    assert {r.server for r in results} == {b.base_url}


async def test_a_cap_per_server_makes_jobs_wait(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.hold()
    b.hold()
    async with pool_of(a, b, max_jobs_per_server=1) as pool:
        runs = [asyncio.ensure_future(text_preview(text=f"c{i}", client=pool)) for i in range(3)]
        await until(lambda: len(a.prompts_received) + len(b.prompts_received) >= 2)
        await asyncio.sleep(0.2)  # the third job would have been sent by now: it waits
        assert len(a.prompts_received) == len(b.prompts_received) == 1
        a.release()
        b.release()
        results = await asyncio.gather(*runs)
    assert [r.preview[0].text for r in results] == ["c0!", "c1!", "c2!"]
    assert len(a.prompts_received) + len(b.prompts_received) == 3
    with pytest.raises(ValueError, match="at least 1"):
        rt.ComfyUIPool([a.base_url], max_jobs_per_server=0)


# -- routing by capability ------------------------------------------------------------------


async def test_counts_and_caps_hold_in_every_event_loop(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.hold()
    b.hold()
    async with pool_of(a, b, max_jobs_per_server=1) as pool:

        def in_another_loop() -> str:  # a thread of a sync app: asyncio.run per call
            return asyncio.run(text_preview(text="there", client=pool)).prompt_id

        there = asyncio.ensure_future(asyncio.to_thread(in_another_loop))
        await until(lambda: a.prompts_received or b.prompts_received)
        assert [s.jobs for s in pool.servers()] in ([1, 0], [0, 1]), "seen from this loop"
        here = asyncio.gather(*(text_preview(text=f"here {i}", client=pool) for i in range(2)))
        await until(lambda: len(a.prompts_received) + len(b.prompts_received) >= 2)
        a.release()
        b.release()
        await asyncio.gather(there, here)
    assert len(a.executions) + len(b.executions) == 3
    assert max(a.queue_lengths + b.queue_lengths) == 1, "never two of its jobs on one server"


async def test_model_files_route_jobs_and_nothing_runs_nowhere(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.models = {"checkpoints": ["alpha.safetensors"]}
    b.models = {"checkpoints": ["beta.safetensors"]}

    async def draw(model: str, pool: rt.ComfyUIPool) -> rt.WorkflowResult:
        return await sdxl_text_to_image(
            model=model, prompt="x", width=64, height=64, steps=1, client=pool
        )

    async with pool_of(a, b) as pool:
        on_b = [await draw("beta.safetensors", pool) for _ in range(3)]
        on_a = await draw("alpha.safetensors", pool)
        with pytest.raises(rt.NoCapableServerError) as caught:
            await draw("gamma.safetensors", pool)
        b.models = {"checkpoints": ["beta.safetensors", "gamma.safetensors"]}  # installed now
        gamma = await draw("gamma.safetensors", pool)
    assert {r.server for r in on_b} == {b.base_url} and on_a.server == a.base_url
    assert gamma.server == b.base_url
    message = str(caught.value)
    assert "'gamma.safetensors' (node 1, CheckpointLoaderSimple.ckpt_name)" in message
    assert a.base_url in message and b.base_url in message
    assert set(caught.value.missing) == {a.base_url, b.base_url}
    assert len(a.prompts_received) == 1 and len(b.prompts_received) == 4


async def test_node_classes_route_jobs_and_a_rejection_refreshes(
    fakes: list[FakeComfyUI],
) -> None:
    a, b = fakes[:2]
    b.missing_classes = {"StringConcatenate"}
    async with pool_of(a, b) as pool:
        results = await asyncio.gather(*(text_preview(text=f"n{i}", client=pool) for i in range(4)))
        assert {r.server for r in results} == {a.base_url}
        a.missing_classes = {"StringConcatenate"}  # uninstalled after the pool looked
        with pytest.raises(rt.NoCapableServerError, match="node classes StringConcatenate"):
            await text_preview(text="gone", client=pool)
    assert len(a.prompts_received) == 5 and len(a.executions) == 4  # the 5th was rejected
    assert b.prompts_received == []


async def test_a_workflow_no_server_has_fails_before_submission(
    fakes: list[FakeComfyUI], make_module: Callable[..., Any]
) -> None:
    graph = {
        "1": node("PrimitiveString", "$text.value", value="x"),
        "2": node("NoSuchNodePack", text=["1", 0]),
        "3": node("PreviewAny", source=["2", 0]),
    }
    module = make_module(graph, name="needs_pack")
    async with pool_of(*fakes[:2]) as pool:
        with pytest.raises(rt.NoCapableServerError) as caught:
            await module.needs_pack(text="y", client=pool)
    assert "missing node classes NoSuchNodePack (node 2)" in str(caught.value)
    assert all(f.prompts_received == [] for f in fakes)


# -- health and failover ----------------------------------------------------------------------


async def test_a_server_never_reached_is_taken_out(fakes: list[FakeComfyUI]) -> None:
    dead = closed_port()
    async with pool_of(dead, fakes[0]) as pool:
        results = await asyncio.gather(*(text_preview(text=f"d{i}", client=pool) for i in range(4)))
        first, second = pool.servers()
    assert {r.server for r in results} == {fakes[0].base_url}
    assert not first.up and first.problem is not None and "connection refused" in first.problem
    assert second.up


async def test_a_server_failing_before_acceptance_sends_the_job_elsewhere(
    fakes: list[FakeComfyUI],
) -> None:
    a, b = fakes[:2]
    async with pool_of(a, b) as pool:
        await text_preview(text="warm", client=pool)  # both servers known and reached
        await text_preview(text="warm", client=pool)
        a.fail_next_requests = {"/prompt": 10_000}  # 503 for every submission
        results = await asyncio.gather(*(text_preview(text=f"f{i}", client=pool) for i in range(3)))
        assert {r.server for r in results} == {b.base_url}
        assert not pool.servers()[0].up
        a.fail_next_requests = {}
        await until_up(pool, 0)  # probed as jobs are routed, then it rejoins
        await asyncio.gather(*(text_preview(text=f"g{i}", client=pool) for i in range(4)))
    assert len(a.executions) >= 2  # it has work again
    for result in results:
        assert ran(b, result.prompt_id) == 1 and ran(a, result.prompt_id) == 0


async def test_a_server_refusing_jobs_is_taken_out_and_they_run_elsewhere(
    fakes: list[FakeComfyUI],
) -> None:
    a, b = fakes[:2]
    a.fail_status = 403  # its proxy refuses our credentials
    a.fail_next_requests = {"/prompt": 10**9}
    async with pool_of(a, b) as pool:
        results = await asyncio.gather(*(text_preview(text=f"r{i}", client=pool) for i in range(4)))
    assert {r.server for r in results} == {b.base_url}
    assert a.executions == [] and len(b.executions) == 4


async def test_a_lost_job_is_resubmitted_elsewhere_once(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.hold()
    b.hold()
    events: list[rt.Event] = []
    async with pool_of(a, b) as pool:
        run = asyncio.ensure_future(text_preview(text="lost", client=pool, on_event=events.append))
        await until(lambda: a.prompts_received or b.prompts_received)
        first, second = (a, b) if a.prompts_received else (b, a)
        second.release()
        await first.restart()  # the queue is gone
        result = await run
    prompt_id = result.prompt_id
    assert result.server == second.base_url and ran(second, prompt_id) == 1
    assert first.executions == [] and second.prompts_received[0]["prompt_id"] == prompt_id
    resubmitted = [e for e in events if e.kind == "resubmitted"]
    assert len(resubmitted) == 1 and resubmitted[0].server == second.base_url
    assert resubmitted[0].text is not None and first.base_url in resubmitted[0].text
    assert [e.kind for e in events][-1] == "finished"


async def test_without_resubmission_a_lost_job_is_an_error(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.hold()
    b.hold()
    async with pool_of(a, b, resubmit_lost=False) as pool:
        run = asyncio.ensure_future(text_preview(text="lost", client=pool))
        await until(lambda: a.prompts_received or b.prompts_received)
        await (a if a.prompts_received else b).restart()
        with pytest.raises(rt.JobLostError):
            await run
    assert len(a.prompts_received) + len(b.prompts_received) == 1


async def test_a_dead_server_s_job_runs_elsewhere_and_its_copy_is_cancelled(
    fakes: list[FakeComfyUI],
) -> None:
    a, b = fakes[:2]
    async with pool_of(a, b) as pool:
        await asyncio.gather(*(text_preview(text=f"w{i}", client=pool) for i in range(2)))
        a.hold()
        b.hold()
        run = asyncio.ensure_future(text_preview(text="orphan", client=pool))
        before = len(a.prompts_received), len(b.prompts_received)
        await until(lambda: (len(a.prompts_received), len(b.prompts_received)) != before)
        first, second = (a, b) if len(a.prompts_received) > before[0] else (b, a)
        prompt_id = first.prompts_received[-1]["prompt_id"]
        await first.go_down(lose_queue=False)  # it stops answering, and keeps its queue
        await until(lambda: not pool.servers()[fakes.index(first)].up)
        second.release()
        result = await run
        assert result.server == second.base_url and result.prompt_id == prompt_id
        await first.come_back()  # back, still holding its copy of the job
        assert any(item[1] == prompt_id for item in first.queue_pending)
        await until_up(pool, fakes.index(first))
        assert not any(item[1] == prompt_id for item in first.queue_pending)
        first.release()
        await text_preview(text="after", client=pool)
    assert ran(second, prompt_id) == 1 and ran(first, prompt_id) == 0


async def test_a_server_whose_copy_cannot_be_cancelled_stays_out(
    fakes: list[FakeComfyUI],
) -> None:
    a, b = fakes[:2]
    async with pool_of(a, b, max_probe_interval=0.2) as pool:
        await asyncio.gather(*(text_preview(text=f"w{i}", client=pool) for i in range(2)))
        a.hold()
        b.hold()
        run = asyncio.ensure_future(text_preview(text="orphan", client=pool))
        before = len(a.prompts_received), len(b.prompts_received)
        await until(lambda: (len(a.prompts_received), len(b.prompts_received)) != before)
        first, second = (a, b) if len(a.prompts_received) > before[0] else (b, a)
        index = fakes.index(first)
        prompt_id = first.prompts_received[-1]["prompt_id"]
        await first.go_down(lose_queue=False)
        await until(lambda: not pool.servers()[index].up)
        second.release()
        assert (await run).server == second.base_url
        first.fail_next_requests = {"/api/jobs/": 10**9}  # its cancel answers 503
        await first.come_back()

        def probed() -> bool:  # a probe of the member has ended its cancel, either way
            member = pool.servers()[index]
            return member.up or "could not be cancelled" in (member.problem or "")

        deadline = asyncio.get_running_loop().time() + 60  # a safety net, not a measure
        while not probed():
            assert asyncio.get_running_loop().time() < deadline, "never probed"
            await text_preview(text="probe", client=pool)  # jobs probe the member
        assert not pool.servers()[index].up, "back with a live copy of a job that moved"
        assert ("POST", f"/api/jobs/{prompt_id}/cancel") in first.requests_received
        assert any(item[1] == prompt_id for item in first.queue_pending), "not forgotten"
        first.fail_next_requests = {}
        await until_up(pool, index)
        assert not any(item[1] == prompt_id for item in first.queue_pending)
        first.release()
        await until(lambda: not first.queue_pending)
    assert ran(second, prompt_id) == 1 and ran(first, prompt_id) == 0


async def test_cancelling_a_run_cancels_its_job_on_its_server(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.hold()
    b.hold()
    async with pool_of(a, b) as pool:
        run = asyncio.ensure_future(text_preview(text="never", client=pool))
        await until(lambda: a.prompts_received or b.prompts_received)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert a.queue_pending == [] and b.queue_pending == []
        assert [s.jobs for s in pool.servers()] == [0, 0]
    a.release()
    b.release()
    assert a.executions == [] and b.executions == []


# -- uploads, keys, handles -----------------------------------------------------------------


async def test_uploads_go_to_the_chosen_server_once(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    picture = encode_png(8, 8, (10, 20, 30))
    async with pool_of(a, b) as pool:
        results = await asyncio.gather(
            *(invert_uploaded_image(image=picture, client=pool) for _ in range(6))
        )
    assert {r.server for r in results} == {a.base_url, b.base_url}
    assert a.upload_requests == b.upload_requests == 1
    assert list(a.uploads.values()) == list(b.uploads.values()) == [picture]


async def test_a_key_finds_its_job_on_any_server(fakes: list[FakeComfyUI]) -> None:
    a, b, c = fakes
    for fake in fakes:
        fake.hold()
    async with pool_of(a, b, c) as one:
        handle = await rt.submit(text_preview, text="keyed", client=one, idempotency_key="k1")
    holder = next(f for f in fakes if f.base_url == handle.server)
    async with pool_of(c, b, a) as two:  # another process, its servers in another order
        attached = await rt.attach(text_preview, idempotency_key="k1", client=two)
        assert attached.server == handle.server and attached.prompt_id == handle.prompt_id
        for fake in fakes:
            fake.release()
        again = await text_preview(text="keyed", client=two, idempotency_key="k1")
        assert (await attached.result()).prompt_id == again.prompt_id == handle.prompt_id
        with pytest.raises(rt.IdempotencyConflictError):  # the key is bound to its values
            await text_preview(text="other", client=two, idempotency_key="k1")
    assert again.server == handle.server
    assert sum(len(f.prompts_received) for f in fakes) == 1
    assert ran(holder, handle.prompt_id) == 1


# -- the pool behind the default client, ComfyKit and serve ----------------------------------


async def test_the_environment_may_list_several_servers(
    fakes: list[FakeComfyUI], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = fakes[:2]
    monkeypatch.setenv("COMFYUI_BASE_URL", f"{a.base_url}, {b.base_url}")
    client = rt.default_client()
    assert isinstance(client, rt.ComfyUIPool)
    assert [m.base_url for m in client.members] == [a.base_url, b.base_url]
    results = await asyncio.gather(*(text_preview(text=f"e{i}", client=None) for i in range(4)))
    await client.close()
    assert {r.server for r in results} == {a.base_url, b.base_url}
    with pytest.raises(ValueError, match="ComfyUIPool"):
        rt.ComfyUI()
    with pytest.raises(ValueError, match="more than once"):
        rt.ComfyUIPool([a.base_url, a.base_url + "/"])


async def test_comfykit_runs_on_a_pool(
    fakes: list[FakeComfyUI], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = fakes[:2]
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
              "color": 0}, "_meta": {"title": "$color.color"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "a"},
              "_meta": {"title": "$output.kept"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "b"},
              "_meta": {"title": "unmapped"}},
    }  # fmt: skip
    async with ComfyKit(comfyui_url=[a.base_url, b.base_url]) as kit:
        assert isinstance(kit.comfyui(), rt.ComfyUIPool)
        assert repr(kit) == (
            f"ComfyKit(comfyui_url={[a.base_url, b.base_url]!r}, executor_type='http')"
        )
        results = [await kit.execute_json(graph, {"color": i}) for i in range(4)]
    for result in results:
        assert result.status == "completed", result.msg
        assert result.result is not None and result.result.server is not None
        assert len(result.images) == 2
        assert all(url.startswith(result.result.server) for url in result.images)
    assert {r.result.server for r in results if r.result} == {a.base_url, b.base_url}
    monkeypatch.setenv("COMFYUI_BASE_URL", f"{a.base_url},{b.base_url}")
    async with ComfyKit() as kit:
        assert isinstance(kit.comfyui(), rt.ComfyUIPool)
        assert (await kit.execute_json(graph, {"color": 9})).status == "completed"


def test_serve_pools_several_servers() -> None:
    backend, label, notes = open_backend(
        ["http://127.0.0.1:1", "http://127.0.0.1:2"], runninghub=False
    )
    assert isinstance(backend, rt.ComfyUIPool) and notes == ()
    assert label == "a pool of 2 ComfyUI servers (http://127.0.0.1:1, http://127.0.0.1:2)"
    single, label, _ = open_backend(["http://127.0.0.1:1"], runninghub=False)
    assert isinstance(single, rt.ComfyUI) and label == "ComfyUI at http://127.0.0.1:1"


async def test_object_info_is_what_the_pool_can_run(fakes: list[FakeComfyUI]) -> None:
    a, b = fakes[:2]
    a.models = {"checkpoints": ["alpha.safetensors"]}
    b.models = {"checkpoints": ["beta.safetensors"]}
    b.missing_classes = {"StringConcatenate"}
    a.missing_classes = {"ImageBlur"}
    async with pool_of(a, b) as pool:
        info = await pool.object_info()
        assert await pool.object_info() is info  # kept while no member's answer changes
        options = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
        assert options == ["alpha.safetensors", "beta.safetensors"]
        assert "StringConcatenate" in info and "ImageBlur" in info
        b.models = {"checkpoints": ["beta.safetensors", "gamma.safetensors"]}
        again = await pool.object_info(refresh=True)
        assert again is not info
        assert (
            "gamma.safetensors"
            in again["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
        )
        own = await pool.members[0].object_info()  # a member's own answer is untouched
        assert own["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
            "alpha.safetensors"
        ]
