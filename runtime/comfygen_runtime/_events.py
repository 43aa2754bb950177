"""Progress events delivered while a workflow runs.

Two ways to receive them: the `on_event=` argument of every generated function (a sync
or async callback), or `watch()`, which turns any run into an async iterator::

    stream = watch(generate_cover(prompt="a cat"))
    async for event in stream:
        print(event.kind, event.node, event.value, event.max)
    result = await stream
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeAlias, TypeVar

EventKind = Literal[
    "queued",  # accepted by the server; `position` = jobs ahead of it
    "started",  # execution began
    "cached",  # `nodes` were reused from the cache and will not run
    "executing",  # `node` started
    "progress",  # `node` reports `value` of `max` (sampler steps, batch items)
    "preview",  # a preview `image` (bytes, `image_format` "jpeg"/"png") of `node`
    "text",  # `text` sent by `node` while running
    "output",  # `node` finished with `output` (the raw output record)
    "finished",  # the job is done (successfully or not)
]


@dataclass(frozen=True)
class Event:
    """One progress event of a job."""

    kind: EventKind
    prompt_id: str
    node: str | None = None
    value: float | None = None
    max: float | None = None
    position: int | None = None
    nodes: tuple[str, ...] = ()
    output: Mapping[str, Any] | None = None
    image: bytes | None = field(default=None, repr=False)
    image_format: str | None = None
    text: str | None = None


EventHandler: TypeAlias = Callable[[Event], Awaitable[None] | None]
"""A callback that receives every event of a run; it may be sync or async."""

_watchers: contextvars.ContextVar[tuple[EventHandler, ...]] = contextvars.ContextVar(
    "comfygen_watchers", default=()
)


def has_listeners() -> bool:
    """Whether a `watch()` surrounds the current run."""
    return bool(_watchers.get())


async def emit(event: Event, on_event: EventHandler | None) -> None:
    """Deliver `event` to the call's callback and to every `watch()` around the call."""
    handlers = _watchers.get()
    for handler in (on_event, *handlers) if on_event is not None else handlers:
        outcome = handler(event)
        if inspect.isawaitable(outcome):
            await outcome


T = TypeVar("T")


class watch(Generic[T]):  # lower case: used like a function
    """Iterate over the events of a run, then await it for its result."""

    def __init__(self, run: Awaitable[T]) -> None:
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._task: asyncio.Task[T] = asyncio.ensure_future(self._run(run))

    async def _run(self, run: Awaitable[T]) -> T:
        # The task runs in its own copy of the context: the watcher is seen by this run only.
        _watchers.set((*_watchers.get(), self._events.put_nowait))
        try:
            return await run
        finally:
            self._events.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self._events.get()) is not None:
            yield event

    def __await__(self) -> Generator[Any, None, T]:
        return self._task.__await__()

    def cancel(self) -> None:
        """Cancel the run (and so the job on the server)."""
        self._task.cancel()
