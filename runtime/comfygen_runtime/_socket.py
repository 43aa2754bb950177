"""The websocket multiplexer of a ComfyUI client: ONE socket for every job of the client.

The socket (`/ws?clientId=...`) is opened on first use and kept while jobs need it,
reconnecting with backoff. Server messages are routed to the inboxes of the jobs they
name (`prompt_id`); binary preview and text frames carry no prompt id and go to the job
the server is executing. Besides the server's messages, an inbox receives typed
`Control` messages (never in-band dicts): the socket dropped or came back (messages may
have been missed), a liveness check is due, the client was closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from tenacity import RetryCallState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from ._net import Transient, retry, within

__all__ = ["Control", "Inbox", "Message", "Preview", "ServerMessage", "SocketMux", "TextFrame"]

logger = logging.getLogger("comfygen_runtime")
# websockets logs handshake headers (our API key, cookies) at DEBUG: never let it.
_SOCKET_LOG = logging.getLogger("comfygen_runtime.socket")
_SOCKET_LOG.setLevel(logging.INFO)

_PREVIEW_IMAGE = 1
_TEXT = 3
_PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "jpeg", 2: "png"}


@dataclass(frozen=True)
class ServerMessage:
    """A JSON message of the server (`type` and `data`)."""

    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Preview:
    """A binary preview image frame."""

    node: str | None
    image: bytes = field(repr=False)
    format: str


@dataclass(frozen=True)
class TextFrame:
    """A binary text frame (`node` sent `text` while running)."""

    node: str
    text: str


class Control(enum.Enum):
    """What the client itself tells a job."""

    DISCONNECTED = "disconnected"  # the socket dropped: messages may be missing
    RECONNECTED = "reconnected"  # a new socket is up: messages may have been missed
    CHECK = "check"  # ask the server whether it still knows the job
    CLOSED = "closed"  # the client was closed


Message: TypeAlias = ServerMessage | Preview | TextFrame | Control


class Inbox(asyncio.Queue[Message]):
    """The messages of one job; `accepted_at` is set once the server has the job."""

    def __init__(self, prompt_id: str) -> None:
        super().__init__()
        self.prompt_id = prompt_id
        self.accepted_at: float | None = None


class SocketMux:
    """One websocket, its reconnects, and the routing of its messages to job inboxes."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        on_open: Callable[[], None],
        on_status: Callable[[Mapping[str, Any]], None],
    ) -> None:
        self._url = url
        self._headers = dict(headers)
        self._on_open = on_open
        self._on_status = on_status
        self._inboxes: dict[str, set[Inbox]] = {}
        self._accepted: dict[str, int] = {}  # prompt id -> its accepted inboxes
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._tried = asyncio.Event()  # set after each attempt, failed or not
        self._failing = False
        self._closed = False
        self.opened = 0  # sockets opened so far: a job followed by one socket only is complete
        self._executing: str | None = None  # the prompt the server executes now

    # -- jobs ----------------------------------------------------------------------------

    def register(self, prompt_id: str) -> Inbox:
        inbox = Inbox(prompt_id)
        self._inboxes.setdefault(prompt_id, set()).add(inbox)
        return inbox

    def accept(self, inbox: Inbox) -> None:
        """The server has the inbox's job (it counts in `accepted_jobs` while registered)."""
        if inbox.accepted_at is None:
            inbox.accepted_at = time.monotonic()
            if inbox in self._inboxes.get(inbox.prompt_id, ()):
                self._accepted[inbox.prompt_id] = self._accepted.get(inbox.prompt_id, 0) + 1

    @property
    def accepted_jobs(self) -> int:
        """Jobs the server has that this socket follows (readable from any thread)."""
        return len(self._accepted)

    def unregister(self, inbox: Inbox) -> None:
        inboxes = self._inboxes.get(inbox.prompt_id)
        if inboxes is None or inbox not in inboxes:
            return
        inboxes.discard(inbox)
        if not inboxes:
            del self._inboxes[inbox.prompt_id]
        if inbox.accepted_at is not None:
            left = self._accepted.get(inbox.prompt_id, 1) - 1
            if left > 0:
                self._accepted[inbox.prompt_id] = left
            else:
                self._accepted.pop(inbox.prompt_id, None)

    def inboxes(self) -> list[Inbox]:
        return [inbox for inboxes in self._inboxes.values() for inbox in inboxes]

    def broadcast(self, message: Control) -> None:
        for inbox in self.inboxes():
            inbox.put_nowait(message)

    # -- the socket ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def ensure_open(self, wait: float) -> bool:
        """Start the socket if needed and wait up to `wait` s for it. False: poll instead."""
        if self._closed:
            return False
        if self._task is None or self._task.done():
            self._tried.clear()
            self._task = asyncio.ensure_future(self._run())
        if not self._ready.is_set() and not self._failing:
            await within(self._tried.wait(), wait)
        return self._ready.is_set()

    async def close(self) -> None:
        self._closed = True
        self.broadcast(Control.CLOSED)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def _give_up(self, state: RetryCallState) -> bool:
        return self._closed or not self._inboxes  # reopened lazily by the next job

    async def _connect(self) -> ClientConnection:
        try:
            return await connect(
                self._url,
                additional_headers=self._headers,
                max_size=None,
                open_timeout=10,
                ping_interval=20,
                ping_timeout=20,
                logger=_SOCKET_LOG,
            )
        except (OSError, WebSocketException, asyncio.TimeoutError) as error:
            logger.debug("ComfyUI socket: %s", type(error).__name__)
            self._failing = True
            self._tried.set()
            raise Transient(type(error).__name__) from None

    async def _run(self) -> None:
        """Keep one socket open while jobs need it; reconnect with backoff."""
        while not self._closed:
            try:
                socket = await retry(self._connect, stop=self._give_up, first=0.05, maximum=2.0)
            except Transient:
                return
            async with socket:
                self.opened += 1
                self._on_open()
                self._failing = False
                try:
                    await socket.send(
                        json.dumps(
                            {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
                        )
                    )
                    self._ready.set()
                    self._tried.set()
                    if self.opened > 1:
                        logger.info(
                            "ComfyUI socket reconnected (%d jobs followed)", len(self._inboxes)
                        )
                        self.broadcast(Control.RECONNECTED)
                    async for message in socket:
                        self._route(message)
                except (OSError, WebSocketException, asyncio.TimeoutError) as error:
                    logger.info("ComfyUI socket dropped (%s)", type(error).__name__)
                finally:
                    self._ready.clear()
            self.broadcast(Control.DISCONNECTED)
            if not self._inboxes:
                return  # reopened lazily by the next job

    # -- routing -------------------------------------------------------------------------

    def _deliver(self, prompt_id: object, message: Message) -> None:
        for inbox in self._inboxes.get(prompt_id, ()) if isinstance(prompt_id, str) else ():
            inbox.put_nowait(message)

    def _route(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            self._route_binary(raw)
            return
        try:
            parsed = json.loads(raw)
        except ValueError:
            return
        if not isinstance(parsed, dict):
            return  # custom nodes may send anything; only objects are protocol messages
        kind = parsed.get("type")
        data = parsed.get("data")
        if not isinstance(kind, str):
            return
        if not isinstance(data, dict):
            data = {}
        prompt_id = data.get("prompt_id")
        if kind == "execution_start" or (kind == "executing" and data.get("node") is not None):
            self._executing = prompt_id if isinstance(prompt_id, str) else None
        elif kind == "executing":
            self._executing = None
        if kind == "status":
            self._on_status(data)
        self._deliver(prompt_id, ServerMessage(kind, data))

    def _route_binary(self, frame: bytes) -> None:
        if len(frame) < 8:
            return
        (event_type,) = struct.unpack(">I", frame[:4])
        prompt_id: object = self._executing
        message: Message
        if event_type == _PREVIEW_IMAGE:
            (image_type,) = struct.unpack(">I", frame[4:8])
            message = Preview(None, frame[8:], _IMAGE_FORMATS.get(image_type, "unknown"))
        elif event_type == _PREVIEW_IMAGE_WITH_METADATA:
            (length,) = struct.unpack(">I", frame[4:8])
            try:
                metadata = json.loads(frame[8 : 8 + length])
            except ValueError:
                return
            if not isinstance(metadata, dict):
                return
            prompt_id = metadata.get("prompt_id") or prompt_id
            image_type = str(metadata.get("image_type", ""))
            node = metadata.get("node_id")
            message = Preview(
                str(node) if node is not None else None,
                frame[8 + length :],
                image_type.removeprefix("image/") or "unknown",
            )
        elif event_type == _TEXT:
            (length,) = struct.unpack(">I", frame[4:8])
            node = frame[8 : 8 + length].decode("utf-8", "replace")
            message = TextFrame(node, frame[8 + length :].decode("utf-8", "replace"))
        else:
            return
        self._deliver(prompt_id, message)
