"""The one translation from IR to what runs: the runtime spec and the typed fields.

`translate(ir)` gives the `WorkflowSpec` the runtime executes and the field specs of the
params and result models (types, defaults, bounds, `Literal` choices, descriptions).
The template renders exactly this (`_render`), and the dynamic API (`ComfyKit`) builds
its spec and models from it at run time, so generated code and `ComfyKit` cannot drift.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property

from comfygen_runtime import InputRef, OutputKind, OutputSpec, ParamSpec, WorkflowSpec

from ._diagnostics import quote
from ._ir import Choice, OutputIR, ParamIR, ParamType, Scalar, WorkflowIR
from ._names import Identifier

__all__ = [
    "OUTPUT_CLASSES",
    "ParamField",
    "ResultField",
    "Translation",
    "kind_words",
    "translate",
]

# The runtime's reference class of each output kind (the item type of a result field).
OUTPUT_CLASSES: dict[OutputKind, str] = {
    "image": "Image",
    "video": "Video",
    "audio": "Audio",
    "text": "Text",
    "file": "Output",
}
_KIND_WORDS: dict[OutputKind, str] = {
    "image": "images",
    "video": "videos",
    "audio": "audio files",
    "text": "texts",
    "file": "outputs",
}


def kind_words(kind: OutputKind) -> str:
    """`image` -> `images`: what a result field of this kind holds, in words."""
    return _KIND_WORDS[kind]


@dataclass(frozen=True)
class ParamField:
    """One field of the params model (and keyword argument of the generated function).

    `exact`: the type (with its bounds and choices) comes from the node's schema, so a
    value outside it is one the server would refuse. Without a schema the type was
    inferred from the value saved in the workflow (the editor saves 1.0 as 1), which
    generated code still enforces but the dynamic API passes through.
    """

    name: Identifier
    key: str  # as written in the workflow's marker; the dynamic API accepts it too
    type: ParamType
    required: bool
    default: Scalar | None
    minimum: float | None
    maximum: float | None
    choices: tuple[Choice, ...] | None  # a combo's options, of the field's type
    description: str
    exact: bool
    # Optional, default None: bound to nodes that hold different values; without a value
    # from the caller each node keeps its own (the runtime skips None).
    nullable: bool = False
    # Required because the saved value breaks the node's schema (`ParamIR.refused_default`):
    # the sentence to tell a caller who leaves the parameter out.
    refused_default: str | None = None


@dataclass(frozen=True)
class ResultField:
    """One named output of the result model: a list of `OUTPUT_CLASSES[kind]` items."""

    name: Identifier
    key: str  # `$output.<key>`, or the node id of an auto-detected output node
    kind: OutputKind
    description: str


@dataclass(frozen=True)
class Translation:
    """`spec` is what the runtime runs; `params` and `outputs` are the models' fields."""

    ir: WorkflowIR
    param_specs: tuple[ParamSpec, ...]
    output_specs: tuple[OutputSpec, ...]
    params: tuple[ParamField, ...]
    outputs: tuple[ResultField, ...]

    @cached_property
    def spec(self) -> WorkflowSpec:
        # Built on first use: rendering needs the bindings, not the parsed graph.
        return WorkflowSpec(
            name=self.ir.function,
            graph=self.ir.graph(),
            params=self.param_specs,
            outputs=self.output_specs,
            runninghub_id=self.ir.runninghub_id,
        )


def _param_description(param: ParamIR) -> str:
    # One paragraph: whitespace runs (a newline in a title) become one space.
    text = " ".join((param.description or "").split())
    if text:
        return text
    inputs = " and ".join(
        f"input {quote(t.input)} of node {quote(t.node.node_id)} ({t.node.class_type})"
        for t in param.targets
    )
    return f"Sets {inputs}."


def _output_description(output: OutputIR) -> str:
    nodes = ", ".join(quote(node.node_id) for node in output.nodes)
    return f"{kind_words(output.kind).capitalize()} from node {nodes}."


def _field(param: ParamIR) -> ParamField:
    return ParamField(
        name=param.name,
        key=param.key,
        type=param.type,
        required=param.required,
        default=None if param.required else param.default,
        minimum=param.minimum,
        maximum=param.maximum,
        choices=param.choices,
        description=_param_description(param),
        exact=param.schema or param.type == "media",
        nullable=not param.required and param.default is None,
        refused_default=param.refused_default,
    )


# A script runs the same workflow again and again: translate it once.
@functools.lru_cache(maxsize=256)
def translate(ir: WorkflowIR) -> Translation:
    """The runtime spec and the model fields of one workflow."""
    return Translation(
        ir=ir,
        param_specs=tuple(
            ParamSpec(
                param.name,
                tuple(InputRef(t.node.node_id, t.input) for t in param.targets),
                required=param.required,
                media=param.type == "media",
            )
            for param in ir.params
        ),
        output_specs=tuple(
            OutputSpec(output.name, output.kind, tuple(node.node_id for node in output.nodes))
            for output in ir.outputs
        ),
        params=tuple(_field(param) for param in ir.params),
        outputs=tuple(
            ResultField(output.name, output.key, output.kind, _output_description(output))
            for output in ir.outputs
        ),
    )
