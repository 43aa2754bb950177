"""Progress events delivered while a workflow runs.

Two ways to receive them: the `on_event=` argument of every generated function (a sync
or async callback), or `watch()`, which turns any run into an async iterator::

    stream = watch(generate_cover(prompt="a cat"))
    async for event in stream:
        print(event.kind, event.node, event.value, event.max)
    result = await stream

Progress facts: `position` (on "queued") counts the jobs ahead of this one (0 on an idle
server); `nodes_done` of `nodes_total` counts the nodes this job runs (cached nodes are
not counted); `value` of `max` is the step progress of the running `node`; `fraction`
combines them into one number from 0 to 1.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeAlias, TypeVar

__all__ = ["Event", "EventHandler", "EventKind", "Events", "watch"]

EventKind = Literal[
    "queued",  # accepted by the server; `position` = jobs ahead of it (0: none)
    "started",  # execution began
    "cached",  # `nodes` were reused from the cache and will not run
    "executing",  # `node` started
    "progress",  # `node` reports `value` of `max` (sampler steps, batch items)
    "preview",  # a preview `image` (bytes, `image_format` "jpeg"/"png") of `node`
    "text",  # `text` sent by `node` while running
    "output",  # `node` finished with `output` (the raw output record)
    "resubmitted",  # a pool sent the job to `server` after its server lost it (`text`: why)
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
    nodes_done: int | None = None
    nodes_total: int | None = None
    server: str | None = None

    @property
    def fraction(self) -> float | None:
        """Overall progress from 0 to 1: nodes done, plus the running node's steps."""
        if not self.nodes_total:
            return None
        steps = 0.0
        if self.kind == "progress" and self.value is not None and self.max:
            steps = min(max(self.value / self.max, 0.0), 1.0)
        done = self.nodes_done or 0
        return min((done + steps) / self.nodes_total, 1.0)


EventHandler: TypeAlias = Callable[[Event], Awaitable[None] | None]
"""A callback that receives every event of a run; it may be sync or async."""

_watchers: contextvars.ContextVar[tuple[EventHandler, ...]] = contextvars.ContextVar(
    "comfygen_watchers", default=()
)


class Events:
    """Where a run's events go: the call's callback and every `watch()` around the call
    (as seen when the run began)."""

    def __init__(self, on_event: EventHandler | None = None) -> None:
        watchers = _watchers.get()
        self._handlers = (on_event, *watchers) if on_event is not None else watchers

    @property
    def listening(self) -> bool:
        """Whether anyone receives the events (facts that cost a request are skipped if not)."""
        return bool(self._handlers)

    async def __call__(self, event: Event) -> None:
        for handler in self._handlers:
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
