"""Progress of a job as clients see it: event records (SSE) and one rising figure (MCP).

MCP progress must only ever increase, and a ComfyUI job reports nodes and sampler steps
in its own order; `Progress` folds those events into `done` of `total` units, where every
node of the graph is one unit, a running node counts its steps as a fraction, and the
job's end is the last unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from comfygen_runtime import Event

__all__ = ["Progress", "ProgressUpdate", "event_record"]


def event_record(event: Event, graph: Mapping[str, Any]) -> dict[str, Any]:
    """An event as JSON data: what a client needs, no raw outputs or preview bytes."""
    record: dict[str, Any] = {"kind": event.kind}
    if event.node is not None:
        record["node"] = event.node
        node = graph.get(event.node)
        if isinstance(node, Mapping):
            record["class_type"] = str(node.get("class_type", ""))
    for name in ("value", "max", "position", "text", "image_format"):
        value = getattr(event, name)
        if value is not None:
            record[name] = value
    if event.nodes:
        record["nodes"] = list(event.nodes)
    return record


@dataclass(frozen=True)
class ProgressUpdate:
    progress: float
    total: float
    message: str


class Progress:
    """Turns a job's events into strictly rising progress figures."""

    def __init__(self, graph: Mapping[str, Any]) -> None:
        self._graph = graph
        self.total = float(len(graph) + 1)  # the last unit is the job's end
        self._finished: set[str] = set()
        self._current: str | None = None
        self._last = -1.0

    def update(self, event: Event) -> ProgressUpdate | None:
        """The new figure after `event`, or None when it did not move forward."""
        fraction = 0.0
        if event.kind == "cached":
            self._finished.update(event.nodes)
        elif event.kind == "executing" and event.node is not None:
            if self._current is not None:
                self._finished.add(self._current)
            self._current = event.node
        elif event.kind == "progress" and event.value is not None and event.max:
            fraction = max(0.0, min(event.value / event.max, 1.0))
        elif event.kind == "output" and event.node is not None:
            self._finished.add(event.node)
        done = float(len(self._finished))
        if self._current is not None and self._current not in self._finished:
            done += fraction
        if event.kind == "finished":
            done = self.total
        done = min(done, self.total)
        message = self._message(event)
        if done <= self._last:
            return None
        self._last = done
        return ProgressUpdate(done, self.total, message)

    def _message(self, event: Event) -> str:
        if event.kind == "queued":
            return f"queued ({event.position} ahead)" if event.position else "queued"
        if event.kind == "finished":
            return "finished"
        node = event.node or self._current
        if node is None:
            return "running"
        class_type = ""
        entry = self._graph.get(node)
        if isinstance(entry, Mapping):
            class_type = f" ({entry.get('class_type', '')})"
        text = f"node {node}{class_type}"
        if event.kind == "progress" and event.max:
            text += f" {event.value:.0f}/{event.max:.0f}"
        return text
