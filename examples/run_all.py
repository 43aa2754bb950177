"""Run every example in order, each in its own Python process, then print a summary.

    uv run python examples/run_all.py          # all of them
    uv run python examples/run_all.py 03 05    # only those whose names start so

The examples read their servers from the environment (`COMFYUI_BASE_URL`,
`RUNNINGHUB_API_KEY`, `RUNNINGHUB_BASE_URL`, `COMFYGEN_EXAMPLE_RH_WORKFLOW`); an example
that has nothing to run on says "SKIPPED:" and exits 0. The exit status is 1 when any
example failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = sorted(HERE.glob("0[0-9]_*.py"))


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # "passed", "skipped" or "failed"
    seconds: float
    detail: str = ""


def run_example(path: Path) -> Outcome:
    """Run one example, echoing its output as it comes."""
    print(f"\n{'=' * 60}\nRunning: {path.name}\n{'=' * 60}", flush=True)
    started = time.monotonic()
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    skipped = ""
    last_line = ""
    with subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=environment,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("SKIPPED:"):
                skipped = line.removeprefix("SKIPPED:").strip()
            if line.strip():
                last_line = line.strip()
        code = process.wait()
    seconds = time.monotonic() - started
    if code != 0:
        return Outcome(path.stem, "failed", seconds, f"exit status {code}: {last_line}")
    if skipped:
        return Outcome(path.stem, "skipped", seconds, skipped)
    return Outcome(path.stem, "passed", seconds)


def main(argv: list[str]) -> int:
    selected = [p for p in EXAMPLES if not argv or p.name.startswith(tuple(argv))]
    if not selected:
        print(f"No example matches {argv}; there are {[p.name for p in EXAMPLES]}")
        return 2
    print("Running the comfygen examples")
    print(f"ComfyUI: {os.environ.get('COMFYUI_BASE_URL') or 'http://127.0.0.1:8188'}")
    print(f"RunningHub key set: {'yes' if os.environ.get('RUNNINGHUB_API_KEY') else 'no'}")
    outcomes = [run_example(path) for path in selected]

    print(f"\n{'=' * 60}\nSUMMARY\n{'=' * 60}")
    marks = {"passed": "ok  ", "skipped": "skip", "failed": "FAIL"}
    for outcome in outcomes:
        print(f"{marks[outcome.status]} {outcome.name:<28} {outcome.seconds:6.2f}s")
        if outcome.detail:
            print(f"     {outcome.detail}")
    counts = {status: sum(o.status == status for o in outcomes) for status in marks}
    print("-" * 60)
    print(
        f"Passed: {counts['passed']}, skipped: {counts['skipped']}, "
        f"failed: {counts['failed']} (of {len(outcomes)}) "
        f"in {sum(o.seconds for o in outcomes):.2f}s"
    )
    if counts["failed"]:
        print("Failures are expected when ComfyUI is not running (set COMFYUI_BASE_URL).")
        return 1
    print("All examples passed.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
