"""The comfygen wheel carries its templates: installed into a fresh virtualenv, it builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_installed_wheel_builds_examples(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the wheels (CI installs it)"
    dist = tmp_path / "dist"
    for project in (ROOT, ROOT / "runtime"):
        subprocess.run(
            [uv, "build", "--wheel", "--out-dir", str(dist), str(project)],
            check=True,
            capture_output=True,
        )
    wheels = sorted(dist.glob("*.whl"))
    assert [w.name.split("-")[0] for w in wheels] == ["comfygen", "comfygen_runtime"]

    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--python", str(python), *map(str, wheels)],
        check=True,
        capture_output=True,
    )

    out = tmp_path / "gen"
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    outcome = subprocess.run(
        [
            str(venv / "bin" / "comfygen"),
            "build",
            "workflows",
            "-o",
            str(out),
        ],
        cwd=ROOT / "examples",  # as CI builds examples/gen: with examples/comfygen.toml
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stderr
    for generated in (ROOT / "examples" / "gen").glob("*.py"):
        assert (out / generated.name).read_text() == generated.read_text()
    # The runtime wheel alone is what apps install; generated code imports with it.
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import gen",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    templates = subprocess.run(
        [str(python), "-c", "import comfygen._render as r; print(r.templates_dir())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(venv) in templates, "templates must come from the installed wheel"
