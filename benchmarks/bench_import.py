"""Benchmark import times: the runtime alone, one generated module, ComfyKit, the compiler.

Run from the repository root::

    uv run python benchmarks/bench_import.py [--repeat 15] [--json FILE]

Each figure is the median wall time of a fresh interpreter that runs one import
(``python -c "<import>"``), minus the median of one that imports nothing (interpreter
start-up). The generated module is ``examples/gen/book_cover.py``, copied alone into a
temporary folder so that its package ``__init__`` (which imports every example) does not
count. The load average is printed: the machine is shared, and the figures only mean
something when it was quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = {
    "interpreter start-up (subtracted)": "pass",
    "import comfygen_runtime": "import comfygen_runtime",
    "import book_cover (a generated module)": "import book_cover",
    "from comfygen import ComfyKit": "from comfygen import ComfyKit",
    "import comfygen.cli (the compiler)": "import comfygen.cli",
}


def _time(code: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15, help="runs each; default 15")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    load = [round(value, 2) for value in os.getloadavg()]
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(REPO / "examples" / "gen" / "book_cover.py", Path(folder) / "book_cover.py")
        medians = {}
        for label, code in CASES.items():
            _time(code, Path(folder))  # warm the file cache and the bytecode
            medians[label] = statistics.median(
                _time(code, Path(folder)) for _ in range(args.repeat)
            )
    base = medians.pop("interpreter start-up (subtracted)")
    print(f"median of {args.repeat} fresh processes; load average {load}")
    print(f"{'import':<42}{'ms':>8}")
    print(f"{'interpreter start-up (subtracted)':<42}{base * 1000:>8.0f}")
    results = {label: round((value - base) * 1000) for label, value in medians.items()}
    for label, ms in results.items():
        print(f"{label:<42}{ms:>8}")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"startup_ms": round(base * 1000), "imports_ms": results, "load": load})
            + "\n",
            "utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
