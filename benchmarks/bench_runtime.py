"""Runtime benchmarks against the fake ComfyUI (tests/fakes), all peers in one run.

(a) Latency of one trivial job, sequentially: the generated function vs a minimal raw
    client (httpx POST /prompt + websocket wait for `executing` with `node: null`) vs
    comfykit 0.1.12's http and websocket executors. Reported as ratios to raw.
(b) Throughput of N concurrent jobs through one client vs the raw client pipelined (one
    socket, every POST at once), with the generated client's peak RSS and sockets opened.

The fake server runs in its own process so that clients and server do not share a loop.

    uv run python benchmarks/bench_runtime.py [--jobs 50] [--concurrent 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

WORKFLOW = ROOT / "examples" / "workflows" / "text_preview.json"

SERVER = """
import asyncio, sys
from tests.fakes import FakeComfyUI

async def main() -> None:
    fake = FakeComfyUI()
    await fake.start()
    print(fake.base_url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def start_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def graph(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(WORKFLOW.read_text())
    loaded["1"]["inputs"]["value"] = text
    return loaded


class RawClient:
    """The least a client can do: POST, then wait on one socket for `executing` null."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client_id = uuid.uuid4().hex
        self.waiting: dict[str, asyncio.Future[None]] = {}

    async def __aenter__(self) -> RawClient:
        # The same connection limit as comfygen's client: with httpx's default of 100, the
        # pool's bookkeeping, not the server, limits a thousand queued POSTs.
        self.http = httpx.AsyncClient(
            base_url=self.base_url, timeout=600, limits=httpx.Limits(max_connections=16)
        )
        ws_url = self.base_url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        self.socket = await connect(ws_url, max_size=None)
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.cancel()
        await self.socket.close()
        await self.http.aclose()

    async def _read(self) -> None:
        async for message in self.socket:
            if isinstance(message, bytes):
                continue
            parsed = json.loads(message)
            data = parsed.get("data") or {}
            if parsed.get("type") == "executing" and data.get("node") is None:
                future = self.waiting.pop(str(data.get("prompt_id")), None)
                if future is not None:
                    future.set_result(None)

    async def run(self, text: str) -> None:
        prompt_id = str(uuid.uuid4())
        done = self.waiting[prompt_id] = asyncio.get_running_loop().create_future()
        body = {"prompt": graph(text), "client_id": self.client_id, "prompt_id": prompt_id}
        (await self.http.post("/prompt", json=body)).raise_for_status()
        await done


async def latency(base_url: str, jobs: int) -> dict[str, list[float]]:
    import comfygen_runtime as rt
    from comfykit import ComfyKit
    from gen import text_preview

    timings: dict[str, list[float]] = {}
    counter = iter(range(10**9))

    async def measure(name: str, run: Any) -> None:
        await run(f"warm-up {next(counter)}")
        values = []
        for _ in range(jobs):
            text = f"{name} {next(counter)}"  # unique input: nothing is served from cache
            started = time.perf_counter()
            await run(text)
            values.append(time.perf_counter() - started)
        timings[name] = values

    async with RawClient(base_url) as raw:
        await measure("raw", raw.run)
    async with rt.ComfyUI(base_url) as client:

        async def generated(text: str) -> None:
            await text_preview(text=text, client=client)

        await measure("comfygen", generated)
    for executor in ("http", "websocket"):
        kit = ComfyKit(comfyui_url=base_url, executor_type=executor)

        async def comfykit_run(text: str, kit: Any = kit) -> None:
            result = await kit.execute(str(WORKFLOW), {"text": text})
            assert result.status == "completed", result.msg

        await measure(f"comfykit-{executor}", comfykit_run)
    return timings


async def throughput_generated(base_url: str, count: int) -> dict[str, Any]:
    import comfygen_runtime as rt
    from gen import text_preview

    async with rt.ComfyUI(base_url) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(text_preview(text=f"gen {i}", client=client) for i in range(count))
        )
        elapsed = time.perf_counter() - started
        assert [r.preview[0].text for r in results] == [f"gen {i}!" for i in range(count)]
        sockets = client.sockets_opened
    return {
        "seconds": elapsed,
        "jobs_per_s": count / elapsed,
        "sockets_opened": sockets,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def throughput_raw(base_url: str, count: int) -> dict[str, Any]:
    async with RawClient(base_url) as raw:
        started = time.perf_counter()
        await asyncio.gather(*(raw.run(f"raw {i}") for i in range(count)))
        elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "jobs_per_s": count / elapsed, "sockets_opened": 1}


def in_subprocess(function: str, base_url: str, count: int) -> dict[str, Any]:
    """Run one throughput measurement alone in a process, for a clean peak RSS."""
    code = (
        "import asyncio, json, sys; sys.path.insert(0, 'benchmarks'); import bench_runtime as b;"
        f"print(json.dumps(asyncio.run(b.{function}({base_url!r}, {count}))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=50, help="sequential jobs per client (a)")
    parser.add_argument("--concurrent", type=int, default=1000, help="concurrent jobs (b)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()

    process, base_url = start_server()
    try:
        timings = asyncio.run(latency(base_url, args.jobs))
        raw_median = statistics.median(timings["raw"])
        print(f"(a) one trivial job, {args.jobs} sequential runs each, median latency")
        print(f"{'client':<20}{'median ms':>10}{'p90 ms':>10}{'ratio to raw':>14}")
        figures: dict[str, Any] = {"latency": {}}
        for name, values in timings.items():
            median = statistics.median(values)
            p90 = statistics.quantiles(values, n=10)[-1]
            ratio = median / raw_median
            figures["latency"][name] = {"median_ms": median * 1000, "p90_ms": p90 * 1000,
                                        "ratio_to_raw": ratio}  # fmt: skip
            print(f"{name:<20}{median * 1000:>10.2f}{p90 * 1000:>10.2f}{ratio:>14.2f}")

        raw = in_subprocess("throughput_raw", base_url, args.concurrent)
        generated = in_subprocess("throughput_generated", base_url, args.concurrent)
        ratio = generated["jobs_per_s"] / raw["jobs_per_s"]
        figures["throughput"] = {"raw": raw, "comfygen": generated, "ratio": ratio}
        print(f"\n(b) {args.concurrent} concurrent jobs through one client")
        print(f"raw pipelined : {raw['seconds']:.2f} s, {raw['jobs_per_s']:.0f} jobs/s")
        print(
            f"comfygen      : {generated['seconds']:.2f} s, {generated['jobs_per_s']:.0f} "
            f"jobs/s, ratio {ratio:.2f}, peak RSS {generated['peak_rss_mb']:.0f} MB, "
            f"sockets opened {generated['sockets_opened']}"
        )
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
