"""Server failure reports -> the runtime's errors, shared by every backend (ComfyUI's own
answers and RunningHub's, which relays ComfyUI's)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._errors import ExecutionError, InputError, WorkflowValidationError
from ._spec import WorkflowSpec


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
