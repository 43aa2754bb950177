"""The one job lifecycle, for every backend.

    run:     [lookup] -> prepare -> submit -> follow -> settle -> result, under one deadline
    submit:  [lookup] -> prepare -> submit                        (a `JobHandle` is returned)
    result:  follow -> settle -> result                            (now, later, elsewhere)

Rules kept here once:
- A job that was submitted and has not ended when its run ends otherwise (the caller was
  cancelled, the deadline passed, a callback raised) is cancelled on the server, shielded
  from further cancellation and bounded in time: it never runs on unseen. A timed-out run
  leaves the job running instead when the backend says `cancel_on_timeout=False`; the
  `WorkflowTimeoutError` says truthfully which of these happened.
- A cancellation that lands while the submission is in flight first learns whether the
  server accepted it, then cancels that job.
- An idempotency key names the job: its id is a UUIDv5 of the workflow's name and the key,
  so a second run with the key (here, in another process, after a restart) finds the job
  and follows it, or takes its finished outputs, instead of submitting it again. Only a
  job with that id that failed, was cancelled or is unknown is submitted (again).
- A handle's job belongs to whoever holds the handle: awaiting `result()` and being
  cancelled, or its timeout, leave the job running; only `cancel()` cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, Generic, TypeVar

from ._backend import Backend, Ticket
from ._config import redact_url
from ._errors import JobLostError, WorkflowTimeoutError
from ._events import Event, EventHandler, Events
from ._net import within
from ._outputs import map_outputs
from ._result import WorkflowResult
from ._spec import WorkflowSpec

__all__ = ["CANCEL_BOUND", "Job", "JobHandle", "job_id_for", "submitted"]

ResultT = TypeVar("ResultT", bound=WorkflowResult)

logger = logging.getLogger("comfygen_runtime")

CANCEL_BOUND = 5.0  # seconds a cancel may take: an unreachable server cannot run a job anyway
SUBMIT_SETTLE = 10.0  # seconds to learn whether a submission cut off by a cancel arrived

# The namespace of the job ids derived from idempotency keys (never change it: ids made by
# one version must be found by the next).
_KEYS = uuid.UUID("5b0c2f4e-1d8a-5c7e-9a61-3f2d8e4b7c10")


def job_id_for(spec: WorkflowSpec, key: str) -> str:
    """The job id an idempotency key stands for: the same for the same workflow and key,
    in any process, on any machine."""
    return str(uuid.uuid5(_KEYS, f"{spec.name}\x00{key}"))


async def submitted(
    submission: Coroutine[Any, Any, Ticket], landed: Callable[[Ticket], None]
) -> Ticket:
    """The ticket of a submission, awaited so that a cancellation cannot leave a job
    unseen on a server: a cancellation that lands while it is in flight first waits (up
    to `SUBMIT_SETTLE` s) to learn whether the server accepted it, hands an accepted
    ticket to `landed` (whose owner cancels that job), then takes effect."""
    submitting = asyncio.ensure_future(submission)
    try:
        return await asyncio.shield(submitting)
    except asyncio.CancelledError:
        done, _ = await asyncio.wait({submitting}, timeout=SUBMIT_SETTLE)
        if not done:
            submitting.cancel()
        elif not submitting.cancelled() and submitting.exception() is None:
            landed(submitting.result())
        raise


# Runs in one loop that use one key on one backend take turns to look it up and submit it,
# so that they never submit it twice.
_claims: dict[tuple[asyncio.AbstractEventLoop, int, str], tuple[asyncio.Lock, int]] = {}


@contextlib.asynccontextmanager
async def _exclusive(backend: Backend, job_id: str) -> AsyncIterator[None]:
    key = (asyncio.get_running_loop(), id(backend), job_id)
    lock, users = _claims.get(key, (asyncio.Lock(), 0))
    _claims[key] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _claims[key]
        if users == 1:
            del _claims[key]
        else:
            _claims[key] = (lock, users - 1)


class Job(Generic[ResultT]):
    """One run of a workflow on a backend, from its values to its result."""

    def __init__(
        self,
        backend: Backend,
        spec: WorkflowSpec,
        result_type: type[ResultT],
        events: Events,
    ) -> None:
        self.backend = backend
        self.spec = spec
        self.result_type = result_type
        self.events = events
        self.job_id: str | None = None
        self.ticket: Ticket | None = None
        self._timed_out = False
        self._ended = False  # the job ended on the server: nothing left to cancel
        self._cancelled: bool | None = None  # None: no cancel was tried
        self._left_running = False

    # -- the steps -----------------------------------------------------------------------

    async def start(self, values: Mapping[str, Any], *, key: str | None = None) -> Ticket:
        """Find the key's job, or submit a new one; return once the backend holds it."""
        if key is None:
            return await self._submit(values, str(uuid.uuid4()))
        job_id = job_id_for(self.spec, key)
        async with _exclusive(self.backend, job_id):
            found = await self.backend.lookup(self.spec, job_id)
            if found is not None and found.state != "failed":
                logger.info(
                    "%s: job %s (key %r) is %s on %s: attaching, not submitting",
                    self.spec.name, found.job_id, key, found.state, redact_url(found.server),
                )  # fmt: skip
                self.job_id = found.job_id
                self.ticket = found
                return found
            return await self._submit(values, job_id)

    async def _submit(self, values: Mapping[str, Any], job_id: str) -> Ticket:
        prepared = await self.backend.prepare(self.spec, dict(values))
        self.job_id = job_id
        try:
            self.ticket = await submitted(
                self.backend.submit(self.spec, prepared, job_id=job_id), self._landed
            )
        except asyncio.CancelledError:
            await self._cancel(self.ticket or Ticket(job_id, self.backend.base_url))
            raise
        logger.debug(
            "%s: job %s accepted by %s", self.spec.name, job_id, redact_url(self.ticket.server)
        )
        return self.ticket

    def _landed(self, ticket: Ticket) -> None:
        self.ticket = ticket

    async def finish(self, ticket: Ticket) -> ResultT:
        """Follow the job to its end and return its result (or raise its error)."""
        if ticket.state in ("done", "failed"):
            record = ticket.record
        else:
            try:
                record = await self.backend.follow(self.spec, ticket, self.events)
            except JobLostError:
                self._ended = True
                raise
        self._ended = True
        await self.events(Event("finished", ticket.job_id))
        settled = await self.backend.settle(self.spec, ticket, record)
        fields = map_outputs(self.spec, settled.outputs, settled.file_ref or self.backend.file_ref)
        return self.result_type.model_validate(
            {
                "prompt_id": ticket.job_id,
                "server": ticket.server,
                "outputs": dict(settled.outputs),
                "duration": settled.duration,
                "usage": dict(settled.usage),
                "seeds": ticket.seeds,
                **fields,
            }
        )

    # -- a whole run -------------------------------------------------------------------

    async def run(
        self, values: Mapping[str, Any], *, key: str | None = None, timeout: float | None = None
    ) -> ResultT:
        """Start the job and finish it within `timeout` (or the backend's default)."""
        limit = timeout if timeout is not None else self.backend.default_timeout
        if limit is None:
            return await self._run(values, key)
        body = asyncio.ensure_future(self._run(values, key))
        try:
            done, _ = await asyncio.wait({body}, timeout=limit)
        except asyncio.CancelledError:
            body.cancel()
            await asyncio.wait({body})  # its own cleanup cancels the job, bounded
            raise
        if body not in done:
            self._timed_out = True
            body.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                return await body  # it may have finished as the deadline passed
            raise self._timeout_error(limit)
        return body.result()

    async def _run(self, values: Mapping[str, Any], key: str | None) -> ResultT:
        ticket = await self.start(values, key=key)
        try:
            return await self.finish(ticket)
        except BaseException:
            if not self._ended:  # the job did not end on the server: it must not run on
                await self._cancel(ticket)
            raise

    async def _cancel(self, ticket: Ticket) -> None:
        """Cancel the job on the server, unless a timeout should leave it running."""
        if self._timed_out and not self.backend.cancel_on_timeout:
            self._left_running = True
            logger.info("%s: job %s timed out and is left running", self.spec.name, ticket.job_id)
            return
        attempt = asyncio.ensure_future(within(self.backend.cancel(ticket), CANCEL_BOUND))
        # Shielded: a second cancellation of the caller does not stop the cancel.
        self._cancelled = bool(await asyncio.shield(attempt))
        logger.info(
            "%s: job %s %s",
            self.spec.name,
            ticket.job_id,
            "cancelled on the server" if self._cancelled else "cancel not confirmed",
        )

    def _timeout_error(self, limit: float) -> WorkflowTimeoutError:
        where = redact_url(self.backend.base_url)
        message = f"workflow {self.spec.name!r} did not finish within {limit} s on {where}"
        job_id = self.ticket.job_id if self.ticket is not None else self.job_id
        if job_id is None:
            return WorkflowTimeoutError(message + "; no job was submitted", cancelled=None)
        if self._left_running:
            message += (
                f"; job {job_id} was left running (cancel_on_timeout=False): attach to it "
                "with its prompt id to get its result"
            )
        elif self.ticket is None:
            message += f"; job {job_id} was being submitted when the time ran out" + (
                ", and was cancelled in case the server had accepted it"
                if self._cancelled
                else ": the server may hold it (no cancel was confirmed)"
            )
        elif self._cancelled:
            message += f"; job {job_id} was cancelled on the server"
        else:
            message += f"; cancelling job {job_id} was not confirmed, so it may still run"
        return WorkflowTimeoutError(
            message, prompt_id=job_id, cancelled=bool(self._cancelled) and not self._left_running
        )


class JobHandle(Generic[ResultT]):
    """A job that was submitted without waiting for it (see `submit` and `attach`).

    `prompt_id` and `server` say where it runs; they are all another process needs to
    `attach` to it. `await handle.result()` follows it to its end and returns the
    generated result class; awaiting it again returns the same result.
    """

    def __init__(self, job: Job[ResultT], ticket: Ticket) -> None:
        self._job = job
        self._ticket = ticket
        self._result: ResultT | None = None

    def __repr__(self) -> str:
        return (
            f"JobHandle({self._job.spec.name!r}, prompt_id={self.prompt_id!r}, "
            f"server={redact_url(self.server)!r})"
        )

    @property
    def prompt_id(self) -> str:
        """The backend's id of the job (ComfyUI's prompt id, RunningHub's task id)."""
        return self._ticket.job_id

    @property
    def server(self) -> str:
        """The base URL of the server that holds the job."""
        return self._ticket.server

    async def result(
        self, *, timeout: float | None = None, on_event: EventHandler | None = None
    ) -> ResultT:
        """Wait for the job and return its result; raise its error if it failed.

        `timeout` raises `WorkflowTimeoutError` and leaves the job running (await the
        handle again, or `cancel()` it); so does cancelling the task that waits.
        `on_event` receives the job's events from now on (default: the `on_event` the
        job was submitted with).
        """
        if self._result is not None:
            return self._result
        job = self._job
        if on_event is not None:
            job = Job(job.backend, job.spec, job.result_type, Events(on_event))
        if timeout is None:
            result = await job.finish(self._ticket)
        else:
            finished = await within(job.finish(self._ticket), timeout)
            if finished is None:
                raise WorkflowTimeoutError(
                    f"job {self.prompt_id} ({job.spec.name!r}) did not finish within "
                    f"{timeout} s; it was left running",
                    prompt_id=self.prompt_id,
                    cancelled=False,
                )
            result = finished
        self._result = result
        return result

    async def cancel(self) -> bool:
        """Cancel the job on the server; True when the server confirmed it."""
        return bool(await within(self._job.backend.cancel(self._ticket), CANCEL_BOUND))
