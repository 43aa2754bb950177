"""Server failure reports -> the runtime's errors, shared by every backend (ComfyUI's own
answers and RunningHub's, which relays ComfyUI's), and RunningHub's business codes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from ._errors import (
    AuthenticationError,
    ComfygenError,
    ExecutionError,
    InputError,
    InsufficientBalanceError,
    InvalidNodeInfoError,
    MissingNodeError,
    PromptRejectedError,
    QueueFullError,
    RunningHubError,
    WorkflowValidationError,
)
from ._spec import WorkflowSpec

__all__ = [
    "execution_error",
    "json_object",
    "rejection",
    "runninghub_error",
    "runninghub_validation",
    "validation_error",
]

# RunningHub business codes
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


def validation_error(
    spec: WorkflowSpec, node_errors: Mapping[str, Any], body: dict[str, Any]
) -> WorkflowValidationError:
    """ComfyUI's `node_errors`, each input error named with the parameters that set it."""
    bound: dict[tuple[str, str], list[str]] = {}
    for param in spec.params:
        for target in param.targets:
            bound.setdefault((target.node_id, target.input), []).append(param.name)
    errors = []
    for node_id, entry in node_errors.items():
        entry = entry if isinstance(entry, Mapping) else {}
        for item in entry.get("errors", []):
            input_name = (item.get("extra_info") or {}).get("input_name")
            errors.append(
                InputError(
                    node_id=str(node_id),
                    class_type=str(entry.get("class_type", "")),
                    input=input_name,
                    type=str(item.get("type", "")),
                    message=str(item.get("message", "")),
                    details=str(item.get("details", "")),
                    params=tuple(bound.get((str(node_id), str(input_name)), ())),
                )
            )
    return WorkflowValidationError(errors, body=body)


def execution_error(job_id: str, data: Mapping[str, Any]) -> ExecutionError:
    """A node's failure as ComfyUI reports it (`execution_error`, RunningHub `failedReason`)."""
    trace = data.get("traceback") or []
    if isinstance(trace, str):
        try:
            trace = json.loads(trace)
        except ValueError:
            trace = [trace]
    return ExecutionError(
        prompt_id=job_id,
        node_id=str(data.get("node_id")),
        node_type=str(data.get("node_type") or data.get("node_name") or ""),
        exception_type=str(data.get("exception_type", "")),
        exception_message=str(data.get("exception_message", "")),
        traceback=[str(line) for line in trace] if isinstance(trace, list) else [str(trace)],
    )


def rejection(spec: WorkflowSpec, status: int, body: Any) -> PromptRejectedError:
    """Turn a 400 answer into the right error, naming the parameters involved."""
    if not isinstance(body, dict):
        return PromptRejectedError(f"the server rejected the workflow: HTTP {status}")
    error = body.get("error") or {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    if error.get("type") == "missing_node_type":
        info = error.get("extra_info") or {}
        return MissingNodeError(
            f"{error.get('message', 'a node class is missing')} (node {info.get('node_id')}, "
            f"class {info.get('class_type')!r}): install the custom node on the server",
            node_id=str(info.get("node_id")),
            class_type=str(info.get("class_type")),
            body=body,
        )
    node_errors = body.get("node_errors") or {}
    if node_errors:
        return validation_error(spec, node_errors, body)
    message = error.get("message") or "the server rejected the workflow"
    details = f": {error['details']}" if error.get("details") else ""
    return PromptRejectedError(f"{message}{details} ({error.get('type', 'unknown')})", body=body)


def runninghub_error(retries: int, code: int, message: str) -> ComfygenError:
    """The exception for a RunningHub business code that is neither success nor waiting."""
    text = message or "no message"
    if code in HINTS:
        text += f" ({HINTS[code]})"
    if code in BUSY:
        return QueueFullError(code, text + f"; still full after {retries} retries")
    if code in BALANCE:
        return InsufficientBalanceError(code, text)
    if code in AUTH:
        return AuthenticationError(code, text)
    if code == 803:
        return InvalidNodeInfoError(code, text)
    return RunningHubError(code, text)


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object given as one or as its text (RunningHub sends both); else {}."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return value if isinstance(value, dict) else {}


def runninghub_validation(spec: WorkflowSpec, message: str, data: Any) -> ComfygenError:
    """RunningHub's 433: the `promptTips` node errors, mapped to parameters."""
    tips = json_object(data.get("promptTips") if isinstance(data, dict) else data)
    if tips.get("node_errors"):
        return validation_error(spec, tips["node_errors"], {"promptTips": tips})
    return RunningHubError(VALIDATION_FAILED, message or "the workflow failed validation")
