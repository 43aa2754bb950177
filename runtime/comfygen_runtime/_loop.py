"""State that belongs to one event loop, created lazily for every loop that uses a client.

HTTP connection pools, websockets, tasks and asyncio primitives work only in the loop
that made them. A client keeps them here, one set per loop, so one client object serves
any number of loops: repeated `asyncio.run(...)` calls (sync UIs), `run_sync`'s
background loop, and an application's own loop, even at the same time from several
threads. The state of a loop that has been closed is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["LoopState", "PerLoop"]


class LoopState(Protocol):
    async def aclose(self) -> None: ...


S = TypeVar("S", bound=LoopState)


class PerLoop(Generic[S]):
    """One `S` per running event loop, made by `factory` on first use in that loop."""

    def __init__(self, factory: Callable[[], S]) -> None:
        self._factory = factory
        self._states: dict[asyncio.AbstractEventLoop, S] = {}
        self._lock = threading.Lock()

    def get(self) -> S:
        """The running loop's state (made now if this loop has none)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._states.get(loop)
            if state is None:
                for old in [old for old in self._states if old.is_closed()]:
                    del self._states[old]  # nothing can run in a closed loop any more
                state = self._states[loop] = self._factory()
            return state

    def current(self) -> S | None:
        """The running loop's state, if it has one (never makes one)."""
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            with self._lock:
                return self._states.get(loop)
        return None

    def all(self) -> list[S]:
        with self._lock:
            return list(self._states.values())

    async def close(self) -> None:
        """Close every loop's state: this loop's now, a live other loop's in that loop
        (without waiting for it: it may be waiting for us), a closed loop's never."""
        here = asyncio.get_running_loop()
        with self._lock:
            states, self._states = self._states, {}
        closing: Awaitable[None] | None = None
        for loop, state in states.items():
            if loop is here:
                closing = state.aclose()
            elif not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed meanwhile
                    asyncio.run_coroutine_threadsafe(_quietly(state.aclose()), loop)
        if closing is not None:
            await closing


async def _quietly(closing: Awaitable[None]) -> None:
    with contextlib.suppress(Exception):
        await closing
