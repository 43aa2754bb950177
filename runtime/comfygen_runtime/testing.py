"""A fake backend for testing application code that calls generated functions.

Pass a `FakeBackend` as `client=`; nothing is sent anywhere. Every call goes through the
runtime's real job lifecycle (the same validation, events, timeouts, cancellation and
result classes as against a server), and the backend records what it was given::

    from comfygen_runtime.testing import FakeBackend, FakeFile
    from gen import book_cover

    async def test_cover_is_saved(tmp_path):
        fake = FakeBackend()
        fake.respond(book_cover, cover=[FakeFile("cover.png", PNG_BYTES)])
        result = await book_cover(prompt="a cat", client=fake)
        assert (await result.cover[0].read()) == PNG_BYTES
        assert fake.calls[0].params["prompt"] == "a cat"

Scripts are per workflow (the generated function, or its name) and apply to every call
until the next script for that workflow:

- `respond(workflow, **fields)`: the outputs of each result field: bytes or `FakeFile`
  for image/video/audio/file fields, `str` for text fields. Fields not given get a
  placeholder of their kind (a 1×1 PNG, empty bytes, an empty text).
- `fail(...)`: the job fails at a node (`ExecutionError`).
- `reject(...)`: the server refuses the inputs (`WorkflowValidationError`, naming the
  parameter as real servers' answers are mapped).
- `interrupt(...)`: the job is interrupted on the server (`JobInterruptedError`).
- `hang(...)`: the job never ends, to test timeouts and cancellation (`cancelled`
  records the jobs the lifecycle cancelled).

What it records: `calls` (each call's validated `params`, the `graph` a server would
have received, its `job_id`), `uploads` (media by the name the graph gives them: local
files and bytes, named by content as the real backends do; URLs are not fetched) and
`cancelled` (job ids).
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._apply import apply_params
from ._backend import Prepared, Settled, Ticket
from ._errors import JobInterruptedError
from ._events import Event, Events
from ._failures import execution_error, validation_error
from ._media import media_sources
from ._outputs import File
from ._spec import OutputSpec, WorkflowSpec

__all__ = ["FakeBackend", "FakeCall", "FakeFile", "OutputValue", "WorkflowRef"]


@dataclass(frozen=True)
class FakeFile:
    """A file a fake job produced: its name on the "server" and its bytes."""

    filename: str
    data: bytes = b""
    subfolder: str = ""


OutputValue: TypeAlias = "bytes | str | FakeFile"
"""One output item: bytes or a `FakeFile` (files), or a `str` (texts)."""

WorkflowRef: TypeAlias = "str | Callable[..., Any]"
"""A generated workflow function, or its name (the function's `__name__`)."""


@dataclass(frozen=True)
class FakeCall:
    """One call a `FakeBackend` received: validated parameters, the graph that would
    have been sent, and the job id the lifecycle gave it."""

    workflow: str
    params: dict[str, Any]
    graph: dict[str, Any]
    job_id: str


@dataclass(frozen=True)
class _Script:
    kind: Literal["respond", "fail", "reject", "interrupt", "hang"]
    outputs: Mapping[str, Sequence[OutputValue]] = field(default_factory=dict)
    node: str | None = None
    param: str | None = None
    input: str | None = None
    exception_type: str = "RuntimeError"
    message: str = ""


@dataclass
class _FakeJob:
    call: FakeCall
    script: _Script
    ticket: Ticket


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00\x00\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + (chunk(b"IEND", b""))
    )


_PLACEHOLDER_SUFFIX = {"image": ".png", "video": ".mp4", "audio": ".flac", "file": ".bin"}


class FakeBackend:
    """A backend that runs scripted jobs in memory (see the module docstring)."""

    def __init__(self, base_url: str = "http://comfygen-fake.invalid") -> None:
        self._base_url = base_url
        self._scripts: dict[str, _Script] = {}
        self._jobs: dict[str, _FakeJob] = {}
        self._files: dict[str, bytes] = {}  # by the token in a raw record: bytes stay out
        self.calls: list[FakeCall] = []
        self.cancelled: list[str] = []
        self.uploads: dict[str, bytes] = {}  # media by the name the graph gives them

    def __repr__(self) -> str:
        return f"FakeBackend({self._base_url!r})"

    # -- scripting ---------------------------------------------------------------------

    def respond(self, workflow: WorkflowRef, /, **outputs: Sequence[OutputValue]) -> None:
        """Calls of `workflow` succeed with these outputs (by result field name)."""
        self._scripts[_name(workflow)] = _Script("respond", outputs=outputs)

    def fail(
        self,
        workflow: WorkflowRef,
        /,
        *,
        node: str,
        exception_type: str = "RuntimeError",
        message: str = "the node failed",
    ) -> None:
        """Calls of `workflow` fail at `node` with an `ExecutionError`."""
        self._scripts[_name(workflow)] = _Script(
            "fail", node=node, exception_type=exception_type, message=message
        )

    def reject(
        self,
        workflow: WorkflowRef,
        /,
        *,
        param: str | None = None,
        node: str | None = None,
        input: str | None = None,
        message: str = "Value not in list",
    ) -> None:
        """Calls of `workflow` are refused with a `WorkflowValidationError` about the
        input that parameter `param` sets (or `node`'s `input`)."""
        self._scripts[_name(workflow)] = _Script(
            "reject", param=param, node=node, input=input, message=message
        )

    def interrupt(self, workflow: WorkflowRef, /, *, node: str | None = None) -> None:
        """Calls of `workflow` are interrupted on the server (`JobInterruptedError`)."""
        self._scripts[_name(workflow)] = _Script("interrupt", node=node)

    def hang(self, workflow: WorkflowRef, /) -> None:
        """Calls of `workflow` never finish: their `timeout` passes, or they are cancelled."""
        self._scripts[_name(workflow)] = _Script("hang")

    # -- the Backend protocol ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def default_timeout(self) -> float | None:
        return None

    @property
    def cancel_on_timeout(self) -> bool:
        return True

    async def lookup(self, spec: WorkflowSpec, job_id: str) -> Ticket | None:
        job = self._jobs.get(job_id)
        return job.ticket if job is not None else None

    async def forget(self, ticket: Ticket) -> None:
        self._jobs.pop(ticket.job_id, None)

    async def prepare(self, spec: WorkflowSpec, values: dict[str, Any]) -> Prepared:
        # Media as a server would get them: local files read (a missing one is the same
        # ParameterError), bytes named by content; URLs are not fetched.
        sent = dict(values)
        for name, source in (await media_sources(spec.params, values)).items():
            if not isinstance(source, str):
                self.uploads[source.name] = source.data
                sent[name] = source.name
        return Prepared({"params": dict(values), "graph": apply_params(spec, sent)})

    async def submit(self, spec: WorkflowSpec, prepared: Prepared, *, job_id: str) -> Ticket:
        script = self._scripts.get(spec.name, _Script("respond"))
        call = FakeCall(spec.name, prepared.payload["params"], prepared.payload["graph"], job_id)
        self.calls.append(call)
        if script.kind == "reject":
            raise self._rejection(spec, script)
        ticket = Ticket(job_id, self._base_url, fingerprint=prepared.fingerprint)
        self._jobs[job_id] = _FakeJob(call, script, ticket)
        return ticket

    async def follow(self, spec: WorkflowSpec, ticket: Ticket, events: Events) -> Any:
        job = self._jobs[ticket.job_id]
        await events(Event("queued", ticket.job_id, position=0))
        ticket.state = "running"
        await events(Event("started", ticket.job_id))
        if job.script.kind == "hang":
            await asyncio.Event().wait()  # until the lifecycle cancels the run
        nodes = [node for output in spec.outputs for node in output.node_ids]
        for done, node in enumerate(nodes):
            await events(
                Event("executing", ticket.job_id, node=node, nodes_done=done,
                      nodes_total=len(nodes))
            )  # fmt: skip
        failed = job.script.kind in ("fail", "interrupt")
        ticket.state = "failed" if failed else "done"
        ticket.record = self._record(spec, job)
        return ticket.record

    async def cancel(self, ticket: Ticket) -> bool:
        self.cancelled.append(ticket.job_id)
        ticket.state = "failed"
        return True

    async def settle(self, spec: WorkflowSpec, ticket: Ticket, record: Any) -> Settled:
        script = self._jobs[ticket.job_id].script
        if script.kind == "fail":
            raise execution_error(
                ticket.job_id,
                {"node_id": script.node, "node_type": _class_of(spec, script.node),
                 "exception_type": script.exception_type,
                 "exception_message": script.message},
            )  # fmt: skip
        if script.kind == "interrupt":
            raise JobInterruptedError(ticket.job_id, script.node)
        return Settled(outputs=record, duration=0.0)

    def file_ref(self, cls: type[File], node_id: str, record: Mapping[str, Any]) -> File:
        ref = cls(
            node_id=node_id,
            filename=str(record["filename"]),
            subfolder=str(record.get("subfolder", "")),
            url=f"{self._base_url}/view/{record['token']}/{record['filename']}",
        )
        ref._source = _Files(self._files[str(record["token"])])
        return ref

    # -- helpers -----------------------------------------------------------------------

    def _record(self, spec: WorkflowSpec, job: _FakeJob) -> dict[str, Any]:
        """Raw outputs per node id, in the shape the runtime maps onto result fields."""
        record: dict[str, Any] = {}
        for output in spec.outputs:
            given = job.script.outputs.get(output.name)
            items = list(given) if given is not None else [_placeholder(output)]
            node_id = output.node_ids[0]
            entry = record.setdefault(node_id, {})
            for item in items:
                if isinstance(item, str):
                    entry.setdefault("text", []).append(item)
                    continue
                file = item if isinstance(item, FakeFile) else FakeFile(_name_for(output), item)
                token = uuid.uuid4().hex[:12]
                self._files[token] = file.data
                entry.setdefault("files", []).append(
                    {"filename": file.filename, "subfolder": file.subfolder, "type": "output",
                     "token": token}
                )  # fmt: skip
        return record

    def _rejection(self, spec: WorkflowSpec, script: _Script) -> Exception:
        node, input_name = script.node, script.input
        if script.param is not None:
            param = next((p for p in spec.params if p.name == script.param), None)
            if param is None:
                raise ValueError(f"workflow {spec.name!r} has no parameter {script.param!r}")
            node, input_name = param.targets[0].node_id, param.targets[0].input
        node = node or next(iter(spec.graph), "1")
        error = {"type": "value_not_valid", "message": script.message, "details": "",
                 "extra_info": {"input_name": input_name}}  # fmt: skip
        node_errors = {node: {"errors": [error], "class_type": _class_of(spec, node)}}
        body = {
            "error": {"type": "prompt_outputs_failed_validation",
                      "message": "Prompt outputs failed validation"},
            "node_errors": node_errors,
        }  # fmt: skip
        return validation_error(spec, node_errors, body)


class _Files:
    """The bytes behind one fake file reference."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def stream_file(self, ref: File) -> AsyncGenerator[bytes, None]:
        yield self._data


def _name(workflow: WorkflowRef) -> str:
    return workflow if isinstance(workflow, str) else str(workflow.__name__)


def _class_of(spec: WorkflowSpec, node: str | None) -> str:
    entry = spec.graph.get(node or "", {})
    return str(entry.get("class_type", "")) if isinstance(entry, Mapping) else ""


def _name_for(output: OutputSpec) -> str:
    return f"{output.name}{_PLACEHOLDER_SUFFIX.get(output.kind, '.bin')}"


def _placeholder(output: OutputSpec) -> OutputValue:
    if output.kind == "text":
        return ""
    if output.kind == "image":
        return FakeFile(_name_for(output), _png_1x1())
    return FakeFile(_name_for(output), b"")
