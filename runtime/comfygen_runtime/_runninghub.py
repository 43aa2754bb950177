"""The RunningHub backend: the same generated functions, run on RunningHub's cloud.

RunningHub's v1 task API answers HTTP 200 with a business code in a `{code, msg, data}`
envelope; `data` is a string on one endpoint, a dict or a list on others; task ids are
int64 (kept as strings here). The rules this client follows:

- A task is created once per call. Codes that say no task was created (instances or
  queue full: 415, 421, 814, 1003, 1011, 1520; server busy 1005, 1010, 1012), refused
  connections and HTTP 503/429 are retried with backoff, `retry_count` times. A failure
  that leaves it unknown whether the task exists (a timeout or reset after the request
  was sent, a 502/504 or other 5xx, a body that is not JSON) is raised, never retried.
- Reads (outputs, status, cancel) are retried on any transient failure.
- The task is polled with capped backoff (`804` running, `813` queued) until it has
  outputs (`0`), failed (`805`, with `failedReason`) or vanished (`807`).
- Cancelling the awaiting task or a timeout cancels the remote task.
- The API key travels in request bodies only; it is never in a repr, log or message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from ._apply import apply_params
from ._config import RunningHubConfig, redact_url
from ._errors import (
    AuthenticationError,
    BackendUnavailableError,
    ComfygenError,
    InsufficientBalanceError,
    InvalidNodeInfoError,
    JobLostError,
    ParameterError,
    QueueFullError,
    RunningHubError,
    WorkflowTimeoutError,
)
from ._events import Event, EventHandler, emit
from ._failures import execution_error, validation_error
from ._media import Upload, UploadOnce, media_sources, upload_for
from ._outputs import File, map_outputs
from ._result import WorkflowResult
from ._seeds import pick_seeds
from ._spec import WorkflowSpec

logger = logging.getLogger("comfygen_runtime")

ResultT = TypeVar("ResultT", bound=WorkflowResult)

OK = 0
RUNNING = 804
QUEUED = 813
FAILED = 805
TASK_NOT_FOUND = 807
VALIDATION_FAILED = 433
BUSY = {415, 421, 814, 1003, 1011, 1520}  # no instance or queue slot: try again later
SERVER_BUSY = {1005, 1010, 1012}
BALANCE = {414, 416, 812}
AUTH = {412, 801, 802, 806, 811}
HINTS = {
    380: "the workflow id does not exist on this RunningHub account",
    435: "this workflow needs a larger instance: pass instance_type='plus'",
    436: "the exclusive membership of this key has expired",
    809: "the file is larger than RunningHub's 30 MB upload limit; pass a public URL",
    810: "run the workflow once on the RunningHub website, then call it through the API",
}
# Answers that say the request was turned away before anything was done with it. A 502 or
# 504 does not: the gateway gave up, but the upstream may have created the task.
_NOT_HANDLED_HTTP = {429, 503}


class RunningHub:
    """A RunningHub account. Share one per application; it deduplicates uploads.

    Configuration: arguments, then `RUNNINGHUB_API_KEY`, `RUNNINGHUB_BASE_URL`,
    `RUNNINGHUB_TIMEOUT` (seconds a call waits by default), `RUNNINGHUB_RETRY_COUNT`,
    `RUNNINGHUB_INSTANCE_TYPE` (e.g. "plus" for 48 GB), then defaults
    (`https://www.runninghub.ai`; `.cn` works the same way).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        retry_count: int | None = None,
        instance_type: str | None = None,
        webhook_url: str | None = None,
        request_timeout: float = 30.0,
        busy_backoff: float = 5.0,
        max_poll_interval: float = 5.0,
        randomize_seeds: bool = False,
    ) -> None:
        self._config = RunningHubConfig.resolve(
            api_key, base_url, timeout, retry_count, instance_type
        )
        self._webhook_url = webhook_url
        self._request_timeout = request_timeout
        self._busy_backoff = busy_backoff
        self._max_poll_interval = max_poll_interval
        self._randomize_seeds = randomize_seeds
        self._http: httpx.AsyncClient | None = None
        self._closed = False
        self._upload_once = UploadOnce(self._upload)

    def __repr__(self) -> str:
        return f"RunningHub({redact_url(self._config.base_url)!r})"

    @property
    def base_url(self) -> str:
        return self._config.base_url

    async def __aenter__(self) -> RunningHub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- the envelope ----------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self._config.base_url, timeout=self._request_timeout
            )
        return self._http

    def _redact(self, text: str) -> str:
        return text.replace(self._config.api_key.reveal(), "***")

    async def _call(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        creates: bool = False,
        files: Mapping[str, Any] | None = None,
        key_field: str = "apiKey",
    ) -> tuple[int, str, Any]:
        """POST to an endpoint; return its (code, msg, data) once the transport is sound.

        `creates`: the request creates a task, so only failures that prove nothing was
        created are retried (see the module docstring).
        """
        attempts = self._config.retry_count + 1
        delay = 0.5
        for attempt in range(attempts):
            last = attempt == attempts - 1
            payload = {**(body or {}), key_field: self._config.api_key.reveal()}
            try:
                if files is not None:
                    reply = await self._client().post(
                        path, data={k: str(v) for k, v in payload.items()}, files=files
                    )
                else:
                    reply = await self._client().post(path, json=payload)
            except httpx.ConnectError:
                problem = "connection refused"
            except httpx.TransportError as error:
                problem = type(error).__name__
                if creates:
                    raise self._unknown_outcome(path, problem) from None
            else:
                problem = f"HTTP {reply.status_code}"
                if reply.status_code == 200:
                    try:
                        envelope = reply.json()
                        code = int(envelope["code"])
                    except (ValueError, KeyError, TypeError):
                        if creates:
                            raise self._unknown_outcome(
                                path, "an answer that is not JSON"
                            ) from None
                        problem = "an answer that is not JSON"
                    else:
                        message = self._redact(str(envelope.get("msg") or ""))
                        if code in BUSY | SERVER_BUSY and not last:
                            logger.info("RunningHub busy (%s), retrying", code)
                            await asyncio.sleep(self._busy_backoff * 2**attempt)
                            continue
                        return code, message, envelope.get("data")
                elif creates and reply.status_code not in _NOT_HANDLED_HTTP:
                    raise self._unknown_outcome(path, problem)
            if last:
                raise BackendUnavailableError(
                    f"RunningHub at {redact_url(self._config.base_url)} is unavailable "
                    f"({path}: {problem}, {attempts} attempts)"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    def _unknown_outcome(self, path: str, problem: str) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"RunningHub {path} failed with {problem} after the request was sent; the task "
            "may exist, so it is not created again (look at your RunningHub task list)"
        )

    def _error(self, code: int, message: str) -> ComfygenError:
        """The exception for a business code that is not a success or a still-running."""
        text = message or "no message"
        if code in HINTS:
            text += f" ({HINTS[code]})"
        if code in BUSY:
            return QueueFullError(
                code, text + f"; still full after {self._config.retry_count} retries"
            )
        if code in BALANCE:
            return InsufficientBalanceError(code, text)
        if code in AUTH:
            return AuthenticationError(code, text)
        if code == 803:
            return InvalidNodeInfoError(code, text)
        return RunningHubError(code, text)

    # -- uploads and files -------------------------------------------------------------

    async def upload(self, data: bytes, *, suffix: str | None = None) -> str:
        """Upload bytes; return RunningHub's file name (`api/<hash>.<ext>`). Once per content."""
        return await self._upload_once(upload_for(data, suffix))

    async def _upload(self, upload: Upload) -> str:
        file_type = PurePosixPath(upload.name).suffix.lstrip(".") or "bin"
        code, message, data = await self._call(
            "/task/openapi/upload",
            {"fileType": file_type},
            files={"file": (upload.name, upload.data, upload.content_type)},
        )
        if code != OK or not isinstance(data, dict) or not data.get("fileName"):
            raise self._error(code, message or "upload failed")
        return str(data["fileName"])

    async def stream_file(self, ref: File) -> AsyncIterator[bytes]:
        """Stream an output file from its (signed, expiring) URL."""
        async with self._client().stream("GET", ref.url, follow_redirects=True) as reply:
            if reply.status_code != 200:
                raise ComfygenError(
                    f"cannot download {ref.filename!r} from RunningHub: HTTP {reply.status_code}"
                )
            async for chunk in reply.aiter_bytes():
                yield chunk

    async def _resolve_media(self, spec: WorkflowSpec, values: dict[str, Any]) -> None:
        """Upload media values; http(s) URLs go to RunningHub as they are (it fetches them,
        and they are the way to pass files above its 30 MB upload limit)."""
        for name, source in (await media_sources(spec.params, values)).items():
            if not isinstance(source, str):
                values[name] = await self._upload_once(source)

    # -- account and workflows ---------------------------------------------------------

    async def account_status(self) -> dict[str, Any]:
        """Remaining coins and money, tasks running now, key type (as RunningHub reports)."""
        code, message, data = await self._call("/uc/openapi/accountStatus", key_field="apikey")
        if code != OK:
            raise self._error(code, message)
        return dict(data) if isinstance(data, dict) else {"status": data}

    async def workflow_json(self, workflow_id: str) -> dict[str, Any]:
        """The workflow's API-format graph, titles included (what `comfygen build rh:ID` uses)."""
        code, message, data = await self._call(
            "/api/openapi/getJsonApiFormat", {"workflowId": workflow_id}
        )
        if code != OK:
            raise self._error(code, message)
        prompt = data.get("prompt") if isinstance(data, dict) else None
        graph = json.loads(prompt) if isinstance(prompt, str) else prompt
        if not isinstance(graph, dict):
            raise RunningHubError(code, f"workflow {workflow_id} came back without a graph")
        return graph

    async def cancel(self, task_id: str) -> None:
        """Cancel a task (best effort, bounded)."""
        with contextlib.suppress(ComfygenError, httpx.HTTPError, asyncio.TimeoutError):
            await asyncio.wait_for(self._call("/task/openapi/cancel", {"taskId": task_id}), 10)

    # -- running -----------------------------------------------------------------------

    async def run(
        self,
        spec: WorkflowSpec,
        values: Mapping[str, Any],
        result_type: type[ResultT],
        *,
        on_event: EventHandler | None = None,
        timeout: float | None = None,
    ) -> ResultT:
        """Upload media, create the task, poll it to completion, return the typed result."""
        if spec.runninghub_id is None:
            raise ParameterError(
                f"workflow {spec.name!r} has no RunningHub workflow id, so it cannot run on "
                "RunningHub: build it from 'rh:<id>', or attach the id with "
                "`comfygen build --runninghub-id FILE=ID` or [tool.comfygen.runninghub] in "
                "pyproject.toml"
            )
        limit = timeout if timeout is not None else self._config.timeout
        task: dict[str, str] = {}
        try:
            return await asyncio.wait_for(
                self._run(spec, dict(values), result_type, on_event, task), limit
            )
        except asyncio.TimeoutError:
            raise WorkflowTimeoutError(
                f"workflow {spec.name!r} did not finish on RunningHub within {limit} s"
                + (f" (task {task['id']}); it was cancelled" if task else "")
            ) from None

    async def _run(
        self,
        spec: WorkflowSpec,
        values: dict[str, Any],
        result_type: type[ResultT],
        on_event: EventHandler | None,
        task: dict[str, str],
    ) -> ResultT:
        await self._resolve_media(spec, values)
        node_info = _node_info(spec, values)
        seeds: dict[str, int] = {}
        if self._randomize_seeds:
            for (node_id, name), seed in pick_seeds(apply_params(spec, values)).items():
                node_info = [
                    e for e in node_info if (e["nodeId"], e["fieldName"]) != (node_id, name)
                ]
                node_info.append({"nodeId": node_id, "fieldName": name, "fieldValue": seed})
                seeds[node_id] = seed
        body: dict[str, Any] = {"workflowId": spec.runninghub_id, "nodeInfoList": node_info}
        if self._config.instance_type:
            body["instanceType"] = self._config.instance_type
        if self._webhook_url:
            body["webhookUrl"] = self._webhook_url
        # The create is shielded: cancelled while it is in flight, the call still learns
        # the task id (within a few seconds) and cancels that task.
        creating = asyncio.ensure_future(self._call("/task/openapi/create", body, creates=True))
        try:
            code, message, data = await asyncio.shield(creating)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                done, _ = await asyncio.wait({creating}, timeout=10)
                _, _, created = creating.result() if creating in done else (0, "", None)
                if isinstance(created, dict) and created.get("taskId"):
                    await self.cancel(str(created["taskId"]))
            raise
        if code == VALIDATION_FAILED:
            raise _validation(spec, message, data)
        if code != OK or not isinstance(data, dict) or data.get("taskId") in (None, ""):
            raise self._error(code, message)
        task_id = task["id"] = str(data["taskId"])
        settled = False
        try:
            tips = _json_object(data.get("promptTips"))
            if tips.get("node_errors"):
                raise validation_error(spec, tips["node_errors"], {"promptTips": tips})
            await emit(Event("queued", task_id), on_event)
            outputs = await self._poll(task_id, on_event)
            settled = True
            return await self._result(spec, result_type, task_id, outputs, seeds)
        except BaseException:
            if not settled:
                await asyncio.shield(self.cancel(task_id))
            raise

    async def _poll(self, task_id: str, on_event: EventHandler | None) -> list[dict[str, Any]]:
        delay = 0.5
        started = False
        while True:
            code, message, data = await self._call("/task/openapi/outputs", {"taskId": task_id})
            if code == OK and isinstance(data, list):
                await emit(Event("finished", task_id), on_event)
                return [item for item in data if isinstance(item, dict)]
            if code == RUNNING and not started:
                started = True
                await emit(Event("started", task_id), on_event)
            elif code == FAILED:
                reason = data.get("failedReason") if isinstance(data, dict) else None
                if isinstance(reason, dict):
                    raise execution_error(task_id, reason)
                raise RunningHubError(code, message or "the task failed")
            elif code == TASK_NOT_FOUND:
                raise JobLostError(task_id, f"RunningHub does not know the task ({message})")
            elif code not in (RUNNING, QUEUED):
                raise self._error(code, message)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._max_poll_interval)

    async def _result(
        self,
        spec: WorkflowSpec,
        result_type: type[ResultT],
        task_id: str,
        items: list[dict[str, Any]],
        seeds: dict[str, int],
    ) -> ResultT:
        records: dict[str, dict[str, Any]] = {}
        for item in items:
            url = str(item.get("fileUrl") or "")
            name = PurePosixPath(urlsplit(url).path).name or f"output.{item.get('fileType')}"
            record = records.setdefault(str(item.get("nodeId")), {"files": [], "text": []})
            record["files"].append({"filename": name, "url": url, "raw": item})
            if str(item.get("fileType", "")).lower() == "txt":
                record["text"].append(await self._read_text(url))
        usage = {
            key: items[0][key]
            for key in ("taskCostTime", "consumeCoins", "consumeMoney", "thirdPartyConsumeMoney")
            if items and key in items[0]
        }
        try:
            duration: float | None = float(usage["taskCostTime"])
        except (KeyError, TypeError, ValueError):
            duration = None
        fields = map_outputs(spec, records, self.file_ref)
        return result_type.model_validate(
            {"prompt_id": task_id, "outputs": records, "duration": duration, "usage": usage,
             "seeds": seeds, **fields}
        )  # fmt: skip

    async def _read_text(self, url: str) -> str:
        reply = await self._client().get(url, follow_redirects=True)
        if reply.status_code != 200:
            raise ComfygenError(
                f"cannot read a text output from RunningHub: HTTP {reply.status_code}"
            )
        return reply.content.decode("utf-8", "replace")

    def file_ref(self, cls: type[File], node_id: str, record: Mapping[str, Any]) -> File:
        """A reference to an output file described by a raw output record."""
        ref = cls(node_id=node_id, filename=str(record["filename"]), url=str(record["url"]))
        ref._source = self
        return ref


def _node_info(spec: WorkflowSpec, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Only the inputs this call sets: required and media parameters, and values that
    differ from the workflow's own (RunningHub keeps its stored values for the rest)."""
    entries = []
    for param in spec.params:
        value = values.get(param.name)
        if value is None:  # not passed: RunningHub keeps the workflow's own values
            continue
        for target in param.targets:
            current = spec.graph.get(target.node_id, {}).get("inputs", {}).get(target.input)
            if param.required or param.media or value != current:
                entries.append(
                    {"nodeId": target.node_id, "fieldName": target.input, "fieldValue": value}
                )
    return entries


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _validation(spec: WorkflowSpec, message: str, data: Any) -> ComfygenError:
    tips = _json_object(data.get("promptTips") if isinstance(data, dict) else data)
    if tips.get("node_errors"):
        return validation_error(spec, tips["node_errors"], {"promptTips": tips})
    return RunningHubError(VALIDATION_FAILED, message or "the workflow failed validation")
