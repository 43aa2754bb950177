"""What a ComfyUI server says about itself, typed: its queue and its system stats.

(Node classes and model files are plain collections: `ComfyUI.node_classes()`,
`ComfyUI.model_files()`, `ComfyUI.object_info()`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Device", "QueueState", "QueuedJob", "SystemStats"]


@dataclass(frozen=True)
class QueuedJob:
    """A job in a server's queue: running, or waiting (lower `number` runs sooner)."""

    prompt_id: str
    number: float
    client_id: str | None = None
    outputs: tuple[str, ...] = ()  # the output nodes it executes

    @classmethod
    def parse(cls, item: Any) -> QueuedJob | None:
        """One `/queue` entry: `[number, prompt_id, prompt, extra_data, outputs, ...]`."""
        if not isinstance(item, (list, tuple)) or len(item) < 2:
            return None
        number = item[0] if isinstance(item[0], (int, float)) else 0.0
        extra = item[3] if len(item) > 3 and isinstance(item[3], Mapping) else {}
        client = extra.get("client_id")
        outputs = item[4] if len(item) > 4 and isinstance(item[4], (list, tuple)) else ()
        return cls(
            prompt_id=str(item[1]),
            number=float(number),
            client_id=client if isinstance(client, str) else None,
            outputs=tuple(str(node) for node in outputs),
        )


@dataclass(frozen=True)
class QueueState:
    """A server's queue: the running jobs, and the pending ones in the order they run."""

    running: tuple[QueuedJob, ...] = ()
    pending: tuple[QueuedJob, ...] = ()

    @classmethod
    def parse(cls, body: Any) -> QueueState:
        """`GET /queue`'s answer."""
        body = body if isinstance(body, Mapping) else {}

        def jobs(key: str) -> list[QueuedJob]:
            items = body.get(key)
            parsed = [QueuedJob.parse(item) for item in items if items] if items else []
            return [job for job in parsed if job is not None]

        pending = sorted(jobs("queue_pending"), key=lambda job: job.number)
        return cls(running=tuple(jobs("queue_running")), pending=tuple(pending))

    def find(self, prompt_id: str) -> QueuedJob | None:
        return next((job for job in (*self.running, *self.pending) if job.prompt_id == prompt_id),
                    None)  # fmt: skip

    def ahead_of(self, prompt_id: str) -> int:
        """How many jobs run before `prompt_id`: 0 when it runs (or ran) already."""
        job = self.find(prompt_id)
        if job is None or job in self.running:
            return 0
        return len(self.running) + sum(1 for other in self.pending if other.number < job.number)


@dataclass(frozen=True)
class Device:
    """A compute device of the server, as `/system_stats` lists it."""

    name: str
    type: str
    index: int | None = None
    vram_total: int | None = None
    vram_free: int | None = None
    torch_vram_total: int | None = None
    torch_vram_free: int | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class SystemStats:
    """The server's `/system_stats`: versions, memory and devices (`raw`: the whole answer)."""

    comfyui_version: str | None = None
    python_version: str | None = None
    pytorch_version: str | None = None
    os: str | None = None
    ram_total: int | None = None
    ram_free: int | None = None
    devices: tuple[Device, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, body: Any) -> SystemStats:
        body = body if isinstance(body, Mapping) else {}
        system = body.get("system") if isinstance(body.get("system"), Mapping) else {}

        def text(key: str) -> str | None:
            value = system.get(key)
            return str(value) if value is not None else None

        devices = []
        for entry in body.get("devices") or []:
            if isinstance(entry, Mapping):
                devices.append(
                    Device(
                        name=str(entry.get("name", "")),
                        type=str(entry.get("type", "")),
                        index=_int(entry.get("index")),
                        vram_total=_int(entry.get("vram_total")),
                        vram_free=_int(entry.get("vram_free")),
                        torch_vram_total=_int(entry.get("torch_vram_total")),
                        torch_vram_free=_int(entry.get("torch_vram_free")),
                    )
                )
        return cls(
            comfyui_version=text("comfyui_version"),
            python_version=text("python_version"),
            pytorch_version=text("pytorch_version"),
            os=text("os"),
            ram_total=_int(system.get("ram_total")),
            ram_free=_int(system.get("ram_free")),
            devices=tuple(devices),
            raw=dict(body),
        )
