"""The fake RunningHub (tests/fakes/runninghub.py) against shared/runninghub-api.md, driven
with plain httpx the way a client drives the real cloud, plus comfykit 0.1.12's client."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from tests.conftest import ROOT, node
from tests.fakes import FakeComfyUI, FakeRunningHub, Scenario
from tests.fakes._images import encode_png, probe_png
from tests.fakes.runninghub import FIRST_TASK_ID, MAX_UPLOAD_BYTES, FakeTask

EXAMPLES = ROOT / "examples" / "workflows"
WORKFLOW_ID = "1987654321"
KEY = "rh-test-key-0123456789abcdef0123"


def example(name: str) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return graph


@pytest_asyncio.fixture
async def rh() -> AsyncIterator[FakeRunningHub]:
    fake = FakeRunningHub()
    await fake.start()
    fake.add_workflow(WORKFLOW_ID, example("invert_color_image"))
    try:
        yield fake
    finally:
        await fake.stop()


@pytest_asyncio.fixture
async def client(rh: FakeRunningHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=rh.base_url, trust_env=False, timeout=10) as c:
        yield c


async def call(client: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert set(answer) == {"code", "msg", "data"}
    return answer


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    return await call(client, "/task/openapi/create", apiKey=KEY, **body)


async def create_task(client: httpx.AsyncClient, **body: Any) -> str:
    body.setdefault("workflowId", WORKFLOW_ID)
    answer = await create(client, **body)
    assert answer["code"] == 0, answer
    task_id = answer["data"]["taskId"]
    assert isinstance(task_id, str)
    return task_id


async def outputs(client: httpx.AsyncClient, task_id: str | int | float) -> dict[str, Any]:
    return await call(client, "/task/openapi/outputs", apiKey=KEY, taskId=task_id)


async def status(client: httpx.AsyncClient, task_id: str | int) -> dict[str, Any]:
    return await call(client, "/task/openapi/status", apiKey=KEY, taskId=task_id)


async def wait_outputs(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    for _ in range(50):
        answer = await outputs(client, task_id)
        if answer["code"] not in (804, 813):
            return answer
    raise AssertionError("the task never ended")


async def upload(
    client: httpx.AsyncClient, data: bytes, filename: str, **fields: str
) -> dict[str, Any]:
    form = {"apiKey": KEY, **fields}
    response = await client.post(
        "/task/openapi/upload", data=form, files={"file": (filename, data)}
    )
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def png_rgb(data: bytes) -> tuple[int, int, tuple[int, int, int]]:
    probed = probe_png(data)
    assert probed is not None, data[:16]
    return probed


# -- create and the taskId --------------------------------------------------------------------


async def test_create_answers_the_documented_shape(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/task/openapi/create",
        json={
            "apiKey": KEY,
            "workflowId": WORKFLOW_ID,
            "nodeInfoList": [{"nodeId": "1", "fieldName": "width", "fieldValue": 64}],
            "instanceType": "plus",
            "webhookUrl": "",
        },
    )
    answer = response.json()
    assert answer["code"] == 0 and answer["msg"] == "success"
    data = answer["data"]
    assert set(data) == {"netWssUrl", "taskId", "clientId", "taskStatus", "promptTips"}
    assert data["taskStatus"] == "QUEUED"
    tips = json.loads(data["promptTips"])
    assert tips == {"result": True, "error": None, "outputs_to_execute": ["3"], "node_errors": {}}
    # an int64 above 2**53, sent as a string of digits
    task_id = data["taskId"]
    assert task_id == str(FIRST_TASK_ID) == "1910246754753896450"
    assert f'"taskId": "{task_id}"' in response.text
    assert int(task_id) > 2**53 and float(int(task_id)) != int(task_id)
    # observation
    assert rh.created == [
        {
            "apiKey": KEY,
            "workflowId": WORKFLOW_ID,
            "nodeInfoList": [{"nodeId": "1", "fieldName": "width", "fieldValue": 64}],
            "instanceType": "plus",
            "webhookUrl": "",
        }
    ]
    task = rh.tasks[task_id]
    assert isinstance(task, FakeTask)
    assert task.workflow_id == WORKFLOW_ID
    assert task.node_info_list == [{"nodeId": "1", "fieldName": "width", "fieldValue": 64}]
    assert task.instance_type == "plus" and task.webhook_url is None
    assert task.graph["1"]["inputs"]["width"] == 64
    assert rh.requests[-1][0] == "/task/openapi/create"
    # the next task gets another id, also beyond float precision
    second = await create_task(client)
    assert second != task_id and float(int(second)) != int(second)


async def test_task_id_as_string_or_json_number(client: httpx.AsyncClient) -> None:
    rh_task = await create_task(client)
    assert (await status(client, int(rh_task)))["data"] == "QUEUED"
    assert (await outputs(client, int(rh_task)))["code"] == 804
    assert (await outputs(client, rh_task))["code"] == 0
    # a client that parsed the id as a float sends other digits: not found
    assert (await outputs(client, float(rh_task)))["code"] == 807
    assert (await status(client, "0"))["code"] == 301
    assert (await status(client, -5))["code"] == 301
    assert (await status(client, "abc"))["code"] == 301


async def test_polls_queued_running_then_success(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    task_id = await create_task(client)
    answers = [await outputs(client, task_id) for _ in range(3)]
    assert [a["code"] for a in answers] == [813, 804, 0]
    assert answers[0]["data"] is None and answers[1]["data"] is None
    assert answers[0]["msg"] == "APIKEY_TASK_IS_QUEUED"
    assert answers[1]["msg"] == "APIKEY_TASK_IS_RUNNING"
    assert isinstance(answers[2]["data"], list)
    assert rh.tasks[task_id].status == "SUCCESS" and rh.tasks[task_id].polls == 3

    rh.polls_before_done = 2
    task_id = await create_task(client)
    seen = [(await status(client, task_id))["data"] for _ in range(5)]
    assert seen == ["QUEUED", "QUEUED", "RUNNING", "RUNNING", "SUCCESS"]

    rh.polls_before_done = 0
    answer = await create(client, workflowId=WORKFLOW_ID)
    assert answer["data"]["taskStatus"] == "RUNNING"
    assert (await outputs(client, answer["data"]["taskId"]))["code"] == 0


async def test_status_data_is_a_bare_string(client: httpx.AsyncClient) -> None:
    task_id = await create_task(client)
    answers = [await status(client, task_id) for _ in range(3)]
    assert [a["data"] for a in answers] == ["QUEUED", "RUNNING", "SUCCESS"]
    assert all(a["code"] == 0 for a in answers)


async def test_poll_wait_limit_answers_running(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    rh.polls_before_done = 0
    rh.max_poll_wait = 0.05
    rh.comfyui.node_delay = 0.15
    task_id = await create_task(client)
    assert (await outputs(client, task_id))["code"] == 804
    rh.max_poll_wait = 5.0
    assert (await outputs(client, task_id))["code"] == 0


# -- a real run -------------------------------------------------------------------------------


async def test_success_returns_a_real_png(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    task_id = await create_task(
        client,
        nodeInfoList=[
            {"nodeId": "1", "fieldName": "width", "fieldValue": 32},
            {"nodeId": "1", "fieldName": "height", "fieldValue": "24"},
            {"nodeId": "1", "fieldName": "color", "fieldValue": 0x102030},
        ],
    )
    answer = await wait_outputs(client, task_id)
    assert answer["code"] == 0 and answer["msg"] == "success"
    (item,) = answer["data"]
    assert item["fileType"] == "png" and item["nodeId"] == "3"
    assert item["fileUrl"].startswith(f"{rh.base_url}/files/{task_id}/")
    assert item["fileUrl"].endswith(".png")
    assert item["consumeCoins"] == "1"
    first_cost = item["taskCostTime"]
    assert isinstance(first_cost, str) and first_cost.isdigit()
    image = await client.get(item["fileUrl"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert png_rgb(image.content) == (32, 24, (0xEF, 0xDF, 0xCF))  # inverted

    # the next task gives taskCostTime as an int, the one after as a string again
    costs: list[Any] = []
    for _ in range(2):
        answer = await wait_outputs(client, await create_task(client))
        costs.append(answer["data"][0]["taskCostTime"])
    assert isinstance(costs[0], int) and not isinstance(costs[0], bool)
    assert isinstance(costs[1], str)
    default = await client.get(answer["data"][0]["fileUrl"])
    assert png_rgb(default.content) == (512, 512, (0, 0x7F, 0xFF))  # 0xFF8000 inverted


async def test_text_output_is_a_txt_file(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.add_workflow("42", example("text_preview"))
    node_info = [{"nodeId": "1", "fieldName": "value", "fieldValue": "hi"}]
    task_id = await create_task(client, workflowId="42", nodeInfoList=node_info)
    (item,) = (await wait_outputs(client, task_id))["data"]
    assert item["fileType"] == "txt" and item["nodeId"] == "3"
    text = await client.get(item["fileUrl"])
    assert text.text == "hi!"


async def test_webp_and_several_outputs(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    graph = {
        "1": node("EmptyImage", width=8, height=8, batch_size=2, color=0),
        "2": node(
            "SaveAnimatedWEBP",
            images=["1", 0],
            filename_prefix="anim",
            fps=6.0,
            lossless=True,
            quality=80,
            method="default",
        ),
        "3": node("SaveImage", images=["1", 0], filename_prefix="frames"),
    }
    rh.add_workflow("7", graph)
    data = (await wait_outputs(client, await create_task(client, workflowId="7")))["data"]
    assert sorted((d["nodeId"], d["fileType"]) for d in data) == [
        ("2", "webp"),
        ("3", "png"),
        ("3", "png"),
    ]
    assert len({d["fileUrl"] for d in data}) == 3
    for d in data:
        assert (await client.get(d["fileUrl"])).status_code == 200


async def test_uploaded_image_feeds_load_image(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    rh.add_workflow("11", example("invert_uploaded_image"))
    png = encode_png(20, 10, (10, 20, 30))
    name = (await upload(client, png, "photo.png", fileType="image"))["data"]["fileName"]
    node_info = [{"nodeId": "1", "fieldName": "image", "fieldValue": name}]
    task_id = await create_task(client, workflowId="11", nodeInfoList=node_info)
    (item,) = (await wait_outputs(client, task_id))["data"]
    image = await client.get(item["fileUrl"])
    assert png_rgb(image.content) == (20, 10, (245, 235, 225))
    assert rh.comfyui.uploads[("input", "api", name.split("/")[1])] == png


async def test_workflow_json_instead_of_workflow_id(client: httpx.AsyncClient) -> None:
    graph = example("invert_color_image")
    graph["1"]["inputs"].update(width=4, height=4)
    task_id = await create_task(client, workflowId="1", workflow=json.dumps(graph))
    (item,) = (await wait_outputs(client, task_id))["data"]
    assert png_rgb((await client.get(item["fileUrl"])).content)[:2] == (4, 4)
    # workflow + nodeInfoList fails with 803
    node_info = [{"nodeId": "1", "fieldName": "width", "fieldValue": 8}]
    answer = await create(
        client, workflowId="1", workflow=json.dumps(graph), nodeInfoList=node_info
    )
    assert answer["code"] == 803


async def test_comfyui_validation_error_is_433(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    node_info = [{"nodeId": "1", "fieldName": "width", "fieldValue": -5}]
    answer = await create(client, workflowId=WORKFLOW_ID, nodeInfoList=node_info)
    assert answer["code"] == 433 and answer["msg"] == "VALIDATE_PROMPT_FAILED"
    tips = json.loads(answer["data"]["promptTips"])
    assert tips["result"] is False
    assert tips["error"]["type"] == "prompt_outputs_failed_validation"
    error = tips["node_errors"]["1"]
    assert error["class_type"] == "EmptyImage"
    assert error["dependent_outputs"] == ["3"]
    assert error["errors"][0]["type"] == "value_smaller_than_min"
    assert error["errors"][0]["extra_info"]["input_name"] == "width"
    assert rh.tasks == {}


async def test_comfyui_execution_error_is_805(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    rh.add_workflow("5", example("blur_preview"))
    node_info = [
        {"nodeId": "1", "fieldName": "width", "fieldValue": 16},
        {"nodeId": "2", "fieldName": "blur_radius", "fieldValue": 20},
    ]
    task_id = await create_task(client, workflowId="5", nodeInfoList=node_info)
    answer = await wait_outputs(client, task_id)
    assert answer["code"] == 805
    reason = answer["data"]["failedReason"]
    assert set(reason) == {
        "node_id",
        "node_name",
        "exception_type",
        "exception_message",
        "traceback",
        "current_inputs",
        "current_outputs",
    }
    assert reason["node_id"] == "2" and reason["node_name"] == "ImageBlur"
    assert reason["exception_type"] == "RuntimeError"
    assert "Padding size" in reason["exception_message"]
    assert isinstance(reason["traceback"], str)
    assert isinstance(json.loads(reason["traceback"]), list)
    assert reason["current_inputs"]["blur_radius"] == [20]
    assert (await status(client, task_id))["data"] == "FAILED"
    assert rh.tasks[task_id].status == "FAILED"


# -- the other endpoints -------------------------------------------------------------------------


async def test_get_json_api_format_gives_a_json_string(client: httpx.AsyncClient) -> None:
    answer = await call(client, "/api/openapi/getJsonApiFormat", apiKey=KEY, workflowId=WORKFLOW_ID)
    assert answer["code"] == 0
    prompt = answer["data"]["prompt"]
    assert isinstance(prompt, str)
    graph = json.loads(prompt)
    assert graph == example("invert_color_image")
    assert graph["3"]["_meta"]["title"] == "$output.image"
    missing = await call(client, "/api/openapi/getJsonApiFormat", apiKey=KEY, workflowId="999")
    assert missing["code"] == 380 and missing["msg"] == "WORKFLOW_NOT_EXISTS"


async def test_account_status_uses_lowercase_apikey(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    answer = await call(client, "/uc/openapi/accountStatus", apikey=KEY)
    assert answer["code"] == 0
    assert answer["data"] == {
        "remainCoins": "10000",
        "currentTaskCounts": "0",
        "remainMoney": "100.00",
        "currency": "CNY",
        "apiType": "NORMAL",
    }
    await create_task(client)
    answer = await call(client, "/uc/openapi/accountStatus", apikey=KEY)
    assert answer["data"]["currentTaskCounts"] == "1"
    assert (await call(client, "/uc/openapi/accountStatus", apiKey=KEY))["code"] == 802


async def test_upload(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    png = encode_png(4, 4, (1, 2, 3))
    digest = hashlib.sha256(png).hexdigest()
    answer = await upload(client, png, "a.PNG", fileType="image")
    assert answer == {
        "code": 0,
        "msg": "success",
        "data": {"fileName": f"api/{digest}.png", "fileType": "image"},
    }
    assert rh.uploads == {f"api/{digest}.png": png}
    # fileType inferred when absent (comfykit sends none)
    audio = await upload(client, b"fLaC-data", "clip.flac")
    assert audio["data"]["fileType"] == "audio"
    assert audio["data"]["fileName"].endswith(".flac")
    # a zip gives the bare hash
    zipped = await upload(client, b"PK\x03\x04zip", "frames.zip")
    assert zipped["data"]["fileName"] == hashlib.sha256(b"PK\x03\x04zip").hexdigest()
    # an unsupported format, a file over 30 MB
    assert (await upload(client, b"x", "notes.exe"))["code"] == 808
    assert (await upload(client, b"\0" * (MAX_UPLOAD_BYTES + 1), "big.png"))["code"] == 809
    # no file, wrong key
    response = await client.post("/task/openapi/upload", data={"apiKey": KEY})
    assert response.json()["code"] == 301
    response = await client.post(
        "/task/openapi/upload", data={"apiKey": "nope"}, files={"file": ("a.png", png)}
    )
    assert response.json()["code"] == 802
    assert rh.upload_requests == 7
    path, fields = rh.requests[0]
    assert path == "/task/openapi/upload"
    assert fields == {"apiKey": KEY, "fileType": "image", "file": "a.PNG"}


async def test_cancel_a_running_task(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.comfyui.node_delay = 0.3
    task_id = await create_task(client)
    task = rh.tasks[task_id]
    for _ in range(100):  # until ComfyUI is executing it
        if rh.comfyui.executions:
            break
        await asyncio.sleep(0.01)
    answer = await call(client, "/task/openapi/cancel", apiKey=KEY, taskId=task_id)
    assert answer == {"code": 0, "msg": "success", "data": None}
    assert rh.cancelled == [task_id] and task.status == "CANCELLED"
    failed = await outputs(client, task_id)
    assert failed["code"] == 805
    assert failed["data"]["failedReason"]["exception_type"] == "TaskCancelled"
    assert (await status(client, task_id))["data"] == "FAILED"
    # the job was interrupted on ComfyUI
    assert task.prompt_id is not None
    async with httpx.AsyncClient(base_url=rh.comfyui.base_url, trust_env=False) as comfy:
        for _ in range(200):
            history = (await comfy.get(f"/history/{task.prompt_id}")).json()
            if history:
                break
            await asyncio.sleep(0.02)
    messages = history[task.prompt_id]["status"]["messages"]
    assert "execution_interrupted" in [m[0] for m in messages]


async def test_cancel_an_ended_or_unknown_task(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    rh.polls_before_done = 0
    task_id = await create_task(client)
    assert (await outputs(client, task_id))["code"] == 0
    answer = await call(client, "/task/openapi/cancel", apiKey=KEY, taskId=int(task_id))
    assert answer["code"] == 0 and answer["data"] is None
    assert rh.tasks[task_id].status == "SUCCESS"
    assert (await outputs(client, task_id))["code"] == 0
    unknown = await call(client, "/task/openapi/cancel", apiKey=KEY, taskId="123")
    assert unknown["code"] == 807 and unknown["msg"] == "APIKEY_TASK_NOT_FOUND"


async def test_unknown_task_is_807(client: httpx.AsyncClient) -> None:
    for path in ("/task/openapi/status", "/task/openapi/outputs", "/task/openapi/cancel"):
        answer = await call(client, path, apiKey=KEY, taskId="1910246754753896451")
        assert answer["code"] == 807, path


async def test_wrong_api_key_is_802_everywhere(client: httpx.AsyncClient) -> None:
    task_id = await create_task(client)
    bad = "rh-wrong-key-000000000000000000000"
    checks = [
        ("/task/openapi/create", {"apiKey": bad, "workflowId": WORKFLOW_ID}),
        ("/task/openapi/create", {"workflowId": WORKFLOW_ID}),
        ("/task/openapi/status", {"apiKey": bad, "taskId": task_id}),
        ("/task/openapi/outputs", {"apiKey": bad, "taskId": task_id}),
        ("/task/openapi/cancel", {"apiKey": bad, "taskId": task_id}),
        ("/api/openapi/getJsonApiFormat", {"apiKey": bad, "workflowId": WORKFLOW_ID}),
        ("/uc/openapi/accountStatus", {"apikey": bad}),
    ]
    for path, body in checks:
        answer = await call(client, path, **body)
        assert answer["code"] == 802 and answer["msg"] == "APIKEY_UNAUTHORIZED", path


async def test_unknown_path_workflow_and_node_info(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    answer = await call(client, "/task/openapi/craete", apiKey=KEY)
    assert answer == {"code": 412, "msg": "TOKEN_INVALID", "data": None}
    assert (await create(client, workflowId="404"))["code"] == 380
    bad_node = [{"nodeId": "99", "fieldName": "width", "fieldValue": 1}]
    assert (await create(client, workflowId=WORKFLOW_ID, nodeInfoList=bad_node))["code"] == 803
    bad_field = [{"nodeId": "1", "fieldName": "depth", "fieldValue": 1}]
    assert (await create(client, workflowId=WORKFLOW_ID, nodeInfoList=bad_field))["code"] == 803
    response = await client.post("/task/openapi/create", content=b"not json")
    assert response.json()["code"] == 301
    assert rh.tasks == {}


# -- scenarios --------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "code"), [("queue_full", 421), ("instance_full", 415)])
async def test_retryable_create_errors(
    rh: FakeRunningHub, client: httpx.AsyncClient, kind: Any, code: int
) -> None:
    rh.scenarios.append(Scenario(kind, count=2))
    codes = [(await create(client, workflowId=WORKFLOW_ID))["code"] for _ in range(4)]
    assert codes == [code, code, 0, 0]
    assert rh.scenarios == [] and len(rh.tasks) == 2 and len(rh.created) == 4


@pytest.mark.parametrize(
    ("scenario", "code"),
    [
        (Scenario("no_balance"), 416),
        (Scenario("no_balance", code=414), 414),
        (Scenario("no_balance", code=812), 812),
        (Scenario("invalid_key"), 802),
        (Scenario("invalid_node_info"), 803),
    ],
)
async def test_create_errors(
    rh: FakeRunningHub, client: httpx.AsyncClient, scenario: Scenario, code: int
) -> None:
    rh.scenarios.append(scenario)
    first = await create(client, workflowId=WORKFLOW_ID)
    assert first["code"] == code and first["data"] is None
    assert (await create(client, workflowId=WORKFLOW_ID))["code"] == 0


async def test_error_scenario_count_and_fifo(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.scenarios = [Scenario("invalid_key", count=2), "queue_full", "task_failed"]
    codes = [(await create(client, workflowId=WORKFLOW_ID))["code"] for _ in range(5)]
    assert codes == [802, 802, 421, 0, 0]
    retried, failed = list(rh.tasks)
    assert rh.tasks[retried].scenario.kind == "success"
    assert rh.tasks[failed].scenario.kind == "task_failed"
    assert (await wait_outputs(client, retried))["code"] == 0
    assert (await wait_outputs(client, failed))["code"] == 805


async def test_validation_scenario(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.scenarios.append(Scenario("validation", node_id="2"))
    answer = await create(client, workflowId=WORKFLOW_ID)
    assert answer["code"] == 433
    tips = answer["data"]["promptTips"]
    assert isinstance(tips, str)
    node_errors = json.loads(tips)["node_errors"]
    assert set(node_errors) == {"2"}
    entry = node_errors["2"]
    assert set(entry) == {"errors", "dependent_outputs", "class_type"}
    assert entry["class_type"] == "ImageInvert" and entry["dependent_outputs"] == ["3"]
    (error,) = entry["errors"]
    assert set(error) == {"type", "message", "details", "extra_info"}
    assert "input_name" in error["extra_info"]


async def test_task_failed_scenario(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.scenarios.append(Scenario("task_failed", message="CUDA out of memory"))
    task_id = await create_task(client)
    answer = await wait_outputs(client, task_id)
    assert answer["code"] == 805 and answer["msg"] == "APIKEY_TASK_STATUS_ERROR"
    reason = answer["data"]["failedReason"]
    assert reason["node_id"] == "3" and reason["node_name"] == "SaveImage"
    assert reason["exception_message"].startswith("CUDA out of memory")
    assert isinstance(json.loads(reason["traceback"]), list)
    assert isinstance(reason["current_inputs"], dict)
    assert isinstance(reason["current_outputs"], list)
    assert (await status(client, task_id))["data"] == "FAILED"
    assert rh.comfyui.prompts_received == []


async def test_slow_scenario(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.scenarios.append(Scenario("slow", polls=4))
    task_id = await create_task(client)
    seen = [(await status(client, task_id))["data"] for _ in range(5)]
    assert seen == ["QUEUED", "QUEUED", "RUNNING", "RUNNING", "SUCCESS"]


async def test_success_scenario(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.scenarios.append("success")
    assert (await wait_outputs(client, await create_task(client)))["code"] == 0
    assert rh.scenarios == []


async def test_server_error_scenario(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.scenarios.append(Scenario("server_error", count=2))
    first = await client.post("/uc/openapi/accountStatus", json={"apikey": KEY})
    second = await client.post("/task/openapi/create", json={"apiKey": KEY, "workflowId": "1"})
    for response in (first, second):
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("text/html")
        assert "502 Bad Gateway" in response.text
    assert rh.created == [] and len(rh.requests) == 2
    assert (await call(client, "/uc/openapi/accountStatus", apikey=KEY))["code"] == 0


async def test_non_json_scenario(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    task_id = await create_task(client)
    rh.scenarios.append(Scenario("non_json", count=1))
    response = await client.post("/task/openapi/outputs", json={"apiKey": KEY, "taskId": task_id})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert rh.tasks[task_id].polls == 0  # not processed
    assert (await outputs(client, task_id))["code"] == 813


async def test_poll_delay(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    rh.poll_delay = 0.2
    started = time.monotonic()
    await call(client, "/uc/openapi/accountStatus", apikey=KEY)
    assert time.monotonic() - started >= 0.2


# -- webhook ------------------------------------------------------------------------------------


async def test_webhook_posts_task_end(rh: FakeRunningHub, client: httpx.AsyncClient) -> None:
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        task_id = await create_task(client, webhookUrl=url)
        assert rh.tasks[task_id].webhook_url == url
        event = await asyncio.wait_for(received.get(), 5)
        assert event["event"] == "TASK_END" and event["taskId"] == task_id
        assert isinstance(event["eventData"], str)
        data = json.loads(event["eventData"])
        assert data["code"] == 0 and data["data"][0]["fileType"] == "png"
        assert rh.tasks[task_id].status == "SUCCESS"  # ended without polls
        assert (await outputs(client, task_id)) == data

        rh.scenarios.append("task_failed")
        failed_id = await create_task(client, webhookUrl=url)
        event = await asyncio.wait_for(received.get(), 5)
        assert event["taskId"] == failed_id
        assert json.loads(event["eventData"])["code"] == 805

        rh.comfyui.node_delay = 0.5
        cancelled_id = await create_task(client, webhookUrl=url)
        await call(client, "/task/openapi/cancel", apiKey=KEY, taskId=cancelled_id)
        event = await asyncio.wait_for(received.get(), 5)
        assert event["taskId"] == cancelled_id
        assert json.loads(event["eventData"])["code"] == 805
        assert received.empty()
    finally:
        await runner.cleanup()


async def test_webhook_is_retried_then_dropped(
    rh: FakeRunningHub, client: httpx.AsyncClient
) -> None:
    rh.scenarios.append("task_failed")
    await create_task(client, webhookUrl="http://127.0.0.1:9/nothing-listens-here")
    for _ in range(100):
        if len(rh.webhooks) == 4:
            break
        await asyncio.sleep(0.02)
    assert len(rh.webhooks) == 4  # the first attempt and 3 retries


# -- lifecycle ----------------------------------------------------------------------------------


async def test_stop_leaves_nothing_running() -> None:
    comfy = FakeComfyUI()
    await comfy.start()
    try:
        fake = FakeRunningHub(comfyui=comfy)
        await fake.start()
        fake.add_workflow(WORKFLOW_ID, example("invert_color_image"))
        comfy.node_delay = 5.0
        async with httpx.AsyncClient(base_url=fake.base_url, trust_env=False) as c:
            await create_task(c)
        base_url = fake.base_url
        await fake.stop()
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient(trust_env=False) as c:
                await c.post(f"{base_url}/uc/openapi/accountStatus", json={"apikey": KEY})
        # a ComfyUI fake that was passed in is still serving
        async with httpx.AsyncClient(trust_env=False) as c:
            assert (await c.get(f"{comfy.base_url}/queue")).status_code == 200
    finally:
        comfy.node_delay = 0.0
        await comfy.stop()


# -- comfykit 0.1.12 ----------------------------------------------------------------------------


async def test_comfykit_runs_against_the_fake(rh: FakeRunningHub, tmp_path: Path) -> None:
    from comfykit import ComfyKit

    rh.polls_before_done = 0  # comfykit sleeps 2 s between status polls
    rh.add_workflow("11", example("invert_uploaded_image"))
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode_png(6, 6, (200, 100, 0)))
    kit = ComfyKit(runninghub_url=rh.base_url, runninghub_api_key=KEY)
    try:
        result = await kit.execute(WORKFLOW_ID, {"width": 16, "height": 8, "color": 0x000000})
        assert result.status == "completed", result.msg
        assert result.prompt_id in rh.tasks
        (url,) = result.images_by_var["image"]
        uploaded = await kit.execute("11", {"image": str(photo)})
        assert uploaded.status == "completed", uploaded.msg
        (inverted,) = uploaded.images
    finally:
        await kit.close()
    async with httpx.AsyncClient(trust_env=False) as c:
        assert png_rgb((await c.get(url)).content) == (16, 8, (255, 255, 255))
        assert png_rgb((await c.get(inverted)).content) == (6, 6, (55, 155, 255))
    paths = [path for path, _ in rh.requests]
    assert paths[:3] == [
        "/api/openapi/getJsonApiFormat",
        "/task/openapi/create",
        "/task/openapi/status",
    ]
    assert "/task/openapi/upload" in paths and len(rh.uploads) == 1
    assert rh.created[0]["nodeInfoList"] == [
        {"nodeId": "1", "fieldName": "width", "fieldValue": 16},
        {"nodeId": "1", "fieldName": "height", "fieldValue": 8},
        {"nodeId": "1", "fieldName": "color", "fieldValue": 0},
    ]
