"""Test doubles for the services comfygen talks to.

`FakeComfyUI` is a ComfyUI 0.33.0 speaking the real wire protocol (HTTP + websocket) on
127.0.0.1. Tests get started ones from the fixtures in tests/conftest.py (`fake_comfyui`,
`fake_runninghub`, `start_fake_comfyui`), or without pytest fixtures
`async with running_fake_comfyui() as fake: ...`.

A fake with model files installed accepts workflows that load them:
`FakeComfyUI(models=models_used_by(graph))`, or `models={"checkpoints": ["x.safetensors"]}`.
"""

from __future__ import annotations

from ._models import models_used_by
from .comfyui import FakeComfyUI, running_fake_comfyui
from .runninghub import FakeRunningHub, Scenario

__all__ = ["FakeComfyUI", "models_used_by", "running_fake_comfyui"]
__all__ += ["FakeRunningHub", "Scenario"]
