"""Proof under a real task queue: the Celery worker of examples/celery_worker.py, a real
Redis broker, two fake ComfyUI servers. The worker is SIGKILLed with its jobs in the
servers' queues and started again: every task ends with one result, and every job ran
exactly once, on one server.

Slow (separate processes, a broker's redelivery): `uv run pytest -m slow`; CI runs it.
Needs `redis-server` on the PATH (Debian: apt-get install redis-server; .ci/run does).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from comfygen_runtime import ComfyUIPool, attach
from gen import text_preview

from tests.conftest import ROOT
from tests.fakes import FakeComfyUI, running_fake_comfyui

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "examples"
TASKS = 8
CONCURRENCY = 4
SAFETY = 120.0  # seconds before a stuck step fails the test instead of hanging it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis server of its own on a free port of 127.0.0.1 (nothing saved to disk)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with socket.socket() as ready:
            for _ in range(1000):
                if ready.connect_ex(("127.0.0.1", port)) == 0:
                    break
                assert process.poll() is None, "redis-server exited at start"
                time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeComfyUI, FakeComfyUI]]:
    async with running_fake_comfyui() as a, running_fake_comfyui() as b:
        for fake in (a, b):
            fake.node_delay = 0.05
        yield a, b


async def until(condition: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAFETY
    while not condition():
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.02)


async def start_worker(redis_url: str, urls: str, name: str) -> asyncio.subprocess.Process:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")])),
        "COMFYUI_BASE_URL": urls,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_VISIBILITY_TIMEOUT": "2",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "celery", "-A", "celery_worker", "worker",
        "--pool", "threads", "--concurrency", str(CONCURRENCY), "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h",
        cwd=EXAMPLES, env=environment,
    )  # fmt: skip


async def test_a_killed_worker_loses_no_task_and_runs_no_job_twice(
    redis_url: str, servers: tuple[FakeComfyUI, FakeComfyUI]
) -> None:
    a, b = servers
    fakes = (a, b)
    urls = f"{a.base_url},{b.base_url}"
    queue = Celery("tests", broker=redis_url, backend=redis_url)

    def send(i: int) -> Any:
        return queue.send_task("comfygen_example.preview", args=[f"task {i}"])

    for fake in fakes:
        fake.hold()  # the first worker's jobs wait in the servers' queues
    results = [await asyncio.to_thread(send, i) for i in range(TASKS)]

    def received() -> int:
        return len(a.prompts_received) + len(b.prompts_received)

    first = await start_worker(redis_url, urls, "first")
    try:
        await until(lambda: received() >= CONCURRENCY or first.returncode is not None, "submits")
        assert first.returncode is None, "the worker died before it submitted its jobs"
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    killed_with = received()
    for fake in fakes:
        fake.release()

    second = await start_worker(redis_url, urls, "second")
    try:
        outcomes = [await asyncio.to_thread(result.get, timeout=SAFETY) for result in results]
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()

    async with ComfyUIPool(urls) as pool:
        for i, (result, outcome) in enumerate(zip(results, outcomes, strict=True)):
            assert outcome["text"] == f"task {i}!"
            job = await attach(text_preview, idempotency_key=result.id, client=pool)
            assert (job.prompt_id, job.server) == (outcome["prompt_id"], outcome["server"])
    for outcome in outcomes:
        runs = {fake.base_url: fake.executions.count(outcome["prompt_id"]) for fake in fakes}
        assert sorted(runs.values()) == [0, 1], runs  # exactly once, on one server
        assert runs[outcome["server"]] == 1
    submitted = [p["prompt_id"] for fake in fakes for p in fake.prompts_received]
    assert sorted(submitted) == sorted(o["prompt_id"] for o in outcomes), "none twice"
    assert killed_with >= CONCURRENCY and a.executions and b.executions
