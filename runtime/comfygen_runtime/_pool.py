"""A pool of ComfyUI servers, used like one: `ComfyUIPool` is a `Backend` whose members
are `ComfyUI` clients, and the one job lifecycle (`_job.py`) runs on it unchanged.

Each job goes to one member, chosen when it is submitted:

- by capability: only members whose `/object_info` has every node class the job uses and
  lists every model file it names (fetched on first need, kept, fetched again when no
  member qualifies or when a member rejects the job's inputs). A job that no member can
  run fails before anything is submitted, saying what each member lacks.
- by load: the fewest outstanding jobs, counted as this pool's jobs on the member (in
  every event loop of the process) plus the other clients' jobs in its queue (from the
  server's `status` broadcasts); ties go round-robin. `max_jobs_per_server` caps this
  pool's jobs on one member, whatever loop they run in (the others wait).
- by health: a member that fails (unreachable past its `unavailable_after`, or never
  reached) is taken out, probed again with growing pauses, and rejoins when it answers;
  no job goes to a member known to be down.

A job whose member fails before accepting it goes to another member. A job lost after it
was accepted (the server restarted, or stopped answering) is submitted again under the
same prompt id to a member that has not lost it, with the same graph and seeds, and a
"resubmitted" event says where and why (`resubmit_lost=False`: the error is raised
instead). One job is never placed on two members at once: a job is only resubmitted
after its member lost it or was taken out, and a member that answers again rejoins only
once every copy it still holds is cancelled (or has ended): a cancel that fails keeps it
out, and it is probed again. (A member that was only cut off from this process can run
its copy until then.)

Idempotency keys work across the pool: a lookup asks every member that is up, and
follows the job where it is (a finished run first, then a live one).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import httpx

from ._backend import Prepared, Settled, Ticket
from ._comfyui import ComfyUI
from ._config import redact_url, server_urls
from ._errors import (
    BackendUnavailableError,
    ComfygenError,
    JobLostError,
    MissingNodeError,
    NoCapableServerError,
    WorkflowValidationError,
)
from ._events import Event, Events
from ._job import CANCEL_BOUND, submitted
from ._loop import PerLoop
from ._net import backoff, within
from ._outputs import File
from ._spec import WorkflowSpec

__all__ = ["ComfyUIPool", "PoolServer"]

logger = logging.getLogger("comfygen_runtime")

# Files that name models (folder_paths.supported_pt_extensions, plus GGUF and ONNX of
# common custom loaders): a string input with one of these suffixes is checked against
# the combo lists of each server's /object_info.
_MODEL_SUFFIXES = frozenset(
    {".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".pkl", ".gguf", ".onnx"}
)
_ORPHANS_KEPT = 10_000  # job ids remembered per down member, to cancel when it is back
_RECHECK = 1.0  # seconds a job waiting for a free member looks again on its own


@dataclass(frozen=True)
class PoolServer:
    """What a pool knows about one member (see `ComfyUIPool.servers()`).

    `jobs` counts this pool's jobs on it (in every event loop), `queued_by_others` the
    other clients' jobs in its queue (its last status broadcast); `problem` says why a
    member that is not `up` was taken out.
    """

    url: str
    up: bool
    jobs: int
    queued_by_others: int
    problem: str | None = None


class _Member:
    """A member server: its client, its health, what it has."""

    def __init__(self, client: ComfyUI, index: int, *, owned: bool) -> None:
        self.client = client
        self.index = index
        self.owned = owned  # made by the pool from a URL: the pool closes it
        self.retry_at: float | None = None  # when a down member is probed next; None: up
        self.delays: Iterator[float] | None = None
        self.problem: str | None = None
        self.info: Mapping[str, Any] | None = None  # its /object_info, once fetched
        # Jobs placed elsewhere while this member was out: cancelled here when it is back.
        self.orphans: OrderedDict[str, None] = OrderedDict()

    @property
    def up(self) -> bool:
        return self.retry_at is None

    @property
    def url(self) -> str:
        return redact_url(self.client.base_url)


class _Slot:
    """One of this pool's jobs counted on a member until the job ends (released once).
    Taken with the pool's `_jobs_lock` held (see `ComfyUIPool._choose`)."""

    def __init__(self, pool: ComfyUIPool, index: int) -> None:
        self._pool = pool
        self._index = index
        self._held = True
        pool._jobs[index] += 1

    def release(self) -> None:
        with self._pool._jobs_lock:
            if not self._held:
                return
            self._held = False
            self._pool._jobs[self._index] -= 1
        self._pool._changed()


class _LoopState:
    """The pool's state in one event loop: its wake-up event, shared fetches, probes."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()  # a job ended or a member rejoined (in any loop)
        self.fetches: dict[int, asyncio.Future[None]] = {}
        self.probes: dict[int, asyncio.Task[None]] = {}

    async def aclose(self) -> None:
        tasks = [*self.probes.values(), *self.fetches.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@dataclass(eq=False)
class _PoolTicket(Ticket):
    """A pool's job: the member that holds it and that member's ticket."""

    member: _Member | None = None
    inner: Ticket | None = None
    # What the job was submitted with, to submit it again after a loss (None: a job found
    # by its id, whose values this pool never had).
    values: dict[str, Any] | None = field(default=None, repr=False)
    payload: Prepared | None = field(default=None, repr=False)
    slot: _Slot | None = None
    lost_on: set[int] = field(default_factory=set)

    def hold(self, member: _Member, inner: Ticket, slot: _Slot | None) -> None:
        self.member, self.inner, self.slot = member, inner, slot
        self.server = member.client.base_url
        self.state, self.record, self.seeds = inner.state, inner.record, dict(inner.seeds)
        self.fingerprint = inner.fingerprint
        if slot is not None:  # a ticket dropped unfollowed (a handle) frees its slot
            weakref.finalize(self, slot.release)

    def release(self) -> None:
        if self.slot is not None:
            self.slot.release()


@dataclass(frozen=True)
class _Needs:
    """What a job needs of a server: node classes (with a node using each), model files."""

    classes: Mapping[str, str]
    files: tuple[tuple[str, str, str, str], ...]  # node id, class, input, file name


def _needs(spec: WorkflowSpec, values: Mapping[str, Any]) -> _Needs:
    overrides: dict[tuple[str, str], Any] = {}
    uploaded: set[tuple[str, str]] = set()  # media inputs: the chosen server gets the file
    for param in spec.params:
        value = values.get(param.name)
        for target in param.targets:
            if param.media:
                uploaded.add((target.node_id, target.input))
            elif value is not None:
                overrides[(target.node_id, target.input)] = value
    classes: dict[str, str] = {}
    files: list[tuple[str, str, str, str]] = []
    for node_id, node in spec.graph.items():
        class_type = node.get("class_type") if isinstance(node, Mapping) else None
        if not isinstance(class_type, str):
            continue
        classes.setdefault(class_type, str(node_id))
        inputs = node.get("inputs")
        for name, saved in (inputs if isinstance(inputs, Mapping) else {}).items():
            key = (str(node_id), str(name))
            value = overrides.get(key, saved)
            if key in uploaded or not isinstance(value, str):
                continue
            if PurePosixPath(value.replace("\\", "/")).suffix.lower() in _MODEL_SUFFIXES:
                files.append((str(node_id), class_type, str(name), value))
    return _Needs(classes, tuple(files))


def _combo(info: Mapping[str, Any], class_type: str, name: str) -> list[Any] | None:
    """The options of a combo input as /object_info lists them (None: not a combo)."""
    return _options(info.get(class_type), name)


def _options(node: Any, name: str) -> list[Any] | None:
    """The options of combo input `name` of one /object_info entry (None: not a combo)."""
    inputs = node.get("input") if isinstance(node, Mapping) else None
    for section in ("required", "optional"):
        group = inputs.get(section) if isinstance(inputs, Mapping) else None
        entry = group.get(name) if isinstance(group, Mapping) else None
        if isinstance(entry, list) and entry:
            if isinstance(entry[0], list):
                return entry[0]
            if entry[0] == "COMBO" and len(entry) > 1 and isinstance(entry[1], Mapping):
                options = entry[1].get("options")
                return options if isinstance(options, list) else None
    return None


def _lacks(info: Mapping[str, Any], needs: _Needs) -> list[str]:
    """What a server with this /object_info lacks for a job, in words (empty: nothing)."""
    classes = [f"{cls} (node {node})" for cls, node in needs.classes.items() if cls not in info]
    files = [
        f"{file!r} (node {node}, {cls}.{name})"
        for node, cls, name, file in needs.files
        if cls in info and file not in (_combo(info, cls, name) or [file])
    ]
    lacking = []
    if classes:
        lacking.append("node classes " + ", ".join(classes))
    if files:
        lacking.append("model files " + ", ".join(files))
    return lacking


def _merged_info(infos: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Several servers' /object_info as one: every class; combos with every option."""
    merged: dict[str, Any] = {}
    for info in infos:
        for class_type, node in info.items():
            known = merged.get(class_type)
            if known is None:
                merged[class_type] = node
            elif known is not node and isinstance(node, Mapping):
                merged[class_type] = _with_options(known, node)
    return merged


def _with_options(node: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """`node` with the combo options `other` lists for the same inputs added."""
    combined = copy.deepcopy(dict(node))
    inputs = combined.get("input")
    for section in ("required", "optional"):
        group = inputs.get(section) if isinstance(inputs, dict) else None
        for name in group or {}:
            mine = _options(combined, name)
            theirs = _options(other, name)
            if mine is not None and theirs is not None:
                mine.extend(option for option in theirs if option not in mine)
    return combined


def _ignore(ticket: Ticket) -> None:
    """`submitted`'s hand-over for a resubmission: `_place` has updated the pool ticket."""


class ComfyUIPool:
    """Several ComfyUI servers used as one backend (see the module docstring).

    `servers`: URLs (a list, or one string with comma-separated URLs) or `ComfyUI`
    clients; default `COMFYUI_BASE_URL` (which may list several, comma-separated). The
    clients a pool makes from URLs share `api_key`, `cookies`, `headers` and the other
    options (as for `ComfyUI`, whose `unavailable_after` is here the time a member may
    fail before its jobs go elsewhere) and are closed by `close()`; clients passed in
    keep their own settings and stay open.

    Pass the pool as `client=` to any generated function, or to `submit`/`attach`;
    `result.server` says which member ran a job.
    """

    def __init__(
        self,
        servers: str | ComfyUI | Iterable[str | ComfyUI] | None = None,
        *,
        max_jobs_per_server: int | None = None,
        resubmit_lost: bool = True,
        cancel_on_timeout: bool = True,
        probe_interval: float = 1.0,
        max_probe_interval: float = 30.0,
        api_key: str | None = None,
        comfy_org_api_key: str | None = None,
        cookies: str | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        api_prefix: bool = False,
        request_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        unavailable_after: float = 10.0,
        max_poll_interval: float = 1.0,
        liveness_interval: float = 10.0,
        randomize_seeds: bool = False,
    ) -> None:
        if max_jobs_per_server is not None and max_jobs_per_server < 1:
            raise ValueError(f"max_jobs_per_server must be at least 1, got {max_jobs_per_server}")
        given: list[str | ComfyUI] = []
        if servers is None:
            servers = os.environ.get("COMFYUI_BASE_URL") or ""
        for item in [servers] if isinstance(servers, (str, ComfyUI)) else servers:
            if isinstance(item, ComfyUI):
                given.append(item)
            elif item.strip() or isinstance(servers, str):  # a blank entry of a list: none
                given += server_urls(item)
        if not given:
            raise ValueError("a ComfyUIPool needs at least one server URL or ComfyUI client")
        members: list[_Member] = []
        for index, item in enumerate(given):
            owned = isinstance(item, str)
            client = (
                ComfyUI(
                    item,
                    api_key=api_key,
                    comfy_org_api_key=comfy_org_api_key,
                    cookies=cookies,
                    headers=headers,
                    api_prefix=api_prefix,
                    request_timeout=request_timeout,
                    connect_timeout=connect_timeout,
                    unavailable_after=unavailable_after,
                    max_poll_interval=max_poll_interval,
                    liveness_interval=liveness_interval,
                    randomize_seeds=randomize_seeds,
                    cancel_on_timeout=cancel_on_timeout,
                )
                if isinstance(item, str)
                else item
            )
            members.append(_Member(client, index, owned=owned))
        urls = [member.client.base_url for member in members]
        twice = sorted({redact_url(url) for url in urls if urls.count(url) > 1})
        if twice:
            raise ValueError(f"a ComfyUIPool lists {', '.join(twice)} more than once")
        self._members = members
        self._max_jobs = max_jobs_per_server
        self._resubmit_lost = resubmit_lost
        self.cancel_on_timeout = cancel_on_timeout
        self._probe_interval = probe_interval
        self._max_probe_interval = max_probe_interval
        self._turn = 0  # where round-robin continues among equally loaded members
        self._closed = False
        self._merged: tuple[tuple[int, ...], dict[str, Any]] | None = None  # object_info()
        # This pool's jobs per member, in every event loop (threads, repeated asyncio.run).
        self._jobs = [0] * len(members)
        # Reentrant: a ticket's finalizer (garbage collection) may release a slot while
        # this thread holds the lock.
        self._jobs_lock = threading.RLock()
        self._loops: PerLoop[_LoopState] = PerLoop(_LoopState)

    def __repr__(self) -> str:
        return f"ComfyUIPool({[member.url for member in self._members]!r})"

    # -- what the pool is ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The members' base URLs, comma-separated (as `COMFYUI_BASE_URL` lists them)."""
        return ",".join(member.url for member in self._members)

    @property
    def default_timeout(self) -> float | None:
        return None  # a job runs as long as it needs unless the call says otherwise

    @property
    def members(self) -> tuple[ComfyUI, ...]:
        """The member clients, in the order given."""
        return tuple(member.client for member in self._members)

    @property
    def closed(self) -> bool:
        return self._closed

    def member(self, server: str) -> ComfyUI:
        """The member client whose base URL is `server` (e.g. a `result.server`)."""
        for member in self._members:
            if server in (member.client.base_url, member.url):
                return member.client
        raise KeyError(f"{self!r} has no server {redact_url(server)!r}")

    def servers(self) -> tuple[PoolServer, ...]:
        """What the pool knows about each member now."""
        return tuple(
            PoolServer(
                url=member.url,
                up=member.up,
                jobs=self._jobs[member.index],
                queued_by_others=member.client._queued_by_others(),
                problem=member.problem,
            )
            for member in self._members
        )

    async def object_info(self, *, refresh: bool = False) -> dict[str, Any]:
        """What the pool can run, as one `/object_info`: every node class a member has
        (the members' own answers, fetched as routing fetches them; `refresh=True` asks
        again), a combo input listing the options of every member that has its class.
        The same object is returned while no member's answer changes."""
        state = self._loops.get()
        await self._learn(state, [m for m in self._members if m.up], refresh=refresh)
        infos = [m.info for m in self._members if m.info is not None]
        if not infos:
            problems = "; ".join(f"{m.url}: {m.problem}" for m in self._members)
            raise BackendUnavailableError(f"no server of {self!r} answered ({problems})")
        key = tuple(id(info) for info in infos)
        if self._merged is None or self._merged[0] != key:
            self._merged = (key, _merged_info(infos))
        return self._merged[1]

    async def __aenter__(self) -> ComfyUIPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the clients the pool made (running jobs are not cancelled)."""
        self._closed = True
        await self._loops.close()
        for member in self._members:
            if member.owned:
                await member.client.close()

    # -- the job steps (see _backend.Backend) ----------------------------------------------

    async def lookup(self, spec: WorkflowSpec, job_id: str) -> Ticket | None:
        asked = [member for member in self._members if member.up]
        answers = await asyncio.gather(*(self._ask(member, spec, job_id) for member in asked))
        for member in self._members:
            self._orphan(member, job_id)  # a member that is out may hold it: see there later
        found = [(member, ticket) for member, ticket in zip(asked, answers, strict=True) if ticket]
        if not found:
            return None
        rank = {"done": 0, "running": 1, "pending": 2, "failed": 3}
        found.sort(key=lambda pair: (rank[pair[1].state], pair[0].index))
        member, inner = found[0]
        for other, extra in found[1:]:
            other.client._release(extra)
            if extra.state in ("pending", "running"):  # a second live copy: keep one
                await within(other.client.cancel(extra), CANCEL_BOUND)
        ticket = _PoolTicket(job_id, member.client.base_url)
        live = inner.state in ("pending", "running")
        with self._jobs_lock:
            slot = _Slot(self, member.index) if live else None
        ticket.hold(member, inner, slot)
        return ticket

    async def _ask(self, member: _Member, spec: WorkflowSpec, job_id: str) -> Ticket | None:
        try:
            return await member.client.lookup(spec, job_id)
        except BackendUnavailableError as error:
            self._down(member, error)
            return None

    async def forget(self, ticket: Ticket) -> None:
        """Drop the failed record of the job on every member that is up: the job may go to
        any of them, and none may take an old record for the new run's."""
        up = [member for member in self._members if member.up]
        answers = await asyncio.gather(
            *(member.client.forget(Ticket(ticket.job_id, member.client.base_url)) for member in up),
            return_exceptions=True,
        )
        for member, answer in zip(up, answers, strict=True):
            if isinstance(answer, BackendUnavailableError):
                self._down(member, answer)  # out: no job goes there until it is probed
            elif isinstance(answer, BaseException):
                raise answer

    async def prepare(self, spec: WorkflowSpec, values: dict[str, Any]) -> Prepared:
        # Uploads go to the member chosen at submission: nothing to do before.
        return Prepared(dict(values))

    async def submit(self, spec: WorkflowSpec, prepared: Prepared, *, job_id: str) -> Ticket:
        ticket = _PoolTicket(
            job_id, self.base_url, values=dict(prepared.payload), fingerprint=prepared.fingerprint
        )
        await self._place(spec, ticket, set())
        return ticket

    async def follow(self, spec: WorkflowSpec, ticket: Ticket, events: Events) -> Any:
        job = await self._own(spec, ticket)
        if job.state in ("done", "failed") and job.record is not None:
            return job.record
        while True:
            member, inner = job.member, job.inner
            assert member is not None and inner is not None
            try:
                record = await member.client.follow(spec, inner, events)
            except (JobLostError, BackendUnavailableError) as error:
                if self._closed or member.client.closed:
                    raise
                if isinstance(error, BackendUnavailableError):
                    self._down(member, error)
                    self._orphan(member, job.job_id)
                job.release()
                job.lost_on.add(member.index)
                if not self._resubmit_lost or job.values is None:
                    raise
                try:
                    await submitted(self._place(spec, job, set(job.lost_on)), _ignore)
                except (BackendUnavailableError, NoCapableServerError) as nowhere:
                    # It moved nowhere: no orphan; the caller's error names the job.
                    member.orphans.pop(job.job_id, None)
                    raise error from nowhere
                why = f"{member.url} lost it ({error})"
                logger.warning("job %s resubmitted to %s: %s", job.job_id, job.server, why)
                await events(Event("resubmitted", job.job_id, server=job.server, text=why))
                continue
            job.release()
            return record

    async def cancel(self, ticket: Ticket) -> bool:
        if isinstance(ticket, _PoolTicket) and ticket.member is not None:
            assert ticket.inner is not None
            try:
                return await ticket.member.client.cancel(ticket.inner)
            finally:
                ticket.release()
        # A job whose member is not known (its submission was cut off): wherever it is.
        up = [member for member in self._members if member.up]
        for member in self._members:
            self._orphan(member, ticket.job_id)
        answers = await asyncio.gather(
            *(member.client.cancel(Ticket(ticket.job_id, member.client.base_url)) for member in up)
        )
        return any(answers)

    async def settle(self, spec: WorkflowSpec, ticket: Ticket, record: Any) -> Settled:
        job = await self._own(spec, ticket)
        assert job.member is not None and job.inner is not None
        client = job.member.client
        settled = await client.settle(spec, job.inner, record)
        return Settled(settled.outputs, settled.duration, settled.usage, file_ref=client.file_ref)

    def file_ref(self, cls: type[File], node_id: str, record: Mapping[str, Any]) -> File:
        """A reference on the first member. A job's own references point at the member
        that ran it (`result.server`; `pool.member(result.server).file_ref`)."""
        return self._members[0].client.file_ref(cls, node_id, record)

    async def _own(self, spec: WorkflowSpec, ticket: Ticket) -> _PoolTicket:
        if isinstance(ticket, _PoolTicket) and ticket.member is not None:
            return ticket
        found = await self.lookup(spec, ticket.job_id)
        if not isinstance(found, _PoolTicket):
            raise JobLostError(ticket.job_id, f"no server of {self!r} knows it")
        return found

    # -- placing a job -----------------------------------------------------------------------

    async def _place(self, spec: WorkflowSpec, job: _PoolTicket, exclude: set[int]) -> Ticket:
        """Submit `job` to the best member not in `exclude`, trying others while members
        fail before accepting it; the job's ticket then points at its member."""
        assert job.values is not None
        needs = _needs(spec, job.values)
        while True:
            member, slot = await self._choose(spec, needs, exclude)
            client = member.client
            try:
                prepared = await client.prepare(spec, dict(job.values))  # uploads go there
                prepared = dataclasses.replace(prepared, fingerprint=job.fingerprint)
                # A job submitted again keeps the graph and seeds it had (uploads are named
                # by content, so the graph names the same files on every member).
                inner = await client.submit(spec, job.payload or prepared, job_id=job.job_id)
            except BackendUnavailableError as error:
                slot.release()
                if self._closed or client.closed:
                    raise
                self._down(member, error)
                self._orphan(member, job.job_id)
                exclude.add(member.index)
                continue
            except (WorkflowValidationError, MissingNodeError):
                slot.release()
                if not await self._outdated(member, needs):
                    raise
                exclude.add(member.index)  # it lost a node or a model since we looked
                continue
            except BaseException:
                slot.release()
                raise
            job.payload = job.payload or prepared
            job.hold(member, inner, slot)
            return inner

    async def _choose(
        self, spec: WorkflowSpec, needs: _Needs, exclude: set[int]
    ) -> tuple[_Member, _Slot]:
        state = self._loops.get()
        refreshed = probed = False
        while True:
            if self._closed:
                raise BackendUnavailableError(f"{self!r} is closed")
            state.changed.clear()
            self._probe_due(state)
            candidates = [m for m in self._members if m.up and m.index not in exclude]
            await self._learn(state, [m for m in candidates if m.info is None])
            lacking = {m.index: _lacks(m.info, needs) for m in self._members if m.info is not None}
            able = [m for m in candidates if m.up and lacking.get(m.index) == []]
            if able:
                with self._jobs_lock:  # the cap holds across threads: choose and count at once
                    free = [m for m in able if self._max_jobs is None
                            or self._jobs[m.index] < self._max_jobs]  # fmt: skip
                    if free:
                        member = self._least_loaded(free)
                        return member, _Slot(self, member.index)
                await within(state.changed.wait(), _RECHECK)  # a job ends, or look again
                continue
            live = [m for m in candidates if m.up and m.info is not None]
            if live and not refreshed:  # what they have may have changed: ask again
                refreshed = True
                await self._learn(state, live, refresh=True)
                continue
            hopeful = [  # out, and able to run it as far as we know
                m for m in self._members
                if m.index not in exclude and not m.up and not lacking.get(m.index)
            ]  # fmt: skip
            if hopeful and not probed:  # nothing else can run it: ask them now
                probed = True
                await asyncio.gather(*(self._probe(state, m) for m in hopeful))
                continue
            raise self._nowhere(spec, lacking, exclude)

    def _nowhere(
        self, spec: WorkflowSpec, lacking: Mapping[int, list[str]], exclude: set[int]
    ) -> ComfygenError:
        """Why no member can take a job: down or lost it (then unavailable), or lacking."""
        unusable = [m for m in self._members if m.index in exclude or not m.up]
        capable = [m for m in unusable if not lacking.get(m.index)]
        if capable:
            reasons = "; ".join(f"{m.url}: {m.problem or 'it lost the job'}" for m in capable)
            return BackendUnavailableError(
                f"no server that can run workflow {spec.name!r} is available ({reasons})"
            )
        return NoCapableServerError(
            spec.name, {m.url: list(lacking[m.index]) for m in self._members if m.index in lacking}
        )

    def _least_loaded(self, members: list[_Member]) -> _Member:
        load = {m.index: self._jobs[m.index] + m.client._queued_by_others() for m in members}
        low = min(load.values())
        size = len(self._members)
        tied = [m for m in members if load[m.index] == low]
        chosen = min(tied, key=lambda m: (m.index - self._turn) % size)
        self._turn = chosen.index + 1
        return chosen

    # -- what members have ------------------------------------------------------------------

    async def _learn(
        self, state: _LoopState, members: list[_Member], *, refresh: bool = False
    ) -> None:
        """Fetch the members' /object_info (one fetch per member at a time, shared)."""
        fetches = []
        for member in members:
            fetch = state.fetches.get(member.index)
            if fetch is None or (fetch.done() and (refresh or member.info is None)):
                fetch = asyncio.ensure_future(self._fetch(member, refresh=refresh))
                state.fetches[member.index] = fetch
            fetches.append(fetch)
        for fetch in fetches:
            await asyncio.shield(fetch)  # one job giving up spares the others' fetch

    async def _fetch(self, member: _Member, *, refresh: bool) -> None:
        try:
            member.info = await member.client.object_info(refresh=refresh)
        except ComfygenError as error:
            self._down(member, error)

    async def _outdated(self, member: _Member, needs: _Needs) -> bool:
        """After the member rejected a job's inputs: does it now lack what the job needs?"""
        await self._learn(self._loops.get(), [member], refresh=True)
        return not member.up or member.info is None or bool(_lacks(member.info, needs))

    # -- health ------------------------------------------------------------------------------

    def _down(self, member: _Member, error: BaseException) -> None:
        if not member.up:
            return  # already out: its probes set the pace
        member.delays = backoff(self._probe_interval, self._max_probe_interval)
        member.retry_at = time.monotonic() + next(member.delays)
        member.problem = str(error)
        logger.warning("ComfyUI pool: %s taken out: %s", member.url, member.problem)

    def _orphan(self, member: _Member, job_id: str) -> None:
        if member.up:
            return
        member.orphans[job_id] = None
        member.orphans.move_to_end(job_id)
        while len(member.orphans) > _ORPHANS_KEPT:
            member.orphans.popitem(last=False)

    def _probe_due(self, state: _LoopState) -> None:
        now = time.monotonic()
        for member in self._members:
            if member.retry_at is not None and member.retry_at <= now:
                running = state.probes.get(member.index)
                if running is None or running.done():
                    state.probes[member.index] = asyncio.ensure_future(self._check(member))

    async def _probe(self, state: _LoopState, member: _Member) -> None:
        running = state.probes.get(member.index)
        if running is None or running.done():
            running = state.probes[member.index] = asyncio.ensure_future(self._check(member))
        await asyncio.shield(running)

    async def _check(self, member: _Member) -> None:
        """Probe a member that is out; it rejoins once it answers, what it has is fetched
        anew and no copy of a job that moved elsewhere is live there any more."""
        if member.up:
            return
        try:
            await member.client._probe()
            member.info = await member.client.object_info(refresh=True)
            # Until none is left: jobs orphaned while this runs are cleared too, and the
            # member is marked up with no await after the last look.
            while member.orphans:
                job_id = next(iter(member.orphans))
                if not await self._cleared(member, job_id):
                    raise ComfygenError(
                        f"job {job_id}, which moved to another server, is still there and "
                        "could not be cancelled"
                    )
                member.orphans.pop(job_id, None)
        except ComfygenError as error:
            delays = member.delays or backoff(self._probe_interval, self._max_probe_interval)
            member.delays = delays
            member.retry_at = time.monotonic() + next(delays)
            member.problem = str(error)
            return
        member.retry_at, member.delays, member.problem = None, None, None
        logger.warning("ComfyUI pool: %s is back", member.url)
        self._changed()

    async def _cleared(self, member: _Member, job_id: str) -> bool:
        """Whether a copy of the job on a member that is back can no longer run there: the
        member confirmed its cancel, or says it is neither queued nor running."""
        client = member.client
        try:
            if await within(client._cancel(job_id), CANCEL_BOUND):
                return True
            return job_id not in await client._live_jobs()
        except (ComfygenError, httpx.HTTPError, ValueError):
            return False  # no answer: the copy may still run

    def _changed(self) -> None:
        """Wake the jobs waiting for a member in every event loop: a job ended or a
        member rejoined."""
        for state in self._loops.all():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile
                state.loop.call_soon_threadsafe(state.changed.set)
