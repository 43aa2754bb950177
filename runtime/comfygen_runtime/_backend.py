"""The interface every backend (a ComfyUI server, RunningHub, a pool) implements.

A backend only talks to its server; the one job lifecycle (`_job.py`) decides what
happens when: the deadline, submit -> follow -> settle, cancelling a job its caller left,
assembling the result, the events. A backend provides these steps:

    lookup   what the server knows about a job id (idempotency keys, attach)
    forget   drop a failed job's record before its id is submitted again
    prepare  upload media and apply the values: what `submit` sends
    submit   hand the job over; return once the server has accepted it
    follow   deliver the job's events until it ends; return its raw record
    cancel   cancel one job (best effort; the lifecycle bounds it)
    settle   a finished job's raw record -> outputs per node, or the job's error
    file_ref a reference to an output file described by a raw record

A pool of servers implements the same steps by choosing a member server at `submit`
(and again after a loss inside its `follow`); the lifecycle does not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from ._events import Events
from ._outputs import File, MakeFile
from ._spec import WorkflowSpec

__all__ = ["Backend", "JobState", "Prepared", "Settled", "Ticket"]

JobState: TypeAlias = Literal["pending", "running", "done", "failed"]
"""Where a job is: waiting in a queue, running, finished (outputs), or finished with an
error (execution failed, interrupted or cancelled)."""


@dataclass
class Ticket:
    """A job a backend holds: enough to follow, cancel and settle it.

    `job_id` is the backend's id of the job (ComfyUI's prompt id, RunningHub's task id);
    `server` the base URL of the server that holds it. A ticket found by `lookup` for a
    finished job carries its `record`, and the `fingerprint` the job was submitted with
    (see `Prepared`), when the backend keeps it. Backends subclass it for what they need
    to follow.
    """

    job_id: str
    server: str
    state: JobState = "pending"
    record: Any = None
    seeds: dict[str, int] = field(default_factory=dict)
    fingerprint: str | None = None


@dataclass(frozen=True)
class Prepared:
    """What `prepare` made for `submit`: the backend's payload, and the seeds it picked.

    `fingerprint` (set by the lifecycle for a call with an idempotency key) is the digest
    of the workflow and the call's values: a backend that can keep it with the job must,
    and report it in the tickets `lookup` returns, so that a key reused with other values
    is refused rather than answered with another request's outputs.
    """

    payload: Any
    seeds: dict[str, int] = field(default_factory=dict)
    fingerprint: str | None = None


@dataclass(frozen=True)
class Settled:
    """A finished job: raw outputs by node id, and what the backend reports about it.

    `file_ref` makes the job's file references when they come from another backend than
    the one the lifecycle runs on (a pool's member server); None: the backend's own.
    """

    outputs: Mapping[str, Any]
    duration: float | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    file_ref: MakeFile | None = None


@runtime_checkable
class Backend(Protocol):
    """Runs workflow jobs under the runtime's job lifecycle (see the module docstring)."""

    @property
    def base_url(self) -> str:
        """The server's base URL (never with credentials)."""
        ...

    @property
    def default_timeout(self) -> float | None:
        """Seconds a run may take when the call gives no `timeout` (None: no limit)."""
        ...

    @property
    def cancel_on_timeout(self) -> bool:
        """Whether a run that times out cancels its job (False: the job is left running)."""
        ...

    async def lookup(self, spec: WorkflowSpec, job_id: str) -> Ticket | None:
        """The job `job_id` as the server knows it, or None if it does not."""
        ...

    async def forget(self, ticket: Ticket) -> None:
        """Drop the record of a job that failed (or was cancelled) before its id is
        submitted again, so that no one takes the old run's record for the new run's."""
        ...

    async def prepare(self, spec: WorkflowSpec, values: dict[str, Any]) -> Prepared:
        """Upload media values and apply all values: the payload `submit` sends."""
        ...

    async def submit(self, spec: WorkflowSpec, prepared: Prepared, *, job_id: str) -> Ticket:
        """Submit the job; return once the server has accepted it.

        `job_id` is the id the lifecycle chose (a UUID); a backend that can use a
        client-chosen id must, so that the job can be found by it later.
        """
        ...

    async def follow(self, spec: WorkflowSpec, ticket: Ticket, events: Events) -> Any:
        """Deliver the job's events ("queued" first) until it ends; return its raw record."""
        ...

    async def cancel(self, ticket: Ticket) -> bool:
        """Cancel the job; True when the server confirmed it (no other job is touched)."""
        ...

    async def settle(self, spec: WorkflowSpec, ticket: Ticket, record: Any) -> Settled:
        """A finished job's outputs; raises the job's error if it failed."""
        ...

    def file_ref(self, cls: type[File], node_id: str, record: Mapping[str, Any]) -> File:
        """A reference to an output file described by one of this backend's raw records."""
        ...
