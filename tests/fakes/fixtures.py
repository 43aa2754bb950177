"""pytest fixtures for the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .comfyui import FakeComfyUI


@pytest_asyncio.fixture
async def fake_comfyui() -> AsyncIterator[FakeComfyUI]:
    """A started FakeComfyUI on a free port of 127.0.0.1, stopped (files removed) after the
    test."""
    fake = FakeComfyUI()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
