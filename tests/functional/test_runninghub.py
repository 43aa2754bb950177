"""The generated functions on RunningHub: the same typed call, a RunningHub client.

Runs against the fake RunningHub (tests/fakes/runninghub.py), which answers the documented
shapes and codes and really runs each task on a fake ComfyUI.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import comfygen_runtime as rt
import pytest
from click.testing import CliRunner
from gen import invert_color_image, invert_uploaded_image, text_preview

from tests.conftest import ROOT, png
from tests.fakes import FakeRunningHub, Scenario
from tests.fakes.runninghub import DEFAULT_API_KEY, FIRST_TASK_ID

EXAMPLES = ROOT / "examples" / "workflows"


async def until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@pytest.fixture
def hub(fake_runninghub: FakeRunningHub) -> FakeRunningHub:
    return fake_runninghub


@pytest.fixture
async def client(hub: FakeRunningHub) -> Any:
    async with rt.RunningHub(
        DEFAULT_API_KEY, base_url=hub.base_url, busy_backoff=0.01, max_poll_interval=0.05
    ) as client:
        yield client


async def test_generated_function_runs_on_runninghub(
    hub: FakeRunningHub, client: rt.RunningHub, tmp_path: Path
) -> None:
    events: list[rt.Event] = []
    result = await invert_color_image(width=16, height=8, client=client, on_event=events.append)
    (image,) = result.image
    assert isinstance(image, rt.Image) and image.node_id == "3"
    assert (await image.read()).startswith(b"\x89PNG")
    assert (await image.save(tmp_path)).read_bytes().startswith(b"\x89PNG")
    assert result.prompt_id == str(FIRST_TASK_ID), "int64 task ids survive exactly"
    (created,) = hub.created
    assert created["workflowId"] == "1987654321"
    # Only the inputs the call sets: width and height; colour keeps the workflow's value.
    assert sorted(
        (n["nodeId"], n["fieldName"], n["fieldValue"]) for n in created["nodeInfoList"]
    ) == [
        ("1", "height", 8),
        ("1", "width", 16),
    ]
    assert result.usage and "taskCostTime" in result.usage
    assert result.duration is not None
    assert events[0].kind == "queued" and events[-1].kind == "finished"


async def test_text_outputs(client: rt.RunningHub) -> None:
    result = await text_preview(text="cloud", client=client)
    assert [t.text for t in result.preview] == ["cloud!"]
    assert result.preview[0].file is not None


async def test_media_uploads_are_deduplicated(
    hub: FakeRunningHub, client: rt.RunningHub, make_module: Any
) -> None:
    module = make_module(
        json.loads((EXAMPLES / "invert_uploaded_image.json").read_text()), "inv", "1987654323"
    )
    data = png(6, 6)
    first = await module.inv(image=data, client=client)
    second = await module.inv(image=data, client=client)
    assert first.inverted and second.inverted
    assert hub.upload_requests == 1
    values = [n["fieldValue"] for c in hub.created for n in c["nodeInfoList"]]
    assert values[0] == values[1] and values[0].startswith("api/") and values[0].endswith(".png")


@pytest.mark.parametrize(
    "scenario", [Scenario("queue_full", count=2), Scenario("instance_full", count=2)]
)
async def test_busy_is_retried_then_succeeds(
    hub: FakeRunningHub, client: rt.RunningHub, scenario: Scenario
) -> None:
    hub.scenarios = [scenario]
    result = await text_preview(text="eventually", client=client)
    assert result.preview[0].text == "eventually!"
    assert len(hub.created) == 3 and len(hub.tasks) == 1


async def test_busy_beyond_the_retries_is_raised(hub: FakeRunningHub) -> None:
    hub.scenarios = [Scenario("queue_full", count=10)]
    async with rt.RunningHub(
        DEFAULT_API_KEY, base_url=hub.base_url, retry_count=2, busy_backoff=0.01
    ) as client:
        with pytest.raises(rt.QueueFullError) as caught:
            await text_preview(text="x", client=client)
    assert caught.value.code == 421
    assert len(hub.created) == 3 and not hub.tasks


@pytest.mark.parametrize(
    ("scenario", "error", "code"),
    [
        (Scenario("no_balance"), rt.InsufficientBalanceError, 416),
        (Scenario("no_balance", code=414), rt.InsufficientBalanceError, 414),
        (Scenario("no_balance", code=812), rt.InsufficientBalanceError, 812),
        (Scenario("invalid_key"), rt.AuthenticationError, 802),
        (Scenario("invalid_node_info"), rt.InvalidNodeInfoError, 803),
    ],
)
async def test_business_errors_are_raised_at_once(
    hub: FakeRunningHub,
    client: rt.RunningHub,
    scenario: Scenario,
    error: type[Exception],
    code: int,
) -> None:
    hub.scenarios = [scenario]
    with pytest.raises(error) as caught:
        await text_preview(text="x", client=client)
    assert isinstance(caught.value, rt.RunningHubError) and caught.value.code == code
    assert len(hub.created) == 1, "not retried"
    assert DEFAULT_API_KEY not in str(caught.value)


async def test_wrong_key(hub: FakeRunningHub) -> None:
    async with rt.RunningHub("x" * 32, base_url=hub.base_url) as client:
        with pytest.raises(rt.AuthenticationError):
            await text_preview(text="x", client=client)


async def test_validation_errors_name_parameters(
    hub: FakeRunningHub, client: rt.RunningHub
) -> None:
    hub.scenarios = [Scenario("validation", node_id="1")]
    with pytest.raises(rt.WorkflowValidationError) as caught:
        await text_preview(text="x", client=client)
    assert caught.value.errors and caught.value.errors[0].node_id == "1"


async def test_real_validation_from_the_server(client: rt.RunningHub, make_module: Any) -> None:
    module = make_module(
        json.loads((EXAMPLES / "invert_uploaded_image.json").read_text()), "inv", "1987654323"
    )
    with pytest.raises(rt.WorkflowValidationError) as caught:
        await module.inv(image="no_such_file_on_the_server.png", client=client)
    assert caught.value.errors[0].params == ("image",)


async def test_failed_task(hub: FakeRunningHub, client: rt.RunningHub) -> None:
    hub.scenarios = [Scenario("task_failed", node_id="2")]
    with pytest.raises(rt.ExecutionError) as caught:
        await text_preview(text="x", client=client)
    error = caught.value
    assert error.node_id == "2" and error.exception_type and error.traceback
    assert isinstance(error.traceback, list)


async def test_slow_task(hub: FakeRunningHub, client: rt.RunningHub) -> None:
    hub.scenarios = [Scenario("slow", polls=6)]
    events: list[rt.Event] = []
    result = await text_preview(text="slow", client=client, on_event=events.append)
    assert result.preview[0].text == "slow!"
    assert "started" in [e.kind for e in events]


async def test_a_gateway_error_on_create_is_not_repeated(
    hub: FakeRunningHub, client: rt.RunningHub
) -> None:
    # A 502 does not prove the task was not created upstream: raised, never retried.
    hub.scenarios = [Scenario("server_error", count=1)]
    with pytest.raises(rt.BackendUnavailableError, match="not created again"):
        await text_preview(text="gateway", client=client)
    creates = [path for path, _ in hub.requests if path.endswith("/task/openapi/create")]
    assert len(creates) == 1


async def test_gateway_errors_on_reads_are_retried(
    hub: FakeRunningHub, client: rt.RunningHub
) -> None:
    hub.polls_before_done = 3
    task = asyncio.ensure_future(text_preview(text="reads", client=client))
    while not hub.tasks:
        await asyncio.sleep(0.01)
    hub.scenarios = [Scenario("server_error", count=2)]
    result = await task
    assert result.preview[0].text == "reads!" and len(hub.tasks) == 1


async def test_gateway_errors_while_following_are_ridden_out(
    hub: FakeRunningHub, client: rt.RunningHub
) -> None:
    hub.polls_before_done = 3
    events: list[rt.Event] = []
    task = asyncio.ensure_future(text_preview(text="blip", client=client, on_event=events.append))
    await until(lambda: events)  # the task was created and is followed
    hub.scenarios = [Scenario("server_error", count=12)]  # more than retry_count per poll
    result = await task
    assert result.preview[0].text == "blip!" and hub.cancelled == []


async def test_a_task_whose_runninghub_stops_answering_is_left_running(
    hub: FakeRunningHub,
) -> None:
    events: list[rt.Event] = []
    async with rt.RunningHub(
        DEFAULT_API_KEY, base_url=hub.base_url, max_poll_interval=0.05, unavailable_after=0.2
    ) as client:
        hub.scenarios = [Scenario("slow", polls=10**6)]
        task = asyncio.ensure_future(text_preview(text="x", client=client, on_event=events.append))
        await until(lambda: events)
        hub.scenarios = [Scenario("server_error", count=10**9)]  # gone for good
        with pytest.raises(rt.BackendUnavailableError, match="not cancelled") as caught:
            await task
        (task_id,) = hub.tasks
        assert caught.value.prompt_id == task_id
        assert not [path for path, _ in hub.requests if path.endswith("/cancel")]
        assert hub.tasks[task_id].status in ("QUEUED", "RUNNING"), "left running, paid for"
        hub.scenarios = []  # it answers again: the task can be attached to
        handle = await rt.attach(text_preview, prompt_id=task_id, client=client)
        assert (await handle.cancel()) is True


async def test_an_unclear_create_is_not_repeated(
    hub: FakeRunningHub, client: rt.RunningHub
) -> None:
    await text_preview(text="first", client=client)  # RunningHub has answered this client
    hub.scenarios = [Scenario("non_json", count=1)]
    with pytest.raises(rt.BackendUnavailableError, match="not created again"):
        await text_preview(text="x", client=client)
    creates = [path for path, _ in hub.requests if path.endswith("/task/openapi/create")]
    assert len(creates) == 2 and len(hub.tasks) == 1


async def test_timeout_cancels_the_remote_task(hub: FakeRunningHub, client: rt.RunningHub) -> None:
    hub.scenarios = [Scenario("slow", polls=1000)]
    with pytest.raises(rt.WorkflowTimeoutError):
        await text_preview(text="x", client=client, timeout=0.5)
    assert hub.cancelled == [str(FIRST_TASK_ID)]


async def test_cancelling_the_call_cancels_the_task(
    hub: FakeRunningHub, client: rt.RunningHub
) -> None:
    hub.scenarios = [Scenario("slow", polls=1000)]
    task = asyncio.ensure_future(text_preview(text="x", client=client))
    while not hub.tasks:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.cancelled == list(hub.tasks)


async def test_without_a_runninghub_id_is_a_clear_error(client: rt.RunningHub) -> None:
    with pytest.raises(rt.ParameterError, match="no RunningHub workflow id"):
        await invert_uploaded_image(image=b"x", client=client)


async def test_account_status(client: rt.RunningHub) -> None:
    status = await client.account_status()
    assert "remainCoins" in status


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNINGHUB_API_KEY", "k" * 32)
    monkeypatch.setenv("RUNNINGHUB_BASE_URL", "https://www.runninghub.cn")
    monkeypatch.setenv("RUNNINGHUB_RETRY_COUNT", "5")
    monkeypatch.setenv("RUNNINGHUB_INSTANCE_TYPE", "plus")
    client = rt.RunningHub()
    assert client.base_url == "https://www.runninghub.cn"
    assert "k" * 32 not in repr(client) and "k" * 32 not in repr(client._config)
    assert client._config.retry_count == 5 and client._config.instance_type == "plus"
    assert rt.RunningHub(base_url="https://www.runninghub.ai").base_url.endswith(".ai")
    monkeypatch.delenv("RUNNINGHUB_API_KEY")
    with pytest.raises(ValueError, match="RUNNINGHUB_API_KEY"):
        rt.RunningHub()


async def test_instance_type_and_webhook_are_sent(hub: FakeRunningHub) -> None:
    async with rt.RunningHub(
        DEFAULT_API_KEY, base_url=hub.base_url, instance_type="plus",
        webhook_url="http://127.0.0.1:9/hook",
    ) as client:  # fmt: skip
        await text_preview(text="x", client=client)
    (created,) = hub.created
    assert created["instanceType"] == "plus" and created["webhookUrl"] == "http://127.0.0.1:9/hook"


async def test_build_from_a_runninghub_id(
    hub: FakeRunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfygen.cli import main

    monkeypatch.setenv("RUNNINGHUB_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("RUNNINGHUB_BASE_URL", hub.base_url)
    out = tmp_path / "gen"
    # The CLI runs its own event loop; run it in a thread so the fake keeps serving.
    outcome = await asyncio.to_thread(
        CliRunner().invoke, main, ["build", "rh:1987654322=cloud_text", "-o", str(out)]
    )
    assert outcome.exit_code == 0, outcome.output
    module = (out / "cloud_text.py").read_text()
    assert module.startswith("# Generated by comfygen from rh:1987654322 — do not edit.")
    assert 'runninghub_id="1987654322",' in module
    bad = await asyncio.to_thread(
        CliRunner().invoke, main, ["build", "rh:555", "-o", str(tmp_path / "other")]
    )
    assert bad.exit_code == 1 and "rh:555" in bad.output and "380" in bad.output


@pytest.mark.parametrize(
    ("scenario", "error"),
    [
        (None, None),
        (Scenario("queue_full", count=1), None),
        (Scenario("queue_full", count=10), rt.QueueFullError),
        (Scenario("no_balance"), rt.InsufficientBalanceError),
        (Scenario("invalid_key"), rt.AuthenticationError),
        (Scenario("invalid_node_info"), rt.InvalidNodeInfoError),
        (Scenario("validation", node_id="1"), rt.WorkflowValidationError),
        (Scenario("task_failed", node_id="2"), rt.ExecutionError),
        (Scenario("slow", polls=4), None),
        (Scenario("server_error", count=1), None),
        # A web page as the very first answer: no RunningHub (a mistyped URL), said at
        # once. (Once RunningHub has answered, a spoiled read is retried and a spoiled
        # create is not: see test_an_unclear_create_is_not_repeated.)
        (Scenario("non_json", count=1), rt.ComfygenError),
    ],
)
async def test_dynamic_api_by_workflow_id(
    hub: FakeRunningHub, scenario: Scenario | None, error: type[Exception] | None
) -> None:
    from comfygen import ComfyKit

    hub.scenarios = [scenario] if scenario else []
    async with ComfyKit(
        runninghub_url=hub.base_url, runninghub_api_key=DEFAULT_API_KEY, runninghub_retry_count=2
    ) as kit:
        kit.runninghub()._busy_backoff = 0.01
        result = await kit.execute("1987654322", {"text": "dynamic"})
    if error is None:
        assert result.status == "completed", result.msg
        assert result.texts == ["dynamic!"] and result.texts_by_var == {"preview": ["dynamic!"]}
        assert result.prompt_id is not None and result.prompt_id.isdigit()
    else:
        assert result.status == "error" and isinstance(result.error, error), result.msg
        assert result.msg and DEFAULT_API_KEY not in result.msg
    if scenario is not None and scenario.kind == "non_json":
        assert result.msg and "does not look like RunningHub" in result.msg
    assert len(hub.tasks) <= 1, "never a second task for one call"
