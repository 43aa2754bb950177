"""The single entry point that generated functions (and the dynamic API) call."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel

from ._backend import Backend
from ._comfyui import ComfyUI
from ._events import EventHandler
from ._result import WorkflowResult
from ._spec import WorkflowSpec

ResultT = TypeVar("ResultT", bound=WorkflowResult)
T = TypeVar("T")

_default_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ComfyUI] = (
    weakref.WeakKeyDictionary()
)


def default_client() -> ComfyUI:
    """The ComfyUI client configured from the environment, one per event loop."""
    loop = asyncio.get_running_loop()
    client = _default_clients.get(loop)
    if client is None or client.closed:  # closed by the app: start a fresh one
        client = _default_clients[loop] = ComfyUI()
    return client


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
    backend: Backend = client if client is not None else default_client()
    values: dict[str, Any] = {name: getattr(params, name) for name in type(params).model_fields}
    result = await backend.run(spec, values, result_type, on_event=on_event, timeout=timeout)
    if not isinstance(result, result_type):
        raise TypeError(
            f"backend {type(backend).__name__} returned {type(result).__name__}, "
            f"expected {result_type.__name__}"
        )
    return result


def run_sync(run: Coroutine[Any, Any, T]) -> T:
    """Run a generated function from synchronous code: `run_sync(generate_cover(...))`.

    Starts an event loop for the call and closes the default client afterwards.
    """

    async def main() -> T:
        try:
            return await run
        finally:
            client = _default_clients.pop(asyncio.get_running_loop(), None)
            if client is not None:
                await client.close()

    return asyncio.run(main())
