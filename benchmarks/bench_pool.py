"""Pool benchmarks: `ComfyUIPool` over fake ComfyUI servers with a fixed simulated GPU time.

Every fake server runs in its own process and takes `--gpu` seconds per job (the
StringConcatenate node of examples/workflows/text_preview.json is made that slow; a
different input per job, so nothing comes from the cache). Each server appends the prompt
id of every job it finishes to a log file, which survives the server being killed.

(a) Throughput: `--jobs` concurrent jobs on one server through a `ComfyUI` client, then
    4 x `--jobs` concurrent jobs on 4 servers through a `ComfyUIPool`: the pool's jobs/s
    against 4 x one server's (goal >= 0.9), and the sockets the pool opened (goal: one
    per server).
(b) Failover: 4 x `--jobs` jobs on 4 servers again, one server SIGKILLed once half of
    the jobs have finished: results, jobs finished on two servers (goal 0), jobs
    resubmitted, and the wall time the kill cost against (a)'s pool run.

    uv run python benchmarks/bench_pool.py [--jobs 50] [--gpu 0.1] [--unavailable-after 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import comfygen_runtime as rt  # noqa: E402
from gen import text_preview  # noqa: E402

SERVER = """
import asyncio, sys
from tests.fakes import FakeComfyUI

async def main() -> None:
    fake = FakeComfyUI()
    fake.node_delays = {"StringConcatenate": float(sys.argv[1])}
    log = open(sys.argv[2], "a", buffering=1)
    finish = fake._queue.task_done

    def task_done(item_id, history_result, status):
        prompt_id = fake._queue.currently_running[item_id][1]
        finish(item_id, history_result, status)
        log.write(prompt_id + "\\n")

    fake._queue.task_done = task_done
    await fake.start()
    print(fake.base_url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class Server:
    """A fake ComfyUI in its own process, logging the jobs it finishes."""

    def __init__(self, gpu: float, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(gpu), str(log)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def finished(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


async def run_jobs(client: rt.Backend, count: int, tag: str) -> tuple[float, list[Any], int]:
    """`count` concurrent jobs; wall seconds, results, and "resubmitted" events seen."""
    resubmitted = 0

    def count_resubmissions(event: rt.Event) -> None:
        nonlocal resubmitted
        resubmitted += event.kind == "resubmitted"

    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            text_preview(text=f"{tag}-{i}", client=client, on_event=count_resubmissions)
            for i in range(count)
        )
    )
    return time.perf_counter() - started, list(results), resubmitted


async def throughput(jobs: int, gpu: float, folder: Path) -> dict[str, Any]:
    servers = [Server(gpu, folder / f"a{i}.log") for i in range(4)]
    try:
        async with rt.ComfyUI(servers[0].url) as one:
            await text_preview(text="warm-up", client=one)
            single, _, _ = await run_jobs(one, jobs, "single")
        async with rt.ComfyUIPool([s.url for s in servers]) as pool:
            await asyncio.gather(*(text_preview(text=f"warm-{i}", client=pool) for i in range(4)))
            pooled, results, _ = await run_jobs(pool, 4 * jobs, "pool")
            sockets = [client.sockets_opened for client in pool.members]
        per_server = Counter(result.server for result in results)
    finally:
        for server in servers:
            server.stop()
    single_rate, pool_rate = jobs / single, 4 * jobs / pooled
    return {
        "single_wall": single,
        "single_jobs_per_s": single_rate,
        "pool_wall": pooled,
        "pool_jobs_per_s": pool_rate,
        "ratio": pool_rate / (4 * single_rate),
        "sockets": sockets,
        "jobs_per_server": sorted(per_server.values()),
    }


async def failover(jobs: int, gpu: float, patience: float, folder: Path) -> dict[str, Any]:
    servers = [Server(gpu, folder / f"b{i}.log") for i in range(4)]
    total = 4 * jobs
    try:
        async with rt.ComfyUIPool([s.url for s in servers], unavailable_after=patience) as pool:
            await asyncio.gather(*(text_preview(text=f"warm-{i}", client=pool) for i in range(4)))
            before = sum(len(s.finished()) for s in servers)
            running = asyncio.ensure_future(run_jobs(pool, total, "failover"))
            while sum(len(s.finished()) for s in servers) - before < total // 2:
                await asyncio.sleep(0.01)
            servers[1].kill()
            killed_after = sum(len(s.finished()) for s in servers) - before
            wall, results, resubmitted = await running
    finally:
        for server in servers:
            server.stop()
    finished = Counter(prompt_id for s in servers for prompt_id in set(s.finished()))
    ids = {result.prompt_id for result in results}
    return {
        "jobs": total,
        "results": len(results),
        "distinct_results": len(ids),
        "finished_on_two_servers": sum(1 for n in finished.values() if n > 1),
        "finished_twice_on_one": sum(
            1 for s in servers for n in Counter(s.finished()).values() if n > 1
        ),
        "killed_after_jobs": killed_after,
        "resubmitted": resubmitted,
        "wall": wall,
        "unavailable_after": patience,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as temporary:
        folder = Path(temporary)
        figures = {"throughput": await throughput(args.jobs, args.gpu, folder)}
        figures["failover"] = await failover(args.jobs, args.gpu, args.unavailable_after, folder)
    figures["failover"]["extra_wall"] = (
        figures["failover"]["wall"] - figures["throughput"]["pool_wall"]
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=50, help="jobs per server")
    parser.add_argument("--gpu", type=float, default=0.1, help="seconds of 'GPU' per job")
    parser.add_argument(
        "--unavailable-after", type=float, default=10.0,
        help="seconds a member may fail before its jobs go elsewhere (the pool's default)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    os.environ.pop("COMFYUI_BASE_URL", None)
    logging.getLogger("comfygen_runtime").setLevel(logging.ERROR)  # one line per resubmission
    figures = asyncio.run(main_async(args))
    a, b = figures["throughput"], figures["failover"]
    print(
        f"(a) one server: {args.jobs} jobs in {a['single_wall']:.2f} s = "
        f"{a['single_jobs_per_s']:.1f} jobs/s; pool of 4: {4 * args.jobs} jobs in "
        f"{a['pool_wall']:.2f} s = {a['pool_jobs_per_s']:.1f} jobs/s; ratio to 4 x one "
        f"server {a['ratio']:.2f} (goal >= 0.90); sockets {a['sockets']}; jobs per server "
        f"{a['jobs_per_server']}"
    )
    print(
        f"(b) {b['jobs']} jobs, a server killed after {b['killed_after_jobs']} finished: "
        f"{b['results']} results ({b['distinct_results']} distinct), "
        f"{b['finished_on_two_servers']} finished on two servers, "
        f"{b['finished_twice_on_one']} twice on one, {b['resubmitted']} resubmitted; "
        f"wall {b['wall']:.2f} s, {b['extra_wall']:+.2f} s against no kill "
        f"(unavailable_after {b['unavailable_after']} s)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
