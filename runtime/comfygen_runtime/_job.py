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
- An idempotency key names one request: the job's id is a UUIDv5 of the workflow (its
  name and a digest of its graph) and the key, so a second run with the key (here, in
  another process, after a restart) finds the job and follows it, or takes its finished
  outputs, instead of submitting it again. The job carries the fingerprint of the values
  it was submitted with: a key reused with other values while its job is queued, running
  or done raises `IdempotencyConflictError`. Only a job with that id that failed, was
  cancelled or is unknown is submitted (again, with this call's values); a failed one's
  record is dropped first. In one process, calls with one key on one server take turns
  to look it up and submit it, whatever their event loop or client object.
- A job whose server stopped answering while it was followed is not cancelled (the
  cancel could not reach it either): the `BackendUnavailableError` names it.
- A handle's job belongs to whoever holds the handle: awaiting `result()` and being
  cancelled, or its timeout, leave the job running; only `cancel()` cancels it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, Generic, TypeVar

from ._backend import Backend, Ticket
from ._config import redact_url
from ._errors import (
    BackendUnavailableError,
    IdempotencyConflictError,
    JobLostError,
    WorkflowTimeoutError,
)
from ._events import Event, EventHandler, Events
from ._net import within
from ._outputs import map_outputs
from ._result import WorkflowResult
from ._spec import WorkflowSpec

__all__ = ["CANCEL_BOUND", "Job", "JobHandle", "job_id_for", "request_fingerprint", "submitted"]

ResultT = TypeVar("ResultT", bound=WorkflowResult)

logger = logging.getLogger("comfygen_runtime")

CANCEL_BOUND = 5.0  # seconds a cancel may take: an unreachable server cannot run a job anyway
SUBMIT_SETTLE = 10.0  # seconds to learn whether a submission cut off by a cancel arrived

# The namespace of the job ids derived from idempotency keys (never change it: ids made by
# one version must be found by the next).
_KEYS = uuid.UUID("5b0c2f4e-1d8a-5c7e-9a61-3f2d8e4b7c10")


def _canonical(value: Any) -> Any:
    """JSON for what JSON does not spell: bytes by their digest, paths as given."""
    if isinstance(value, (bytes, bytearray)):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, os.PathLike):
        return {"path": os.fspath(value)}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()


def job_id_for(spec: WorkflowSpec, key: str) -> str:
    """The job id an idempotency key stands for: the same for the same workflow (its name
    and graph) and key, in any process, on any machine; another workflow under the same
    name (another module, another graph) gets another id."""
    return str(uuid.uuid5(_KEYS, f"{spec.name}\x00{_digest(spec.graph)}\x00{key}"))


def request_fingerprint(spec: WorkflowSpec, values: Mapping[str, Any]) -> str:
    """The digest of one request: the workflow and the values of the call (bytes by
    their content, paths as given). What an idempotency key is bound to."""
    return _digest([spec.name, _digest(spec.graph), dict(values)])


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


# Runs in this process that use one key on one server take turns to look it up and submit
# it, so that they never submit it twice: whatever their event loop (threads, repeated
# asyncio.run) and client object (a client per request). A claim is a future set when its
# holder is done; the others wait for it in their own loops, then look again.
_claims: dict[tuple[str, str], concurrent.futures.Future[None]] = {}
_claims_lock = threading.Lock()


@contextlib.asynccontextmanager
async def _exclusive(backend: Backend, job_id: str) -> AsyncIterator[None]:
    key = (backend.base_url, job_id)
    while True:
        with _claims_lock:
            held = _claims.get(key)
            if held is None:
                mine = _claims[key] = concurrent.futures.Future()
                break
        # Shielded: a waiter that gives up must not cancel the holder's future.
        await asyncio.shield(asyncio.wrap_future(held))
    try:
        yield
    finally:
        with _claims_lock:
            del _claims[key]
        mine.set_result(None)


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
        self._unreachable = False  # the server stopped answering: a cancel cannot reach it

    # -- the steps -----------------------------------------------------------------------

    async def start(self, values: Mapping[str, Any], *, key: str | None = None) -> Ticket:
        """Find the key's job, or submit a new one; return once the backend holds it."""
        if key is None:
            return await self._submit(values, str(uuid.uuid4()))
        job_id = job_id_for(self.spec, key)
        fingerprint = request_fingerprint(self.spec, values)
        async with _exclusive(self.backend, job_id):
            found = await self.backend.lookup(self.spec, job_id)
            if found is not None and found.state != "failed":
                if found.fingerprint is not None and found.fingerprint != fingerprint:
                    raise IdempotencyConflictError(
                        f"idempotency key {key!r} of workflow {self.spec.name!r} belongs to "
                        f"job {found.job_id} ({found.state} on {redact_url(found.server)}), "
                        "which was submitted with other parameters; a key stands for one "
                        "request: use a new key for new parameters",
                        prompt_id=found.job_id,
                    )
                logger.info(
                    "%s: job %s (key %r) is %s on %s: attaching, not submitting",
                    self.spec.name, found.job_id, key, found.state, redact_url(found.server),
                )  # fmt: skip
                self.job_id = found.job_id
                self.ticket = found
                return found
            if found is not None:  # it failed: its record must not pass for the new run's
                await self.backend.forget(found)
            return await self._submit(values, job_id, fingerprint)

    async def _submit(
        self, values: Mapping[str, Any], job_id: str, fingerprint: str | None = None
    ) -> Ticket:
        prepared = await self.backend.prepare(self.spec, dict(values))
        if fingerprint is not None:
            prepared = dataclasses.replace(prepared, fingerprint=fingerprint)
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
            except BackendUnavailableError as error:
                self._unreachable = True
                raise BackendUnavailableError(
                    f"{error}; job {ticket.job_id} was not cancelled and may still run "
                    "there: attach to it by its prompt id once the server answers",
                    prompt_id=ticket.job_id,
                ) from error
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
            if body not in done:
                self._timed_out = True
                body.cancel()
                # Not `await body`: a cancellation of the caller that lands while the body
                # cancels its job must propagate, not pass for the body's own.
                await asyncio.wait({body})
        except asyncio.CancelledError:
            if not self._timed_out:  # else the body is cancelling its job already
                body.cancel()
            await asyncio.wait({body})  # its own cleanup cancels the job, bounded
            raise
        if body.cancelled():
            raise self._timeout_error(limit)
        return body.result()  # it may have finished (or failed) as the deadline passed

    async def _run(self, values: Mapping[str, Any], key: str | None) -> ResultT:
        ticket = await self.start(values, key=key)
        try:
            return await self.finish(ticket)
        except BaseException:
            if not self._ended and not self._unreachable:  # it must not run on unseen
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
