"""Progress of a job as clients see it: event records (SSE) and one rising figure (MCP).

MCP progress must only ever increase. The figure is the runtime's own count (one model of
progress, `Event.fraction`): of the `nodes_total` nodes the job runs, `fraction` are done
(the running node's steps as a part of one); the job's end is one unit more.
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
    """Turns a job's events into strictly rising progress figures (`graph` names the
    nodes in the messages)."""

    def __init__(self, graph: Mapping[str, Any]) -> None:
        self._graph = graph
        self.total = 1.0  # the job's end; the nodes it runs are added once known
        self._done = 0.0
        self._current: str | None = None
        self._last = -1.0

    def update(self, event: Event) -> ProgressUpdate | None:
        """The new figure after `event`, or None when it did not move forward."""
        if event.kind == "executing" and event.node is not None:
            self._current = event.node
        if event.nodes_total is not None:
            self.total = float(event.nodes_total + 1)
        if event.fraction is not None and event.nodes_total:
            self._done = event.fraction * event.nodes_total
        done = self.total if event.kind == "finished" else min(self._done, self.total - 1)
        if done <= self._last:
            return None
        self._last = done
        return ProgressUpdate(done, self.total, self._message(event))

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
