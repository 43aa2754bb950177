"""Network plumbing shared by the backends: retries, backoff, and naming a failure's cause.

Retries and backoff come from tenacity (not hand-written loops). tenacity rather than
stamina: stamina is a thin policy layer over tenacity that retries on exceptions only and
adds instrumentation hooks we do not need; tenacity alone is one dependency without
dependencies of its own, and its wait and stop strategies also drive our polling delays.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)
from tenacity.stop import StopBaseT
from tenacity.wait import WaitBaseT

__all__ = ["Transient", "backoff", "describe_failure", "retry", "within"]

logger = logging.getLogger("comfygen_runtime")

T = TypeVar("T")

_SETTLE = 5.0  # seconds a task `within` gave up on may take to end (its cleanup runs first)


class Transient(Exception):
    """An attempt that failed in a way worth repeating; `problem` says how, for messages."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    patience: float | None = None,
    attempts: int | None = None,
    stop: StopBaseT | None = None,
    first: float = 0.05,
    maximum: float = 1.0,
    wait: WaitBaseT | None = None,
) -> T:
    """`attempt()` until it returns, repeating it while it raises `Transient`.

    Stops after `patience` seconds, `attempts` attempts, or when `stop` says so; the last
    `Transient` is raised then. Waits grow exponentially from `first` to `maximum` unless
    `wait` says otherwise.
    """
    started = time.monotonic()
    try:
        return await attempt()  # most calls succeed at once: no retry machinery for them
    except Transient as failure:
        if stop is None and patience is None and (attempts or 1) <= 1:
            raise
        first_failure = failure
    logger.info("%s; retrying", first_failure.problem)
    # The first attempt failed: from here on tenacity drives the waits and the attempts.
    waiting: WaitBaseT = wait or wait_exponential(multiplier=first, max=maximum)
    state = RetryCallState(Retrying(), None, (), {})
    state.set_exception((type(first_failure), first_failure, first_failure.__traceback__))
    await asyncio.sleep(waiting(state))
    if stop is None:
        if patience is not None:
            left = patience - (time.monotonic() - started)
            if left <= 0:
                raise first_failure
            stop = stop_after_delay(left)
        else:
            stop = stop_after_attempt((attempts or 1) - 1)

    def later(state: RetryCallState) -> float:  # the waits after the first one
        state.attempt_number += 1
        try:
            return float(waiting(state))
        finally:
            state.attempt_number -= 1

    def log(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, Transient):
            logger.info("%s; retrying (attempt %d)", failure.problem, state.attempt_number + 1)

    retrying = AsyncRetrying(
        stop=stop,
        wait=later,
        retry=retry_if_exception_type(Transient),
        reraise=True,
        before_sleep=log,
    )
    return await retrying(attempt)


def backoff(first: float, maximum: float, factor: float = 2.0) -> Iterator[float]:
    """Polling delays: tenacity's exponential wait, `first`, `first * factor`, ... `maximum`."""
    wait = wait_exponential(multiplier=first, exp_base=factor, max=maximum)
    state = RetryCallState(Retrying(), None, (), {})
    while True:
        yield wait(state)
        state.attempt_number += 1


async def within(waiting: Coroutine[Any, Any, T], seconds: float) -> T | None:
    """`waiting`'s result, or None after `seconds`.

    Unlike `asyncio.wait_for` on Python < 3.12, this never swallows a cancellation that
    arrives as `waiting` completes: a timeout or cancel of the caller always takes effect.
    `waiting` is cancelled then, and has ended (its cleanup done, within `_SETTLE` s)
    when this returns: what it held is free for whatever the caller does next.
    """
    task = asyncio.ensure_future(waiting)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=_SETTLE)
    return task.result() if task in done else None


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_failure(error: BaseException) -> str:
    """The real cause of a failed connection, in words: refused, name not resolved, TLS,
    timed out (never a URL or header: callers add the redacted URL themselves)."""
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({cause.verify_message or cause.reason})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or type(cause).__name__})"
        if isinstance(cause, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, (httpx.TimeoutException, TimeoutError, asyncio.TimeoutError)):
            return "timed out"
    text = str(error).lower()
    if "name or service not known" in text or "name resolution" in text or "nodename" in text:
        return "the host name could not be resolved"
    if "refused" in text:
        return "connection refused"
    if "ssl" in text or "certificate" in text:
        return "TLS handshake failed"
    return type(error).__name__
