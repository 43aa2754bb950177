"""Jobs of the service: every run (HTTP sync or job mode, MCP tool call) is one `Job`.

A job is an asyncio task running `Catalog.run`, plus what clients ask about it: its state,
the events so far (for server-sent events and MCP progress, replayable from any index),
and its result or error. Cancelling a job cancels its task, and cancelling the task
cancels the job on the ComfyUI server (the runtime's guarantee).

Idempotency keys are per workflow, with the runtime's meaning: one key, one request.
Within this process a second submission with the same key attaches to the first job (and
a key reused with other parameters is refused), unless that job failed or was cancelled:
then the key is free and a new job starts. The key also goes to `Catalog.run` and so to
the runtime, which derives the job's prompt id from it: after a restart, or from another
replica, the same key finds the same job on the server, and other parameters are refused
there (`IdempotencyConflictError`).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from comfygen_runtime import Event, IdempotencyConflictError, WorkflowResult, request_fingerprint
from pydantic import BaseModel

from ._catalog import Catalog, Entry
from ._progress import Progress, ProgressUpdate, event_record

__all__ = [
    "FINISHED",
    "Job",
    "JobRegistry",
    "JobState",
    "Record",
]

JobState = Literal["pending", "queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Record:
    """One entry of a job's event log."""

    index: int
    data: dict[str, Any]
    progress: ProgressUpdate | None


@dataclass
class Job:
    id: str
    entry: Entry
    key: str | None
    fingerprint: str
    state: JobState = "pending"
    prompt_id: str | None = None
    result: WorkflowResult | None = None
    error: BaseException | None = None
    log: list[Record] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    async def wait(self) -> None:
        """Until the job has finished (succeeded, failed or cancelled)."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.finished)

    def _news(self, position: int) -> bool:
        return len(self.log) > position or self.finished

    async def records(self, after: int = -1) -> AsyncIterator[Record]:
        """The log from index `after + 1` on, live until the job finishes."""
        position = after + 1
        while True:
            async with self.changed:
                await self.changed.wait_for(functools.partial(self._news, position))
                fresh = self.log[position:]
                done = self.finished
            for record in fresh:
                yield record
            position += len(fresh)
            if done and position >= len(self.log):
                return


class JobRegistry:
    """The jobs of this process; finished ones are kept until `keep_finished` newer ones."""

    def __init__(self, catalog: Catalog, *, keep_finished: int = 1000) -> None:
        self.catalog = catalog
        self._keep_finished = keep_finished
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._keys: dict[tuple[str, str], str] = {}

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def submit(self, entry: Entry, params: BaseModel, *, key: str | None = None) -> Job:
        """Start a job, or return the job that already has this idempotency key.

        Raises `IdempotencyConflictError` when the key's job (not failed, not cancelled)
        was started with other parameters.
        """
        values = {name: getattr(params, name) for name in type(params).model_fields}
        digest = request_fingerprint(entry.spec, values)
        if key is not None:
            known = self._jobs.get(self._keys.get((entry.name, key), ""))
            if known is not None and known.state not in ("failed", "cancelled"):
                if known.fingerprint != digest:
                    raise IdempotencyConflictError(
                        f"idempotency key {key!r} was first used with other parameters "
                        f"for {entry.name!r} (job {known.id}); use a new key for new "
                        "parameters",
                        prompt_id=known.prompt_id,
                    )
                return known
        job = Job(uuid.uuid4().hex, entry, key, digest)
        self._jobs[job.id] = job
        if key is not None:
            self._keys[(entry.name, key)] = job.id
        job.task = asyncio.ensure_future(self._run(job, params))
        self._evict()
        return job

    async def cancel(self, job: Job) -> None:
        """Cancel a job and wait until it has ended (on the server too)."""
        if job.task is not None and not job.task.done():
            job.task.cancel()
            # Waited for, not awaited: the task's own cancellation is no error here, but a
            # cancellation of our caller must propagate (it would pass for the task's).
            await asyncio.wait({job.task})
        await job.wait()

    async def close(self) -> None:
        """Cancel every job still running (the service is stopping)."""
        running = [job for job in self._jobs.values() if not job.finished]
        await asyncio.gather(*(self.cancel(job) for job in running), return_exceptions=True)

    async def _run(self, job: Job, params: BaseModel) -> None:
        progress = Progress(job.entry.spec.graph)

        async def on_event(event: Event) -> None:
            update = progress.update(event)
            async with job.changed:
                job.prompt_id = job.prompt_id or event.prompt_id
                if event.kind == "queued" and job.state == "pending":
                    job.state = "queued"
                elif event.kind in ("started", "executing", "progress") and job.state in (
                    "pending",
                    "queued",
                ):
                    job.state = "running"
                job.log.append(Record(len(job.log), event_record(event, job.entry.spec.graph),
                                      update))  # fmt: skip
                job.changed.notify_all()

        state: JobState
        try:
            result = await self.catalog.run(
                job.entry, params, on_event=on_event, idempotency_key=job.key
            )
        except asyncio.CancelledError as cancelled:
            state, job.error = "cancelled", cancelled
        except Exception as error:
            state, job.error = "failed", error
        else:
            state, job.result = "succeeded", result
            job.prompt_id = result.prompt_id
        async with job.changed:
            job.state = state
            job.changed.notify_all()

    def _evict(self) -> None:
        finished = [job for job in self._jobs.values() if job.finished]
        for job in finished[: max(0, len(finished) - self._keep_finished)]:
            del self._jobs[job.id]
            if job.key is not None:
                self._keys.pop((job.entry.name, job.key), None)
