"""Analysis: one API-format workflow + its DSL titles -> a `WorkflowIR` or diagnostics."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from comfygen_runtime import OutputKind

from ._diagnostics import Code, Diagnostic, quote
from ._dsl import ParamMarker, parse_title
from ._graph import is_link
from ._ir import (
    Choice,
    NodeRef,
    OutputIR,
    ParamIR,
    ParamType,
    Scalar,
    TargetIR,
    WorkflowIR,
    canonical_json,
)
from ._names import (
    FUNCTION_KEYWORDS,
    RESULT_FIELDS,
    Identifier,
    class_stem,
    field_name,
)
from ._schema import InputSchema, NodeSchema, Schemas

__all__ = [
    "AUTO_OUTPUT_KINDS",
    "LOADER_FILE_INPUTS",
    "analyze",
]

# Output nodes recognised without an `$output.name` title, and what they produce.
# comfykit 0.1.12 knew SaveImage, SaveVideo, SaveAudio, VHS_SaveVideo and VHS_SaveAudio.
AUTO_OUTPUT_KINDS: dict[str, OutputKind] = {
    "SaveImage": "image",
    "PreviewImage": "image",
    "SaveAnimatedWEBP": "image",
    "SaveAnimatedPNG": "image",
    "SaveImageAdvanced": "image",
    "MaskPreview": "image",
    "SaveVideo": "video",
    "SaveWEBM": "video",
    "VHS_VideoCombine": "video",
    "VHS_SaveVideo": "video",
    "SaveAudio": "audio",
    "SaveAudioMP3": "audio",
    "SaveAudioOpus": "audio",
    "SaveAudioAdvanced": "audio",
    "PreviewAudio": "audio",
    "VHS_SaveAudio": "audio",
    "SaveText": "text",
    "PreviewAny": "text",
}


@dataclass
class _Binding:
    marker: ParamMarker
    node: NodeRef
    name: Identifier
    field: str
    type: ParamType
    default: Scalar | None
    input_schema: InputSchema | None = None
    # A `~` marker, or a loader's file input (uploaded like comfykit, with or without `~`).
    media: bool = False
    # The combo's options, unless the default is not among them in the bundled schema (the
    # user's server may have more options than the core nodes it was derived from).
    choices: tuple[Choice, ...] | None = None
    # With lenient defaults: why the saved value, which breaks the schema, is no default.
    refused: str | None = None


@dataclass
class _Analysis:
    file: str
    schemas: Schemas | None = None
    strict_combos: bool = False
    lenient_defaults: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, code: Code, message: str, hint: str, **where: Any) -> None:
        self.diagnostics.append(Diagnostic("error", code, message, self.file, hint=hint, **where))

    def warning(self, code: Code, message: str, hint: str, **where: Any) -> None:
        self.diagnostics.append(Diagnostic("warning", code, message, self.file, hint=hint, **where))


def _looks_like_file_name(value: Any) -> bool:
    """`default.png`, `clips/intro.mp4`: what a loader's file input holds."""
    return isinstance(value, str) and re.fullmatch(r"[^\n]+\.[A-Za-z0-9]{2,5}", value) is not None


def _scalar_type(value: Any) -> ParamType | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def analyze(
    graph: Any,
    *,
    source: str,
    function: Identifier,
    runninghub_id: str | None = None,
    schemas: Schemas | None = None,
    strict_combos: bool = False,
    lenient_defaults: bool = False,
) -> tuple[WorkflowIR | None, list[Diagnostic]]:
    """Turn an API-format graph into IR. Returns (None, diagnostics) when any is an error.

    With `schemas` (node schemas from /object_info), parameter types, bounds and choices
    come from the nodes' definitions and defaults are checked against them: a saved value
    of the wrong type (`schema-mismatch`), outside the bounds (`out-of-range`) or not
    among the options of a server's schema (`not-an-option`) is an error. `strict_combos`
    types combos of the server's files (models, uploads) as `Literal`s of them too.

    `lenient_defaults=True` (the dynamic API: the caller may override the saved value, as
    comfykit lets it) turns those three errors into warnings with the same codes. The
    parameter keeps its exact schema type (bounds, `Literal` choices), but the saved
    value is not its default: it becomes required (`ParamIR.required`, no default, its
    `ParamSpec` required too) and `ParamIR.refused_default` (and the translated
    `ParamField.refused_default`) says why in one sentence, naming the value, the input
    and the node, for the message a caller gets when leaving it out. A marker with `!`
    is required anyway and gets no `refused_default`. `comfygen build` stays strict.
    """
    state = _Analysis(source, schemas, strict_combos, lenient_defaults)
    if not isinstance(graph, dict) or not graph:
        state.error(
            "not-api-format",
            "the workflow has no nodes"
            if graph == {}
            else "the file is not an API-format workflow",
            "in the ComfyUI editor use Workflow > Export (API) and save that file",
        )
        return None, state.diagnostics

    bindings: list[_Binding] = []
    named_outputs: dict[str, list[tuple[NodeRef, OutputKind, str]]] = {}
    auto_outputs: list[tuple[NodeRef, OutputKind]] = []

    for node_id, node in graph.items():
        node_ref = _node_ref(state, node_id, node)
        if node_ref is None:
            continue
        where = {
            "node_id": node_id,
            "class_type": node_ref.class_type,
            "title": node_ref.title,
        }
        parsed = parse_title(node_ref.title)
        for problem in parsed.problems:
            state.error(problem.code, problem.message, problem.hint, **where)
        for text in parsed.suspicious:
            state.warning(
                "marker-in-display-text",
                f"the title part {quote(text)} contains '$' but does not start with it, "
                "so it is display text, not a marker",
                "start the part with '$' and separate parts with commas, e.g. 'Size, $width!'",
                **where,
            )
        kind = AUTO_OUTPUT_KINDS.get(node_ref.class_type)
        if parsed.output is not None:
            named_outputs.setdefault(parsed.output.name, []).append(
                (node_ref, kind or "file", parsed.output.name)
            )
        elif kind is not None:
            auto_outputs.append((node_ref, kind))
        for marker in parsed.params:
            binding = _bind(state, marker, node_ref, node["inputs"], where)
            if binding is not None:
                bindings.append(binding)
        if state.schemas is not None and node_ref.class_type not in state.schemas:
            state.warning(
                "unknown-node",
                f"class {quote(node_ref.class_type)} is not among the known node schemas "
                "(a custom node?); its parameters' types come from the workflow's values",
                "pass --server URL (or --object-info FILE) to use the nodes of the server "
                "that will run it",
                **where,
            )

    function_stem = class_stem(function)
    params_class = Identifier(function_stem + "Params")
    result_class = Identifier(function_stem + "Result")
    params = _merge_params(state, bindings, reserved={params_class, result_class})
    outputs = _outputs(state, named_outputs, auto_outputs, reserved={params_class, result_class})
    if not outputs:
        state.warning(
            "no-outputs",
            "no output node was recognised, so the result has no typed fields",
            "title an output node '$output.<name>' to get a typed result field",
        )
    if any(d.severity == "error" for d in state.diagnostics):
        return None, state.diagnostics
    ir = WorkflowIR(
        source=source,
        function=function,
        params_class=params_class,
        result_class=result_class,
        params=params,
        outputs=outputs,
        graph_json=canonical_json(graph),
        runninghub_id=runninghub_id,
    )
    return ir, state.diagnostics


def _node_ref(state: _Analysis, node_id: str, node: Any) -> NodeRef | None:
    class_type = node.get("class_type") if isinstance(node, dict) else None
    if not isinstance(class_type, str) or not isinstance(node.get("inputs"), dict):
        state.error(
            "malformed-node",
            "the node is not of the API-format shape {class_type, inputs, _meta}",
            "export the workflow again with Workflow > Export (API)",
            node_id=node_id,
        )
        return None
    meta = node.get("_meta")
    title = meta.get("title", "") if isinstance(meta, dict) else ""
    if not isinstance(title, str):
        state.error(
            "malformed-node",
            "the node's _meta.title is not a string",
            "set the node title in the editor and export again",
            node_id=node_id,
            class_type=class_type,
        )
        return None
    return NodeRef(node_id, class_type, title)


def _bind(
    state: _Analysis,
    marker: ParamMarker,
    node: NodeRef,
    inputs: dict[str, Any],
    where: dict[str, Any],
) -> _Binding | None:
    where = {**where, "param": marker.name}
    named = field_name(marker.name, what="parameter")
    if named.identifier is None:
        state.error(
            "bad-name",
            f"{named.problem} (in marker {quote(marker.text)})",
            named.hint or "",
            **where,
        )
        return None
    name = named.identifier
    field = marker.field
    if field not in inputs and marker.upload and marker.field == marker.name:
        # `$~input_image!` on LoadImage: the shorthand names no real input. comfykit writes
        # the upload into a new, ignored input; we bind the node's only file-name input.
        file_inputs = [key for key, value in inputs.items() if _looks_like_file_name(value)]
        if len(file_inputs) == 1:
            field = file_inputs[0]
    if field not in inputs:
        known = ", ".join(quote(name) for name in sorted(inputs)) or "(none)"
        state.error(
            "unknown-input",
            f"the marker {quote(marker.text)} sets input {quote(marker.field)}, "
            "which this node does not have",
            f"bind one of the node's inputs ({known}), "
            f"e.g. {quote('$' + marker.name + '.<input>')}",
            **where,
        )
        return None
    value = inputs[field]
    if is_link(value):
        state.error(
            "linked-input",
            f"input {quote(field)} is connected to node {quote(value[0])}; "
            "a parameter would silently cut that link",
            "put the marker on the node that produces the value (e.g. a primitive node), "
            "or disconnect the input and give it a widget value",
            **where,
        )
        return None
    value_type: ParamType | None
    if value is None:
        if not marker.required:
            state.error(
                "optional-without-default",
                f"optional parameter {quote(marker.name)} has no default: input "
                f"{quote(field)} is null in the workflow",
                f"mark it required ({quote('$' + marker.name + '!')}) or give the input a value in "
                "the editor",
                **where,
            )
            return None
        value_type = "str"
    else:
        value_type = _scalar_type(value)
        if value_type is None:
            state.error(
                "unsupported-value",
                f"input {quote(field)} holds a {type(value).__name__}, not a "
                "string, number or boolean",
                "bind a scalar input; list and object inputs cannot be parameters",
                **where,
            )
            return None
    # A loader's file input takes uploads with or without `~`, as comfykit does.
    media = marker.upload or LOADER_FILE_INPUTS.get(node.class_type) == field
    if media and value_type != "str":
        state.error(
            "unsupported-value",
            f"media parameter {quote(marker.name)} sets input {quote(field)}, "
            f"which holds a {type(value).__name__}, not a file name",
            "use '~' only on inputs that take a file name (LoadImage.image, ...)",
            **where,
        )
        return None
    param_type: ParamType = "media" if media else value_type
    default = None if marker.required else value
    node_schema = state.schemas.get(node.class_type) if state.schemas is not None else None
    input_schema = node_schema.inputs.get(field) if node_schema is not None else None
    schema_type = _schema_param_type(input_schema) if input_schema is not None else None
    if input_schema is not None and schema_type is not None and not media:
        assert node_schema is not None
        typed = _schema_type(
            state, marker, field, value, input_schema, node_schema, schema_type, where
        )
        if typed is None:
            return None
        if typed.refused is not None:
            default = None
        if typed.type == "float" and isinstance(default, int) and not isinstance(default, bool):
            default = float(default)  # a FLOAT input: its value is a float, whatever the JSON
        return _Binding(
            marker,
            node,
            name,
            field,
            typed.type,
            default,
            input_schema,
            choices=typed.choices,
            refused=typed.refused,
        )
    return _Binding(marker, node, name, field, param_type, default, media=media)


# Loaders whose file input names a file in the server's input folder: comfykit 0.1.12
# uploads what callers pass to them (a local path or an http(s) URL) even without `~`.
LOADER_FILE_INPUTS = {
    "LoadImage": "image",
    "LoadImageMask": "image",
    "LoadAudio": "audio",
    "LoadVideo": "file",
    "VHS_LoadVideo": "video",
    "VHS_LoadAudioUpload": "audio",
}


_SCHEMA_TYPES: dict[str, ParamType] = {
    "INT": "int", "FLOAT": "float", "BOOLEAN": "bool", "STRING": "str",
}  # fmt: skip


def _schema_param_type(schema: InputSchema) -> ParamType | None:
    """The parameter type an input's schema gives; None when it gives none (a link-only
    input, or a combo mixing text and numbers), and the saved value decides.

    A combo's type is its options': text (`sampler_name`), integers (`duration` [5, 10]:
    `int`, `Literal[5, 10]`) or numbers with a fraction (`float`, without `Literal`,
    which cannot hold floats).
    """
    if schema.type != "COMBO":
        return _SCHEMA_TYPES.get(schema.type)
    values = schema.option_values
    if values is None:  # every option is text
        return "str"
    if all(type(v) is int for v in values):
        return "int"
    if all(type(v) in (int, float) for v in values):
        return "float"
    return None


@dataclass(frozen=True)
class _Typed:
    type: ParamType
    choices: tuple[Choice, ...] | None
    refused: str | None = None  # lenient defaults: why the saved value is no default


def _fits(param_type: ParamType, value: Any) -> bool:
    if value is None:
        return True
    if param_type == "bool":
        return isinstance(value, bool)
    if param_type == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if param_type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def _schema_type(
    state: _Analysis,
    marker: ParamMarker,
    field: str,
    value: Any,
    schema: InputSchema,
    node_schema: NodeSchema,
    param_type: ParamType,
    where: dict[str, Any],
) -> _Typed | None:
    """The parameter's type and options by the node's schema; a value that breaks the
    schema is an error (with lenient defaults: a warning, and the value is no default).
    A default missing from the options of the *bundled* schema is only a warning: the
    server that runs the workflow may offer more (custom samplers...), so the parameter
    then loses its `Literal`."""
    allowed = _allowed(state, schema)
    choices: tuple[Choice, ...] | None = allowed if _literal_values(allowed) else None

    def broken(code: Code, message: str, hint: str, what: str) -> _Typed | None:
        if not state.lenient_defaults:
            state.error(code, message, hint, **where)
            return None
        if marker.required:  # the saved value is never used
            state.warning(code, message, hint, **where)
            return _Typed(param_type, choices)
        state.warning(
            code,
            message + "; it is no default, so the parameter is required",
            "pass a value for it; " + hint,
            **where,
        )
        shown = quote(value) if isinstance(value, str) else repr(value)
        reason = (
            f"the workflow's value {shown} of input {quote(field)} of node "
            f"{quote(where['node_id'])} ({where['class_type']}) {what}, so it is no default"
        )
        return _Typed(param_type, choices, reason)

    if not _fits(param_type, value):
        return broken(
            "schema-mismatch",
            f"input {quote(field)} is {_kind(schema, param_type)} in the node's definition, "
            f"but the workflow holds {value!r}",
            "fix the value in the editor (or update the node schema with --server)",
            f"is not {_kind(schema, param_type)}",
        )
    if marker.required or value is None:
        return _Typed(param_type, choices)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = schema.minimum, schema.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            return broken(
                "out-of-range",
                f"the default {value!r} of input {quote(field)} is outside "
                f"[{low}, {high}] of the node's definition",
                "set a value within the bounds in the editor",
                f"is outside [{low}, {high}]",
            )
    if allowed is not None and value not in allowed:
        shown = ", ".join(_option(c) for c in allowed[:8]) + (", ..." if len(allowed) > 8 else "")
        message = (
            f"the default {_option(value)} of input {quote(field)} is not one of its "
            f"options ({shown})"
        )
        if node_schema.bundled:
            state.warning(
                "not-an-option",
                message + " in the bundled core-node schema, so the parameter is typed "
                f"{param_type} without a Literal of options",
                "if the server that runs it offers this option, pass --server URL to use its "
                "node schemas; otherwise pick one of the options in the editor",
                **where,
            )
            return _Typed(param_type, None)
        return broken(
            "not-an-option",
            message,
            "pick one of the options in the editor",
            f"is not one of its options ({shown})",
        )
    return _Typed(param_type, choices)


def _literal_values(options: tuple[Any, ...] | None) -> bool:
    """Whether options can be a `Literal`: integers or text, never floats, and only text
    pydantic can read (no lone surrogates, which no server could have meant)."""
    if not options:
        return False
    if all(type(o) is int for o in options):
        return True
    return all(type(o) is str and _is_unicode(o) for o in options)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(schema: InputSchema, param_type: ParamType) -> str:
    """`INT`, or for a combo `a COMBO of int options`."""
    if schema.type != "COMBO" or param_type == "str":
        return schema.type
    return f"a COMBO of {param_type} options"


def _option(value: Any) -> str:
    return quote(value) if isinstance(value, str) else repr(value)


def _allowed(state: _Analysis, schema: InputSchema) -> tuple[Any, ...] | None:
    """A combo's options as the server compares them (5, not "5"); file lists (models,
    uploads: they differ from server to server) only with strict combos."""
    if schema.type != "COMBO" or schema.options is None:
        return None
    if schema.files and not state.strict_combos:
        return None
    return schema.option_values or schema.options


def _merge_params(
    state: _Analysis, bindings: list[_Binding], *, reserved: set[Identifier]
) -> tuple[ParamIR, ...]:
    groups: dict[Identifier, list[_Binding]] = {}
    for binding in bindings:
        groups.setdefault(binding.name, []).append(binding)
    params: list[ParamIR] = []
    for name, group in groups.items():
        first = group[0]
        where = {
            "node_id": first.node.node_id,
            "class_type": first.node.class_type,
            "title": first.node.title,
            "param": first.marker.name,
        }
        if name in FUNCTION_KEYWORDS or name in reserved:
            state.error(
                "reserved-name",
                f"parameter {quote(name)} collides with the generated function's own "
                f"{'keyword argument' if name in FUNCTION_KEYWORDS else 'class'} {name!r}",
                f"rename the parameter, e.g. ${name}_value",
                **where,
            )
            continue
        param_type = _agree(state, group, where)
        if param_type is None:
            continue
        if param_type == "float":  # an int saved in a node typed only by its value
            group = [_as_float(b) for b in group]
        refused = next((b.refused for b in group if b.refused is not None), None)
        required = first.marker.required or refused is not None  # `!` gets no `refused`
        description = next((b.marker.description for b in group if b.marker.description), None)
        schemas = [b.input_schema for b in group if b.input_schema is not None]
        if description is None:
            description = next((s.tooltip for s in schemas if s.tooltip), None)
        lows = [s.minimum for s in schemas if s.minimum is not None]
        highs = [s.maximum for s in schemas if s.maximum is not None]
        option_lists = [b.choices for b in group if b.choices is not None]
        choices: tuple[Choice, ...] | None = None
        if option_lists and len(option_lists) == len(schemas):
            if all(c is option_lists[0] for c in option_lists):
                choices = option_lists[0]  # one class's input in several nodes (the usual)
            else:  # one name in several nodes: only what every one of them accepts
                common = set.intersection(*map(set, option_lists))
                choices = tuple(o for o in option_lists[0] if o in common)
        # The same name on nodes with different saved values (comfykit accepts it): a
        # caller's value sets them all; without one, each node keeps its own value.
        shared = all(_same_value(group[0].default, b.default) for b in group)
        params.append(
            ParamIR(
                name=name,
                key=first.marker.name,
                type=param_type,
                required=required,
                default=group[0].default if shared and not required else None,
                description=description,
                targets=tuple(
                    TargetIR(
                        b.node,
                        b.field,
                        inferred=b.field != b.marker.field,
                        schema=b.input_schema is not None,
                    )
                    for b in group
                ),
                minimum=max(lows) if lows and param_type in ("int", "float") else None,
                maximum=min(highs) if highs and param_type in ("int", "float") else None,
                choices=choices or None,
                schema=len(schemas) == len(group),
                refused_default=refused,
            )
        )
    return tuple(params)


def _as_float(binding: _Binding) -> _Binding:
    default = binding.default
    if isinstance(default, int) and not isinstance(default, bool):
        return dataclasses.replace(binding, type="float", default=float(default))
    return dataclasses.replace(binding, type="float")


def _agree(state: _Analysis, group: list[_Binding], where: dict[str, Any]) -> ParamType | None:
    """One name bound in several nodes sets all of them, so the bindings must agree.

    Returns the parameter's type (None: they do not agree). An int and a float agree
    when one of them is only inferred from a saved value (the editor saves 1.0 as 1, and
    comfykit sends one value to both): the parameter is a float.
    """
    first = group[0]
    types = {b.type for b in group}
    # Not when both come from definitions (INT here, FLOAT there: a real conflict), nor
    # for a combo of integers (its `Literal` holds no floats).
    numbers = (
        types == {"int", "float"}
        and any(b.input_schema is None for b in group)
        and all(b.choices is None for b in group)
    )
    for other in group[1:]:
        place = f"node {quote(first.node.node_id)} and node {quote(other.node.node_id)}"
        checks = [
            (
                other.marker.name != first.marker.name,
                "is written differently",
                f"{quote(first.marker.name)} vs {quote(other.marker.name)}",
            ),
            (
                other.media != first.media,
                "is a media parameter in one node only",
                "'~' must be on every marker of the name or on none",
            ),
            (
                other.marker.required != first.marker.required,
                "is required in one node only",
                "'!' must be on every marker of the name or on none",
            ),
            (
                other.type != first.type and not numbers,
                "has conflicting types",
                f"{first.type} vs {other.type}",
            ),
        ]
        for failed, what, detail in checks:
            if failed:
                state.error(
                    "conflicting-bindings",
                    f"parameter {quote(first.name)} is bound in {place} and {what} ({detail})",
                    "make the markers and input values agree, or use two names",
                    **where,
                )
                return None
    return "float" if numbers else first.type


def _outputs(
    state: _Analysis,
    named: dict[str, list[tuple[NodeRef, OutputKind, str]]],
    auto: list[tuple[NodeRef, OutputKind]],
    *,
    reserved: set[Identifier],
) -> tuple[OutputIR, ...]:
    outputs: list[OutputIR] = []
    taken: dict[str, NodeRef] = {}

    def claim(name: Identifier, node: NodeRef, what: str) -> bool:
        where = {
            "node_id": node.node_id,
            "class_type": node.class_type,
            "title": node.title,
        }
        if name in RESULT_FIELDS or name in reserved:
            state.error(
                "reserved-name",
                f"{what} {quote(name)} collides with the result class's own "
                f"{'field' if name in RESULT_FIELDS else 'name'} {name!r}",
                f"rename the output, e.g. $output.{name}_files",
                **where,
            )
            return False
        if name in taken:
            state.error(
                "duplicate-output",
                f"{what} {quote(name)} is also the field of node {quote(taken[name].node_id)}",
                "rename one of the $output markers",
                **where,
            )
            return False
        taken[name] = node
        return True

    for key, entries in named.items():
        node = entries[0][0]
        named_id = field_name(key, what="output")
        if named_id.identifier is None:
            state.error(
                "bad-name",
                f"{named_id.problem} (in marker {quote('$output.' + key)})",
                named_id.hint or "",
                node_id=node.node_id,
                class_type=node.class_type,
                title=node.title,
            )
            continue
        kinds = {kind for _, kind, _ in entries}
        if claim(named_id.identifier, node, "output"):
            outputs.append(
                OutputIR(
                    name=named_id.identifier,
                    key=key,
                    kind=kinds.pop() if len(kinds) == 1 else "file",
                    nodes=tuple(entry[0] for entry in entries),
                    auto=False,
                )
            )
    for node, kind in auto:
        name = Identifier("node_" + re.sub(r"[^0-9A-Za-z_]", "_", node.node_id))
        if claim(name, node, "auto-detected output"):
            outputs.append(
                OutputIR(name=name, key=node.node_id, kind=kind, nodes=(node,), auto=True)
            )
    return tuple(outputs)
