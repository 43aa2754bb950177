"""Golden files: each case's workflows compile to exactly its expected modules.

Regenerate after an intended change with:

    COMFYGEN_UPDATE_GOLDEN=1 uv run pytest tests/unit/test_golden.py

then review the diff of tests/golden/*/expected like any other code change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from comfygen import build
from tests.conftest import TESTS

GOLDEN = TESTS / "golden"
CASES = sorted(path.name for path in GOLDEN.iterdir() if (path / "workflows").is_dir())
UPDATE = os.environ.get("COMFYGEN_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    result = build([GOLDEN / case / "workflows"])
    expected_dir = GOLDEN / case / "expected"
    produced = {file.path: file.text for file in result.files}
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        expected_dir.mkdir()
        for name, text in produced.items():
            (expected_dir / name).write_text(text, encoding="utf-8", newline="\n")
    expected = {path.name: path.read_text(encoding="utf-8") for path in expected_dir.glob("*.py")}
    assert sorted(produced) == sorted(expected)
    for name, text in produced.items():
        assert text == expected[name], f"{case}/{name} differs from the golden file"


def test_golden_is_deterministic() -> None:
    for case in CASES:
        first = build([GOLDEN / case / "workflows"]).files
        second = build([GOLDEN / case / "workflows"]).files
        assert first == second


@pytest.fixture(scope="module")
def golden_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The expected modules of every case, as importable packages `golden_<case>`."""
    root = tmp_path_factory.mktemp("golden")
    for case in CASES:
        shutil.copytree(GOLDEN / case / "expected", root / f"golden_{case}")
    return root


@pytest.mark.slow  # runs mypy in a subprocess
def test_golden_modules_pass_mypy_strict(golden_packages: Path) -> None:
    packages = [f"golden_{case}" for case in CASES]
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    for package in packages:
        command += ["-p", package]
    outcome = subprocess.run(
        command,
        cwd=golden_packages,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MYPYPATH": str(golden_packages)},
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_golden_modules_are_ruff_formatted(golden_packages: Path) -> None:
    ruff = Path(sys.executable).parent / "ruff"
    outcome = subprocess.run(
        [str(ruff), "format", "--check", "--line-length", "88", "--isolated", "."],
        cwd=golden_packages,
        capture_output=True,
        text=True,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_a_parallel_build_equals_a_serial_one(tmp_path: Path) -> None:
    # Large builds compile in forked workers; the result must not depend on that. A fresh
    # interpreter, so that no thread of the test run makes the fork unsafe (and skipped).
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    examples = sorted((GOLDEN.parent.parent / "examples" / "workflows").glob("*.json"))
    for index in range(70):
        source = examples[index % len(examples)]
        (corpus / f"{source.stem}_{index:02d}.json").write_text(source.read_text("utf-8"))
    (corpus / "broken.json").write_text("{", encoding="utf-8")
    script = f"""
import sys
from comfygen import BuildError, build
from comfygen._build import _workers
assert _workers(71, 2) == (2 if sys.platform == "linux" else 1)  # forks only on Linux
outcomes = []
for workers in (1, 2):
    try:
        build([{str(corpus)!r}], workers=workers)
    except BuildError as error:
        outcomes.append([str(d) for d in error.diagnostics])
assert outcomes[0] == outcomes[1] and len(outcomes[0]) == 1, outcomes
(corpus := __import__("pathlib").Path({str(corpus)!r}) / "broken.json").unlink()
serial, parallel = build([corpus.parent], workers=1), build([corpus.parent], workers=2)
assert serial == parallel and len(serial.files) == 71
print("ok")
"""
    outcome = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert outcome.returncode == 0 and outcome.stdout == "ok\n", outcome.stderr


def test_generated_modules_stay_lean() -> None:
    # Issue 11's targets: data one line per node, binding and output; people-facing parts
    # (models, signature, docstring) in full.
    book_cover = GOLDEN.parent.parent / "examples" / "gen" / "book_cover.py"
    assert len(book_cover.read_text("utf-8").splitlines()) <= 180
    heavy = GOLDEN / "heavy" / "expected" / "pipeline_58_nodes.py"
    text = heavy.read_text("utf-8")
    graph = json.loads((GOLDEN / "heavy" / "workflows" / "pipeline_58_nodes.json").read_text())
    assert len(graph) == 58 and text.count("ParamSpec(") == 32
    assert len(text.splitlines()) <= 700
