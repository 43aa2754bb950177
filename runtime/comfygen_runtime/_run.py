"""The single entry point that generated functions (and the dynamic API) call."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from ._backend import Backend
from ._errors import BackendUnavailableError
from ._events import EventHandler
from ._result import WorkflowResult
from ._spec import WorkflowSpec

ResultT = TypeVar("ResultT", bound=WorkflowResult)


async def run_workflow(
    spec: WorkflowSpec,
    params: BaseModel,
    result_type: type[ResultT],
    *,
    client: Backend | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
) -> ResultT:
    """Run `spec` with validated `params` on `client` and return a `result_type`."""
    if client is None:
        raise BackendUnavailableError(
            "no backend was given: pass client=... (this version of comfygen-runtime "
            "has no built-in backend yet)"
        )
    values: dict[str, Any] = {name: getattr(params, name) for name in type(params).model_fields}
    result = await client.run(spec, values, result_type, on_event=on_event, timeout=timeout)
    if not isinstance(result, result_type):
        raise TypeError(
            f"backend {type(client).__name__} returned {type(result).__name__}, "
            f"expected {result_type.__name__}"
        )
    return result
