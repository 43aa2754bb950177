from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

WriteWorkflow = Callable[..., Path]

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


ROOT = Path(__file__).parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # The generated example package `gen` lives in examples/; tests import it as apps do.
    import sys

    sys.path.insert(0, str(ROOT / "examples"))


@pytest.fixture
async def fake_comfyui() -> Any:
    """A protocol-faithful fake ComfyUI on 127.0.0.1 (fault injection available)."""
    from tests.fakes import FakeComfyUI

    server = FakeComfyUI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def comfyui_url() -> Any:
    """`COMFYUI_URL` when set (a live server), else a fresh fake server."""
    import os

    from tests.fakes import FakeComfyUI

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
