"""A fake ComfyUI 0.33.0 for tests: real HTTP and a real websocket on 127.0.0.1, with the
behaviour of the recorded real server (tests/fakes/recordings, a copy of shared/protocol).

It mirrors the server's own structure: a prompt queue that is a real `heapq` of
`(number, prompt_id, prompt, extra_data, outputs_to_execute, sensitive)` tuples, one worker
that runs one job at a time (execution.py's execute_async/execute), messages published by one
loop in order, history written by `task_done` before `executing {node: null}`. Node classes
come from the recorded GET /object_info; the ones in `_nodes.IMPLEMENTED` really run and
write real files, every other known class is a pass-through.

Fault injection and observation are plain attributes (see `FakeComfyUI`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import heapq
import json
import logging
import mimetypes
import os
import shutil
import struct
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse, urlsplit

from aiohttp import WSMsgType, web

from . import _data
from ._graph import (
    CustomValidation,
    ExecutionList,
    NodeDef,
    full_type_name,
    is_link,
    node_defs,
    object_info,
    set_order,
    signatures,
    validate_prompt,
)
from ._images import TINY_WEBP, Image, Mask, encode_png, probe_png, tensor_repr
from ._models import Models
from ._nodes import (
    NodeError,
    annotated_filepath,
    load_image_exists,
    load_image_is_changed,
    new_temp_suffix,
    run_node,
)

logger = logging.getLogger("tests.fakes.comfyui")

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
MAXIMUM_HISTORY_SIZE = 10000
MAX_UPLOAD_SIZE = 100 * 1024 * 1024

# Binary websocket frames: a u32 big-endian event type, then the payload.
PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4

JOB_STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"]
TEXT_EXTENSIONS = (".txt", ".md", ".json")
THREE_D_EXTENSIONS = (".obj", ".fbx", ".gltf", ".glb", ".usdz")
PREVIEWABLE_MEDIA_TYPES = frozenset({"images", "video", "audio", "3d", "text"})

QueueItem = tuple[Any, ...]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Interrupted(Exception):
    """comfy.model_management.InterruptProcessingException."""


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    sid: str
    frames_since_arm: int = 0
    aborted: bool = False


@dataclass
class _CacheEntry:
    ui: dict[str, Any] | None
    outputs: tuple[Any, ...]


def validate_job_id(value: object) -> str:
    """comfy_execution/jobs.py validate_job_id: a canonical lowercase hyphenated UUID."""
    if not isinstance(value, str):
        raise ValueError(f"job id must be a string, got {type(value).__name__}")
    if str(uuid.UUID(value)) != value:
        raise ValueError("job id must be a UUID in canonical lowercase hyphenated form")
    return value


def _format_value(x: Any) -> Any:
    if x is None or isinstance(x, (int, float, bool, str)):
        return x
    if isinstance(x, Image):
        return tensor_repr(x)
    if isinstance(x, Mask):
        return f"tensor(<mask {x.batch}x{x.height}x{x.width}>)"
    if isinstance(x, dict) and not any(isinstance(v, (Image, Mask)) for v in x.values()):
        return x
    return str(x)


# -- the prompt queue (execution.py PromptQueue) ---------------------------------------------


class _PromptQueue:
    def __init__(self, server: FakeComfyUI) -> None:
        self.server = server
        self.queue: list[QueueItem] = []
        self.currently_running: dict[int, QueueItem] = {}
        self.task_counter = 0
        self.history: dict[str, dict[str, Any]] = {}
        self.not_empty = asyncio.Event()

    def put(self, item: QueueItem) -> None:
        try:
            # A bare heappush, no duplicate check. Equal (number, prompt_id) makes the tuples
            # compare their prompt dicts and raise TypeError after the item was appended.
            heapq.heappush(self.queue, item)
            self.server._queue_updated()
        finally:
            self.not_empty.set()

    def pop(self) -> tuple[QueueItem, int]:
        item = heapq.heappop(self.queue)
        i = self.task_counter
        self.currently_running[i] = copy.deepcopy(item)
        self.task_counter += 1
        self.server._queue_updated()
        return item, i

    def task_done(
        self, item_id: int, history_result: dict[str, Any], status: dict[str, Any]
    ) -> None:
        prompt = self.currently_running.pop(item_id)
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        prompt = prompt[:5] + prompt[6:]
        entry: dict[str, Any] = {"prompt": prompt, "outputs": {}, "status": status}
        entry.update(history_result)
        self.history[prompt[1]] = entry
        self.server._queue_updated()

    def tasks_remaining(self) -> int:
        return len(self.queue) + len(self.currently_running)

    def running(self) -> list[QueueItem]:
        return [item[:5] for item in self.currently_running.values()]

    def pending(self) -> list[QueueItem]:
        return [item[:5] for item in self.queue]

    def wipe_queue(self) -> None:
        self.queue = []
        self.server._queue_updated()

    def delete_queue_item(self, function: Callable[[QueueItem], bool]) -> bool:
        for x in range(len(self.queue)):
            if function(self.queue[x]):
                if len(self.queue) == 1:
                    self.queue = []
                else:
                    self.queue.pop(x)
                    heapq.heapify(self.queue)
                self.server._queue_updated()
                return True
        return False

    def interrupt_if_running(self, prompt_id: str) -> bool:
        if any(item[1] == prompt_id for item in self.currently_running.values()):
            self.server._interrupt_processing = True
            return True
        return False

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is None:
            out: dict[str, Any] = {}
            if offset < 0 and max_items is not None:
                offset = len(self.history) - max_items
            for i, key in enumerate(self.history):
                if i >= offset:
                    out[key] = self.history[key]
                    if max_items is not None and len(out) >= max_items:
                        break
            return out
        if prompt_id in self.history:
            return {prompt_id: copy.deepcopy(self.history[prompt_id])}
        return {}


# -- progress (comfy_execution/progress.py with the WebUI handler) ---------------------------


class _Progress:
    def __init__(self, server: FakeComfyUI, prompt_id: str) -> None:
        self.server = server
        self.prompt_id = prompt_id
        self.nodes: dict[str, dict[str, Any]] = {}

    def _entry(self, node_id: str) -> dict[str, Any]:
        return self.nodes.setdefault(node_id, {"state": "pending", "value": 0, "max": 1})

    def _send(self) -> None:
        active = {
            node_id: {
                "value": state["value"],
                "max": state["max"],
                "state": state["state"],
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, state in self.nodes.items()
            if state["state"] != "pending"
        }
        self.server._send(
            "progress_state", {"prompt_id": self.prompt_id, "nodes": active}, self.server.client_id
        )

    def start(self, node_id: str) -> None:
        self._entry(node_id).update(state="running", value=0.0, max=1.0)
        self._send()

    def update(self, node_id: str, value: int, total: int) -> None:
        self._entry(node_id).update(state="running", value=value, max=total)
        self._send()

    def finish(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry.update(state="finished", value=entry["max"])
        self._send()


class _Host:
    """What a running node sees of the server (implements `_nodes.NodeHost`)."""

    def __init__(
        self,
        server: FakeComfyUI,
        prompt_id: str,
        node_id: str,
        class_type: str,
        prompt: dict[str, Any],
        extra_data: dict[str, Any],
        progress: _Progress,
    ) -> None:
        self.server = server
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.class_type = class_type
        self.prompt = prompt
        self.extra_data = extra_data
        self.progress_registry = progress
        self.node_delay = server.node_delays.get(class_type, server.node_delay)

    def directory(self, kind: str) -> Path:
        return self.server._dir(kind)

    def check_interrupt(self) -> None:
        if self.server._interrupt_processing:
            self.server._interrupt_processing = False
            raise _Interrupted

    async def work(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(seconds, 0.0)
        while True:
            self.check_interrupt()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, 0.005))
        await asyncio.sleep(0)

    async def progress(self, value: int, total: int, preview: Image | None) -> None:
        server = self.server
        self.check_interrupt()
        self.progress_registry.update(self.node_id, value, total)
        metadata_client = server._supports_preview_metadata(server.client_id)
        png = None
        if preview is not None and server.send_previews:
            png = encode_png(preview.width, preview.height, preview.colors[0], compress_level=1)
        if png is not None and metadata_client:
            metadata = {
                "node_id": self.node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": self.node_id,
                "parent_node_id": None,
                "real_node_id": self.node_id,
                "image_type": "image/png",
            }
            meta = json.dumps(metadata).encode("utf-8")
            payload = struct.pack(">I", len(meta)) + meta + png
            server._send_binary(PREVIEW_IMAGE_WITH_METADATA, payload, server.client_id)
        server._send(
            "progress",
            {"value": value, "max": total, "prompt_id": self.prompt_id, "node": self.node_id},
            server.client_id,
        )
        if png is not None and not metadata_client:
            server._send_binary(PREVIEW_IMAGE, struct.pack(">I", 2) + png, server.client_id)
        await asyncio.sleep(0)

    def send_text(self, text: str) -> None:
        node = self.node_id.encode("utf-8")
        payload = struct.pack(">I", len(node)) + node + text.encode("utf-8")
        self.server._send_binary(TEXT, payload, self.server.client_id)

    def temp_suffix(self) -> str:
        return self.server._objects.setdefault((self.node_id, self.class_type), new_temp_suffix())


# -- the server ------------------------------------------------------------------------------


class FakeComfyUI:
    """A ComfyUI 0.33.0 speaking the real wire protocol on 127.0.0.1.

    Observation: `prompts_received` (every POST /prompt body, in order, also the rejected
    ones), `prompt_authorizations` and `prompt_cookies` (their headers), `executions` (prompt
    ids in the order they started executing), `ws_connections_opened`,
    `uploads` ((type, subfolder, name) -> bytes), `upload_requests`, `worker_alive`.

    Fault injection (plain attributes, set any time): `node_delay` (seconds each executed
    node takes; `node_delays` overrides it per class, e.g. {"ColorTransfer": 2.0}), `http_delay`,
    `drop_ws_after_frames`, `fail_next_post_prompt_after_accept`, `fail_next_requests`,
    `send_previews`, `history_write_delay`, `missing_classes`; and `delete_from_queue`,
    `hold`/`release`, `restart` (or its halves `go_down` and `come_back`).

    Model files: `models` maps a model folder as ComfyUI names it ("checkpoints", "vae",
    "text_encoders" or its legacy "clip", "diffusion_models" or "unet", "loras", ...) to the
    file names installed there. The model-file combos (CheckpointLoaderSimple.ckpt_name,
    VAELoader.vae_name, CLIPLoader.clip_name, UNETLoader.unet_name, ...) then list them, in
    validation, GET /object_info and GET /models/{folder}, as the real server would. None
    (the default) is the recorded server: no model files at all. Settable at any time, like
    files appearing in the server's models directory.

    Node classes: `node_classes` (class name -> its `/object_info` entry) adds classes to what
    GET /object_info lists or replaces them there, like a server with custom nodes or of another
    version (validation and execution still know only the recorded classes).

    The editor: `frontend`, the static folder of the `comfyui-frontend-package` the recorded
    server ran, is served at `/` with the few user-data endpoints the editor asks for at start
    (single-user defaults: no settings, no saved files).
    """

    # GET /object_info as sent, for the input images it lists.
    _object_info_text: tuple[tuple[str, ...], str] | None

    def __init__(
        self,
        *,
        api_prefix_only: bool = False,
        jobs_api: bool = True,
        comfyui_version: str = _data.SYSTEM_STATS["system"]["comfyui_version"],
        models: Mapping[str, Sequence[str]] | None = None,
        node_classes: Mapping[str, Any] | None = None,
        frontend: Path | None = None,
    ) -> None:
        self.api_prefix_only = api_prefix_only
        self.frontend = frontend
        self._node_classes = dict(node_classes or {})
        # False: a server from before /api/jobs existed (those paths answer 404).
        self.jobs_api = jobs_api
        # What /system_stats says. Before 0.3.57 (ComfyUI PR #9607), POST /interrupt
        # ignores its prompt_id and interrupts whatever runs.
        self.comfyui_version = comfyui_version
        self._missing_classes: frozenset[str] = frozenset()
        self.models = models
        self.base_url = ""
        self.port = 0
        # observation
        self.prompts_received: list[dict[str, Any]] = []
        self.requests_received: list[tuple[str, str]] = []  # (method, path) of every request
        self.queue_lengths: list[int] = []  # jobs queued or running as each prompt was queued
        self.prompt_authorizations: list[str | None] = []  # each POST /prompt's header
        self.prompt_cookies: list[str | None] = []  # and its Cookie header
        self.executions: list[str] = []
        self.ws_connections_opened = 0
        self.uploads: dict[tuple[str, str, str], bytes] = {}
        self.upload_requests = 0
        self.worker_alive = True
        # fault injection
        self.node_delay = 0.0
        self.node_delays: dict[str, float] = {}
        self.http_delay = 0.0
        self._drop_ws_after_frames: int | None = None
        self.fail_next_post_prompt_after_accept: Literal["500", "reset"] | None = None
        self.fail_next_requests: dict[str, int] = {}
        self.fail_status = 503  # what fail_next_requests answers (401, 403, 429: a proxy)
        self.send_previews = True
        self.max_upload_size: int = _data.FEATURES["max_upload_size"]  # what /features says
        self.history_write_delay = 0.0
        # the server process
        self._root: Path | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sockets: dict[str, _Socket] = {}
        self._sockets_metadata: dict[str, dict[str, Any]] = {}
        self._socket_objects: dict[int, _Socket] = {}
        self._released = asyncio.Event()
        self._released.set()
        self._queue = _PromptQueue(self)
        self._reset_process()

    @property
    def node_classes(self) -> dict[str, Any]:
        """Classes added to (or replaced in) GET /object_info; settable at any time, like
        custom nodes installed on the server while it runs."""
        return dict(self._node_classes)

    @node_classes.setter
    def node_classes(self, value: Mapping[str, Any] | None) -> None:
        self._node_classes = dict(value or {})
        self._object_info_text = None

    @property
    def models(self) -> dict[str, tuple[str, ...]]:
        """The installed model files, by folder (legacy folder names merged)."""
        return dict(self._models.files)

    @models.setter
    def models(self, value: Mapping[str, Sequence[str]] | None) -> None:
        self._models = Models(value)
        self._refresh_defs()

    @property
    def missing_classes(self) -> frozenset[str]:
        """Node classes this server does not have (a custom node pack not installed):
        absent from GET /object_info, and a prompt using one is rejected as unknown."""
        return self._missing_classes

    @missing_classes.setter
    def missing_classes(self, value: Iterable[str]) -> None:
        self._missing_classes = frozenset(value)
        self._refresh_defs()

    def _refresh_defs(self) -> None:
        defs = self._models.node_defs()
        self._node_defs = {k: v for k, v in defs.items() if k not in self._missing_classes}
        self._object_info_text = None

    def _reset_process(self) -> None:
        """The state a real server loses when its process restarts."""
        self.number = 0
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self._interrupt_processing = False
        self._cache: dict[str, _CacheEntry] = {}
        self._objects: dict[tuple[str, str], str] = {}
        self._messages: asyncio.Queue[tuple[str | int, Any, str | None]] = asyncio.Queue()
        self._status_messages: list[list[Any]] = []
        self._object_info_text = None
        self.worker_alive = True

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="fake-comfyui-"))
            for kind in ("input", "output", "temp"):
                (self._root / kind).mkdir()
            # ComfyUI ships input/example.png.
            (self._root / "input" / "example.png").write_bytes(encode_png(64, 64, (90, 140, 200)))
        await self._serve(0)

    async def stop(self) -> None:
        """Stop serving, drop every connection and delete the fake's files."""
        await self._shutdown()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    async def restart(
        self, *, lose_queue: bool = True, keep_history: bool = False, downtime: float = 0.0
    ) -> None:
        """Like a server restart: same port, every websocket dropped (no close frame), the
        pending and running jobs forgotten (or, with `lose_queue=False`, all run again
        after the restart), history cleared unless `keep_history`, temp files deleted, the
        prompt counter and the execution cache reset. `downtime`: seconds the port is closed.
        """
        await self.go_down(lose_queue=lose_queue, keep_history=keep_history)
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self.come_back()

    async def go_down(self, *, lose_queue: bool = True, keep_history: bool = False) -> None:
        """The first half of `restart`: the port closes and the state is lost as there;
        the server stays down (connections refused) until `come_back()`."""
        running = list(self._queue.currently_running.values())
        await self._shutdown()
        self._queue.currently_running = {}
        if lose_queue:
            self._queue.queue = []
        else:
            for item in running:
                heapq.heappush(self._queue.queue, item)
        if not keep_history:
            self._queue.history = {}
        self._reset_process()
        temp = self._dir("temp")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()

    async def come_back(self) -> None:
        """Serve again on the same port after `go_down()`."""
        await self._serve(self.port)

    async def _serve(self, port: int) -> None:
        app = self._make_app()
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._queue.not_empty.set()
        self._tasks = [
            asyncio.create_task(self._worker(), name="fake-comfyui-worker"),
            asyncio.create_task(self._publish_loop(), name="fake-comfyui-publisher"),
        ]

    async def _shutdown(self) -> None:
        self._abort_sockets(list(self._socket_objects.values()))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeComfyUI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test controls --------------------------------------------------------------------

    @property
    def drop_ws_after_frames(self) -> int | None:
        """Abort every websocket (transport abort, no close frame) as soon as one of them has
        sent this many frames counted from when it was set; then it resets to None."""
        return self._drop_ws_after_frames

    @drop_ws_after_frames.setter
    def drop_ws_after_frames(self, value: int | None) -> None:
        self._drop_ws_after_frames = value
        for sock in self._socket_objects.values():
            sock.frames_since_arm = 0

    def delete_from_queue(self, prompt_id: str) -> None:
        """As if another client POSTed /queue {"delete": [prompt_id]}: removes the first
        pending item with that id (a running job is not touched)."""

        def matches(item: QueueItem) -> bool:
            return bool(item[1] == prompt_id)

        self._queue.delete_queue_item(matches)

    def hold(self) -> None:
        """Pause the worker before it starts its next job (the running one finishes)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @property
    def queue_pending(self) -> list[QueueItem]:
        """The pending queue as GET /queue shows it (raw heap order)."""
        return self._queue.pending()

    @property
    def history(self) -> dict[str, dict[str, Any]]:
        return self._queue.history

    def file(self, kind: str, filename: str, subfolder: str = "") -> Path:
        """Where the fake keeps a file (kind: input, output or temp)."""
        return self._dir(kind) / subfolder / filename

    def _dir(self, kind: str) -> Path:
        if self._root is None:
            raise RuntimeError("FakeComfyUI is not started")
        return self._root / kind

    # -- messages -------------------------------------------------------------------------

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self._queue.tasks_remaining()}}

    def _queue_updated(self) -> None:
        self._send("status", {"status": self._queue_info()})

    def _send(self, event: str, data: Any, sid: str | None = None) -> None:
        self._messages.put_nowait((event, data, sid))

    def _send_binary(self, event: int, payload: bytes, sid: str | None) -> None:
        self._messages.put_nowait((event, payload, sid))

    async def _publish_loop(self) -> None:
        while True:
            event, data, sid = await self._messages.get()
            await self._deliver(event, data, sid)

    async def _deliver(self, event: str | int, data: Any, sid: str | None) -> None:
        if isinstance(event, int):
            payload: str | bytes = struct.pack(">I", event) + data
        else:
            payload = json.dumps({"type": event, "data": data})
        if sid is None:
            targets = list(self._sockets.values())
        elif sid in self._sockets:
            targets = [self._sockets[sid]]
        else:
            return
        for sock in targets:
            await self._send_frame(sock, payload)

    async def _send_frame(self, sock: _Socket, payload: str | bytes) -> None:
        if sock.aborted or sock.ws.closed:
            return
        try:
            if isinstance(payload, bytes):
                await sock.ws.send_bytes(payload)
            else:
                await sock.ws.send_str(payload)
        except Exception as err:  # the real server logs "send error" and goes on
            logger.debug("send error: %s", err)
            return
        sock.frames_since_arm += 1
        limit = self._drop_ws_after_frames
        if limit is not None and sock.frames_since_arm >= limit:
            self._drop_ws_after_frames = None
            self._abort_sockets(list(self._socket_objects.values()))

    def _abort_sockets(self, sockets: list[_Socket]) -> None:
        for sock in sockets:
            sock.aborted = True
            if self._sockets.get(sock.sid) is sock:
                del self._sockets[sock.sid]
                self._sockets_metadata.pop(sock.sid, None)
            if sock.transport is not None:
                sock.transport.abort()

    def _supports_preview_metadata(self, sid: str | None) -> bool:
        if sid is None:
            return False
        flags = self._sockets_metadata.get(sid, {}).get("feature_flags", {})
        return bool(flags.get("supports_preview_metadata", False))

    def _add_message(self, event: str, data: dict[str, Any], *, broadcast: bool) -> None:
        data = {**data, "timestamp": int(time.time() * 1000)}
        self._status_messages.append([event, data])
        if self.client_id is not None or broadcast:
            self._send(event, data, self.client_id)

    # -- the worker (main.py prompt_worker + execution.py) ----------------------------------

    async def _worker(self) -> None:
        queue = self._queue
        while True:
            await self._released.wait()
            if not queue.queue:
                queue.not_empty.clear()
                await queue.not_empty.wait()
                continue
            try:
                item, item_id = queue.pop()
            except TypeError:
                # heappop compared two dicts: the real prompt-worker thread dies here, and the
                # server keeps answering HTTP but never executes anything again.
                logger.exception("fake ComfyUI: the prompt worker died")
                self.worker_alive = False
                return
            prompt_id = item[1]
            self.last_prompt_id = prompt_id
            extra_data = dict(item[3])
            extra_data.update(item[5])
            self.executions.append(prompt_id)
            try:
                history_result, success = await self._execute(
                    item[2], prompt_id, extra_data, item[4]
                )
            except Exception:  # a bug of the fake, not a node failure: make it loud
                logger.exception("fake ComfyUI: the worker failed on %s", prompt_id)
                self.worker_alive = False
                raise
            if self.history_write_delay > 0:
                await asyncio.sleep(self.history_write_delay)
            status = {
                "status_str": "success" if success else "error",
                "completed": success,
                "messages": self._status_messages,
            }
            queue.task_done(item_id, history_result, status)
            if self.client_id is not None:
                self._send("executing", {"node": None, "prompt_id": prompt_id}, self.client_id)

    def _is_changed(self, node_id: str, class_type: str, prompt: dict[str, Any]) -> str:
        if class_type != "LoadImage":
            return ""
        try:
            return load_image_is_changed(self._plain_host(), prompt[node_id]["inputs"])
        except Exception:
            return f"nan:{uuid.uuid4()}"

    def _plain_host(self) -> _Host:
        return _Host(self, "", "", "", {}, {}, _Progress(self, ""))

    async def _execute(
        self,
        prompt: dict[str, Any],
        prompt_id: str,
        extra_data: dict[str, Any],
        execute_outputs: list[str],
    ) -> tuple[dict[str, Any], bool]:
        self._interrupt_processing = False
        self.client_id = extra_data.get("client_id")
        self._status_messages = []
        self._add_message("execution_start", {"prompt_id": prompt_id}, broadcast=False)
        defs = node_defs()
        progress = _Progress(self, prompt_id)
        sigs = signatures(prompt, lambda n, c: self._is_changed(n, c, prompt))
        live = set(sigs.values())
        self._cache = {k: v for k, v in self._cache.items() if k in live}
        keys = {(n, node["class_type"]) for n, node in prompt.items()}
        self._objects = {k: v for k, v in self._objects.items() if k in keys}
        cached_nodes = [n for n in prompt if sigs[n] in self._cache]
        self._add_message(
            "execution_cached", {"nodes": cached_nodes, "prompt_id": prompt_id}, broadcast=False
        )
        executed: set[str] = set()
        current_outputs = set_order(prompt)
        ui_outputs: dict[str, dict[str, Any]] = {}
        results: dict[str, tuple[Any, ...]] = {}
        execution_list = ExecutionList(
            prompt,
            is_cached=lambda n: sigs[n] in self._cache,
            is_output=lambda n: defs[prompt[n]["class_type"]].output_node,
        )
        for node_id in execute_outputs:
            execution_list.add_node(node_id)
        success = True
        while not execution_list.is_empty():
            node_id = execution_list.stage()
            error = await self._execute_node(
                prompt_id,
                prompt,
                node_id,
                extra_data,
                sigs,
                progress,
                ui_outputs,
                results,
                executed,
            )
            if error is not None:
                success = False
                self._handle_execution_error(
                    prompt_id, prompt, current_outputs, executed, node_id, error
                )
                break
            execution_list.complete(node_id)
        else:
            self._add_message("execution_success", {"prompt_id": prompt_id}, broadcast=False)
        history_result = {
            "outputs": {n: ui["output"] for n, ui in ui_outputs.items()},
            "meta": {n: ui["meta"] for n, ui in ui_outputs.items()},
        }
        self.last_node_id = None
        return history_result, success

    def _input_data(
        self,
        prompt: dict[str, Any],
        node_id: str,
        node_def: NodeDef,
        sigs: dict[str, str],
        results: dict[str, tuple[Any, ...]],
        extra_data: dict[str, Any],
    ) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for name, value in prompt[node_id]["inputs"].items():
            if is_link(value):
                from_id, socket = value[0], int(value[1])
                outputs = results.get(from_id)
                if outputs is None:
                    outputs = self._cache[sigs[from_id]].outputs
                inputs[name] = outputs[socket]
            elif node_def.input_info(name)[1] is not None:
                inputs[name] = value
        if node_def.v1_hidden:
            for name, kind in node_def.hidden.items():
                if kind == "PROMPT":
                    inputs[name] = prompt
                elif kind == "EXTRA_PNGINFO":
                    inputs[name] = extra_data.get("extra_pnginfo")
                elif kind == "UNIQUE_ID":
                    inputs[name] = node_id
        return inputs

    async def _execute_node(
        self,
        prompt_id: str,
        prompt: dict[str, Any],
        node_id: str,
        extra_data: dict[str, Any],
        sigs: dict[str, str],
        progress: _Progress,
        ui_outputs: dict[str, dict[str, Any]],
        results: dict[str, tuple[Any, ...]],
        executed: set[str],
    ) -> dict[str, Any] | None:
        """execution.py execute(): None on success, else what handle_execution_error needs.
        A node served from the cache is not added to `executed`."""
        class_type = prompt[node_id]["class_type"]
        node_def = node_defs()[class_type]
        cached = self._cache.get(sigs[node_id])
        if cached is not None:
            if self.client_id is not None:
                output = cached.ui["output"] if cached.ui is not None else None
                self._send(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": output,
                        "prompt_id": prompt_id,
                    },
                    self.client_id,
                )
            if cached.ui is not None:
                ui_outputs[node_id] = cached.ui
            progress.finish(node_id)
            results[node_id] = cached.outputs
            return None

        inputs: dict[str, Any] | None = None
        try:
            progress.start(node_id)
            inputs = self._input_data(prompt, node_id, node_def, sigs, results, extra_data)
            if self.client_id is not None:
                self.last_node_id = node_id
                self._send(
                    "executing",
                    {"node": node_id, "display_node": node_id, "prompt_id": prompt_id},
                    self.client_id,
                )
            host = _Host(self, prompt_id, node_id, class_type, prompt, extra_data, progress)
            host.check_interrupt()
            outputs, ui = await run_node(host, node_def, inputs)
        except _Interrupted:
            return {"interrupted": True}
        except Exception as ex:
            if isinstance(ex, NodeError):
                exception_type = ex.exception_type
                tb = (
                    ex.traceback
                    if ex.traceback is not None
                    else traceback.format_tb(ex.__traceback__)
                )
            else:
                exception_type = full_type_name(type(ex))
                tb = traceback.format_tb(ex.__traceback__)
            current_inputs = {}
            if inputs is not None:
                current_inputs = {k: [_format_value(v)] for k, v in inputs.items()}
            return {
                "interrupted": False,
                "exception_message": f"{ex}\n",
                "exception_type": exception_type,
                "traceback": tb,
                "current_inputs": current_inputs,
            }
        if ui:
            ui_outputs[node_id] = {
                "meta": {
                    "node_id": node_id,
                    "display_node": node_id,
                    "parent_node": None,
                    "real_node_id": node_id,
                },
                "output": ui,
            }
            if self.client_id is not None:
                self._send(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": ui,
                        "prompt_id": prompt_id,
                    },
                    self.client_id,
                )
        self._cache[sigs[node_id]] = _CacheEntry(ui=ui_outputs.get(node_id), outputs=outputs)
        results[node_id] = outputs
        progress.finish(node_id)
        executed.add(node_id)
        return None

    def _handle_execution_error(
        self,
        prompt_id: str,
        prompt: dict[str, Any],
        current_outputs: list[str],
        executed: set[str],
        node_id: str,
        error: dict[str, Any],
    ) -> None:
        mes: dict[str, Any] = {
            "prompt_id": prompt_id,
            "node_id": node_id,
            "node_type": prompt[node_id]["class_type"],
            "executed": set_order(executed),
        }
        if error["interrupted"]:
            self._add_message("execution_interrupted", mes, broadcast=True)
            return
        mes.update(
            exception_message=error["exception_message"],
            exception_type=error["exception_type"],
            traceback=error["traceback"],
            current_inputs=error["current_inputs"],
            current_outputs=current_outputs,
        )
        self._add_message("execution_error", mes, broadcast=False)

    # -- the HTTP application -------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_UPLOAD_SIZE,
            middlewares=[self._fault_middleware, self._origin_middleware],
        )
        r = app.router

        def both(method: str, path: str, handler: Handler) -> None:
            # Registered like server.py's RouteTableDef: a GET route answers HEAD as well.
            for prefix in ("/api",) if self.api_prefix_only else ("", "/api"):
                if method == "GET":
                    r.add_get(prefix + path, handler)
                else:
                    r.add_route(method, prefix + path, handler)

        r.add_get("/ws", self._ws_handler)
        r.add_get("/api/ws", self._ws_handler)
        both("GET", "/prompt", self._get_prompt)
        both("POST", "/prompt", self._post_prompt)
        both("GET", "/queue", self._get_queue)
        both("POST", "/queue", self._post_queue)
        both("POST", "/interrupt", self._post_interrupt)
        both("GET", "/history", self._get_history)
        both("GET", "/history/{prompt_id}", self._get_history_id)
        both("POST", "/history", self._post_history)
        both("POST", "/upload/image", self._upload_image)
        both("GET", "/view", self._view)
        both("GET", "/object_info", self._object_info)
        both("GET", "/object_info/{node_class}", self._object_info_one)
        both("GET", "/system_stats", self._system_stats)
        both("GET", "/features", self._features)
        both("GET", "/embeddings", self._embeddings)
        both("GET", "/models", self._constant(_data.MODEL_FOLDERS))
        both("GET", "/models/{folder}", self._models_folder)
        both("GET", "/extensions", self._constant(_data.EXTENSIONS))
        if self.jobs_api:
            r.add_get("/api/jobs", self._get_jobs)
            r.add_get("/api/jobs/{job_id}", self._get_job)
            r.add_post("/api/jobs/cancel", self._cancel_jobs)
            r.add_post("/api/jobs/{job_id}/cancel", self._cancel_job)
        if self.frontend is not None:
            self._add_frontend_routes(r, self.frontend)
        r.add_route("*", "/{tail:.*}", self._not_found)
        return app

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests_received.append((request.method, request.path))
        if self.http_delay > 0:
            await asyncio.sleep(self.http_delay)
        path = request.path
        bare = path[4:] if path.startswith("/api/") else path
        for key, count in list(self.fail_next_requests.items()):
            if count > 0 and (path.startswith(key) or bare.startswith(key)):
                if count > 1:
                    self.fail_next_requests[key] = count - 1
                else:
                    del self.fail_next_requests[key]
                if request.method == "POST" and bare == "/prompt":
                    with contextlib.suppress(Exception):
                        body = await request.json()
                        if isinstance(body, dict):
                            self.prompts_received.append(copy.deepcopy(body))
                return web.Response(status=self.fail_status, text=f"{self.fail_status}")
        return await handler(request)

    @web.middleware
    async def _origin_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        # server.py: a cross-site request, or an Origin not matching a loopback Host, gets 403.
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            return web.Response(status=403)
        host = request.headers.get("Host")
        origin = request.headers.get("Origin")
        if host and origin:
            host_parsed = urlsplit("//" + host.lower())
            origin_parsed = urlparse(origin)
            host_domain: str | None = host.lower()
            origin_domain: str | None = origin_parsed.netloc.lower()
            loopback = host_parsed.hostname in ("127.0.0.1", "localhost", "::1")
            if origin_parsed.port is None:
                host_domain = host_parsed.hostname
            if host_parsed.port is None:
                origin_domain = origin_parsed.hostname
            if loopback and host_domain and origin_domain and host_domain != origin_domain:
                return web.Response(status=403)
        if request.method == "OPTIONS":
            return web.Response()
        return await handler(request)

    def _add_frontend_routes(self, r: web.UrlDispatcher, static: Path) -> None:
        """server.py's index and static files, and app/user_manager.py + app/app_settings.py
        for a single user who has saved nothing yet."""

        async def index(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(static / "index.html")

        async def no_file(request: web.Request) -> web.StreamResponse:
            return web.Response(status=404)

        async def stored(request: web.Request) -> web.StreamResponse:
            return web.json_response({})

        r.add_get("/", index)
        r.add_get("/api/users", self._constant({"storage": "server", "migrated": True}))
        r.add_get("/api/settings", self._constant({}))
        r.add_post("/api/settings", stored)
        r.add_get("/api/settings/{id}", self._constant(None))
        r.add_post("/api/settings/{id}", stored)
        r.add_get("/api/userdata", no_file)
        r.add_get("/api/v2/userdata", self._constant([]))
        r.add_get("/api/userdata/{file}", no_file)
        r.add_post("/api/userdata/{file}", stored)
        r.add_get("/api/i18n", self._constant({}))
        r.add_get("/api/workflow_templates", self._constant({}))
        r.add_get("/api/global_subgraphs", self._constant({}))
        r.add_get("/api/node_replacements", self._constant({}))
        r.add_static("/", static)

    def _constant(self, value: Any) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.json_response(value)

        return handler

    async def _system_stats(self, request: web.Request) -> web.StreamResponse:
        stats = copy.deepcopy(_data.SYSTEM_STATS)
        stats["system"]["comfyui_version"] = self.comfyui_version
        return web.json_response(stats)

    async def _features(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({**_data.FEATURES, "max_upload_size": self.max_upload_size})

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404)

    async def _models_folder(self, request: web.Request) -> web.StreamResponse:
        folder = request.match_info["folder"]
        if folder not in _data.MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response(self._models.listing(folder))

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._models.embeddings())

    # websocket

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.ws_connections_opened += 1
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            # Reusing an existing session: the old socket is forgotten (but not closed).
            self._sockets.pop(sid, None)
        else:
            sid = uuid.uuid4().hex
        sock = _Socket(ws, request.transport, sid)
        self._sockets[sid] = sock
        self._sockets_metadata[sid] = {"feature_flags": {}}
        self._socket_objects[id(sock)] = sock
        try:
            await self._deliver("status", {"status": self._queue_info(), "sid": sid}, sid)
            if self.client_id == sid and self.last_node_id is not None:
                await self._deliver("executing", {"node": self.last_node_id}, sid)
            first_message = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    if (
                        first_message
                        and isinstance(data, dict)
                        and data.get("type") == "feature_flags"
                    ):
                        flags = data.get("data", {})
                        if sid in self._sockets_metadata:
                            self._sockets_metadata[sid]["feature_flags"] = flags
                        await self._deliver("feature_flags", _data.FEATURES, sid)
                    first_message = False
                except json.JSONDecodeError:
                    logger.debug("invalid JSON from websocket client %s", sid)
        finally:
            self._socket_objects.pop(id(sock), None)
            if not sock.aborted:
                # As server.py does: drops whatever socket is registered under this sid now,
                # which is a newer one if the client reconnected before closing this one.
                self._sockets.pop(sid, None)
                self._sockets_metadata.pop(sid, None)
        return ws

    # prompt and queue

    async def _get_prompt(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._queue_info())

    async def _post_prompt(self, request: web.Request) -> web.StreamResponse:
        json_data: Any = await request.json()  # invalid JSON: unhandled, so a plain 500
        if isinstance(json_data, dict):
            self.prompts_received.append(copy.deepcopy(json_data))
            self.prompt_authorizations.append(request.headers.get("Authorization"))
            self.prompt_cookies.append(request.headers.get("Cookie"))
        if "number" in json_data:
            number: Any = float(json_data["number"])
        else:
            number = self.number
            if json_data.get("front"):
                number = -number
            self.number += 1

        if "prompt" not in json_data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)

        prompt = json_data["prompt"]
        client_prompt_id = json_data.get("prompt_id")
        if client_prompt_id is None:
            prompt_id = str(uuid.uuid4())
        else:
            try:
                prompt_id = validate_job_id(client_prompt_id)
            except ValueError:
                error = {
                    "type": "invalid_prompt_id",
                    "message": "prompt_id must be a valid UUID",
                    "details": "prompt_id must be a UUID string in canonical lowercase "
                    "hyphenated form; omit it to let the server generate one",
                    "extra_info": {},
                }
                return web.json_response({"error": error, "node_errors": {}}, status=400)

        partial = json_data.get("partial_execution_targets")
        validators = {
            "LoadImage": CustomValidation(
                frozenset({"image"}),
                lambda values: {
                    k: load_image_exists(self._dir, v) for k, v in values.items() if k == "image"
                },
            )
        }
        valid = validate_prompt(prompt, partial, validators, self._node_defs)
        extra_data: Any = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        usage_source = request.headers.get("Comfy-Usage-Source")
        if usage_source:
            extra_data["comfy_usage_source"] = usage_source
        if not valid[0]:
            return web.json_response({"error": valid[1], "node_errors": valid[3]}, status=400)

        sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        extra_data["create_time"] = int(time.time() * 1000)
        self._queue.put((number, prompt_id, prompt, extra_data, valid[2], sensitive))
        self.queue_lengths.append(self._queue.tasks_remaining())

        mode = self.fail_next_post_prompt_after_accept
        if mode is not None:
            self.fail_next_post_prompt_after_accept = None
            if mode == "reset":
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            raise RuntimeError("fake ComfyUI: injected failure after the prompt was queued")
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": valid[3]}
        )

    async def _get_queue(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"queue_running": self._queue.running(), "queue_pending": self._queue.pending()}
        )

    async def _post_queue(self, request: web.Request) -> web.StreamResponse:
        json_data: Any = await request.json()
        if json_data.get("clear"):
            self._queue.wipe_queue()
        if "delete" in json_data:
            for id_to_delete in json_data["delete"]:
                self.delete_from_queue(id_to_delete)
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data: Any = await request.json()
        except json.JSONDecodeError:
            json_data = {}
        prompt_id = json_data.get("prompt_id") if isinstance(json_data, dict) else None
        if prompt_id and _version(self.comfyui_version) >= (0, 3, 57):
            # Targeted: only if that prompt is the running one, else a no-op.
            self._queue.interrupt_if_running(prompt_id)
        else:
            self._interrupt_processing = True
        return web.Response(status=200)

    # history

    async def _get_history(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query["offset"]) if "offset" in query else -1
        return web.json_response(self._queue.get_history(max_items=max_items, offset=offset))

    async def _get_history_id(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._queue.get_history(prompt_id=request.match_info["prompt_id"]))

    async def _post_history(self, request: web.Request) -> web.StreamResponse:
        json_data: Any = await request.json()
        if json_data.get("clear"):
            self._queue.history = {}
        if "delete" in json_data:
            for id_to_delete in json_data["delete"]:
                self._queue.history.pop(id_to_delete, None)
        return web.Response(status=200)

    # /api/jobs (comfy_execution/jobs.py)

    def _normalize_queue_item(self, item: QueueItem, status: str) -> dict[str, Any]:
        extra_data = item[3]
        workflow_id = (extra_data.get("extra_pnginfo") or {}).get("workflow", {}).get("id")
        job = {
            "id": item[1],
            "status": status,
            "priority": item[0],
            "create_time": extra_data.get("create_time"),
            "outputs_count": 0,
            "previewable_outputs_count": 0,
            "workflow_id": workflow_id,
        }
        return {k: v for k, v in job.items() if v is not None}

    def _normalize_history_item(
        self, prompt_id: str, entry: dict[str, Any], include_outputs: bool
    ) -> dict[str, Any]:
        priority, _, prompt, extra_data, _ = entry["prompt"]
        workflow_id = (extra_data.get("extra_pnginfo") or {}).get("workflow", {}).get("id")
        status_info = entry.get("status") or {}
        outputs = entry.get("outputs", {})
        outputs_count, preview_output, previewable = _outputs_summary(outputs)
        start = end = error = None
        interrupted = False
        for event, data in status_info.get("messages", []):
            if event == "execution_start":
                start = data.get("timestamp")
            elif event in ("execution_success", "execution_error", "execution_interrupted"):
                end = data.get("timestamp")
                if event == "execution_error":
                    error = data
                elif event == "execution_interrupted":
                    interrupted = True
        if status_info.get("status_str") == "error":
            status = "cancelled" if interrupted else "failed"
        else:
            status = "completed"
        job = {
            "id": prompt_id,
            "status": status,
            "priority": priority,
            "create_time": extra_data.get("create_time"),
            "execution_start_time": start,
            "execution_end_time": end,
            "execution_error": error,
            "outputs_count": outputs_count,
            "previewable_outputs_count": previewable,
            "preview_output": preview_output,
            "workflow_id": workflow_id,
        }
        job = {k: v for k, v in job.items() if v is not None}
        if include_outputs:
            job["outputs"] = outputs
            job["execution_status"] = status_info
            job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
        return job

    async def _get_jobs(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        status_filter = JOB_STATUSES
        if query.get("status"):
            status_filter = [s.strip() for s in query["status"].split(",") if s.strip()]
            invalid = [s for s in status_filter if s not in JOB_STATUSES]
            if invalid:
                message = (
                    f"Invalid status value(s): {', '.join(invalid)}. "
                    f"Valid values: {', '.join(JOB_STATUSES)}"
                )
                return web.json_response({"error": message}, status=400)
        sort_by = query.get("sort_by", "created_at")
        if sort_by not in ("created_at", "execution_duration"):
            return web.json_response(
                {"error": "sort_by must be 'created_at' or 'execution_duration'"}, status=400
            )
        sort_order = query.get("sort_order", "desc")
        if sort_order not in ("asc", "desc"):
            return web.json_response({"error": "sort_order must be 'asc' or 'desc'"}, status=400)
        limit: int | None = None
        if "limit" in query:
            try:
                limit = int(query["limit"])
            except ValueError:
                return web.json_response({"error": "limit must be an integer"}, status=400)
            if limit <= 0:
                return web.json_response({"error": "limit must be a positive integer"}, status=400)
        offset = 0
        if "offset" in query:
            try:
                offset = max(int(query["offset"]), 0)
            except ValueError:
                return web.json_response({"error": "offset must be an integer"}, status=400)
        workflow_id = (query.get("workflow_id") or "").strip() or None

        jobs: list[dict[str, Any]] = []
        if "in_progress" in status_filter:
            jobs += [self._normalize_queue_item(i, "in_progress") for i in self._queue.running()]
        if "pending" in status_filter:
            jobs += [self._normalize_queue_item(i, "pending") for i in self._queue.pending()]
        wanted = {"completed", "failed", "cancelled"} & set(status_filter)
        if wanted:
            for prompt_id, entry in self._queue.history.items():
                job = self._normalize_history_item(prompt_id, entry, include_outputs=False)
                if job["status"] in wanted:
                    jobs.append(job)
        if workflow_id:
            jobs = [j for j in jobs if j.get("workflow_id") == workflow_id]

        def sort_key(job: dict[str, Any]) -> float:
            if sort_by == "execution_duration":
                start, end = job.get("execution_start_time", 0), job.get("execution_end_time", 0)
                return float(end - start) if end and start else 0.0
            return float(job.get("create_time", 0))

        jobs = sorted(jobs, key=sort_key, reverse=sort_order == "desc")
        total = len(jobs)
        jobs = jobs[offset:]
        if limit is not None:
            jobs = jobs[:limit]
        pagination = {
            "offset": offset,
            "limit": limit,
            "total": total,
            "has_more": offset + len(jobs) < total,
        }
        return web.json_response({"jobs": jobs, "pagination": pagination})

    async def _get_job(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        job: dict[str, Any] | None = None
        if job_id in self._queue.history:
            entry = copy.deepcopy(self._queue.history[job_id])
            job = self._normalize_history_item(job_id, entry, include_outputs=True)
        else:
            for item in self._queue.running():
                if item[1] == job_id:
                    job = self._normalize_queue_item(item, "in_progress")
                    break
            else:
                for item in self._queue.pending():
                    if item[1] == job_id:
                        job = self._normalize_queue_item(item, "pending")
                        break
        if job is None:
            return web.json_response({"error": "Job not found"}, status=404)
        return web.json_response(job)

    def _cancel_job_by_id(self, job_id: str) -> bool:
        queue = self._queue
        if any(item[1] == job_id for item in queue.currently_running.values()):
            return queue.interrupt_if_running(job_id)
        if any(item[1] == job_id for item in queue.queue):
            if queue.delete_queue_item(lambda item: item[1] == job_id):
                return True
            return queue.interrupt_if_running(job_id)
        return False

    async def _cancel_job(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"cancelled": self._cancel_job_by_id(request.match_info["job_id"])}
        )

    async def _cancel_jobs(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data: Any = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": "Request body must be valid JSON"}, status=400)
        job_ids = json_data.get("job_ids") if isinstance(json_data, dict) else None
        if not isinstance(job_ids, list):
            return web.json_response({"error": "job_ids must be a list"}, status=400)
        invalid: list[str] = []
        for jid in job_ids:
            try:
                validate_job_id(jid)
            except (ValueError, AttributeError):
                invalid.append(jid if isinstance(jid, str) else repr(jid))
        if invalid:
            return web.json_response(
                {"error": "job_ids contains invalid id(s)", "invalid_ids": invalid}, status=400
            )
        cancelled = False
        for jid in job_ids:
            if self._cancel_job_by_id(jid):
                cancelled = True
        return web.json_response({"cancelled": cancelled})

    # files

    def _dir_by_type(self, kind: str | None) -> tuple[Path, str]:
        if kind is None:
            kind = "input"
        if kind not in ("input", "temp", "output"):
            # server.py leaves the directory unbound here: an unhandled error, a plain 500.
            raise UnboundLocalError("cannot access local variable 'type_dir'")
        return self._dir(kind), kind

    async def _upload_image(self, request: web.Request) -> web.StreamResponse:
        self.upload_requests += 1
        post = await request.post()
        image = post.get("image")
        overwrite = post.get("overwrite")
        image_upload_type = post.get("type")
        upload_dir, upload_type = self._dir_by_type(
            image_upload_type if isinstance(image_upload_type, str) else None
        )
        if not image:
            return web.Response(status=400)
        if not isinstance(image, web.FileField):
            # A part without a filename is a plain field: `image.file` raises, a plain 500.
            raise AttributeError(f"'{type(image).__name__}' object has no attribute 'file'")
        filename = image.filename
        if not filename:
            return web.Response(status=400)
        subfolder_value = post.get("subfolder", "")
        subfolder = subfolder_value if isinstance(subfolder_value, str) else ""
        upload_root = str(upload_dir)
        full_output_folder = os.path.join(upload_root, os.path.normpath(subfolder))
        filepath = os.path.abspath(os.path.join(full_output_folder, filename))
        if os.path.commonpath((upload_root, filepath)) != upload_root:
            return web.Response(status=400)
        os.makedirs(full_output_folder, exist_ok=True)
        data = image.file.read()
        base, ext = os.path.splitext(filename)
        duplicate = False
        if overwrite not in ("true", "1"):
            i = 1
            while os.path.exists(filepath):
                with open(filepath, "rb") as f:
                    if f.read() == data:  # same hash: the same image, not stored again
                        duplicate = True
                        break
                filename = f"{base} ({i}){ext}"
                filepath = os.path.join(full_output_folder, filename)
                i += 1
        if not duplicate:
            with open(filepath, "wb") as f:
                f.write(data)
        self.uploads[(upload_type, subfolder, filename)] = data
        return web.json_response({"name": filename, "subfolder": subfolder, "type": upload_type})

    async def _view(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        filename, annotated = annotated_filepath(query["filename"])
        if filename[0] == "/" or ".." in filename:  # empty filename: IndexError, a plain 500
            return web.Response(status=400)
        kind = annotated or query.get("type", "output")
        if kind not in ("input", "temp", "output"):
            return web.Response(status=400)
        output_dir = str(self._dir(kind))
        if "subfolder" in query:
            full_output_dir = os.path.join(output_dir, query["subfolder"])
            if os.path.commonpath((os.path.abspath(full_output_dir), output_dir)) != output_dir:
                return web.Response(status=403)
            output_dir = full_output_dir
        filename = os.path.basename(filename)
        file = os.path.join(output_dir, filename)
        if not os.path.isfile(file):
            return web.Response(status=404)
        disposition = {"Content-Disposition": f'filename="{filename}"'}
        if "preview" in query:
            return web.Response(body=TINY_WEBP, content_type="image/webp", headers=disposition)
        channel = query.get("channel", "rgba")
        if channel in ("rgb", "a"):
            with open(file, "rb") as f:
                probed = probe_png(f.read())
            width, height, rgb = probed if probed is not None else (1, 1, (0, 0, 0))
            if channel == "rgb":
                png = encode_png(width, height, rgb)
            else:
                png = encode_png(width, height, (0, 0, 0), alpha=255)
            return web.Response(body=png, content_type="image/png", headers=disposition)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if content_type in {
            "text/html",
            "text/html-sandboxed",
            "application/xhtml+xml",
            "text/javascript",
            "text/css",
        }:
            content_type = "application/octet-stream"
        return web.FileResponse(
            file,
            headers={
                **disposition,
                "Content-Type": content_type,
                "X-Content-Type-Options": "nosniff",
            },
        )

    # node definitions

    def _input_images(self) -> list[str]:
        folder = self._dir("input")
        files = [f.name for f in folder.iterdir() if f.is_file()]
        return sorted(f for f in files if (mimetypes.guess_type(f)[0] or "").startswith("image/"))

    def _live_object_info(self) -> dict[str, Any]:
        info = self._models.object_info() if self._models else dict(object_info())
        info.update(self._node_classes)
        for name in self._missing_classes:
            info.pop(name, None)
        images = self._input_images()
        for name in ("LoadImage", "LoadImageMask"):
            if name in info:
                node = copy.deepcopy(info[name])
                spec = node["input"]["required"]["image"]
                node["input"]["required"]["image"] = [images, *spec[1:]]
                info[name] = node
        return info

    async def _object_info(self, request: web.Request) -> web.StreamResponse:
        images = tuple(self._input_images())
        if self._object_info_text is None or self._object_info_text[0] != images:
            self._object_info_text = (images, json.dumps(self._live_object_info()))
        return web.Response(text=self._object_info_text[1], content_type="application/json")

    async def _object_info_one(self, request: web.Request) -> web.StreamResponse:
        node_class = request.match_info["node_class"]
        info = self._live_object_info()
        if node_class not in info:
            return web.json_response({})
        return web.json_response({node_class: info[node_class]})


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.removeprefix("v").split(".") if part.isdigit())


def _outputs_summary(outputs: dict[str, Any]) -> tuple[int, dict[str, Any] | None, int]:
    """comfy_execution/jobs.py get_outputs_summary + count_previewable_outputs."""
    count = 0
    previewable = 0
    preview = fallback = text_file = text = None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media_type, items in node_outputs.items():
            if media_type == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    if media_type == "text" and text is None and preview is None:
                        value = str(item)
                        entry: dict[str, Any] = {"content": value[:1024]}
                        if len(value) > 1024:
                            entry["truncated"] = True
                        text = {**entry, "nodeId": node_id, "mediaType": media_type}
                    continue
                count += 1
                filename = str(item.get("filename", "")).lower()
                fmt = str(item.get("format", ""))
                is_text_file = filename.endswith(TEXT_EXTENSIONS)
                ok = (
                    media_type in PREVIEWABLE_MEDIA_TYPES
                    or fmt.startswith(("video/", "audio/"))
                    or filename.endswith(THREE_D_EXTENSIONS)
                    or is_text_file
                )
                if not ok:
                    continue
                previewable += 1
                if preview is not None:
                    continue
                enriched = {**item, "nodeId": node_id}
                enriched.setdefault("mediaType", media_type)
                if media_type == "text" or is_text_file:
                    text_file = text_file or enriched
                elif item.get("type") == "output":
                    preview = enriched
                elif fallback is None:
                    fallback = enriched
    return count, preview or fallback or text_file or text, previewable


@contextlib.asynccontextmanager
async def running_fake_comfyui(
    *,
    api_prefix_only: bool = False,
    models: Mapping[str, Sequence[str]] | None = None,
    node_classes: Mapping[str, Any] | None = None,
) -> AsyncIterator[FakeComfyUI]:
    """`async with running_fake_comfyui() as fake:` a started fake, stopped on exit.
    `models`, `node_classes`: as for `FakeComfyUI`."""
    fake = FakeComfyUI(api_prefix_only=api_prefix_only, models=models, node_classes=node_classes)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
