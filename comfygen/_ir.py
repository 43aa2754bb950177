"""The frozen intermediate representation between analysis and rendering.

Everything the templates need is here, already validated: identifiers are `Identifier`s,
defaults are JSON scalars, the graph is canonical JSON text (immutable by construction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from comfygen_runtime import OutputKind

from ._names import Identifier

__all__ = [
    "Choice",
    "NodeRef",
    "OutputIR",
    "ParamIR",
    "ParamType",
    "Scalar",
    "TargetIR",
    "WorkflowIR",
    "canonical_json",
]

ParamType = Literal["str", "int", "float", "bool", "media"]
Scalar = str | int | float | bool
# A combo option that can be a `Literal` value: text, or an integer (`duration` [5, 10]).
Choice = str | int


@dataclass(frozen=True)
class NodeRef:
    node_id: str
    class_type: str
    title: str


@dataclass(frozen=True)
class TargetIR:
    node: NodeRef
    input: str
    # True when a `$~name` shorthand named no real input and the node's only file-name
    # input was bound instead.
    inferred: bool = False
    # False when no node schema describes this input (a custom node): its type was
    # inferred from the workflow's value.
    schema: bool = True


@dataclass(frozen=True)
class ParamIR:
    name: Identifier
    key: str
    type: ParamType
    required: bool
    default: Scalar | None
    description: str | None
    targets: tuple[TargetIR, ...]
    # From the node schema (None: no schema for the node, or not given there).
    minimum: float | None = None
    maximum: float | None = None
    # The combo's options, all of the parameter's type (str, or int for a combo of integers).
    choices: tuple[Choice, ...] | None = None
    schema: bool = False  # False: the type was inferred from the workflow's value
    # Why the workflow's saved value is not the default although the marker has no `!`
    # (analysis with `lenient_defaults`: the value breaks the node's schema): the
    # parameter is then required, and a caller who leaves it out is told this.
    refused_default: str | None = None

    @property
    def renamed(self) -> bool:
        return self.name != self.key


@dataclass(frozen=True)
class OutputIR:
    name: Identifier
    key: str
    kind: OutputKind
    nodes: tuple[NodeRef, ...]
    auto: bool


@dataclass(frozen=True)
class WorkflowIR:
    source: str
    function: Identifier
    params_class: Identifier
    result_class: Identifier
    params: tuple[ParamIR, ...]
    outputs: tuple[OutputIR, ...]
    graph_json: str
    runninghub_id: str | None = None

    def graph(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.graph_json)
        return loaded


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True)


def canonical_json(graph: dict[str, Any]) -> str:
    """The graph as embedded in generated code: one node per line, key order kept.

    A change in the editor changes one line of the generated module.
    """
    if not graph:
        return "{}"
    encode = _ENCODER.encode
    lines = (f"    {encode(node_id)}: {encode(node)}" for node_id, node in graph.items())
    return "{\n" + ",\n".join(lines) + "\n}"
