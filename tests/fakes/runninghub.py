"""A fake RunningHub cloud (the v1 openapi) for tests: real HTTP on 127.0.0.1 (aiohttp).

It answers the shapes and codes of shared/runninghub-api.md, awkward ones included: HTTP 200
with a business `code` in a `{code, msg, data}` envelope, `data` a bare string on
/task/openapi/status, taskId an int64 above 2**53 sent as a string of digits (a float loses
it), `taskCostTime` a string for one task and an int for the next. Tasks really run: the
patched graph goes to a `FakeComfyUI` (passed in, or an internal one started by `start()`),
and its history becomes RunningHub's outputs list with file URLs served by this fake.

    fake = FakeRunningHub()
    await fake.start()
    fake.add_workflow("1987654321", graph)          # an API-format graph with _meta titles
    fake.scenarios.append(Scenario("queue_full", count=2))
    ...                                             # talk to fake.base_url
    await fake.stop()

Endpoints (all POST JSON unless said otherwise; an unknown path or method answers code 412
TOKEN_INVALID with HTTP 200, as RunningHub does for a misspelled path):

- `/task/openapi/create` `{apiKey, workflowId, nodeInfoList?, webhookUrl?, instanceType?,
  workflow?, ...}` -> `data{netWssUrl, taskId (str), clientId, taskStatus, promptTips (JSON
  str)}`. Checked in this order: body (301), apiKey (802), `workflow` with a non-empty
  nodeInfoList (803) / unknown workflowId (380), the scripted scenario, nodeInfoList (803: an
  unknown nodeId, or a fieldName that is not one of that node's inputs), ComfyUI's
  validation (433, `data{promptTips}` carrying ComfyUI's `node_errors`).
- `/task/openapi/status` `{apiKey, taskId}` -> `data`: "QUEUED" | "RUNNING" | "SUCCESS" |
  "FAILED" (a cancelled task reports "FAILED": the documented set has no CANCELLED).
- `/task/openapi/outputs` -> code 0 with the list; 813 (queued) / 804 (running) with data
  null; 805 with `data{failedReason}` for a failed and for a cancelled task.
- `/task/openapi/cancel` -> data null (also for a task that already ended, which keeps its
  status); 807 if unknown.
- `/task/openapi/upload` (multipart `apiKey`, `file`, `fileType?`) -> `data{fileName:
  "api/<sha256>.<ext>", fileType}` (a zip: the bare hash); over 30 MB -> 809; a format the
  doc does not list -> 808. `fileType` echoes the form field, else image/video/audio/input.
- `/uc/openapi/accountStatus` `{apikey}` (lowercase, only that spelling) -> strings
  `{remainCoins, currentTaskCounts, remainMoney, currency, apiType}` (see `account`).
- `/api/openapi/getJsonApiFormat` `{apiKey, workflowId}` -> `data{prompt: <graph as a JSON
  string>}`; 380 if unknown.
- `GET /files/<taskId>/<name>`: the output files (what `fileUrl` points at).

taskId is accepted as a string of digits or a JSON integer; anything else (a float that lost
the low digits, a bool, a non-digit string, <= 0) is 301 or, when it parses, 807. Every
endpoint checks the key: wrong or missing -> 802. The `Host` header is not checked (comfykit
sends `127.0.0.1:PORT`).

Task life (polls are calls of /status or /outputs on that task, counted in `FakeTask.polls`):
a task answers QUEUED (813) for its first `queued_polls` polls, RUNNING (804) for the next
`running_polls`, then the real result (the poll waits up to `max_poll_wait` seconds for the
ComfyUI run, else answers RUNNING). By default both counts are `polls_before_done`, so with the
default 1: 813, 804, success; with 0 the first poll already answers the result. The result is
held back until then, so a cancel before that always wins (ComfyUI's job is cancelled through
POST /api/jobs/{id}/cancel if it is still running). A task with a `webhookUrl` ends as soon
as its run does (its clients need not poll) and then the webhook is POSTed: `{"event":
"TASK_END", "taskId", "eventData": <the /outputs answer as a JSON string>}`, retried up to 3
times on a failure; a cancel also ends a task and posts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import math
import mimetypes
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

import aiohttp
from aiohttp import web

from .comfyui import FakeComfyUI

__all__ = [
    "DEFAULT_API_KEY",
    "FIRST_TASK_ID",
    "MAX_UPLOAD_BYTES",
    "FakeRunningHub",
    "FakeTask",
    "Scenario",
    "ScenarioKind",
    "TaskStatus",
    "running_fake_runninghub",
]

DEFAULT_API_KEY = "rh-test-key-0123456789abcdef0123"  # 32 characters, like a real key
FIRST_TASK_ID = 1910246754753896450  # > 2**53: float(FIRST_TASK_ID) != FIRST_TASK_ID
MAX_UPLOAD_BYTES = 30 * 1024 * 1024
WEBHOOK_RETRIES = 3

TaskStatus = Literal["QUEUED", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]
TERMINAL: frozenset[str] = frozenset({"SUCCESS", "FAILED", "CANCELLED"})

ScenarioKind = Literal[
    "success",
    "queue_full",
    "instance_full",
    "no_balance",
    "invalid_key",
    "invalid_node_info",
    "validation",
    "task_failed",
    "server_error",
    "non_json",
    "slow",
]

# The `msg` of each code. The doc gives the names of 380, 412, 414, 415, 416, 421, 433, 803,
# 804; the others are descriptive only: clients must branch on `code`.
MESSAGES: dict[int, str] = {
    0: "success",
    301: "PARAMS_INVALID",
    380: "WORKFLOW_NOT_EXISTS",
    412: "TOKEN_INVALID",
    414: "TASK_CREATE_FAILED_BY_NOT_ENOUGH_POWER_VALUE",
    415: "TASK_INSTANCE_MAXED",
    416: "TASK_CREATE_FAILED_BY_NOT_ENOUGH_WALLET",
    421: "TASK_QUEUE_MAXED",
    433: "VALIDATE_PROMPT_FAILED",
    500: "UNKNOWN_ERROR",
    802: "APIKEY_UNAUTHORIZED",
    803: "APIKEY_INVALID_NODE_INFO",
    804: "APIKEY_TASK_IS_RUNNING",
    805: "APIKEY_TASK_STATUS_ERROR",
    807: "APIKEY_TASK_NOT_FOUND",
    808: "APIKEY_UPLOAD_FAILED",
    809: "APIKEY_FILE_SIZE_EXCEEDED",
    812: "APIKEY_ENTERPRISE_NOT_ENOUGH_MONEY",
    813: "APIKEY_TASK_IS_QUEUED",
}

UPLOAD_TYPES: dict[str, str] = {
    **dict.fromkeys(("jpg", "jpeg", "png", "webp"), "image"),
    "zip": "input",
    **dict.fromkeys(("mp3", "wav", "flac"), "audio"),
    **dict.fromkeys(("mp4", "avi", "mov", "mkv"), "video"),
}

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
NON_JSON_HTML = (
    "<!DOCTYPE html><html><head><title>RunningHub</title></head>"
    "<body><p>The service is busy, please try again later.</p></body></html>"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Scenario:
    """What the next created task(s) do; `FakeRunningHub.scenarios` is a FIFO of these (a
    bare kind string means `Scenario(kind)`). Only the head of the list is live.

    Kinds, consumed by /task/openapi/create calls unless said otherwise:

    - "success": one plain successful task.
    - "queue_full" / "instance_full": create answers 421 / 415 `count` times, then the next
      create succeeds (that create also consumes the scenario: `count + 1` creates in all).
    - "no_balance" (`code` 416 by default, or 414 / 812), "invalid_key" (802),
      "invalid_node_info" (803), "validation" (433): create answers that code `count` times
      (no task), then the scenario is gone. "validation" puts into `data.promptTips` a JSON
      string whose `node_errors` is ComfyUI's shape, on `node_id` (default: the first node).
    - "task_failed": the task is created, nothing runs; once its polls are over, outputs
      answers 805 with `data.failedReason` for `node_id` (default: the last node) and
      `message`.
    - "slow": the task stays QUEUED then RUNNING for `polls` polls in all (the first
      `(polls + 1) // 2` QUEUED), instead of `polls_before_done` each.
    - "server_error" / "non_json": the next `count` requests on ANY path (files included)
      are answered 502 with an nginx HTML page / 200 with an HTML page, without being
      processed (they are still in `requests`, a create is not in `created`).
    """

    kind: ScenarioKind
    count: int = 1
    code: int | None = None
    polls: int = 3
    node_id: str | None = None
    message: str | None = None


RETRYABLE: dict[str, int] = {"queue_full": 421, "instance_full": 415}
CREATE_ERRORS: dict[str, int] = {
    "no_balance": 416,
    "invalid_key": 802,
    "invalid_node_info": 803,
    "validation": 433,
}
TRANSPORT = frozenset({"server_error", "non_json"})


@dataclass(eq=False)
class FakeTask:
    """One accepted task. `status` is what the API reports now (it moves with polls)."""

    task_id: str
    workflow_id: str
    node_info_list: list[dict[str, Any]]
    instance_type: str | None
    webhook_url: str | None
    graph: dict[str, Any]  # the workflow with nodeInfoList applied, as sent to ComfyUI
    client_id: str
    scenario: Scenario
    queued_polls: int
    running_polls: int
    cost_as_str: bool
    status: TaskStatus = "QUEUED"
    polls: int = 0
    prompt_id: str | None = None  # on the ComfyUI fake
    outputs: list[dict[str, Any]] | None = None  # the run's result, once it succeeded
    failed_reason: dict[str, Any] | None = None  # the run's result, once it failed
    webhook_sent: bool = False
    run_done: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None


def _envelope(code: int, data: Any = None, msg: str | None = None) -> web.Response:
    return web.json_response(
        {"code": code, "msg": msg or MESSAGES.get(code, "ERROR"), "data": data}
    )


def _task_id_of(body: dict[str, Any]) -> str | int:
    """The taskId as a lookup key, or a 301 code when it cannot be one."""
    value = body.get("taskId")
    if isinstance(value, bool) or value is None:
        return 301
    if isinstance(value, int):
        return str(value) if value > 0 else 301
    if isinstance(value, float):
        # A client that parsed the id as a float: the low digits are gone, so it is not found.
        return str(int(value)) if value > 0 and math.isfinite(value) else 301
    if isinstance(value, str) and value.strip().isdigit():
        digits = value.strip().lstrip("0")
        return digits if digits else 301
    return 301


def _cancel_reason() -> dict[str, Any]:
    return {
        "node_id": "",
        "node_name": "",
        "exception_type": "TaskCancelled",
        "exception_message": "The task was cancelled by the user.",
        "traceback": "[]",
        "current_inputs": {},
        "current_outputs": [],
    }


class FakeRunningHub:
    """A RunningHub v1 openapi on 127.0.0.1 that runs tasks on a `FakeComfyUI`.

    Observation: `created` (every create body that reached the handler, rejected ones too),
    `tasks` (taskId -> `FakeTask`), `uploads` ("api/<sha256>.<ext>" -> bytes),
    `upload_requests`, `cancelled` (taskIds of accepted cancel calls), `requests` ((path,
    parsed JSON body or form fields; a file field as its filename) of every request),
    `webhooks` ((url, payload) of every webhook attempt), `files` ("<taskId>/<name>" -> bytes).

    Control: `scenarios`, `polls_before_done`, `task_cost` (the `taskCostTime` reported),
    `poll_delay` (seconds added to every answer),
    `max_poll_wait`, `account`, `add_workflow`; `comfyui` is the ComfyUI fake that runs tasks.
    """

    def __init__(
        self, *, api_key: str = DEFAULT_API_KEY, comfyui: FakeComfyUI | None = None
    ) -> None:
        self.api_key = api_key
        self._comfyui = comfyui
        self._own_comfyui = False  # started by start(), so stopped by stop()
        self._made_comfyui = comfyui is None  # constructed by start()
        self.base_url = ""
        self.port = 0
        self.workflows: dict[str, dict[str, Any]] = {}
        # observation
        self.created: list[dict[str, Any]] = []
        self.tasks: dict[str, FakeTask] = {}
        self.uploads: dict[str, bytes] = {}
        self.upload_requests = 0
        self.cancelled: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.webhooks: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}
        # control
        self.scenarios: list[Scenario | ScenarioKind] = []
        self.polls_before_done = 1
        self.task_cost = 1  # the taskCostTime (seconds) every finished task reports
        self.poll_delay = 0.0
        self.max_poll_wait = 5.0
        self.account: dict[str, str] = {
            "remainCoins": "10000",
            "remainMoney": "100.00",
            "currency": "CNY",
            "apiType": "NORMAL",
        }
        # internals
        self._head_used = 0
        self._task_counter = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._output_nodes: dict[str, bool] = {}

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def comfyui(self) -> FakeComfyUI:
        if self._comfyui is None:
            raise RuntimeError("FakeRunningHub is not started")
        return self._comfyui

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port; start an internal FakeComfyUI if none was given."""
        if self._comfyui is None:
            self._comfyui = FakeComfyUI()
        if not self._comfyui.base_url:
            await self._comfyui.start()
            self._own_comfyui = True
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application(client_max_size=4 * MAX_UPLOAD_BYTES, middlewares=[self._middleware])
        r = app.router
        r.add_post("/task/openapi/create", self._create)
        r.add_post("/task/openapi/status", self._status)
        r.add_post("/task/openapi/outputs", self._outputs)
        r.add_post("/task/openapi/cancel", self._cancel)
        r.add_post("/task/openapi/upload", self._upload)
        r.add_post("/uc/openapi/accountStatus", self._account_status)
        r.add_post("/api/openapi/getJsonApiFormat", self._get_json_api_format)
        r.add_get("/files/{task_id}/{name}", self._file)
        r.add_route("*", "/{tail:.*}", self._unknown)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.base_url = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stop serving, stop every run and webhook, and stop the internal FakeComfyUI."""
        pending = [t for t in self._background if not t.done()]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._own_comfyui and self._comfyui is not None:
            await self._comfyui.stop()
            self._own_comfyui = False
        if self._made_comfyui:
            self._comfyui = None

    async def __aenter__(self) -> FakeRunningHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test controls ----------------------------------------------------------------------

    def add_workflow(self, workflow_id: str, graph: dict[str, Any]) -> None:
        """A workflow the account owns (an API-format graph, `_meta` titles kept)."""
        self.workflows[str(workflow_id)] = copy.deepcopy(graph)

    def _head(self) -> Scenario | None:
        if not self.scenarios:
            return None
        head = self.scenarios[0]
        return Scenario(head) if isinstance(head, str) else head

    def _pop(self) -> None:
        self.scenarios.pop(0)
        self._head_used = 0

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- HTTP plumbing ----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await self._parse_body(request)
        self.requests.append((request.path, body))
        if self.poll_delay > 0:
            await asyncio.sleep(self.poll_delay)
        head = self._head()
        if head is not None and head.kind in TRANSPORT:
            self._head_used += 1
            if self._head_used >= head.count:
                self._pop()
            if head.kind == "server_error":
                return web.Response(status=502, text=BAD_GATEWAY_HTML, content_type="text/html")
            return web.Response(status=200, text=NON_JSON_HTML, content_type="text/html")
        return await handler(request)

    async def _parse_body(self, request: web.Request) -> dict[str, Any]:
        if request.method not in ("POST", "PUT", "PATCH"):
            return dict(request.query)
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form: dict[str, Any] = {}
            with contextlib.suppress(Exception):
                for key, value in (await request.post()).items():
                    form[key] = value.filename if isinstance(value, web.FileField) else value
            return form
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}
        return parsed if isinstance(parsed, dict) else {"_json": parsed}

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | None:
        """The JSON object body (aiohttp caches the bytes), None when it is not one."""
        try:
            parsed: Any = json.loads(await request.read())
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def _find_task(self, body: dict[str, Any]) -> FakeTask | int:
        key = _task_id_of(body)
        if isinstance(key, int):
            return key
        task = self.tasks.get(key)
        return task if task is not None else 807

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        return _envelope(412)

    # -- endpoints ----------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            return _envelope(301)
        self.created.append(copy.deepcopy(body))
        if body.get("apiKey") != self.api_key:
            return _envelope(802)
        node_info = body.get("nodeInfoList")
        if node_info is None:
            node_info = []
        if not isinstance(node_info, list):
            return _envelope(803)
        workflow_text = body.get("workflow")
        workflow_id = str(body.get("workflowId", ""))
        if workflow_text is not None:
            if node_info:
                return _envelope(803)  # `workflow` + nodeInfoList fails on RunningHub
            try:
                graph: Any = json.loads(workflow_text) if isinstance(workflow_text, str) else None
            except ValueError:
                graph = None
            if not isinstance(graph, dict):
                return _envelope(301)
        elif workflow_id in self.workflows:
            graph = copy.deepcopy(self.workflows[workflow_id])
        else:
            return _envelope(380)

        scenario, code = self._take_create_scenario()
        if code == 433:
            return await self._validation_answer(graph, scenario)
        if code is not None:
            return _envelope(code)

        for item in node_info:
            if not isinstance(item, dict) or "fieldValue" not in item:
                return _envelope(803)
            node = graph.get(str(item.get("nodeId")))
            name = item.get("fieldName")
            if not isinstance(node, dict) or not isinstance(name, str):
                return _envelope(803)
            inputs = node.get("inputs")
            if not isinstance(inputs, dict) or name not in inputs:
                return _envelope(803)
            inputs[name] = item["fieldValue"]

        if scenario.kind == "slow":
            queued, running = (scenario.polls + 1) // 2, scenario.polls // 2
        else:
            queued = running = max(0, self.polls_before_done)
        webhook = body.get("webhookUrl")
        instance = body.get("instanceType")
        task = FakeTask(
            task_id="",
            workflow_id=workflow_id,
            node_info_list=copy.deepcopy(node_info),
            instance_type=instance if isinstance(instance, str) else None,
            webhook_url=webhook if isinstance(webhook, str) and webhook else None,
            graph=graph,
            client_id=uuid.uuid4().hex,
            scenario=scenario,
            queued_polls=queued,
            running_polls=running,
            cost_as_str=self._task_counter % 2 == 0,
            status="QUEUED" if queued > 0 else "RUNNING",
        )
        outputs_to_execute = await self._output_node_ids(graph)
        if scenario.kind == "task_failed":
            task.failed_reason = self._scripted_failure(graph, scenario)
        else:
            try:
                await self._upload_referenced(graph)
                answer = await self._post_prompt(graph, task.client_id)
            except aiohttp.ClientError:
                return _envelope(500)
            if "prompt_id" not in answer:
                tips = {
                    "result": False,
                    "error": answer.get("error"),
                    "outputs_to_execute": [],
                    "node_errors": answer.get("node_errors", {}),
                }
                return _envelope(433, {"promptTips": json.dumps(tips)})
            task.prompt_id = str(answer["prompt_id"])

        task.task_id = self._new_task_id()
        self.tasks[task.task_id] = task
        if task.prompt_id is not None:
            task.runner = self._spawn(self._run(task))
        else:
            self._spawn(self._run_done(task))
        tips = {
            "result": True,
            "error": None,
            "outputs_to_execute": outputs_to_execute,
            "node_errors": {},
        }
        return _envelope(
            0,
            {
                "netWssUrl": f"ws://127.0.0.1:{self.port}/ws/c_instance?clientId={task.client_id}",
                "taskId": task.task_id,
                "clientId": task.client_id,
                "taskStatus": task.status,
                "promptTips": json.dumps(tips),
            },
        )

    def _take_create_scenario(self) -> tuple[Scenario, int | None]:
        head = self._head()
        if head is None:
            return Scenario("success"), None
        if head.kind in RETRYABLE:
            self._head_used += 1
            if self._head_used <= head.count:
                return head, RETRYABLE[head.kind]
            self._pop()
            return Scenario("success"), None
        if head.kind in CREATE_ERRORS:
            self._head_used += 1
            if self._head_used >= head.count:
                self._pop()
            code = CREATE_ERRORS[head.kind]
            if head.kind == "no_balance" and head.code is not None:
                code = head.code
            return head, code
        self._pop()
        return head, None

    def _new_task_id(self) -> str:
        while True:
            value = FIRST_TASK_ID + self._task_counter * 1_000_003
            self._task_counter += 1
            if float(value) != value:  # always true in this range unless a multiple of 256
                return str(value)

    async def _validation_answer(self, graph: dict[str, Any], scenario: Scenario) -> web.Response:
        node_id = scenario.node_id or next(iter(graph), "1")
        node = graph.get(node_id, {})
        inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
        input_name = next((k for k, v in inputs.items() if not isinstance(v, list)), "value")
        message = scenario.message or "Required input is missing"
        node_errors = {
            node_id: {
                "errors": [
                    {
                        "type": "required_input_missing",
                        "message": message,
                        "details": input_name,
                        "extra_info": {"input_name": input_name},
                    }
                ],
                "dependent_outputs": await self._output_node_ids(graph),
                "class_type": node.get("class_type", "") if isinstance(node, dict) else "",
            }
        }
        tips = {
            "result": False,
            "error": {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            },
            "outputs_to_execute": [],
            "node_errors": node_errors,
        }
        return _envelope(433, {"promptTips": json.dumps(tips)})

    def _scripted_failure(self, graph: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
        node_id = scenario.node_id or (list(graph)[-1] if graph else "1")
        node = graph.get(node_id, {})
        class_type = str(node.get("class_type", "")) if isinstance(node, dict) else ""
        message = scenario.message or "fake RunningHub: scripted task failure"
        tb = [
            '  File "/ComfyUI/execution.py", line 496, in execute\n'
            "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data("
            "prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, "
            "pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
        ]
        return {
            "node_id": node_id,
            "node_name": class_type,
            "exception_type": "RuntimeError",
            "exception_message": message + "\n",
            "traceback": json.dumps(tb),
            "current_inputs": {},
            "current_outputs": list(graph),
        }

    async def _status(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            return _envelope(301)
        if body.get("apiKey") != self.api_key:
            return _envelope(802)
        task = self._find_task(body)
        if isinstance(task, int):
            return _envelope(task, msg="taskId must be positive" if task == 301 else None)
        await self._advance(task)
        return _envelope(0, "FAILED" if task.status == "CANCELLED" else task.status)

    async def _outputs(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            return _envelope(301)
        if body.get("apiKey") != self.api_key:
            return _envelope(802)
        task = self._find_task(body)
        if isinstance(task, int):
            return _envelope(task, msg="taskId must be positive" if task == 301 else None)
        await self._advance(task)
        code, data = self._outputs_answer(task)
        return _envelope(code, data)

    def _outputs_answer(self, task: FakeTask) -> tuple[int, Any]:
        if task.status == "QUEUED":
            return 813, None
        if task.status == "RUNNING":
            return 804, None
        if task.status == "SUCCESS":
            return 0, copy.deepcopy(task.outputs or [])
        if task.status == "CANCELLED":
            return 805, {"failedReason": _cancel_reason()}
        return 805, {"failedReason": copy.deepcopy(task.failed_reason)}

    async def _advance(self, task: FakeTask) -> None:
        """One poll of `task`: move it along its QUEUED/RUNNING polls, then to its result."""
        task.polls += 1
        if task.status in TERMINAL:
            return
        if task.polls <= task.queued_polls:
            task.status = "QUEUED"
            return
        if task.polls <= task.queued_polls + task.running_polls:
            task.status = "RUNNING"
            return
        try:
            await asyncio.wait_for(task.run_done.wait(), self.max_poll_wait)
        except asyncio.TimeoutError:
            if task.status not in TERMINAL:
                task.status = "RUNNING"
            return
        self._finish(task)

    @staticmethod
    def _finish(task: FakeTask) -> None:
        if task.status not in TERMINAL:
            task.status = "SUCCESS" if task.outputs is not None else "FAILED"

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            return _envelope(301)
        if body.get("apiKey") != self.api_key:
            return _envelope(802)
        task = self._find_task(body)
        if isinstance(task, int):
            return _envelope(task, msg="taskId must be positive" if task == 301 else None)
        self.cancelled.append(task.task_id)
        if task.status not in TERMINAL:
            task.status = "CANCELLED"
            if not task.run_done.is_set():
                task.run_done.set()  # the run is over: it was cancelled
                if task.runner is not None:
                    task.runner.cancel()
                if task.prompt_id is not None and self._session is not None:
                    url = f"{self.comfyui.base_url}/api/jobs/{task.prompt_id}/cancel"
                    with contextlib.suppress(aiohttp.ClientError):
                        async with self._session.post(url) as response:
                            await response.read()
            if task.webhook_url is not None:
                self._spawn(self._send_webhook(task))
        return _envelope(0, None)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        self.upload_requests += 1
        try:
            form = await request.post()
        except Exception:
            return _envelope(301)
        if form.get("apiKey") != self.api_key:
            return _envelope(802)
        file = form.get("file")
        if not isinstance(file, web.FileField):
            return _envelope(301)
        data = file.file.read()
        if len(data) > MAX_UPLOAD_BYTES:
            return _envelope(809)
        ext = PurePosixPath(file.filename or "").suffix.lower().lstrip(".")
        if ext not in UPLOAD_TYPES:
            return _envelope(808)
        digest = hashlib.sha256(data).hexdigest()
        name = digest if ext == "zip" else f"api/{digest}.{ext}"
        self.uploads[name] = data
        given = form.get("fileType")
        file_type = given if isinstance(given, str) and given else UPLOAD_TYPES[ext]
        return _envelope(0, {"fileName": name, "fileType": file_type})

    async def _account_status(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            return _envelope(301)
        if body.get("apikey") != self.api_key:
            return _envelope(802)
        running = sum(1 for t in self.tasks.values() if t.status not in TERMINAL)
        data = {
            "remainCoins": self.account.get("remainCoins", "0"),
            "currentTaskCounts": str(running),
            "remainMoney": self.account.get("remainMoney", "0"),
            "currency": self.account.get("currency", "CNY"),
            "apiType": self.account.get("apiType", "NORMAL"),
        }
        return _envelope(0, data)

    async def _get_json_api_format(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            return _envelope(301)
        if body.get("apiKey") != self.api_key:
            return _envelope(802)
        graph = self.workflows.get(str(body.get("workflowId", "")))
        if graph is None:
            return _envelope(380)
        return _envelope(0, {"prompt": json.dumps(graph, ensure_ascii=False)})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        key = f"{request.match_info['task_id']}/{request.match_info['name']}"
        data = self.files.get(key)
        if data is None:
            return web.Response(status=404, text="Not Found")
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        if content_type == "text/plain":
            return web.Response(body=data, content_type=content_type, charset="utf-8")
        return web.Response(body=data, content_type=content_type)

    # -- running a task on the ComfyUI fake -------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("FakeRunningHub is not started")
        return self._session

    async def _output_node_ids(self, graph: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for node_id, node in graph.items():
            class_type = node.get("class_type") if isinstance(node, dict) else None
            if not isinstance(class_type, str):
                continue
            if class_type not in self._output_nodes:
                url = f"{self.comfyui.base_url}/object_info/{class_type}"
                try:
                    async with self._http().get(url) as response:
                        info: Any = await response.json()
                except (aiohttp.ClientError, ValueError):
                    info = {}
                entry = info.get(class_type) if isinstance(info, dict) else None
                self._output_nodes[class_type] = bool(
                    isinstance(entry, dict) and entry.get("output_node")
                )
            if self._output_nodes[class_type]:
                out.append(str(node_id))
        return out

    async def _upload_referenced(self, graph: dict[str, Any]) -> None:
        """Put every uploaded file the graph names ("api/<hash>.<ext>") into ComfyUI's input
        folder under the same relative name, so LoadImage finds it."""
        names: set[str] = set()
        for node in graph.values():
            inputs = node.get("inputs") if isinstance(node, dict) else None
            if isinstance(inputs, dict):
                names.update(v for v in inputs.values() if isinstance(v, str) and v in self.uploads)
        for name in sorted(names):
            path = PurePosixPath(name)
            form = aiohttp.FormData()
            form.add_field("image", self.uploads[name], filename=path.name)
            form.add_field("subfolder", str(path.parent) if str(path.parent) != "." else "")
            form.add_field("type", "input")
            form.add_field("overwrite", "true")
            async with self._http().post(
                f"{self.comfyui.base_url}/upload/image", data=form
            ) as response:
                await response.read()

    async def _post_prompt(self, graph: dict[str, Any], client_id: str) -> dict[str, Any]:
        async with self._http().post(
            f"{self.comfyui.base_url}/prompt", json={"prompt": graph, "client_id": client_id}
        ) as response:
            try:
                answer: Any = await response.json(content_type=None)
            except ValueError:
                answer = {}
        if not isinstance(answer, dict):
            return {"error": {"type": "server_error", "message": str(answer)}, "node_errors": {}}
        if response.status != 200:
            answer.pop("prompt_id", None)
        return answer

    async def _run(self, task: FakeTask) -> None:
        """Wait for the ComfyUI job, then turn its history into RunningHub's result."""
        assert task.prompt_id is not None
        url = f"{self.comfyui.base_url}/history/{task.prompt_id}"
        try:
            while True:
                try:
                    async with self._http().get(url) as response:
                        history: Any = await response.json()
                except (aiohttp.ClientError, ValueError):
                    history = {}
                if isinstance(history, dict) and task.prompt_id in history:
                    break
                await asyncio.sleep(0.02)
            await self._collect(task, history[task.prompt_id])
        except asyncio.CancelledError:
            raise
        except Exception as ex:  # a broken run must still end the task
            task.outputs = None
            task.failed_reason = {
                **_cancel_reason(),
                "exception_type": type(ex).__name__,
                "exception_message": f"fake RunningHub: {ex}",
            }
        await self._run_done(task)

    async def _run_done(self, task: FakeTask) -> None:
        task.run_done.set()
        if task.webhook_url is not None and task.status not in TERMINAL:
            self._finish(task)
            await self._send_webhook(task)

    async def _collect(self, task: FakeTask, entry: dict[str, Any]) -> None:
        status = entry.get("status") or {}
        if status.get("status_str") != "success":
            reason = _cancel_reason()
            for message in status.get("messages", []):
                if message[0] == "execution_error":
                    mes = message[1]
                    reason = {
                        "node_id": mes.get("node_id"),
                        "node_name": mes.get("node_type"),
                        "exception_type": mes.get("exception_type"),
                        "exception_message": mes.get("exception_message"),
                        "traceback": json.dumps(mes.get("traceback", [])),
                        "current_inputs": mes.get("current_inputs", {}),
                        "current_outputs": mes.get("current_outputs", []),
                    }
            task.failed_reason = reason
            return
        # A fixed figure, not the wall clock: tests compare results across fakes and runs.
        cost: str | int = str(self.task_cost) if task.cost_as_str else self.task_cost
        outputs: list[dict[str, Any]] = []
        for node_id, node_output in (entry.get("outputs") or {}).items():
            produced: list[tuple[str, bytes]] = []
            for key, items in node_output.items():
                if not isinstance(items, list):
                    continue
                for item in items:
                    if isinstance(item, dict) and isinstance(item.get("filename"), str):
                        produced.append((item["filename"], await self._view(item)))
                    elif key == "text" and isinstance(item, str) and "files" not in node_output:
                        produced.append((f"text_{node_id}.txt", item.encode("utf-8")))
            for filename, data in produced:
                name = self._store(task.task_id, node_id, filename, data)
                outputs.append(
                    {
                        "fileUrl": f"{self.base_url}/files/{task.task_id}/{name}",
                        "fileType": PurePosixPath(filename).suffix.lower().lstrip("."),
                        "taskCostTime": cost,
                        "nodeId": str(node_id),
                        "consumeCoins": "1",
                        "consumeMoney": None,
                        "thirdPartyConsumeMoney": None,
                    }
                )
        task.outputs = outputs

    async def _view(self, item: dict[str, Any]) -> bytes:
        params = {
            "filename": str(item["filename"]),
            "subfolder": str(item.get("subfolder", "")),
            "type": str(item.get("type", "output")),
        }
        async with self._http().get(f"{self.comfyui.base_url}/view", params=params) as response:
            response.raise_for_status()
            return await response.read()

    def _store(self, task_id: str, node_id: str, filename: str, data: bytes) -> str:
        name = f"{node_id}-{PurePosixPath(filename).name}"
        n = 1
        while f"{task_id}/{name}" in self.files:
            n += 1
            path = PurePosixPath(filename)
            name = f"{node_id}-{path.stem}-{n}{path.suffix}"
        self.files[f"{task_id}/{name}"] = data
        return name

    async def _send_webhook(self, task: FakeTask) -> None:
        if task.webhook_url is None or task.webhook_sent:
            return
        task.webhook_sent = True
        code, data = self._outputs_answer(task)
        answer = {"code": code, "msg": MESSAGES.get(code, "ERROR"), "data": data}
        payload = {"event": "TASK_END", "taskId": task.task_id, "eventData": json.dumps(answer)}
        for attempt in range(1 + WEBHOOK_RETRIES):
            self.webhooks.append((task.webhook_url, payload))
            try:
                async with self._http().post(
                    task.webhook_url, json=payload, timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    await response.read()
                    if response.status < 400:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            if attempt < WEBHOOK_RETRIES:
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_fake_runninghub(
    *, api_key: str = DEFAULT_API_KEY, comfyui: FakeComfyUI | None = None
) -> AsyncIterator[FakeRunningHub]:
    """`async with running_fake_runninghub() as fake:` a started fake, stopped on exit."""
    fake = FakeRunningHub(api_key=api_key, comfyui=comfyui)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
