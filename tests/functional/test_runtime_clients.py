"""The runtime's clients in everyday use: any event loop, first contact with a server,
progress facts, synchronous code, partner-node keys, introspection, RunningHub timeouts."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import comfygen_runtime as rt
import httpx
import pytest
from aiohttp import web
from gen import invert_color_image, invert_uploaded_image, text_preview

from tests.conftest import ROOT, TESTS, png
from tests.fakes import FakeComfyUI, FakeRunningHub, Scenario
from tests.fakes.runninghub import DEFAULT_API_KEY

EXAMPLES = ROOT / "examples" / "workflows"


# -- one client, any event loop (sync UIs call asyncio.run per click) --------------------


# A loop closed by `loop.close()` with the client's socket task still pending (what
# `asyncio.run` cancels for us) makes Python complain when that task is collected.
_CLOSED_LOOP_LEFTOVERS = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)


@_CLOSED_LOOP_LEFTOVERS
async def test_one_client_serves_repeated_event_loops(fake_comfyui: FakeComfyUI) -> None:
    client = rt.ComfyUI(fake_comfyui.base_url)

    def sync_ui() -> list[str]:
        texts = [
            asyncio.run(text_preview(text=f"click {i}", client=client)).preview[0].text
            for i in range(3)
        ]
        loop = asyncio.new_event_loop()
        try:
            for i in range(2):
                result = loop.run_until_complete(text_preview(text=f"loop {i}", client=client))
                texts.append(result.preview[0].text)
        finally:
            loop.close()
        return texts

    texts = await asyncio.to_thread(sync_ui)
    assert texts == ["click 0!", "click 1!", "click 2!", "loop 0!", "loop 1!"]
    here = await text_preview(text="here", client=client)  # and in this loop too
    assert here.preview[0].text == "here!"
    await client.close()
    with pytest.raises(rt.BackendUnavailableError, match="closed"):
        await text_preview(text="closed", client=client)
    gc.collect()  # the closed loops' leftovers, while the warning filter applies


async def test_two_loops_use_one_client_at_the_same_time(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.node_delay = 0.05
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        mine = asyncio.ensure_future(invert_color_image(width=8, height=8, client=client))
        other = await asyncio.to_thread(
            lambda: asyncio.run(text_preview(text="other loop", client=client))
        )
        result = await mine
    assert other.preview[0].text == "other loop!" and result.image
    assert sorted(fake_comfyui.executions) == sorted([result.prompt_id, other.prompt_id])


@_CLOSED_LOOP_LEFTOVERS
async def test_a_cached_kit_serves_repeated_event_loops(fake_comfyui: FakeComfyUI) -> None:
    from comfygen import ComfyKit

    kit = ComfyKit(comfyui_url=fake_comfyui.base_url)
    workflow = str(EXAMPLES / "text_preview.json")

    def sync_ui() -> list[Any]:
        outcomes = [asyncio.run(kit.execute(workflow, {"text": f"t{i}"})) for i in range(3)]
        loop = asyncio.new_event_loop()
        try:
            outcomes.append(loop.run_until_complete(kit.execute(workflow, {"text": "t3"})))
            outcomes.append(loop.run_until_complete(kit.execute(workflow, {"text": "t4"})))
        finally:
            loop.close()
        return outcomes

    outcomes = await asyncio.to_thread(sync_ui)
    assert [o.status for o in outcomes] == ["completed"] * 5, [o.msg for o in outcomes]
    assert [o.texts for o in outcomes] == [[f"t{i}!"] for i in range(5)]
    await kit.close()
    gc.collect()  # the closed loops' leftovers, while the warning filter applies


# -- first contact: fail fast and say why -------------------------------------------------


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers."""
    waiting: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        waiting.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in waiting:
            writer.close()
        server.close()


@pytest.fixture
async def plain_web_server() -> AsyncIterator[str]:
    """An HTTP server that is no ComfyUI: 404 for everything."""
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _first_contact_error(url: str, **options: Any) -> str:
    async with rt.ComfyUI(url, **options) as client:
        with pytest.raises(rt.BackendUnavailableError) as caught:
            await text_preview(text="x", client=client)
    return str(caught.value)


async def test_a_refused_connection_is_named_at_once() -> None:
    message = await _first_contact_error("http://127.0.0.1:9")
    assert "http://127.0.0.1:9" in message and "connection refused" in message


async def test_an_unknown_host_is_named() -> None:
    message = await _first_contact_error("http://no-such-host.invalid:8188")
    assert "no-such-host.invalid" in message and "could not be resolved" in message


async def test_tls_to_a_plain_http_server_is_named(fake_comfyui: FakeComfyUI) -> None:
    url = fake_comfyui.base_url.replace("http://", "https://")
    message = await _first_contact_error(url)
    assert url in message and "TLS" in message
    assert fake_comfyui.prompts_received == []


async def test_a_server_that_never_answers_times_out(silent_server: str) -> None:
    message = await _first_contact_error(silent_server, connect_timeout=0.2)
    assert silent_server in message and "timed out" in message


async def test_a_server_that_is_no_comfyui_is_named(plain_web_server: str) -> None:
    message = await _first_contact_error(plain_web_server)
    assert "does not look like a ComfyUI server" in message and "HTTP 404" in message


async def test_a_timeout_before_submission_claims_no_job(silent_server: str) -> None:
    async with rt.ComfyUI(silent_server, connect_timeout=60) as client:
        with pytest.raises(rt.WorkflowTimeoutError) as caught:
            await text_preview(text="x", client=client, timeout=0.2)
    error = caught.value
    assert "no job was submitted" in str(error)
    assert error.prompt_id is None and error.cancelled is None


async def test_a_server_seen_before_is_waited_for(fake_comfyui: FakeComfyUI) -> None:
    async with rt.ComfyUI(fake_comfyui.base_url, unavailable_after=30) as client:
        await text_preview(text="first", client=client)
        restarting = asyncio.ensure_future(fake_comfyui.restart(downtime=0.5))
        await asyncio.sleep(0.1)  # the port is closed now
        result = await text_preview(text="after the restart", client=client)
        await restarting
    assert result.preview[0].text == "after the restart!"


async def test_the_kit_reports_a_dead_server() -> None:
    from comfygen import ComfyKit

    async with ComfyKit(comfyui_url="http://127.0.0.1:9") as kit:
        outcome = await kit.execute(str(EXAMPLES / "text_preview.json"), {"text": "x"})
    assert outcome.status == "error"
    assert outcome.msg is not None and "connection refused" in outcome.msg


async def test_runninghub_never_reached_is_named_at_once() -> None:
    async with rt.RunningHub(DEFAULT_API_KEY, base_url="http://127.0.0.1:9") as hub:
        with pytest.raises(rt.BackendUnavailableError) as caught:
            await text_preview(text="x", client=hub)
    assert "http://127.0.0.1:9" in str(caught.value)
    assert "connection refused" in str(caught.value)


@pytest.mark.parametrize("status", [200, 405])
async def test_a_mistyped_runninghub_url_is_named(
    start_web_server: Callable[..., Awaitable[str]], status: int
) -> None:
    url = await start_web_server(status)  # e.g. the website, or a wrong path
    async with rt.RunningHub(DEFAULT_API_KEY, base_url=url) as hub:
        with pytest.raises(rt.BackendUnavailableError) as caught:
            await text_preview(text="x", client=hub)
    message = str(caught.value)
    assert f"{url} does not look like RunningHub" in message and f"HTTP {status}" in message
    assert "may exist" not in message


@pytest.mark.parametrize("chunked", [False, True], ids=["with a length", "chunked"])
async def test_a_media_url_larger_than_the_server_takes_is_refused(
    fake_comfyui: FakeComfyUI, start_web_server: Callable[..., Awaitable[str]], chunked: bool
) -> None:
    fake_comfyui.max_upload_size = 4096
    url = await start_web_server(200, body=png(64, 64) + b"\0" * 65536, chunked=chunked)
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        with pytest.raises(rt.ParameterError, match="larger than the 4096 bytes") as caught:
            await invert_uploaded_image(image=f"{url}/big.png", client=client)
    assert "'image'" in str(caught.value)
    assert fake_comfyui.upload_requests == 0 and fake_comfyui.prompts_received == []


# -- progress facts -----------------------------------------------------------------------


async def test_progress_counts_the_nodes_that_run(fake_comfyui: FakeComfyUI) -> None:
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        events: list[rt.Event] = []
        await invert_color_image(width=8, height=8, client=client, on_event=events.append)
        queued = events[0]
        assert queued.kind == "queued" and queued.position == 0, "an idle server: none ahead"
        assert queued.nodes_total == 3 and queued.nodes_done == 0
        executing = [(e.node, e.nodes_done, e.nodes_total) for e in events if e.kind == "executing"]
        assert [(done, total) for _, done, total in executing] == [(0, 3), (1, 3), (2, 3)]
        assert [e.fraction for e in events if e.kind == "executing"] == [0, 1 / 3, 2 / 3]

        again: list[rt.Event] = []  # the same inputs: every node comes from the cache
        await invert_color_image(width=8, height=8, client=client, on_event=again.append)
    (cached,) = [e for e in again if e.kind == "cached"]
    assert len(cached.nodes) == 3 and cached.nodes_total == 0
    assert not [e for e in again if e.kind == "executing"]


async def test_step_progress_within_a_node(fake_comfyui: FakeComfyUI, make_module: Any) -> None:
    graph = json.loads((TESTS / "fakes/recordings/workflows/08_slow_progress.json").read_text())
    graph["1"]["inputs"]["width"] = graph["1"]["inputs"]["height"] = 8
    module = make_module(graph)
    events: list[rt.Event] = []
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        await module.wf(client=client, on_event=events.append)
    steps = [e for e in events if e.kind == "progress"]
    assert steps and all(e.nodes_total is not None for e in steps)
    last = steps[-1]
    assert last.value == last.max and last.fraction is not None
    assert last.nodes_total is not None and last.nodes_done is not None
    assert last.fraction == (last.nodes_done + 1) / last.nodes_total


async def test_queue_position_counts_the_jobs_ahead(fake_comfyui: FakeComfyUI) -> None:
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        fake_comfyui.hold()
        first = asyncio.ensure_future(text_preview(text="first", client=client))
        while not fake_comfyui.prompts_received:
            await asyncio.sleep(0.01)
        events: list[rt.Event] = []
        second = asyncio.ensure_future(
            text_preview(text="second", client=client, on_event=events.append)
        )
        while not any(e.kind == "queued" for e in events):
            await asyncio.sleep(0.01)
        fake_comfyui.release()
        await asyncio.gather(first, second)
    assert events[0].kind == "queued" and events[0].position == 1


# -- synchronous code ---------------------------------------------------------------------


@pytest.fixture
async def default_url(fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COMFYUI_BASE_URL", fake_comfyui.base_url)
    yield fake_comfyui.base_url
    # closed in run_sync's loop, while this loop keeps the fake server answering
    await asyncio.to_thread(rt.run_sync, rt.default_client().close())


async def test_run_sync_reuses_one_client_and_socket(
    fake_comfyui: FakeComfyUI, default_url: str
) -> None:
    def script() -> list[str]:
        return [rt.run_sync(text_preview(text=f"call {i}")).preview[0].text for i in range(3)]

    assert await asyncio.to_thread(script) == ["call 0!", "call 1!", "call 2!"]
    assert fake_comfyui.ws_connections_opened == 1


async def test_run_sync_inside_a_running_loop(fake_comfyui: FakeComfyUI, default_url: str) -> None:
    async def notebook_cell() -> str:  # a loop runs here, as in Jupyter
        return rt.run_sync(text_preview(text="in a loop")).preview[0].text

    assert await asyncio.to_thread(asyncio.run, notebook_cell()) == "in a loop!"


# -- partner (API) nodes ------------------------------------------------------------------


async def test_the_comfy_org_key_goes_in_extra_data_only(
    fake_comfyui: FakeComfyUI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with rt.ComfyUI(fake_comfyui.base_url, comfy_org_api_key="org-SECRET-1") as client:
        result = await text_preview(text="partner", client=client)
        shown = [repr(client), repr(client._config), repr(result)]
    (prompt,) = fake_comfyui.prompts_received
    assert prompt["extra_data"] == {"api_key_comfy_org": "org-SECRET-1"}
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        history = (await http.get(f"/history/{result.prompt_id}")).text
        queue = (await http.get("/queue")).text
    for text in [*shown, history, queue, caplog.text]:
        assert "SECRET" not in text


async def test_the_comfy_org_key_from_the_environment(
    fake_comfyui: FakeComfyUI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFY_ORG_API_KEY", "org-from-env")
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        await text_preview(text="x", client=client)
    assert fake_comfyui.prompts_received[0]["extra_data"] == {"api_key_comfy_org": "org-from-env"}


async def test_without_a_comfy_org_key_no_extra_data(fake_comfyui: FakeComfyUI) -> None:
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        await text_preview(text="x", client=client)
    assert "extra_data" not in fake_comfyui.prompts_received[0]


# -- what a server has --------------------------------------------------------------------


async def test_server_introspection() -> None:
    fake = FakeComfyUI(models={"checkpoints": ["b.safetensors", "a.ckpt"], "loras": ["l.pt"]})
    await fake.start()
    try:
        async with rt.ComfyUI(fake.base_url) as client:
            info = await client.object_info()
            assert await client.object_info() is info, "fetched once per client"
            assert await client.object_info(refresh=True) is not info
            classes = await client.node_classes()
            assert {"EmptyImage", "SaveImage", "KSampler"} <= classes
            files = await client.model_files()
            assert files["checkpoints"] == ("a.ckpt", "b.safetensors")
            assert files["loras"] == ("l.pt",) and files["vae"] == ()
            assert await client.model_files("loras") == {"loras": ("l.pt",)}
            with pytest.raises(rt.ParameterError, match="no model folder 'nope'"):
                await client.model_files("nope")
            stats = await client.system_stats()
            assert stats.comfyui_version and stats.devices and stats.devices[0].type
            assert await client.queue() == rt.QueueState()
            fake.hold()
            first = asyncio.ensure_future(text_preview(text="1", client=client))
            second = asyncio.ensure_future(text_preview(text="2", client=client))
            while len(fake.prompts_received) < 2:
                await asyncio.sleep(0.01)
            queue = await client.queue()
            assert not queue.running and len(queue.pending) == 2
            assert [job.prompt_id for job in queue.pending] == [
                p["prompt_id"] for p in fake.prompts_received
            ]
            assert queue.ahead_of(queue.pending[1].prompt_id) == 1
            assert queue.pending[0].outputs == ("3",)
            fake.release()
            await asyncio.gather(first, second)
    finally:
        await fake.stop()


# -- RunningHub: waiting, and timeouts that leave paid work running ------------------------


@pytest.fixture
def hub(fake_runninghub: FakeRunningHub) -> FakeRunningHub:
    return fake_runninghub


def test_runninghub_waits_for_its_task_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNNINGHUB_TIMEOUT", raising=False)
    assert rt.RunningHub(DEFAULT_API_KEY).default_timeout is None
    monkeypatch.setenv("RUNNINGHUB_TIMEOUT", "600")
    assert rt.RunningHub(DEFAULT_API_KEY).default_timeout == 600
    assert rt.RunningHub(DEFAULT_API_KEY, timeout=5).default_timeout == 5


async def test_a_timeout_can_leave_the_task_running(hub: FakeRunningHub) -> None:
    hub.scenarios = [Scenario("slow", polls=10_000)]
    async with rt.RunningHub(
        DEFAULT_API_KEY, base_url=hub.base_url, max_poll_interval=0.05, cancel_on_timeout=False
    ) as client:
        with pytest.raises(rt.WorkflowTimeoutError) as caught:
            await text_preview(text="paid", client=client, timeout=0.3)
        error = caught.value
        (task_id,) = hub.tasks
        assert error.prompt_id == task_id and error.cancelled is False
        assert "left running" in str(error) and task_id in str(error)
        assert hub.cancelled == []
        task = hub.tasks[task_id]
        task.queued_polls = task.running_polls = 0  # the task ends at its next poll
        handle = await rt.attach(text_preview, prompt_id=task_id, client=client)
        result = await handle.result()
    assert result.preview[0].text == "paid!" and result.prompt_id == task_id


async def test_a_timeout_says_the_task_was_cancelled(hub: FakeRunningHub) -> None:
    hub.scenarios = [Scenario("slow", polls=10_000)]
    async with rt.RunningHub(
        DEFAULT_API_KEY, base_url=hub.base_url, max_poll_interval=0.05, timeout=0.3
    ) as client:
        with pytest.raises(rt.WorkflowTimeoutError) as caught:
            await text_preview(text="x", client=client)
    (task_id,) = hub.tasks
    assert caught.value.prompt_id == task_id and caught.value.cancelled is True
    assert f"job {task_id} was cancelled" in str(caught.value)
    assert hub.cancelled == [task_id]


# -- saving files -------------------------------------------------------------------------


async def test_saved_files_honour_the_umask(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    async with rt.ComfyUI(fake_comfyui.base_url) as client:
        (image,) = (await invert_color_image(width=8, height=8, client=client)).image
        saved = await image.save(tmp_path)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == [image.filename]
