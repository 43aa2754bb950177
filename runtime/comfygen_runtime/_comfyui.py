"""The ComfyUI backend: HTTP through httpx and ONE websocket per client (and event loop).

The job lifecycle is `_job.py`'s; this module only talks to the server. The rules below
come from recordings of a real ComfyUI server:

- Every POST /prompt carries this client's `client_id` (without it the server sends no
  execution events) and a client-chosen lowercase UUID `prompt_id`, never `number` (a
  repeated id with a repeated number can kill the server's worker thread).
- A job is done when `executing` arrives with `node: null` for its prompt_id: the server
  sends it after it has written the history (`execution_success` comes before). Then
  `/history/{id}` is the source of truth for outputs and errors.
- If the socket is unavailable or drops, jobs poll `/history/{id}` with capped backoff, and
  check on reconnect; a job the server no longer knows (restart, deleted from the queue
  by another client) raises `JobLostError` instead of waiting forever.
- A submission that fails mid-way (connection reset, 5xx) is never blindly repeated: the
  server is asked whether it knows the prompt_id first, so no job runs twice.
- A prompt id submitted again (an idempotency key whose job failed) keeps its old history
  record until the new run ends: that record is deleted before the new submission, and a
  job whose queue number is known accepts only the record with that number.
- A job submitted with an idempotency key carries the fingerprint of its request in
  `extra_data`, which the server keeps in its queue and history: a lookup reports it.
- Cancelling cancels only our job: `/api/jobs/{id}/cancel`, or on older servers a queue
  delete plus an interrupt targeted at the prompt_id. Never a global interrupt: servers
  before ComfyUI 0.3.57 ignore the prompt_id of /interrupt and stop whatever runs (which,
  a moment after we looked, may be another client's job), so a running job of ours is
  not interrupted there (its cancel is not confirmed).
- First contact: a server never reached fails at once (within `connect_timeout`), naming
  the URL and the cause; `unavailable_after` (riding out a restart) applies only to a
  server this client has reached before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import AsyncGenerator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx

from ._apply import apply_params
from ._backend import JobState, Prepared, Settled, Ticket
from ._config import ComfyUIConfig, redact_url
from ._errors import (
    BackendUnavailableError,
    ComfygenError,
    JobInterruptedError,
    JobLostError,
    ParameterError,
)
from ._events import Event, Events
from ._failures import execution_error, rejection
from ._introspect import QueueState, SystemStats
from ._loop import PerLoop
from ._media import Upload, UploadOnce, hashed, media_sources, upload_for, url_suffix
from ._net import Transient, backoff, describe_failure, retry, within
from ._outputs import File
from ._progress import Progress, event_of
from ._seeds import randomize_zero_seeds
from ._socket import Control, Inbox, Message, Preview, ServerMessage, SocketMux, TextFrame
from ._spec import WorkflowSpec

__all__ = ["ComfyUI"]

logger = logging.getLogger("comfygen_runtime")

_SOCKET_WAIT = 10.0  # seconds a submission waits for the socket before it polls instead
_FINGERPRINT = "comfygen_fingerprint"  # extra_data key: the request a key's job was made for
_UPLOAD_LIMIT = 100 * 1024 * 1024  # ComfyUI's default max_upload_size, when it says none
_TARGETED_INTERRUPT = (0, 3, 57)  # the first ComfyUI whose /interrupt honours a prompt_id


@dataclass(frozen=True)
class _Known:
    """What the server has under a prompt id: where the job is, its queue number, the
    fingerprint it was submitted with, and its history record once it has ended."""

    state: JobState
    number: float | None = None
    fingerprint: str | None = None
    record: dict[str, Any] | None = None


@dataclass(eq=False)
class _ComfyTicket(Ticket):
    """A ComfyUI job: its inbox on the client's socket, and what following it needs."""

    inbox: Inbox | None = None
    socket_epoch: int | None = None  # the socket it was submitted over, if any
    number: float | None = None  # the server's queue number for this submission
    graph: Mapping[str, Any] | None = None


class _Connection:
    """A client's state in one event loop: HTTP pool, socket, uploads, first contact."""

    def __init__(self, client: ComfyUI) -> None:
        self.client = client
        self.client_id = uuid.uuid4().hex
        self.http = httpx.AsyncClient(
            base_url=client._config.base_url,
            headers=client._config.request_headers(),
            timeout=client._request_timeout,
            limits=httpx.Limits(
                max_connections=client._max_connections,
                max_keepalive_connections=client._max_connections,
            ),
        )
        self.mux = SocketMux(
            f"{client._socket_url()}?clientId={self.client_id}",
            client._config.request_headers(),
            on_open=client._socket_opened,
            on_status=self._status,
        )
        self.uploads = UploadOnce(client._upload)
        self.contact: asyncio.Future[None] | None = None
        # Jobs in the server's queue that are not this client's (in this loop), as of its
        # last `status` broadcast: what a pool adds to its own jobs to weigh the server.
        self.queued_by_others = 0
        self._reconcile_task: asyncio.Task[None] | None = None
        self._reconcile_again = False

    async def aclose(self) -> None:
        await self.mux.close()
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reconcile_task
        await self.http.aclose()

    def _status(self, data: Mapping[str, Any]) -> None:
        status = data.get("status")
        info = status.get("exec_info") if isinstance(status, Mapping) else None
        remaining = info.get("queue_remaining") if isinstance(info, Mapping) else None
        if isinstance(remaining, int) and not isinstance(remaining, bool):
            # This client's jobs there, in every event loop: they are not the others'.
            ours = sum(connection.mux.accepted_jobs for connection in self.client._loops.all())
            self.queued_by_others = max(0, remaining - ours)
        self._schedule_reconcile()

    # A `status` broadcast may mean a job of ours ended unseen (deleted by another client,
    # or followed without its events): check which are no longer live, at most once a second.

    def _schedule_reconcile(self) -> None:
        if not any(inbox.accepted_at is not None for inbox in self.mux.inboxes()):
            return
        if self._reconcile_task is not None and not self._reconcile_task.done():
            self._reconcile_again = True
            return
        self._reconcile_task = asyncio.ensure_future(self._reconcile())

    async def _reconcile(self) -> None:
        while True:
            self._reconcile_again = False
            started = time.monotonic()
            with contextlib.suppress(ComfygenError, httpx.HTTPError, ValueError):
                live = await self.client._live_jobs()
                for inbox in self.mux.inboxes():
                    accepted = inbox.accepted_at
                    if accepted is not None and accepted < started and inbox.prompt_id not in live:
                        inbox.put_nowait(Control.CHECK)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
            if not self._reconcile_again:
                return


class ComfyUI:
    """A ComfyUI server. Use one per server and share it: its jobs share one socket.

    Configuration: arguments, then `COMFYUI_BASE_URL`, `COMFYUI_API_KEY` (a Bearer token),
    `COMFYUI_COOKIES`, `COMFY_ORG_API_KEY`, then `http://127.0.0.1:8188`. `api_prefix=True`
    sends requests to the server's `/api/...` aliases (for proxies that expose only those).
    `comfy_org_api_key` authenticates ComfyUI's API (partner) nodes: it is sent with each
    prompt as `extra_data.api_key_comfy_org` (the server keeps it out of its queue and
    history) and never logged.

    The client works from any event loop (and from several at once): connections are made
    per loop, lazily. `close()` ends them all.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        comfy_org_api_key: str | None = None,
        cookies: str | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        api_prefix: bool = False,
        request_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        unavailable_after: float = 60.0,
        max_poll_interval: float = 1.0,
        liveness_interval: float = 10.0,
        max_connections: int = 16,
        randomize_seeds: bool = False,
        cancel_on_timeout: bool = True,
    ) -> None:
        self._config = ComfyUIConfig.resolve(
            base_url, api_key, cookies, headers, comfy_org_api_key=comfy_org_api_key
        )
        self._prefix = "/api" if api_prefix else ""
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._unavailable_after = unavailable_after
        self._max_poll_interval = max_poll_interval
        self._liveness_interval = liveness_interval
        # A ComfyUI server handles requests one at a time; a small pool is faster (httpcore
        # scans its pool for every queued request) and plenty for parallel transfers.
        self._max_connections = max_connections
        self._randomize_seeds = randomize_seeds
        self.cancel_on_timeout = cancel_on_timeout
        self.sockets_opened = 0
        self._seen = False  # reached once: from now on, ride out unavailability
        self._has_jobs_api: bool | None = None
        self._targeted_interrupt: bool | None = None  # /interrupt honours a prompt_id
        self._object_info: dict[str, Any] | None = None
        self._upload_limit: int | None = None  # GET /features max_upload_size, once read
        self._closed = False
        self._loops: PerLoop[_Connection] = PerLoop(lambda: _Connection(self))

    def __repr__(self) -> str:
        return f"ComfyUI({self._config.display_url!r})"

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def default_timeout(self) -> float | None:
        return None  # a job runs as long as it needs unless the call says otherwise

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def client_id(self) -> str | None:
        """The websocket client id used in the running event loop (None: not used there)."""
        connection = self._loops.current()
        return connection.client_id if connection is not None else None

    async def __aenter__(self) -> ComfyUI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the sockets and HTTP connections; running jobs are not cancelled.

        Calls still waiting on this client fail with `BackendUnavailableError`.
        """
        self._closed = True
        await self._loops.close()

    def _socket_opened(self) -> None:
        self.sockets_opened += 1

    # -- HTTP --------------------------------------------------------------------------

    def _connection(self) -> _Connection:
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        return self._loops.get()

    def _path(self, path: str) -> str:
        return path if path.startswith("/api/jobs") else self._prefix + path

    async def _reach(self, connection: _Connection) -> None:
        """Before the first request to a server never reached: is it there, and ComfyUI?"""
        if self._seen:
            return
        contact = connection.contact
        if contact is None or contact.done():
            contact = connection.contact = asyncio.ensure_future(self._first_contact(connection))
            contact.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.shield(contact)

    async def _first_contact(self, connection: _Connection) -> None:
        where = self._config.display_url
        path = self._path("/system_stats")
        try:
            reply = await connection.http.get(path, timeout=self._connect_timeout)
        except httpx.TransportError as error:
            raise BackendUnavailableError(
                f"cannot reach ComfyUI at {where}: {describe_failure(error)}"
            ) from None
        if reply.status_code in (401, 403):
            raise BackendUnavailableError(
                f"ComfyUI at {where} refused the request (HTTP {reply.status_code}): check "
                "api_key, cookies or the credentials in the URL"
            )
        if reply.status_code >= 500:
            raise BackendUnavailableError(
                f"ComfyUI at {where} is unavailable: GET {path} answered HTTP {reply.status_code}"
            )
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.status_code != 200 or not isinstance(body, dict) or "system" not in body:
            raise BackendUnavailableError(
                f"{where} does not look like a ComfyUI server: GET {path} answered "
                f"HTTP {reply.status_code}"
                + ("" if reply.status_code != 200 else " without ComfyUI's system stats")
                + " (check the URL, and api_prefix for servers behind a proxy)"
            )
        self._seen = True

    async def _request(
        self, method: str, path: str, *, patience: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One HTTP request, repeated while the server is unreachable (connect errors, 5xx,
        429) for `patience` seconds (default: the client's `unavailable_after`).

        Only for requests that are safe to repeat; POST /prompt has its own rule.
        """
        connection = self._connection()
        await self._reach(connection)

        async def attempt() -> httpx.Response:
            try:
                response = await connection.http.request(method, self._path(path), **kwargs)
            except httpx.TransportError as error:
                raise Transient(describe_failure(error)) from None
            if response.status_code >= 500 or response.status_code == 429:
                raise Transient(f"HTTP {response.status_code}")
            return response

        waiting = self._unavailable_after if patience is None else patience
        try:
            return await retry(attempt, patience=waiting, maximum=self._max_poll_interval)
        except Transient as failure:
            raise BackendUnavailableError(
                f"ComfyUI at {self._config.display_url} is unavailable "
                f"({method} {path}: {failure.problem})"
            ) from None

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        try:
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPStatusError, ValueError):
            raise BackendUnavailableError(
                f"ComfyUI at {self._config.display_url} answered {method} {path} with "
                f"HTTP {response.status_code} and no usable JSON"
            ) from None

    def view_url(self, record: Mapping[str, Any]) -> str:
        """The absolute `/view` URL of an output file, with its query correctly encoded."""
        query = urlencode(
            {
                "filename": str(record.get("filename", "")),
                "subfolder": str(record.get("subfolder", "")),
                "type": str(record.get("type", "output")),
            },
            quote_via=quote,
        )
        return f"{self._config.base_url}{self._prefix}/view?{query}"

    async def stream_file(self, ref: File) -> AsyncGenerator[bytes, None]:
        """Stream an output file's bytes from `/view`."""
        params = {"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type}
        http = self._connection().http
        async with http.stream("GET", self._path("/view"), params=params) as reply:
            if reply.status_code != 200:
                raise ComfygenError(
                    f"cannot download {ref.filename!r} from {self._config.display_url}: "
                    f"HTTP {reply.status_code}"
                )
            async for chunk in reply.aiter_bytes():
                yield chunk

    # -- what the server has -----------------------------------------------------------

    async def object_info(self, *, refresh: bool = False) -> dict[str, Any]:
        """The server's raw `GET /object_info` (every node class and its inputs), fetched
        once per client; `refresh=True` fetches it again (e.g. after installing nodes)."""
        if self._object_info is None or refresh:
            info = await self._json("GET", "/object_info")
            if not isinstance(info, dict):
                raise ComfygenError(f"{self!r} answered GET /object_info without an object")
            self._object_info = info
        return self._object_info

    async def node_classes(self, *, refresh: bool = False) -> frozenset[str]:
        """The node classes installed on the server (custom nodes included)."""
        return frozenset(await self.object_info(refresh=refresh))

    async def model_files(self, folder: str | None = None) -> dict[str, tuple[str, ...]]:
        """Model files by folder (`checkpoints`, `loras`, ...), as the server lists them;
        only `folder`'s when given."""
        folders: list[str]
        if folder is not None:
            folders = [folder]
        else:
            listed = await self._json("GET", "/models")
            folders = [str(name) for name in listed] if isinstance(listed, list) else []

        async def listing(name: str) -> tuple[str, tuple[str, ...]]:
            reply = await self._request("GET", f"/models/{quote(name, safe='')}")
            if reply.status_code == 404:
                raise ParameterError(f"{self!r} has no model folder {name!r}")
            files = reply.json() if reply.status_code == 200 else None
            if not isinstance(files, list):
                raise ComfygenError(f"{self!r} answered GET /models/{name} with no list")
            return name, tuple(str(file) for file in files)

        return dict(await asyncio.gather(*(listing(name) for name in folders)))

    async def _probe(self) -> None:
        """One quick check that the server answers as ComfyUI (no retries): for a pool
        deciding whether a server it took out may rejoin."""
        await self._first_contact(self._connection())

    def _queued_by_others(self) -> int:
        """Jobs of other clients in the server's queue, as its last status broadcast to
        this loop's socket told (0 before any)."""
        connection = self._loops.current()
        return connection.queued_by_others if connection is not None else 0

    async def queue(self) -> QueueState:
        """The server's queue: running jobs, and pending jobs in the order they will run."""
        return QueueState.parse(await self._json("GET", "/queue"))

    async def system_stats(self) -> SystemStats:
        """Versions, memory and devices of the server."""
        return SystemStats.parse(await self._json("GET", "/system_stats"))

    # -- uploads -----------------------------------------------------------------------

    async def upload(self, data: bytes, *, suffix: str | None = None) -> str:
        """Upload bytes as an input file and return the server's file name for it.

        The name is derived from the content, so the same bytes are uploaded only once.
        """
        return await self._connection().uploads(upload_for(data, suffix))

    async def _upload(self, upload: Upload) -> str:
        params = {"filename": upload.name, "type": "input", "subfolder": ""}
        known = await self._request("HEAD", "/view", params=params)
        if known.status_code == 200:
            return upload.name  # the server has these bytes already: send nothing
        reply = await self._request(
            "POST",
            "/upload/image",
            files={"image": (upload.name, upload.data, upload.content_type)},
            data={"overwrite": "true"},
        )
        if reply.status_code != 200:
            raise ComfygenError(f"upload of {upload.name!r} failed: HTTP {reply.status_code}")
        name = reply.json().get("name")
        if name != upload.name:
            raise ComfygenError(f"the server stored upload {upload.name!r} as {name!r}")
        return upload.name

    async def _max_upload(self) -> int:
        """The largest upload the server takes (its /features `max_upload_size`)."""
        if self._upload_limit is None:
            limit = None
            with contextlib.suppress(ComfygenError, ValueError):
                features = await self._json("GET", "/features")
                limit = features.get("max_upload_size") if isinstance(features, dict) else None
            valid = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
            self._upload_limit = limit if valid and isinstance(limit, int) else _UPLOAD_LIMIT
        return self._upload_limit

    async def _download(self, url: str, param: str) -> Upload:
        """A media URL's content, streamed and refused as soon as it is larger than the
        server would take as an upload (so a URL cannot make this process load gigabytes)."""
        limit = await self._max_upload()
        where = redact_url(url)
        too_large = ParameterError(
            f"media parameter {param!r}: {where} is larger than the {limit} bytes the server "
            "takes as an upload (its max_upload_size)"
        )
        data = bytearray()
        try:
            async with (
                httpx.AsyncClient(timeout=self._request_timeout) as fetcher,
                fetcher.stream("GET", url, follow_redirects=True) as reply,
            ):
                if reply.status_code != 200:
                    raise ParameterError(
                        f"media parameter {param!r}: downloading {where} gave "
                        f"HTTP {reply.status_code}"
                    )
                declared = reply.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise too_large
                async for chunk in reply.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise too_large
        except httpx.HTTPError as error:
            raise ParameterError(
                f"media parameter {param!r}: cannot download {where}: {describe_failure(error)}"
            ) from None
        return await hashed(bytes(data), url_suffix(url))

    # -- the socket and what the server knows about jobs -------------------------------

    def _socket_url(self) -> str:
        parts = urlsplit(self._config.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, f"{parts.path}{self._prefix}/ws", "", ""))

    async def _live_jobs(self) -> dict[str, JobState]:
        """Every pending or running job on the server, by prompt id."""
        if self._has_jobs_api is not False:
            reply = await self._request(
                "GET", "/api/jobs", params={"status": "pending,in_progress"}
            )
            if reply.status_code == 200:
                self._has_jobs_api = True
                return {
                    str(job["id"]): "running" if job.get("status") == "in_progress" else "pending"
                    for job in reply.json().get("jobs", [])
                }
            self._has_jobs_api = False
        queue = await self.queue()
        live: dict[str, JobState] = {job.prompt_id: "pending" for job in queue.pending}
        live.update({job.prompt_id: "running" for job in queue.running})
        return live

    async def _history(self, prompt_id: str) -> dict[str, Any] | None:
        record = await self._json("GET", f"/history/{prompt_id}")
        entry = record.get(prompt_id) if isinstance(record, dict) else None
        return entry if isinstance(entry, dict) else None

    async def _state(self, prompt_id: str) -> tuple[JobState, dict[str, Any] | None] | None:
        """Where the server has the job, or None if it does not know it. Asked in this
        order because a job leaves the queue only after its history is written."""
        live = await self._live_jobs()
        if prompt_id in live:
            return live[prompt_id], None
        record = await self._history(prompt_id)
        if record is None:
            return None
        return ("done" if _succeeded(record) else "failed"), record

    async def _knows(self, prompt_id: str) -> bool:
        return await self._state(prompt_id) is not None

    async def _found(self, prompt_id: str) -> _Known | None:
        """Like `_state`, with the job's queue number and fingerprint (from the queue
        items, which carry them; /api/jobs does not)."""
        queue = await self._json("GET", "/queue")
        queue = queue if isinstance(queue, dict) else {}
        sections: tuple[tuple[JobState, str], ...] = (
            ("running", "queue_running"),
            ("pending", "queue_pending"),
        )
        for live, section in sections:
            for item in queue.get(section) or []:
                if isinstance(item, list) and len(item) > 1 and item[1] == prompt_id:
                    return _Known(live, _number(item), _fingerprint(item))
        record = await self._history(prompt_id)
        if record is None:
            return None
        prompt = record.get("prompt")
        ended: JobState = "done" if _succeeded(record) else "failed"
        if not isinstance(prompt, list):
            return _Known(ended, record=record)
        return _Known(ended, _number(prompt), _fingerprint(prompt), record)

    # -- the job steps (see _backend.Backend) ------------------------------------------

    def _register(self, connection: _Connection, ticket: _ComfyTicket) -> Inbox:
        inbox = ticket.inbox = connection.mux.register(ticket.job_id)
        # A ticket dropped without being followed (a handle never awaited) frees its inbox.
        weakref.finalize(ticket, connection.mux.unregister, inbox)
        return inbox

    def _release(self, ticket: Ticket) -> None:
        """Stop receiving messages for a ticket that will not be followed (a pool found
        the job on this server and on another one, and follows the other)."""
        if isinstance(ticket, _ComfyTicket) and ticket.inbox is not None:
            connection = self._loops.current()
            if connection is not None:
                connection.mux.unregister(ticket.inbox)
            ticket.inbox = None

    async def lookup(self, spec: WorkflowSpec, job_id: str) -> Ticket | None:
        connection = self._connection()
        ticket = _ComfyTicket(job_id, self.base_url)
        inbox = self._register(connection, ticket)  # first: no end can slip past unseen
        try:
            found = await self._found(job_id)
        except BaseException:
            connection.mux.unregister(inbox)
            raise
        if found is None or found.record is not None:
            connection.mux.unregister(inbox)
            ticket.inbox = None
        if found is None:
            return None
        ticket.state, ticket.record = found.state, found.record
        ticket.number, ticket.fingerprint = found.number, found.fingerprint
        if ticket.inbox is not None:
            connection.mux.accept(inbox)
            await connection.mux.ensure_open(_SOCKET_WAIT)
        return ticket

    async def forget(self, ticket: Ticket) -> None:
        """Delete a failed job's history record: the server keeps it under the prompt id
        until a new run of that id ends, and it must not pass for the new run's."""
        reply = await self._request("POST", "/history", json={"delete": [ticket.job_id]})
        if reply.status_code != 200:
            raise BackendUnavailableError(
                f"ComfyUI at {self._config.display_url} did not delete the failed record of "
                f"job {ticket.job_id} (POST /history answered HTTP {reply.status_code}), so "
                "the job is not submitted again"
            )

    async def prepare(self, spec: WorkflowSpec, values: dict[str, Any]) -> Prepared:
        connection = self._connection()
        await self._reach(connection)  # before anything is sent: is the server there?
        for name, source in (await media_sources(spec.params, values)).items():
            upload = await self._download(source, name) if isinstance(source, str) else source
            values[name] = await connection.uploads(upload)
        graph = apply_params(spec, values)
        seeds = randomize_zero_seeds(graph) if self._randomize_seeds else {}
        return Prepared(graph, seeds)

    async def submit(self, spec: WorkflowSpec, prepared: Prepared, *, job_id: str) -> Ticket:
        connection = self._connection()
        await self._reach(connection)
        ticket = _ComfyTicket(job_id, self.base_url, seeds=dict(prepared.seeds))
        ticket.graph = prepared.payload
        ticket.fingerprint = prepared.fingerprint
        inbox = self._register(connection, ticket)  # before the POST: no message is missed
        try:
            if await connection.mux.ensure_open(_SOCKET_WAIT):
                ticket.socket_epoch = connection.mux.opened
            ticket.number = await self._post_prompt(spec, connection, job_id, prepared)
        except BaseException:
            connection.mux.unregister(inbox)
            raise
        connection.mux.accept(inbox)
        return ticket

    async def _post_prompt(
        self, spec: WorkflowSpec, connection: _Connection, prompt_id: str, prepared: Prepared
    ) -> float | None:
        """POST /prompt exactly once in effect: after an unclear failure, ask before retrying.

        Returns the server's queue number for the job, when it is known.
        """
        body: dict[str, Any] = {
            "prompt": prepared.payload,
            "client_id": connection.client_id,
            "prompt_id": prompt_id,
        }
        extra: dict[str, Any] = {}
        if self._config.comfy_org_api_key is not None:
            extra["api_key_comfy_org"] = self._config.comfy_org_api_key.reveal()
        if prepared.fingerprint is not None:
            extra[_FINGERPRINT] = prepared.fingerprint
        if extra:
            body["extra_data"] = extra

        async def attempt() -> float | None:
            try:
                reply = await connection.http.post(self._path("/prompt"), json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                raise Transient(describe_failure(error)) from None  # nothing reached the server
            except httpx.TransportError as error:
                accepted = await self._accepted(prompt_id, settle=True)
                if accepted is not None:
                    return accepted.number
                raise Transient(describe_failure(error)) from None
            if reply.status_code == 200:
                with contextlib.suppress(ValueError, AttributeError):
                    number = reply.json().get("number")
                    return float(number) if isinstance(number, (int, float)) else None
                return None
            if reply.status_code in (401, 403):
                raise BackendUnavailableError(
                    f"ComfyUI at {self._config.display_url} refused the job (HTTP "
                    f"{reply.status_code}): check api_key, cookies or the credentials in the URL"
                )
            if reply.status_code == 429:  # turned away before handling it: try again later
                raise Transient("HTTP 429")
            if reply.status_code < 500:
                raise rejection(spec, reply.status_code, _json_or_none(reply))
            # 503: the server (or a proxy) turned the request away before handling it
            accepted = await self._accepted(prompt_id, settle=reply.status_code != 503)
            if accepted is not None:
                return accepted.number
            raise Transient(f"HTTP {reply.status_code}")

        try:
            return await retry(
                attempt, patience=self._unavailable_after, maximum=self._max_poll_interval
            )
        except Transient as failure:
            raise BackendUnavailableError(
                f"ComfyUI at {self._config.display_url} did not accept the job ({failure.problem})"
            ) from None

    async def _accepted(self, prompt_id: str, *, settle: bool) -> _Known | None:
        """After a POST whose outcome is unclear: what the server has under the id (None:
        it did not queue the job). A failed run's record under the same id was deleted
        before the submission (`forget`), so any record found is this submission's.

        With `settle`, the server may still be validating the prompt (a proxy timed out
        first), so an unknown id is asked about again over a few seconds before it counts
        as not queued.
        """

        async def ask() -> _Known:
            found = await self._found(prompt_id)
            if found is None:
                raise Transient("unknown")
            return found

        try:
            return await retry(ask, attempts=4 if settle else 1, first=0.5, maximum=2.0)
        except Transient:
            return None

    async def follow(self, spec: WorkflowSpec, ticket: Ticket, events: Events) -> Any:
        """Deliver the job's events until it is done; return its record (as in /history).

        When the socket was up from submission to `executing: null`, it delivered every
        `executed` output and the final status, the same data the server writes to its
        history, so no extra request is needed. Otherwise (socket down, dropped, or
        reconnected during the job, a job found rather than submitted, or followed again)
        `/history/{id}` is read: it is the source of truth.
        """
        job = _own(ticket)
        connection = self._connection()
        mux = connection.mux
        # Each follow has its own inbox: the first one takes the submission's (which has
        # every message since the POST); a later one (a handle awaited again) registers
        # anew, so an earlier follow ending cannot take its messages away.
        inbox, job.inbox = job.inbox, None
        complete = inbox is not None and job.socket_epoch == mux.opened
        if inbox is None:
            inbox = mux.register(job.job_id)
            mux.accept(inbox)
            await mux.ensure_open(_SOCKET_WAIT)
        # Counting nodes costs a little per job: only for someone who listens.
        progress = Progress(job.graph if events.listening else None)
        position: int | None = None
        if events.listening:  # the queue costs a request: ask only for someone who listens
            with contextlib.suppress(ComfygenError, httpx.HTTPError, ValueError):
                queue = await self.queue()
                position = queue.ahead_of(job.job_id)
                found = queue.find(job.job_id)
                if found is not None and found.outputs:
                    progress.run(found.outputs)
        try:
            await events(Event("queued", job.job_id, position=position, **progress.counts()))
            return await self._follow(job, inbox, complete, progress, events)
        finally:
            mux.unregister(inbox)

    async def _follow(
        self,
        job: _ComfyTicket,
        inbox: Inbox,
        complete: bool,
        progress: Progress,
        events: Events,
    ) -> dict[str, Any]:
        mux = self._connection().mux
        loop = asyncio.get_running_loop()
        outputs: dict[str, Any] = {}
        final: list[Any] | None = None
        started: list[Any] = []
        polls: Iterator[float] | None = None  # delays while there is no socket, made lazily
        last_check = time.monotonic()
        timer = loop.call_later(self._liveness_interval, inbox.put_nowait, Control.CHECK)
        try:
            while True:
                message: Message | None
                if mux.connected:
                    message = await inbox.get()
                else:
                    polls = polls or backoff(0.05, self._max_poll_interval)
                    message = await within(inbox.get(), next(polls))
                if isinstance(message, ServerMessage):
                    kind, data = message.kind, message.data
                    if kind == "executing" and data.get("node") is None:
                        if complete and final is not None:
                            return {"outputs": outputs, "status": {"messages": [*started, final]}}
                        found = await self._history(job.job_id)
                        if found is None or not _recorded(found, job):
                            raise JobLostError(job.job_id, "it finished but has no history")
                        return found
                    if kind in ("execution_success", "execution_error", "execution_interrupted"):
                        final = [kind, dict(data)]
                    elif kind == "execution_start":
                        started = [[kind, dict(data)]]
                    elif kind == "executed" and isinstance(data.get("output"), dict):
                        outputs[str(data.get("node"))] = data["output"]
                if isinstance(message, (ServerMessage, Preview, TextFrame)):
                    event = event_of(job.job_id, message, progress) if events.listening else None
                    if event is not None:
                        await events(event)
                    continue
                # Nothing arrived within the poll delay (None), or a control message.
                if message is Control.CLOSED:
                    raise BackendUnavailableError(f"{self!r} is closed")
                complete = complete and message is Control.CHECK
                if message is Control.CHECK:
                    timer.cancel()  # a check from the reconcile must not start a 2nd chain
                    timer = loop.call_later(self._liveness_interval, inbox.put_nowait,
                                            Control.CHECK)  # fmt: skip
                found = await self._history(job.job_id)
                if found is not None and _finished(found) and _recorded(found, job):
                    return found
                since = time.monotonic() - last_check
                if message is not Control.DISCONNECTED and (message is not None or since >= 2.0):
                    last_check = time.monotonic()
                    if not await self._knows(job.job_id):
                        raise JobLostError(
                            job.job_id,
                            "it is neither queued, running nor in the history (the "
                            "server restarted, or another client deleted it)",
                        )
        finally:
            timer.cancel()

    async def settle(self, spec: WorkflowSpec, ticket: Ticket, record: Any) -> Settled:
        record = record if isinstance(record, Mapping) else {}
        status = record.get("status") or {}
        for name, data in status.get("messages") or []:
            if name == "execution_error":
                raise execution_error(ticket.job_id, data)
            if name == "execution_interrupted":
                raise JobInterruptedError(ticket.job_id, data.get("node_id"))
        stamps = {
            name: data.get("timestamp")
            for name, data in status.get("messages") or []
            if isinstance(data, dict)
        }
        start, end = stamps.get("execution_start"), stamps.get("execution_success")
        duration = (end - start) / 1000 if isinstance(start, int) and isinstance(end, int) else None
        return Settled(outputs=record.get("outputs") or {}, duration=duration)

    def file_ref(self, cls: type[File], node_id: str, record: Mapping[str, Any]) -> File:
        """A reference to an output file described by a raw output record."""
        ref = cls(
            node_id=node_id,
            filename=str(record.get("filename", "")),
            subfolder=str(record.get("subfolder", "")),
            type=str(record.get("type", "output")),
            url=self.view_url(record),
        )
        ref._source = self
        return ref

    async def cancel(self, ticket: Ticket) -> bool:
        """Cancel one job, pending or running; True when the server confirmed it.

        Other clients' jobs are never touched.
        """
        try:
            return await self._cancel(ticket.job_id)
        except (ComfygenError, httpx.HTTPError, ValueError):
            return False

    async def _cancel(self, prompt_id: str) -> bool:
        patience = 2.0
        if self._has_jobs_api is not False:
            path = f"/api/jobs/{prompt_id}/cancel"
            reply = await self._request("POST", path, patience=patience)
            if reply.status_code == 200:
                self._has_jobs_api = True
                answer = reply.json()
                return bool(answer.get("cancelled", True)) if isinstance(answer, dict) else True
        await self._request("POST", "/queue", json={"delete": [prompt_id]}, patience=patience)
        queue = await self.queue()
        if not any(job.prompt_id == prompt_id for job in queue.running):
            return True  # out of the queue, and not running
        if not await self._interrupts_by_id():
            logger.info(
                "job %s runs on %s and is not interrupted: this ComfyUI ignores the prompt id "
                "of /interrupt (before %s) and could stop another client's job instead",
                prompt_id, self._config.display_url, ".".join(map(str, _TARGETED_INTERRUPT)),
            )  # fmt: skip
            return False
        # The server checks that the running job is this one: no other job is touched.
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id}, patience=patience)
        return True

    async def _interrupts_by_id(self) -> bool:
        """Whether the server's /interrupt honours a prompt_id (ComfyUI 0.3.57 and later)."""
        if self._targeted_interrupt is None:
            version = (await self.system_stats()).comfyui_version or ""
            parts = [part for part in version.removeprefix("v").split(".") if part.isdigit()]
            numbers = tuple(int(part) for part in parts)
            self._targeted_interrupt = len(numbers) >= 2 and numbers >= _TARGETED_INTERRUPT
        return self._targeted_interrupt


def _own(ticket: Ticket) -> _ComfyTicket:
    if isinstance(ticket, _ComfyTicket):
        return ticket
    # A ticket made elsewhere (a pool's, a handle's): follow it by its id alone.
    return _ComfyTicket(ticket.job_id, ticket.server, ticket.state, ticket.record, ticket.seeds)


def _number(item: list[Any]) -> float | None:
    """The queue number of a queue item or history `prompt`: `[number, prompt_id, ...]`."""
    number = item[0] if item else None
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        return float(number)
    return None


def _fingerprint(item: list[Any]) -> str | None:
    """The request fingerprint in a queue item's or history `prompt`'s extra_data."""
    extra = item[3] if len(item) > 3 and isinstance(item[3], Mapping) else {}
    value = extra.get(_FINGERPRINT)
    return value if isinstance(value, str) else None


def _recorded(record: Mapping[str, Any], job: _ComfyTicket) -> bool:
    """Whether a history record is this submission's, not an earlier run's of the same id
    (a failed job submitted again under its idempotency key)."""
    prompt = record.get("prompt")
    if job.number is None or not isinstance(prompt, list) or not prompt:
        return True
    return _number(prompt) == job.number


def _finished(record: Mapping[str, Any]) -> bool:
    status = record.get("status") or {}
    return bool(status.get("completed")) or status.get("status_str") in ("success", "error")


def _succeeded(record: Mapping[str, Any]) -> bool:
    status = record.get("status") or {}
    if not status:
        return True  # servers that keep no status keep only successes
    return status.get("status_str") == "success" or (
        status.get("status_str") is None and bool(status.get("completed"))
    )


def _json_or_none(reply: httpx.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return None
