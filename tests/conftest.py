"""The one source of the tests' fixtures, paths and helpers.

Fixtures: `fake_comfyui`, `start_fake_comfyui` (a factory), `fake_runninghub`,
`comfyui_url`/`comfyui` (a live server with COMFYUI_URL, else a fake), `write_workflow`,
`make_module`, `start_web_server` (a factory: a server that answers every request with
one page or file). Paths: `ROOT`, `TESTS`, `EXAMPLES`. Helpers: `node`, `png`, `examples`
(hypothesis example counts by profile), `SlowCancel` (a `FakeBackend` whose cancel waits
for the test).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from comfygen_runtime import Ticket
from comfygen_runtime.testing import FakeBackend
from hypothesis import settings

from tests.fakes import FakeComfyUI, FakeRunningHub, running_fake_comfyui

WriteWorkflow = Callable[..., Path]
TESTS = Path(__file__).parent  # the tests' data folders (fakes, golden, ui_format) are here
ROOT = TESTS.parent  # the repository
EXAMPLES = ROOT / "examples" / "workflows"

# Hypothesis: `HYPOTHESIS_PROFILE=ci` (what .ci/run sets) runs every property test with its
# full number of examples, derandomized so a CI run is reproducible; the default "dev"
# profile runs a tenth of them for a fast local loop, exploring new ones each time.
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
settings.register_profile("ci", deadline=None, derandomize=True, database=None,
                          print_blob=True)  # fmt: skip
settings.register_profile("dev", deadline=None)
settings.load_profile(_PROFILE)


def examples(full: int) -> int:
    """A property test's number of examples: `full` in CI, a tenth (at least 20) locally."""
    return full if _PROFILE == "ci" else max(20, full // 10)


@pytest.fixture
def write_workflow(tmp_path: Path) -> WriteWorkflow:
    """Write an API-format graph as `<tmp>/workflows/<name>.json` and return its path."""

    def write(graph: Any, name: str = "wf", *, raw: str | None = None) -> Path:
        folder = tmp_path / "workflows"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.json"
        path.write_text(raw if raw is not None else json.dumps(graph), encoding="utf-8")
        return path

    return write


def node(class_type: str, title: str = "", **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


def pytest_configure(config: pytest.Config) -> None:
    # The generated example package `gen` lives in examples/; tests import it as apps do.
    import sys

    sys.path.insert(0, str(ROOT / "examples"))


@pytest.fixture
async def fake_comfyui() -> AsyncIterator[FakeComfyUI]:
    """A protocol-faithful fake ComfyUI on 127.0.0.1 (fault injection available)."""
    async with running_fake_comfyui() as server:
        yield server


@pytest.fixture
async def start_fake_comfyui() -> AsyncIterator[Callable[[], Awaitable[FakeComfyUI]]]:
    """Start as many fresh fake ComfyUI servers as a test needs; all stopped after it."""
    async with contextlib.AsyncExitStack() as stack:

        async def start() -> FakeComfyUI:
            return await stack.enter_async_context(running_fake_comfyui())

        yield start


@pytest.fixture
async def start_web_server() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start HTTP servers that are neither ComfyUI nor RunningHub: `await start(status,
    body=b"<html>hello</html>", chunked=False)` answers every request with `body` (an HTML
    page: a mistyped URL; bytes: a media file, sent in chunks without a length when
    `chunked`). Returns each server's base URL."""
    from aiohttp import web

    async with contextlib.AsyncExitStack() as stack:

        async def start(status: int, body: bytes = b"<html>hello</html>",
                        chunked: bool = False) -> str:  # fmt: skip
            kind = "text/html" if body.startswith(b"<html") else "application/octet-stream"

            async def page(request: web.Request) -> web.StreamResponse:
                if not chunked:
                    return web.Response(status=status, body=body, content_type=kind)
                reply = web.StreamResponse(status=status, headers={"Content-Type": kind})
                reply.enable_chunked_encoding()
                await reply.prepare(request)
                for start in range(0, len(body), 4096):
                    await reply.write(body[start : start + 4096])
                await reply.write_eof()
                return reply

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", page)
            runner = web.AppRunner(app)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return f"http://127.0.0.1:{runner.addresses[0][1]}"

        yield start


# The example workflows RunningHub serves in the tests: the ids examples/comfygen.toml gives
# them (examples/gen records those), and one more for the upload example.
RUNNINGHUB_EXAMPLES = {
    "1987654321": "invert_color_image",
    "1987654322": "text_preview",
    "1987654323": "invert_uploaded_image",
}


@pytest.fixture
async def fake_runninghub() -> AsyncIterator[FakeRunningHub]:
    """A fake RunningHub on 127.0.0.1 serving the example workflows (`RUNNINGHUB_EXAMPLES`);
    it runs their tasks on a fake ComfyUI of its own."""
    hub = FakeRunningHub()
    await hub.start()
    for workflow_id, name in RUNNINGHUB_EXAMPLES.items():
        hub.add_workflow(workflow_id, json.loads((EXAMPLES / f"{name}.json").read_text()))
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
async def comfyui_url() -> Any:
    """`COMFYUI_URL` when set (a live server), else a fresh fake server."""
    live = os.environ.get("COMFYUI_URL")
    if live:
        yield live.rstrip("/")
        return
    server = FakeComfyUI()
    await server.start()
    try:
        yield server.base_url
    finally:
        await server.stop()


@pytest.fixture
async def comfyui(comfyui_url: str) -> Any:
    from comfygen_runtime import ComfyUI

    async with ComfyUI(comfyui_url) as client:
        yield client


@pytest.fixture
def make_module(tmp_path: Path) -> Callable[..., Any]:
    """Compile a workflow dict with comfygen and import the generated module."""
    import importlib
    import sys

    from comfygen import build

    counter = iter(range(10**6))

    def make(graph: dict[str, Any], name: str = "wf", runninghub_id: str | None = None) -> Any:
        package = f"genmod_{tmp_path.name}_{next(counter)}".replace("-", "_")
        source = tmp_path / package / "src"
        source.mkdir(parents=True)
        (source / f"{name}.json").write_text(json.dumps(graph), encoding="utf-8")
        out = tmp_path / package / package
        out.mkdir()
        ids = {source / f"{name}.json": runninghub_id} if runninghub_id else None
        for file in build([source], runninghub_ids=ids).files:
            (out / file.path).write_text(file.text, encoding="utf-8")
        sys.path.insert(0, str(tmp_path / package))
        try:
            return importlib.import_module(f"{package}.{name}")
        finally:
            sys.path.remove(str(tmp_path / package))

    return make


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    """A real PNG file of one colour (what the fake ComfyUI's nodes read and write)."""
    from tests.fakes._images import encode_png

    return encode_png(width, height, rgb)


class SlowCancel(FakeBackend):
    """A `FakeBackend` whose cancel waits until the test sets `answer` (`cancelling` is
    set once a cancel has begun): a server far away, without the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelling = asyncio.Event()
        self.answer = asyncio.Event()

    async def cancel(self, ticket: Ticket) -> bool:
        self.cancelling.set()
        await self.answer.wait()
        return await super().cancel(ticket)
