"""The entry points that generated functions (and the dynamic API) call, and their kin.

- `run_workflow`: what every generated function calls: one run, start to result.
- `workflow(spec, result_type)`: the decorator generated modules put on their function,
  so that `submit` and `attach` can find its spec and result class.
- `submit(fn, ...)`: call a generated function without waiting: a `JobHandle` once the
  job is accepted. `attach(fn, prompt_id=... | idempotency_key=...)`: a handle to a job
  submitted earlier, by this process or another one.
- `default_client()`: the ComfyUI client (or pool) configured from the environment, one
  per process.
- `run_sync(...)`: a generated function from synchronous code, on one background event
  loop per process (so it also works where a loop already runs, as in Jupyter).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

from ._backend import Backend
from ._comfyui import ComfyUI
from ._config import server_urls
from ._errors import JobLostError
from ._events import EventHandler, Events
from ._job import CANCEL_BOUND, Job, JobHandle, job_id_for
from ._pool import ComfyUIPool
from ._result import WorkflowResult
from ._spec import WorkflowSpec

__all__ = [
    "attach",
    "default_client",
    "run_sync",
    "run_workflow",
    "submit",
    "workflow",
]

ResultT = TypeVar("ResultT", bound=WorkflowResult)
T = TypeVar("T")
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])

# -- the default client --------------------------------------------------------------------

_ENVIRONMENT = ("COMFYUI_BASE_URL", "COMFYUI_API_KEY", "COMFYUI_COOKIES", "COMFY_ORG_API_KEY")
_default_clients: dict[tuple[str | None, ...], ComfyUI | ComfyUIPool] = {}
_default_lock = threading.Lock()


def default_client() -> ComfyUI | ComfyUIPool:
    """The client configured from the environment: one per process (and per
    configuration, should the environment change), usable from any event loop. A
    `ComfyUIPool` when `COMFYUI_BASE_URL` lists several servers (comma-separated)."""
    settings = tuple(os.environ.get(name) for name in _ENVIRONMENT)
    with _default_lock:
        client = _default_clients.get(settings)
        if client is None or client.closed:  # closed by the app: start a fresh one
            several = len(server_urls(settings[0])) > 1
            client = _default_clients[settings] = ComfyUIPool() if several else ComfyUI()
        return client


# -- running -------------------------------------------------------------------------------


class _Detached(Exception):
    """Raised through a generated function once `submit` has its handle."""


class _Detach:
    """`submit`'s request to the `run_workflow` call inside a generated function."""

    def __init__(self) -> None:
        self.handle: JobHandle[Any] | None = None


_detaching: contextvars.ContextVar[_Detach | None] = contextvars.ContextVar(
    "comfygen_detaching", default=None
)


async def run_workflow(
    spec: WorkflowSpec,
    params: BaseModel,
    result_type: type[ResultT],
    *,
    client: Backend | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
    idempotency_key: str | None = None,
) -> ResultT:
    """Run `spec` with validated `params` on `client` and return a `result_type`.

    With `idempotency_key`, the job's id is derived from the key (and the workflow): a
    job with that id that is queued, running or finished is followed or taken as it is
    instead of being submitted again (`IdempotencyConflictError` if it was submitted
    with other values).
    """
    backend: Backend = client if client is not None else default_client()
    values: dict[str, Any] = {name: getattr(params, name) for name in type(params).model_fields}
    job = Job(backend, spec, result_type, Events(on_event))
    detach = _detaching.get()
    if detach is not None:  # called through submit(): stop once the job is accepted
        _detaching.set(None)
        ticket = await job.start(values, key=idempotency_key)
        detach.handle = JobHandle(job, ticket)
        raise _Detached
    result = await job.run(values, key=idempotency_key, timeout=timeout)
    if not isinstance(result, result_type):
        raise TypeError(
            f"backend {type(backend).__name__} returned {type(result).__name__}, "
            f"expected {result_type.__name__}"
        )
    return result


# -- handles -------------------------------------------------------------------------------

_WORKFLOW = "__comfygen_workflow__"


def workflow(spec: WorkflowSpec, result_type: type[WorkflowResult]) -> Callable[[F], F]:
    """Mark a generated function with its spec and result class (returned unchanged)."""

    def mark(function: F) -> F:
        setattr(function, _WORKFLOW, (spec, result_type))
        return function

    return mark


def _workflow_of(function: Callable[..., Any]) -> tuple[WorkflowSpec, type[WorkflowResult]]:
    marked = getattr(function, _WORKFLOW, None)
    if marked is None:
        raise TypeError(
            f"{getattr(function, '__name__', function)!r} is not a generated workflow "
            "function (regenerate the module with a comfygen that marks it @workflow)"
        )
    spec, result_type = marked
    return spec, result_type


async def submit(
    fn: Callable[P, Awaitable[ResultT]], /, *args: P.args, **kwargs: P.kwargs
) -> JobHandle[ResultT]:
    """Call the generated function `fn` without waiting for its job.

    Returns once the server has accepted the job (parameters are validated, media
    uploaded, as for a normal call): `await handle.result()` gives `fn`'s result class.
    `fn`'s own `timeout=` bounds nothing here; use `handle.result(timeout=...)`. The job
    runs on even if nothing ever awaits its result: `handle.cancel()` cancels it.
    """
    _workflow_of(fn)
    detach = _Detach()
    token = _detaching.set(detach)
    try:
        await fn(*args, **kwargs)
    except _Detached:
        pass
    finally:
        _detaching.reset(token)
    if detach.handle is None:
        raise TypeError(f"{getattr(fn, '__name__', fn)!r} returned without running a workflow")
    handle: JobHandle[ResultT] = detach.handle
    return handle


async def attach(
    fn: Callable[..., Awaitable[ResultT]],
    *,
    prompt_id: str | None = None,
    idempotency_key: str | None = None,
    client: Backend | None = None,
) -> JobHandle[ResultT]:
    """A handle to a job of the generated function `fn` submitted earlier, in this
    process or another, found by its `prompt_id` or by the `idempotency_key` it was
    submitted with. Raises `JobLostError` when the server does not know the job."""
    if (prompt_id is None) == (idempotency_key is None):
        raise TypeError("attach() needs exactly one of prompt_id= and idempotency_key=")
    spec, result_type = _workflow_of(fn)
    backend: Backend = client if client is not None else default_client()
    job_id = prompt_id if prompt_id is not None else job_id_for(spec, str(idempotency_key))
    ticket = await backend.lookup(spec, job_id)
    if ticket is None:
        raise JobLostError(job_id, f"{backend!r} has no job with this id")
    job: Job[Any] = Job(backend, spec, result_type, Events())
    handle: JobHandle[ResultT] = JobHandle(job, ticket)
    return handle


# -- synchronous code ----------------------------------------------------------------------


class _BackgroundLoop:
    """One event loop in a daemon thread: `run_sync` calls share its clients and sockets."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="comfygen-run-sync", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        async def close_clients() -> None:
            for client in list(_default_clients.values()):
                if client.closed:
                    continue
                await client.close()

        if self.loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(close_clients(), self.loop)
            concurrent.futures.wait([closing], timeout=CANCEL_BOUND)
            self.loop.call_soon_threadsafe(self.loop.stop)


_background: _BackgroundLoop | None = None
_background_lock = threading.Lock()


def _background_loop() -> _BackgroundLoop:
    global _background
    with _background_lock:
        if _background is None or _background.pid != os.getpid():  # new, or forked
            _background = _BackgroundLoop()
            atexit.register(_background.stop)
        return _background


def run_sync(run: Coroutine[Any, Any, T]) -> T:
    """Run a generated function from synchronous code: `run_sync(generate_cover(...))`.

    It runs on one background event loop per process, so it works inside a running loop
    too (a Jupyter cell, a sync callback of an async framework), and every call shares
    the same clients: the default client keeps its one socket across calls. An
    interruption (Ctrl-C) cancels the run, and so its job on the server.
    """
    background = _background_loop()
    if threading.current_thread() is background.thread:
        run.close()
        raise RuntimeError(
            "run_sync() was called from inside a run_sync() run: await the coroutine instead"
        )
    future = asyncio.run_coroutine_threadsafe(run, background.loop)
    try:
        return future.result()
    except BaseException:
        if not future.done():
            future.cancel()  # cancels the run, which cancels its job (bounded)
            concurrent.futures.wait([future], timeout=CANCEL_BOUND + 1)
        raise
