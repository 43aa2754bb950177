"""Test doubles for the services comfygen talks to.

`FakeComfyUI` is a ComfyUI 0.33.0 speaking the real wire protocol (HTTP + websocket) on
127.0.0.1; `fake_comfyui` is a pytest fixture giving a started one, stopped after the test:

    from tests.fakes import fake_comfyui  # noqa: F401  (makes the fixture available)

    async def test_something(fake_comfyui: FakeComfyUI) -> None:
        ...

or, without pytest fixtures, `async with running_fake_comfyui() as fake: ...`.

A fake with model files installed accepts workflows that load them:
`FakeComfyUI(models=models_used_by(graph))`, or `models={"checkpoints": ["x.safetensors"]}`.
"""

from __future__ import annotations

from ._models import models_used_by
from .comfyui import FakeComfyUI, running_fake_comfyui
from .fixtures import fake_comfyui
from .runninghub import FakeRunningHub, Scenario

__all__ = ["FakeComfyUI", "fake_comfyui", "models_used_by", "running_fake_comfyui"]
__all__ += ["FakeRunningHub", "Scenario"]
