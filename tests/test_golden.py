"""Golden files: each case's workflows compile to exactly its expected modules.

Regenerate after an intended change with:

    COMFYGEN_UPDATE_GOLDEN=1 uv run pytest tests/test_golden.py

then review the diff of tests/golden/*/expected like any other code change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from comfygen import build

GOLDEN = Path(__file__).parent / "golden"
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
