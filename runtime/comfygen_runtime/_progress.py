"""ComfyUI's execution messages as `Event`s, with the facts of progress.

`Progress` counts the nodes a job runs: the output nodes the server executes and the nodes
they need (from the submitted graph), less the nodes the server reports as cached; a node
is done when the next one starts. Nodes a graph expansion adds count when they start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from ._events import Event
from ._socket import Message, Preview, ServerMessage, TextFrame

__all__ = ["Counts", "Progress", "event_of"]


def _links(inputs: Any) -> Iterable[str]:
    for value in inputs.values() if isinstance(inputs, Mapping) else ():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
            yield str(value[0])


class Counts(TypedDict):
    nodes_done: int | None
    nodes_total: int | None


class Progress:
    """Nodes done of nodes to run: the output nodes and what they need, less cached ones."""

    def __init__(self, graph: Mapping[str, Any] | None) -> None:
        self._graph = graph
        self._to_run: set[str] | None = None
        if graph is not None:
            consumed = {node for entry in graph.values() for node in _links(entry.get("inputs"))}
            self.run([node for node in graph if node not in consumed])  # until we know better
        self._done: set[str] = set()
        self._current: str | None = None

    def run(self, outputs: Iterable[str]) -> None:
        """The output nodes the server executes: they and their inputs' nodes run."""
        if self._graph is None:
            return
        needed: set[str] = set()
        stack = [node for node in outputs if node in self._graph]
        while stack:
            node = stack.pop()
            if node not in needed:
                needed.add(node)
                stack += [n for n in _links(self._graph[node].get("inputs")) if n in self._graph]
        self._to_run = needed

    def cached(self, nodes: Iterable[str]) -> None:
        if self._to_run is not None:
            self._to_run -= set(nodes)

    def executing(self, node: str) -> None:
        if self._current is not None and self._current != node:
            self._done.add(self._current)
        self._current = node
        if self._to_run is not None:
            self._to_run.add(node)  # nodes a graph expansion added count too

    def counts(self) -> Counts:
        total = len(self._to_run) if self._to_run is not None else None
        return {"nodes_done": len(self._done), "nodes_total": total}


def event_of(prompt_id: str, message: Message, progress: Progress) -> Event | None:
    if isinstance(message, Preview):
        return Event("preview", prompt_id, node=message.node, image=message.image,
                     image_format=message.format)  # fmt: skip
    if isinstance(message, TextFrame):
        return Event("text", prompt_id, node=message.node, text=message.text)
    if not isinstance(message, ServerMessage):
        return None
    kind, data = message.kind, message.data
    node = str(data["node"]) if data.get("node") is not None else None
    if kind == "execution_start":
        return Event("started", prompt_id, **progress.counts())
    if kind == "execution_cached":
        nodes = tuple(str(cached) for cached in data.get("nodes") or [])
        progress.cached(nodes)
        return Event("cached", prompt_id, nodes=nodes, **progress.counts())
    if kind == "executing" and node is not None:
        progress.executing(node)
        return Event("executing", prompt_id, node=node, **progress.counts())
    if kind == "progress":
        return Event(
            "progress", prompt_id, node=node, value=data.get("value"), max=data.get("max"),
            **progress.counts(),
        )  # fmt: skip
    if kind == "executed":
        return Event("output", prompt_id, node=node, output=data.get("output"),
                     **progress.counts())  # fmt: skip
    return None
