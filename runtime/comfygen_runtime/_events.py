"""Progress events delivered while a workflow runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True)
class Event:
    """One progress event of a job: `kind` names it, `data` carries its fields."""

    kind: str
    prompt_id: str
    data: dict[str, Any] = field(default_factory=dict)


EventHandler: TypeAlias = Callable[[Event], Awaitable[None] | None]
"""A callback that receives every event of a run; it may be sync or async."""
