from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WriteWorkflow = Callable[..., Path]


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
