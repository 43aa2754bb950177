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
  outputs (`0`), failed (`805`, with `failedReason`) or vanished (`807`). While it is
  followed, RunningHub may fail to answer for `unavailable_after` seconds (gateway errors
  come and go); after that the run fails with `BackendUnavailableError` naming the task,
  which is left running (it is paid for: attach to it later), not cancelled.
- A run waits as long as its task runs unless a timeout is set (the call's `timeout`,
  or `timeout=` / `RUNNINGHUB_TIMEOUT` for the client). Cancelling the awaiting task
  cancels the remote task; so does a timeout, unless `cancel_on_timeout=False`.
- RunningHub chooses task ids, so an idempotency key can only be remembered: this
  client maps the job ids derived from keys to the task ids it created, with the
  fingerprints of their requests (the last 10,000). A second run with a key on the same
  client finds the task; another client, another process or a restart does not, and
  creates a new task. A task id itself can be attached to from anywhere
  (`attach(fn, prompt_id=task_id, client=hub)`).
- A server never reached fails at once with the cause (refused, name not resolved,
  TLS, timeout); retries apply once RunningHub has answered. One that answers without
  RunningHub's JSON envelope (a web page, HTTP 404 or 405: a mistyped base URL) before
  it was ever seen is named as not RunningHub (RunningHub answers every path, even an
  unknown one, with the envelope).
- The API key travels in request bodies only; it is never in a repr, log or message.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, stop_never, wait_exponential

from ._apply import apply_params
from ._backend import Prepared, Settled, Ticket
from ._config import RunningHubConfig, redact_url
from ._errors import (
    BackendUnavailableError,
    ComfygenError,
    JobLostError,
    ParameterError,
    RunningHubError,
)
from ._events import Event, Events
from ._failures import (
    BUSY,
    FAILED,
    OK,
    QUEUED,
    RUNNING,
    SERVER_BUSY,
    TASK_NOT_FOUND,
    VALIDATION_FAILED,
    execution_error,
    json_object,
    runninghub_error,
    runninghub_validation,
    validation_error,
)
from ._loop import PerLoop
from ._media import Upload, UploadOnce, media_sources, upload_for
from ._net import Transient, describe_failure, retry
from ._outputs import File
from ._seeds import pick_seeds
from ._spec import WorkflowSpec

__all__ = ["RunningHub"]

logger = logging.getLogger("comfygen_runtime")

# Answers that say the request was turned away before anything was done with it. A 502 or
# 504 does not: the gateway gave up, but the upstream may have created the task.
_NOT_HANDLED_HTTP = {429, 503}
_REMEMBERED = 10_000  # job ids (from idempotency keys) -> task ids kept per client


class _Busy(Transient):
    """A business code saying no instance or queue slot was free: try again later."""

    def __init__(self, code: int, message: str, data: Any) -> None:
        super().__init__(f"busy ({code})")
        self.code, self.message, self.data = code, message, data


class _Connection:
    """A client's state in one event loop: its HTTP pool and uploads."""

    def __init__(self, hub: RunningHub) -> None:
        self.http = httpx.AsyncClient(
            base_url=hub._config.base_url,
            timeout=httpx.Timeout(hub._request_timeout, connect=hub._connect_timeout),
        )
        self.uploads = UploadOnce(hub._upload)

    async def aclose(self) -> None:
        await self.http.aclose()


class RunningHub:
    """A RunningHub account. Share one per application; it deduplicates uploads.

    Configuration: arguments, then `RUNNINGHUB_API_KEY`, `RUNNINGHUB_BASE_URL`,
    `RUNNINGHUB_TIMEOUT` (seconds a run may take when the call sets none; unset: as long
    as the task runs), `RUNNINGHUB_RETRY_COUNT`, `RUNNINGHUB_INSTANCE_TYPE` (e.g. "plus"
    for 48 GB), then defaults (`https://www.runninghub.ai`; `.cn` works the same way).
    `cancel_on_timeout=False` leaves a timed-out task running (it is paid for): the
    `WorkflowTimeoutError` carries its task id, to attach to it later.
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
        connect_timeout: float = 5.0,
        busy_backoff: float = 5.0,
        max_poll_interval: float = 5.0,
        unavailable_after: float = 60.0,
        randomize_seeds: bool = False,
        cancel_on_timeout: bool = True,
    ) -> None:
        self._config = RunningHubConfig.resolve(
            api_key, base_url, timeout, retry_count, instance_type
        )
        self._webhook_url = webhook_url
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._busy_backoff = busy_backoff
        self._max_poll_interval = max_poll_interval
        self._unavailable_after = unavailable_after
        self._randomize_seeds = randomize_seeds
        self.cancel_on_timeout = cancel_on_timeout
        self._seen = False
        self._closed = False
        # job ids (from idempotency keys) -> (task id, fingerprint of its request)
        self._tasks: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self._loops: PerLoop[_Connection] = PerLoop(lambda: _Connection(self))

    def __repr__(self) -> str:
        return f"RunningHub({redact_url(self._config.base_url)!r})"

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def default_timeout(self) -> float | None:
        return self._config.timeout

    async def __aenter__(self) -> RunningHub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        await self._loops.close()

    # -- the envelope ----------------------------------------------------------------

    def _connection(self) -> _Connection:
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        return self._loops.get()

    def _redact(self, text: str) -> str:
        return text.replace(self._config.api_key.reveal(), "***")

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _Busy):
            logger.info("RunningHub busy (%s), retrying", failure.code)
            return float(self._busy_backoff * 2 ** (state.attempt_number - 1))
        return float(wait_exponential(multiplier=0.5, max=self._max_poll_interval)(state))

    async def _call(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        creates: bool = False,
        files: Mapping[str, Any] | None = None,
        key_field: str = "apiKey",
        patience: float | None = None,
    ) -> tuple[int, str, Any]:
        """POST to an endpoint; return its (code, msg, data) once the transport is sound.

        `creates`: the request creates a task, so only failures that prove nothing was
        created are retried (see the module docstring). Transient failures are retried
        `retry_count` times, or for `patience` seconds when it is given.
        """
        http = self._connection().http
        where = redact_url(self._config.base_url)
        attempts = self._config.retry_count + 1

        async def attempt() -> tuple[int, str, Any]:
            payload = {**(body or {}), key_field: self._config.api_key.reveal()}
            try:
                if files is not None:
                    data = {k: str(v) for k, v in payload.items()}
                    reply = await http.post(path, data=data, files=files)
                else:
                    reply = await http.post(path, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                if not self._seen:  # never reached: no patience, say why at once
                    raise BackendUnavailableError(
                        f"cannot reach RunningHub at {where}: {describe_failure(error)}"
                    ) from None
                raise Transient(describe_failure(error)) from None
            except httpx.TransportError as error:
                if creates:
                    raise self._unknown_outcome(path, describe_failure(error)) from None
                raise Transient(describe_failure(error)) from None
            problem = f"HTTP {reply.status_code}"
            if reply.status_code == 200:
                try:
                    envelope = reply.json()
                    code = int(envelope["code"])
                except (ValueError, KeyError, TypeError):
                    if not self._seen:
                        raise self._not_runninghub(
                            path, "HTTP 200 without RunningHub's JSON"
                        ) from None
                    if creates:
                        raise self._unknown_outcome(path, "an answer that is not JSON") from None
                    raise Transient("an answer that is not JSON") from None
                self._seen = True
                message = self._redact(str(envelope.get("msg") or ""))
                if code in BUSY | SERVER_BUSY:
                    raise _Busy(code, message, envelope.get("data"))
                return code, message, envelope.get("data")
            if not self._seen and reply.status_code < 500 and reply.status_code != 429:
                raise self._not_runninghub(path, problem)  # it answers 200 with its envelope
            if creates and reply.status_code not in _NOT_HANDLED_HTTP:
                raise self._unknown_outcome(path, problem)
            raise Transient(problem)

        try:
            if patience is not None:
                return await retry(attempt, patience=patience, wait=self._wait)
            return await retry(attempt, attempts=attempts, wait=self._wait)
        except _Busy as busy:  # still busy after the retries: the caller raises its error
            return busy.code, busy.message, busy.data
        except Transient as failure:
            tried = f"{attempts} attempts" if patience is None else f"for {patience} s"
            raise BackendUnavailableError(
                f"RunningHub at {where} is unavailable ({path}: {failure.problem}, {tried})"
            ) from None

    def _not_runninghub(self, path: str, answer: str) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"{redact_url(self._config.base_url)} does not look like RunningHub: POST {path} "
            f"answered {answer} (check the base URL, e.g. https://www.runninghub.ai)"
        )

    def _unknown_outcome(self, path: str, problem: str) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"RunningHub {path} failed with {problem} after the request was sent; the task "
            "may exist, so it is not created again (look at your RunningHub task list)"
        )

    # -- uploads and files -------------------------------------------------------------

    async def upload(self, data: bytes, *, suffix: str | None = None) -> str:
        """Upload bytes; return RunningHub's file name (`api/<hash>.<ext>`). Once per content."""
        return await self._connection().uploads(upload_for(data, suffix))

    async def _upload(self, upload: Upload) -> str:
        file_type = PurePosixPath(upload.name).suffix.lstrip(".") or "bin"
        code, message, data = await self._call(
            "/task/openapi/upload",
            {"fileType": file_type},
            files={"file": (upload.name, upload.data, upload.content_type)},
        )
        if code != OK or not isinstance(data, dict) or not data.get("fileName"):
            raise runninghub_error(self._config.retry_count, code, message or "upload failed")
        return str(data["fileName"])

    async def stream_file(self, ref: File) -> AsyncGenerator[bytes, None]:
        """Stream an output file from its (signed, expiring) URL."""
        http = self._connection().http
        async with http.stream("GET", ref.url, follow_redirects=True) as reply:
            if reply.status_code != 200:
                raise ComfygenError(
                    f"cannot download {ref.filename!r} from RunningHub: HTTP {reply.status_code}"
                )
            async for chunk in reply.aiter_bytes():
                yield chunk

    # -- account and workflows ---------------------------------------------------------

    async def account_status(self) -> dict[str, Any]:
        """Remaining coins and money, tasks running now, key type (as RunningHub reports)."""
        code, message, data = await self._call("/uc/openapi/accountStatus", key_field="apikey")
        if code != OK:
            raise runninghub_error(self._config.retry_count, code, message)
        return dict(data) if isinstance(data, dict) else {"status": data}

    async def workflow_json(self, workflow_id: str) -> dict[str, Any]:
        """The workflow's API-format graph, titles included (what `comfygen build rh:ID` uses)."""
        code, message, data = await self._call(
            "/api/openapi/getJsonApiFormat", {"workflowId": workflow_id}
        )
        if code != OK:
            raise runninghub_error(self._config.retry_count, code, message)
        prompt = data.get("prompt") if isinstance(data, dict) else None
        graph = json.loads(prompt) if isinstance(prompt, str) else prompt
        if not isinstance(graph, dict):
            raise RunningHubError(code, f"workflow {workflow_id} came back without a graph")
        return graph

    # -- the job steps (see _backend.Backend) ------------------------------------------

    def _task_id(self, job_id: str) -> str | None:
        """The task a job id stands for: a remembered key's task, or a task id itself."""
        remembered = self._tasks.get(job_id)
        if remembered is not None:
            return remembered[0]
        return job_id if job_id.isdigit() else None

    async def lookup(self, spec: WorkflowSpec, job_id: str) -> Ticket | None:
        task_id = self._task_id(job_id)
        if task_id is None:
            return None
        code, message, data = await self._call("/task/openapi/outputs", {"taskId": task_id})
        ticket = Ticket(task_id, self.base_url, fingerprint=self._tasks.get(job_id, ("", None))[1])
        if code == OK and isinstance(data, list):
            ticket.state, ticket.record = "done", {"code": code, "data": data}
        elif code == FAILED:
            ticket.state, ticket.record = "failed", {"code": code, "msg": message, "data": data}
        elif code == RUNNING:
            ticket.state = "running"
        elif code == QUEUED:
            ticket.state = "pending"
        elif code == TASK_NOT_FOUND:
            return None
        else:
            raise runninghub_error(self._config.retry_count, code, message)
        return ticket

    async def forget(self, ticket: Ticket) -> None:
        """Nothing to drop: a task submitted again is a new task, with an id of its own."""

    async def prepare(self, spec: WorkflowSpec, values: dict[str, Any]) -> Prepared:
        """Upload media values; http(s) URLs go to RunningHub as they are (it fetches them,
        and they are the way to pass files above its 30 MB upload limit)."""
        if spec.runninghub_id is None:
            raise ParameterError(
                f"workflow {spec.name!r} has no RunningHub workflow id, so it cannot run on "
                "RunningHub: build it from 'rh:<id>', or attach the id with "
                "`comfygen build --runninghub-id FILE=ID` or [tool.comfygen.runninghub] in "
                "pyproject.toml"
            )
        connection = self._connection()
        for name, source in (await media_sources(spec.params, values)).items():
            if not isinstance(source, str):
                values[name] = await connection.uploads(source)
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
        return Prepared(body, seeds)

    async def submit(self, spec: WorkflowSpec, prepared: Prepared, *, job_id: str) -> Ticket:
        code, message, data = await self._call(
            "/task/openapi/create", prepared.payload, creates=True
        )
        if code == VALIDATION_FAILED:
            raise runninghub_validation(spec, message, data)
        if code != OK or not isinstance(data, dict) or data.get("taskId") in (None, ""):
            raise runninghub_error(self._config.retry_count, code, message)
        task_id = str(data["taskId"])
        self._tasks[job_id] = (task_id, prepared.fingerprint)
        self._tasks.move_to_end(job_id)
        while len(self._tasks) > _REMEMBERED:
            self._tasks.popitem(last=False)
        ticket = Ticket(
            task_id, self.base_url, seeds=dict(prepared.seeds), fingerprint=prepared.fingerprint
        )
        tips = json_object(data.get("promptTips"))
        if tips.get("node_errors"):
            await self.cancel(ticket)  # created, but it cannot run: do not pay for it
            raise validation_error(spec, tips["node_errors"], {"promptTips": tips})
        return ticket

    async def follow(self, spec: WorkflowSpec, ticket: Ticket, events: Events) -> Any:
        await events(Event("queued", ticket.job_id))
        started = False

        async def poll() -> dict[str, Any]:
            nonlocal started
            code, message, data = await self._call(
                "/task/openapi/outputs", {"taskId": ticket.job_id}, patience=self._unavailable_after
            )
            if (code == OK and isinstance(data, list)) or code == FAILED:
                return {"code": code, "msg": message, "data": data}
            if code == RUNNING and not started:
                started = True
                await events(Event("started", ticket.job_id))
            if code == TASK_NOT_FOUND:
                raise JobLostError(ticket.job_id, f"RunningHub does not know the task ({message})")
            if code not in (RUNNING, QUEUED):
                raise runninghub_error(self._config.retry_count, code, message)
            raise Transient("still running")

        waiting = wait_exponential(multiplier=0.5, exp_base=1.5, max=self._max_poll_interval)
        return await retry(poll, stop=stop_never, wait=waiting)

    async def settle(self, spec: WorkflowSpec, ticket: Ticket, record: Any) -> Settled:
        code, data = record["code"], record["data"]
        if code == FAILED:
            reason = data.get("failedReason") if isinstance(data, dict) else None
            if isinstance(reason, dict):
                raise execution_error(ticket.job_id, reason)
            raise RunningHubError(code, record.get("msg") or "the task failed")
        items = [item for item in data if isinstance(item, dict)]
        records: dict[str, dict[str, Any]] = {}
        for item in items:
            url = str(item.get("fileUrl") or "")
            name = PurePosixPath(urlsplit(url).path).name or f"output.{item.get('fileType')}"
            entry = records.setdefault(str(item.get("nodeId")), {"files": [], "text": []})
            entry["files"].append({"filename": name, "url": url, "raw": item})
            if str(item.get("fileType", "")).lower() == "txt":
                entry["text"].append(await self._read_text(url))
        usage = {
            key: items[0][key]
            for key in ("taskCostTime", "consumeCoins", "consumeMoney", "thirdPartyConsumeMoney")
            if items and key in items[0]
        }
        try:
            duration: float | None = float(usage["taskCostTime"])
        except (KeyError, TypeError, ValueError):
            duration = None
        return Settled(outputs=records, duration=duration, usage=usage)

    async def cancel(self, ticket: Ticket) -> bool:
        """Cancel a task; True when RunningHub confirmed it."""
        task_id = self._task_id(ticket.job_id)
        if task_id is None:
            return False  # the create never answered: no known task to cancel
        try:
            code, _, _ = await self._call("/task/openapi/cancel", {"taskId": task_id})
        except (ComfygenError, httpx.HTTPError):
            return False
        return code == OK

    async def _read_text(self, url: str) -> str:
        reply = await self._connection().http.get(url, follow_redirects=True)
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
