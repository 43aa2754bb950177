"""Test doubles for the services comfygen talks to.

`FakeComfyUI` is a ComfyUI 0.33.0 speaking the real wire protocol (HTTP + websocket) on
127.0.0.1; `fake_comfyui` is a pytest fixture giving a started one, stopped after the test:

    from tests.fakes import fake_comfyui  # noqa: F401  (makes the fixture available)

    async def test_something(fake_comfyui: FakeComfyUI) -> None:
        ...

or, without pytest fixtures, `async with running_fake_comfyui() as fake: ...`.
"""

from __future__ import annotations

from .comfyui import FakeComfyUI, running_fake_comfyui
from .fixtures import fake_comfyui

__all__ = ["FakeComfyUI", "fake_comfyui", "running_fake_comfyui"]
