"""`comfygen serve`: real MCP and HTTP clients over real sockets, against the fake ComfyUI.

The service runs in the test's event loop (uvicorn on a socket of 127.0.0.1) or, for the
command itself, as a subprocess; the fake ComfyUI has the model files the examples load.
Waits are on events (progress notifications, server-sent events, the fake's queue), never
on the clock.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import mcp.types as mcp
import pytest
from comfygen_runtime import ComfyUI, RunningHub
from httpx_sse import aconnect_sse
from mcp import Client, StdioServerParameters

from comfygen._serve import Catalog, create_app, http_server, load_catalog
from comfygen._serve._jobs import JobRegistry
from tests.conftest import ROOT, SlowCancel
from tests.fakes import FakeComfyUI, FakeRunningHub, models_used_by, running_fake_comfyui
from tests.fakes.runninghub import DEFAULT_API_KEY

WORKFLOWS = ROOT / "examples" / "workflows"
MODELS = models_used_by(*(json.loads(p.read_text()) for p in sorted(WORKFLOWS.glob("*.json"))))
COMFYGEN = str(Path(sys.executable).parent / "comfygen")  # the installed command
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = (b"\x00" + bytes(rgb) * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + (chunk(b"IEND", b""))
    )


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@dataclass
class Service:
    url: str
    fake: FakeComfyUI
    catalog: Catalog

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"


@contextlib.asynccontextmanager
async def serving(catalog: Catalog) -> AsyncIterator[str]:
    """The service for `catalog` on a free port of 127.0.0.1; yields its base URL."""
    server = http_server(create_app(catalog))
    sock = socket.create_server(("127.0.0.1", 0))
    task = asyncio.ensure_future(server.serve([sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        await catalog.close()


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with running_fake_comfyui(models=MODELS) as fake:
        catalog, _ = load_catalog(
            [WORKFLOWS], backend=ComfyUI(fake.base_url), backend_label="the fake ComfyUI"
        )
        async with serving(catalog) as url:
            yield Service(url, fake, catalog)


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        yield client


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until the fake's state says so (a bounded number of turns, no clock involved)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def until_empty_queue(fake: FakeComfyUI) -> None:
    await until(lambda: not fake.queue_pending, "the fake's queue is empty")


# -- MCP ---------------------------------------------------------------------------------


async def test_mcp_lists_one_tool_per_workflow_with_exact_schemas(service: Service) -> None:
    async with Client(service.mcp) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {path.stem for path in WORKFLOWS.glob("*.json")}
    sdxl = tools["sdxl_text_to_image"].input_schema
    assert sdxl["required"] == ["prompt"]
    assert sdxl["additionalProperties"] is False
    assert sdxl["properties"]["width"] | {} == {
        "default": 1024, "description": "The width of the latent images in pixels.",
        "maximum": 16384, "minimum": 16, "title": "Width", "type": "integer",
    }  # fmt: skip
    assert "dpmpp_2m_sde" in sdxl["properties"]["sampler_name"]["enum"]
    assert sdxl["properties"]["prompt"]["description"] == "What to draw"
    image = tools["invert_uploaded_image"].input_schema["properties"]["image"]
    assert image["type"] == "string" and image["pattern"] == "^(https?://|data:)"
    cover = tools["book_cover"]
    assert cover.description is not None and "cover (images); thumbnail (images)" in (
        cover.description
    )
    assert cover.output_schema is not None
    assert set(cover.output_schema["properties"]) == {"cover", "thumbnail"}


async def test_mcp_call_returns_text_image_and_links(service: Service) -> None:
    async with Client(service.mcp) as client:
        text = await client.call_tool("text_preview", {"text": "hello"})
        image = await client.call_tool(
            "invert_color_image", {"width": 16, "height": 8, "color": 0x102030}
        )
    assert not text.is_error
    assert [b.text for b in text.content if isinstance(b, mcp.TextContent)][1:] == ["hello!"]
    assert text.structured_content == {
        "preview": [{"kind": "text", "node_id": "3", "text": "hello!"}]
    }
    assert not image.is_error
    (inline,) = [b for b in image.content if isinstance(b, mcp.ImageContent)]
    (link,) = [b for b in image.content if isinstance(b, mcp.ResourceLink)]
    data = base64.b64decode(inline.data)
    assert inline.mime_type == "image/png" and data.startswith(PNG_SIGNATURE)
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(link.uri)).content == data  # the link is the same file
    assert image.structured_content is not None
    (item,) = image.structured_content["image"]
    assert item["url"] == link.uri and item["kind"] == "image"


async def test_mcp_media_input_as_data_uri(service: Service) -> None:
    picture = png(24, 12, (10, 20, 30))
    async with Client(service.mcp) as client:
        result = await client.call_tool("invert_uploaded_image", {"image": data_uri(picture)})
    assert not result.is_error, result.content
    assert picture in service.fake.uploads.values()


async def test_mcp_invalid_arguments_name_the_parameter(service: Service) -> None:
    async with Client(service.mcp) as client:
        bad = await client.call_tool("book_cover", {"prompt": "x", "width": 5, "colour": 1})
        path = await client.call_tool("invert_uploaded_image", {"image": "/etc/passwd"})
    assert bad.is_error and path.is_error
    message = bad.content[0].text if isinstance(bad.content[0], mcp.TextContent) else ""
    assert "width: Input should be greater than or equal to 16" in message
    assert "colour: Extra inputs are not permitted" in message
    assert service.fake.prompts_received == []  # nothing was sent


async def test_mcp_progress_rises_to_the_total(service: Service) -> None:
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with Client(service.mcp) as client:
        arguments = {"prompt": "a fox", "width": 64, "height": 64}
        result = await client.call_tool("book_cover", arguments, progress_callback=on_progress)
    assert not result.is_error
    values = [value for value, _, _ in updates]
    assert values == sorted(set(values)), "progress must strictly rise"
    assert str(updates[0][2]).startswith("queued") and updates[-1] == (10.0, 10.0, "finished")
    assert any(message and "(KSampler) " in message for _, _, message in updates)


async def test_mcp_progress_counts_the_nodes_the_job_runs(service: Service) -> None:
    runs: list[list[tuple[float, float | None]]] = []
    async with Client(service.mcp) as client:
        for _ in range(2):  # the second run is served from the cache: no node runs
            updates: list[tuple[float, float | None]] = []

            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                updates.append((progress, total))  # noqa: B023 (used before the next turn)

            arguments = {"text": "same"}
            result = await client.call_tool(
                "text_preview", arguments, progress_callback=on_progress
            )
            assert not result.is_error
            runs.append(updates)
    assert runs[0][-1] == (4.0, 4.0), "its three nodes, then its end"
    assert runs[1][-1] == (1.0, 1.0), "no node to run: only its end"


async def test_mcp_cancel_removes_the_job_from_the_server(service: Service) -> None:
    queued = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        queued.set()

    service.fake.hold()
    async with Client(service.mcp) as client:
        call = asyncio.ensure_future(
            client.call_tool("text_preview", {"text": "never"}, progress_callback=on_progress)
        )
        await queued.wait()  # the server has the job
        assert len(service.fake.queue_pending) == 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await until_empty_queue(service.fake)
    service.fake.release()
    assert service.fake.executions == []


@pytest.mark.slow  # a `comfygen serve --stdio` subprocess
async def test_mcp_over_stdio(service: Service, tmp_path: Path) -> None:
    arguments = ["serve", str(WORKFLOWS / "text_preview.json"), "--stdio",
                 "--server", service.fake.base_url]  # fmt: skip
    parameters = StdioServerParameters(command=COMFYGEN, args=arguments, cwd=str(tmp_path))
    async with Client(parameters) as client:
        (tool,) = (await client.list_tools()).tools
        result = await client.call_tool("text_preview", {"text": "piped"})
    assert tool.name == "text_preview"
    assert result.structured_content == {
        "preview": [{"kind": "text", "node_id": "3", "text": "piped!"}]
    }


# -- HTTP --------------------------------------------------------------------------------


async def test_http_sync_run(http: httpx.AsyncClient, service: Service) -> None:
    reply = await http.post("/workflows/caption_text", json={"subject": "a red fox"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["state"] == "succeeded" and body["workflow"] == "caption_text"
    assert body["outputs"]["caption"][0]["text"].startswith("A photograph of a red fox")
    assert body["prompt_id"] == service.fake.executions[0]


async def test_http_rejects_bad_input_with_422(http: httpx.AsyncClient, service: Service) -> None:
    replies = [
        await http.post("/workflows/book_cover", json={"prompt": "x", "height": 99999}),
        await http.post("/workflows/book_cover", json={"prompt": "x", "negative": "y"}),
        await http.post("/workflows/book_cover", json={}),
        await http.post("/workflows/invert_uploaded_image", json={"image": "cat.png"}),
        await http.post("/workflows/invert_uploaded_image", json={"image": "data:x;base64,*"}),
    ]
    assert [reply.status_code for reply in replies] == [422] * 5
    locations = [[error["loc"] for error in reply.json()["detail"]] for reply in replies]
    assert locations == [
        [["body", "height"]], [["body", "negative"]], [["body", "prompt"]],
        [["body", "image"]], [["body", "image"]],
    ]  # fmt: skip
    assert "valid base64" in replies[4].json()["detail"][0]["msg"]
    assert service.fake.prompts_received == []


async def test_http_job_mode_with_events_and_files(
    http: httpx.AsyncClient, service: Service
) -> None:
    reply = await http.post(
        "/workflows/book_cover/jobs", json={"prompt": "a fox", "width": 64, "height": 96}
    )
    assert reply.status_code == 202
    job = reply.json()
    assert reply.headers["location"] == job["href"] == f"/jobs/{job['id']}"
    kinds: list[str] = []
    async with aconnect_sse(http, "GET", job["events"]) as source:
        async for event in source.aiter_sse():
            kinds.append(event.event)
            if event.event == "end":
                end = event.json()
    assert kinds[0] == "queued" and kinds[-2:] == ["finished", "end"]
    assert "progress" in kinds and "executing" in kinds
    assert end["state"] == "succeeded"
    status = (await http.get(job["href"])).json()
    assert status == end
    (cover,) = status["outputs"]["cover"]
    file = await http.get(cover["href"])
    assert file.headers["content-type"] == "image/png"
    assert file.content == service.fake.file("output", cover["filename"], "book").read_bytes()
    # A late subscriber gets the whole log again, or the rest of it after Last-Event-ID.
    async with aconnect_sse(http, "GET", job["events"], headers={"Last-Event-ID": "2"}) as late:
        ids = [event.id async for event in late.aiter_sse() if event.event != "end"]
    assert ids == [str(index) for index in range(3, len(kinds) - 1)]


async def test_http_files_are_streamed_through(http: httpx.AsyncClient, service: Service) -> None:
    reply = await http.post("/workflows/book_cover", json={"prompt": "a fox", "width": 64})
    (cover,) = reply.json()["outputs"]["cover"]
    stored = service.fake.file("output", cover["filename"], "book")
    async with http.stream("GET", cover["href"]) as file:
        assert file.status_code == 200 and file.headers["content-type"] == "image/png"
        assert "content-length" not in file.headers, "passed on as it arrives, not buffered"
        assert await file.aread() == stored.read_bytes()
    stored.unlink()  # the backend lost it: a clear error, not a broken 200
    gone = await http.get(cover["href"])
    assert gone.status_code == 502 and "HTTP 404" in gone.json()["detail"]


async def test_http_cancel_a_queued_job(http: httpx.AsyncClient, service: Service) -> None:
    service.fake.hold()
    job = (await http.post("/workflows/text_preview/jobs", json={"text": "never"})).json()
    async with aconnect_sse(http, "GET", job["events"]) as source:
        async for event in source.aiter_sse():
            assert event.event == "queued"  # the server has the job
            break
    cancelled = await http.delete(job["href"])
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert service.fake.queue_pending == []
    service.fake.release()
    assert (await http.delete(job["href"])).status_code == 409
    assert (await http.get(job["href"])).json()["state"] == "cancelled"
    assert (await http.get("/jobs/nope")).status_code == 404
    assert service.fake.executions == []


async def test_http_sync_caller_leaving_cancels_its_job(service: Service) -> None:
    service.fake.hold()
    async with httpx.AsyncClient(base_url=service.url) as http:
        call = asyncio.ensure_future(http.post("/workflows/text_preview", json={"text": "bye"}))
        await until(lambda: len(service.fake.queue_pending) == 1, "the job is queued")
        call.cancel()  # the connection closes under the pending request
        with pytest.raises(asyncio.CancelledError):
            await call
    await until_empty_queue(service.fake)
    service.fake.release()
    assert service.fake.executions == []


async def test_http_idempotency_key(http: httpx.AsyncClient, service: Service) -> None:
    service.fake.hold()
    key = {"Idempotency-Key": "order-17"}
    first = await http.post("/workflows/text_preview/jobs", json={"text": "once"}, headers=key)
    again = await http.post("/workflows/text_preview/jobs", json={"text": "once"}, headers=key)
    other = await http.post("/workflows/text_preview/jobs", json={"text": "twice"}, headers=key)
    assert first.json()["id"] == again.json()["id"]
    assert other.status_code == 422 and "other parameters" in other.json()["detail"]
    service.fake.release()
    synced = await http.post("/workflows/text_preview", json={"text": "once"}, headers=key)
    assert synced.status_code == 200 and synced.json()["id"] == first.json()["id"]
    assert synced.json()["outputs"]["preview"][0]["text"] == "once!"
    assert len(service.fake.prompts_received) == 1 and len(service.fake.executions) == 1


async def test_cancelling_a_job_s_canceller_is_a_cancellation() -> None:
    fake = SlowCancel()
    fake.hang("text_preview")
    catalog, _ = load_catalog([WORKFLOWS], backend=fake, backend_label="a fake backend")
    registry = JobRegistry(catalog)
    entry = catalog.entries["text_preview"]
    job = registry.submit(entry, entry.params_model(text="x"))
    await until(lambda: job.state == "running", "the job runs")
    canceller = asyncio.ensure_future(registry.cancel(job))  # e.g. DELETE /jobs/{id}
    await fake.cancelling.wait()
    canceller.cancel()  # the request handler is cancelled (the client hung up)
    fake.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await canceller
    await job.wait()
    assert job.state == "cancelled" and fake.cancelled == [fake.calls[0].job_id]


async def test_an_idempotency_key_survives_a_restart_of_the_service(service: Service) -> None:
    # The key reaches the runtime's idempotent submission: a second service (a restart, a
    # replica) attaches to the job the first one started instead of submitting it again.
    key = {"Idempotency-Key": "order-18"}
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
        first = await http.post("/workflows/text_preview", json={"text": "k"}, headers=key)
    replica, _ = load_catalog(
        [WORKFLOWS], backend=ComfyUI(service.fake.base_url), backend_label="the fake ComfyUI"
    )
    async with serving(replica) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        again = await http.post("/workflows/text_preview", json={"text": "k"}, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["prompt_id"] == again.json()["prompt_id"]
    assert again.json()["outputs"]["preview"][0]["text"] == "k!"
    assert len(service.fake.prompts_received) == 1 and len(service.fake.executions) == 1


async def test_a_key_whose_job_failed_starts_a_new_one(
    http: httpx.AsyncClient, service: Service
) -> None:
    key = {"Idempotency-Key": "order-19"}
    too_wide = {"width": 8, "height": 8, "radius": 31}  # the node fails on the server
    failed = await http.post("/workflows/blur_preview", json=too_wide, headers=key)
    assert failed.status_code == 502 and failed.json()["state"] == "failed"
    narrow = {"width": 8, "height": 8, "radius": 2}
    fixed = await http.post("/workflows/blur_preview", json=narrow, headers=key)
    assert fixed.status_code == 200 and fixed.json()["state"] == "succeeded"
    assert fixed.json()["id"] != failed.json()["id"], "a new job, as the runtime would"
    assert fixed.json()["prompt_id"] == failed.json()["prompt_id"], "under the key's prompt id"


async def test_a_key_reused_with_other_parameters_is_refused_by_a_replica(
    service: Service,
) -> None:
    key = {"Idempotency-Key": "order-20"}
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
        first = await http.post("/workflows/text_preview", json={"text": "one"}, headers=key)
    replica, _ = load_catalog(
        [WORKFLOWS], backend=ComfyUI(service.fake.base_url), backend_label="the fake ComfyUI"
    )
    async with serving(replica) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        other = await http.post("/workflows/text_preview", json={"text": "two"}, headers=key)
    assert first.status_code == 200 and other.status_code == 422
    assert other.json()["error"]["type"] == "IdempotencyConflictError"
    assert first.json()["prompt_id"] in other.json()["error"]["message"]
    assert len(service.fake.prompts_received) == 1


async def test_http_failure_of_the_workflow(http: httpx.AsyncClient, service: Service) -> None:
    reply = await http.post("/workflows/image_to_image", json={
        "image": data_uri(png(8, 8, (1, 2, 3))), "prompt": "x", "model": "missing.safetensors",
    })  # fmt: skip
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["type"] == "WorkflowValidationError"
    assert any(line.startswith("parameter model -> node 1") for line in error["details"])


async def test_openapi_lists_every_workflow_with_its_schema(
    http: httpx.AsyncClient, service: Service
) -> None:
    document = (await http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for name, entry in service.catalog.entries.items():
        operation = document["paths"][f"/workflows/{name}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        model = entry.params_model.__name__
        assert body == {"$ref": f"#/components/schemas/{model}"}
        assert schemas[model] == entry.params_model.model_json_schema()
        assert f"/workflows/{name}/jobs" in document["paths"]
    assert schemas["SdxlTextToImageParams"]["properties"]["steps"]["maximum"] == 10000
    assert schemas["BookCoverParams"]["properties"]["seed"]["maximum"] == 2**64 - 1
    index = (await http.get("/")).json()
    assert [w["name"] for w in index["workflows"]] == list(service.catalog.entries)


# -- the command -------------------------------------------------------------------------


@pytest.mark.slow  # a `comfygen serve` subprocess
async def test_the_serve_command(fake_comfyui: FakeComfyUI, tmp_path: Path) -> None:
    command = [COMFYGEN, "serve", str(WORKFLOWS), "--port", "0",
               "--server", fake_comfyui.base_url, "--server", "http://127.0.0.1:9"]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("MCP:"):
        line = (await process.stdout.readline()).decode()
        assert line, (await process.communicate())[1].decode()
        lines.append(line.rstrip())
    try:
        assert lines[0] == (
            "comfygen serve: 10 workflow(s) on a pool of 2 ComfyUI servers "
            f"({fake_comfyui.base_url}, http://127.0.0.1:9)"
        )
        assert not any(line.lstrip().startswith("note:") for line in lines)
        url = lines[-1].split()[1].removesuffix("/mcp")
        async with Client(f"{url}/mcp") as client:
            assert len((await client.list_tools()).tools) == 10
            result = await client.call_tool("text_preview", {"text": "cli"})
        assert result.structured_content is not None
        async with httpx.AsyncClient(base_url=url) as http:
            assert len((await http.get("/")).json()["workflows"]) == 10
    finally:
        process.send_signal(2)  # Ctrl-C
        _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    assert fake_comfyui.executions and len(fake_comfyui.prompts_received) == 1


def test_serve_refuses_runninghub_without_ids(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from comfygen.cli import main

    env = {"RUNNINGHUB_API_KEY": "k" * 32}
    result = CliRunner(env=env).invoke(
        main, ["serve", str(WORKFLOWS / "text_preview.json"), "--runninghub"]
    )
    assert result.exit_code == 1
    assert "text_preview.json: error[no-runninghub-id]" in result.output
    both = CliRunner().invoke(main, ["serve", str(WORKFLOWS), "--runninghub", "--server", "x"])
    assert both.exit_code == 2 and "exclude each other" in both.output


async def test_serving_runninghub_workflows() -> None:
    async with FakeRunningHub() as hub:
        hub.add_workflow("1987654322", json.loads((WORKFLOWS / "text_preview.json").read_text()))
        backend = RunningHub(DEFAULT_API_KEY, base_url=hub.base_url, max_poll_interval=0.05)
        path = WORKFLOWS / "text_preview.json"
        catalog, _ = load_catalog(
            [path], backend=backend, backend_label="RunningHub", runninghub=True,
            runninghub_ids={path.resolve(): "1987654322"},
        )  # fmt: skip
        async with serving(catalog) as url, httpx.AsyncClient(base_url=url) as http:
            reply = await http.post("/workflows/text_preview", json={"text": "cloud"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["outputs"]["preview"][0]["text"] == "cloud!"
    (created,) = hub.created
    assert created["workflowId"] == "1987654322"


def test_serve_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import comfygen
    from comfygen.cli import main

    for name in [name for name in sys.modules if name.startswith("comfygen._serve")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(comfygen, "_serve", raising=False)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if it were not installed
    result = CliRunner().invoke(main, ["serve", str(WORKFLOWS)])
    assert result.exit_code == 2
    assert "pip install 'comfygen[serve]'" in result.output and "fastapi" in result.output


# -- descriptions ------------------------------------------------------------------------


def _tool_description(folder: Path) -> str:
    from comfygen._serve._mcp import tool

    catalog, _ = load_catalog([folder], backend=ComfyUI("http://127.0.0.1:9"), backend_label="-")
    (entry,) = catalog.entries.values()
    description = tool(entry).description
    assert description is not None
    return description


def test_workflow_description_from_a_markdown_file_beside_it(tmp_path: Path) -> None:
    graph = json.loads((WORKFLOWS / "text_preview.json").read_text())
    (tmp_path / "shout.json").write_text(json.dumps(graph))
    (tmp_path / "shout.md").write_text("Adds an exclamation mark.\n\nMore text.\n")
    assert _tool_description(tmp_path) == (
        "Adds an exclamation mark.\n\nMore text.\n\nReturns preview (texts)."
    )


def test_workflow_description_from_a_note_in_an_editor_save(tmp_path: Path) -> None:
    editor_save = ROOT / "tests" / "ui_format" / "flux_dev_checkpoint_example.json"
    saved = json.loads(editor_save.read_text())
    saved["nodes"].append({
        "id": 999, "type": "MarkdownNote", "title": "$description", "mode": 0,
        "pos": [0, 0], "size": [100, 100], "flags": {}, "order": 99, "inputs": [], "outputs": [],
        "properties": {}, "widgets_values": ["# Made in the editor\nwith *Markdown*"],
    })  # fmt: skip
    (tmp_path / "edited.json").write_text(json.dumps(saved))
    assert _tool_description(tmp_path).startswith("# Made in the editor\nwith *Markdown*\n\n")
