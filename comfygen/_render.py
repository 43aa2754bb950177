"""Rendering: IR -> module text through jinja2 templates; CPython's parser is the gate.

Templates only lay code out. Every identifier and literal they place comes from
`_literals` (fully escaped; identifiers proven), laid out by `_layout` as ruff would, so
no title, name or value from a workflow can change the structure of the generated code.
What is rendered is `translate(ir)`: the very spec and fields the dynamic API runs.
"""

from __future__ import annotations

import ast
from functools import cache, lru_cache
from pathlib import Path

import jinja2
from comfygen_runtime import CONTRACT_VERSION, OutputSpec, ParamSpec

from . import _literals as lit
from ._diagnostics import quote
from ._ir import Choice, NodeRef, OutputIR, ParamIR, WorkflowIR
from ._layout import WIDTH, Group, fits, lay_out
from ._names import Identifier, class_stem
from ._translate import OUTPUT_CLASSES, ParamField, Translation, kind_words, translate

__all__ = [
    "RenderError",
    "parse_error",
    "render_module",
    "render_package_init",
    "templates_dir",
]

_ANNOTATIONS = {
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "media": "MediaInput",
}


class RenderError(Exception):
    """The rendered text did not parse: a bug in comfygen, never in the workflow."""


def templates_dir() -> Path:
    """The templates shipped inside the package (`comfygen/templates`).

    In a checkout that folder is a link to the repository's top-level `templates/`; the
    wheel carries the files themselves.
    """
    return Path(__file__).resolve().parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _wrap(text: str, indent: str, hanging: str = "    ") -> list[str]:
    """Greedy word wrap for docstrings (whitespace runs become one space); six columns
    stay free for the quotes. A word longer than the line stays whole."""
    width = WIDTH - len(indent) - 6
    if len(text) <= width and text.isprintable() and "  " not in text and text == text.strip():
        return [text]
    text = " ".join(text.split())
    lines: list[str] = []
    room = width
    while len(text) > room:
        cut = text.rfind(" ", 0, room + 1)
        if cut <= 0:
            cut = text.find(" ", room)
            if cut < 0:
                break
        lines.append(text[:cut])
        text = text[cut + 1 :]
        room = width - len(hanging)
    lines.append(text)
    return [lines[0], *(hanging + line for line in lines[1:])]


def _doc(lines: list[str], indent: str) -> str:
    return lit.docstring(lines, indent)


def _class_doc(text: str) -> str:
    """The docstring of a class or of a field (attribute docstring), wrapped."""
    return lit.docstring(_wrap(text, "    ", ""), "    ")


def _node_phrase(node: NodeRef) -> str:
    return f"node {quote(node.node_id)} ({quote(node.class_type)}, title {quote(node.title)})"


def _bound(value: float | None) -> str:
    return "-inf" if value is None else repr(value)


def _param_summary(param: ParamIR, field: ParamField) -> str:
    targets = "; ".join(
        f"input {quote(t.input)} of {_node_phrase(t.node)}"
        + (" (the node's only file-name input)" if t.inferred else "")
        for t in param.targets
    )
    text = f"{param.description.rstrip('.')}. " if param.description else ""
    if field.required:
        text += "Required. "
    elif field.nullable:
        text += "Default: each node keeps its own value (the nodes hold different ones). "
    else:
        text += f"Default {field.default!r}. "
    if field.type == "media":
        text += "Uploaded: a path, bytes, an http(s) URL, or a file name on the server. "
    if field.minimum is not None or field.maximum is not None:
        text += f"Between {_bound(field.minimum)} and {_bound(field.maximum)}. "
    text += f"Sets {targets}."
    if not field.exact:
        untyped = [t for t in param.targets if not t.schema]
        classes = ", ".join(sorted({quote(t.node.class_type) for t in untyped}))
        text += f" Type inferred from the workflow's value: no node schema for {classes}."
    if param.renamed:
        text += f" Written {quote(param.key)} in the workflow."
    return text


def _output_summary(output: OutputIR) -> str:
    nodes = " and ".join(_node_phrase(node) for node in output.nodes)
    origin = "auto-detected output" if output.auto else f"output {quote(output.key)}"
    return f"{kind_words(output.kind).capitalize()} from {nodes} ({origin})."


def _function_doc(ir: WorkflowIR, fields: tuple[ParamField, ...]) -> list[str]:
    lines = [f"Run the workflow {quote(ir.source)} and return its outputs.", ""]
    lines.append("Args:")
    entries: list[tuple[str, str]] = [
        (p.name, _param_summary(p, f)) for p, f in zip(ir.params, fields, strict=True)
    ]
    entries += [
        (
            "client",
            "The backend to run on (a ComfyUI server or RunningHub); None uses "
            "the default client configured from the environment.",
        ),
        ("on_event", "Called with every progress event of the run."),
        (
            "timeout",
            "Seconds to wait for the whole run (the job is cancelled after it); None "
            "uses the client's default (ComfyUI: as long as the job runs).",
        ),
        (
            "idempotency_key",
            "Names the job: a second call with the same key (here, in another "
            "process, after a restart) follows the job already queued or running, "
            "or returns its finished outputs, instead of submitting it again.",
        ),
    ]
    for name, text in entries:
        lines += ["    " + line for line in _wrap(f"{name}: {text}", "        ")]
    lines += ["", "Returns:"]
    if ir.outputs:
        for output in ir.outputs:
            for line in _wrap(f"{output.name}: {_output_summary(output)}", "        "):
                lines.append("    " + line)
    else:
        lines.append("    A result with the raw outputs only (no output node was recognised).")
    return lines


def _choice_aliases(fields: tuple[ParamField, ...]) -> dict[tuple[Choice, ...], str]:
    """One `Literal` alias per distinct set of options, named after its first parameter.

    `sampler_name` -> `SamplerNameChoice`; a name already taken (by another alias, or
    by a parameter, which would shadow it in the class body) gets a number.
    """
    aliases: dict[tuple[Choice, ...], str] = {}
    taken: set[str] = {field.name for field in fields}
    for field in fields:
        if field.choices is None or field.choices in aliases:
            continue
        stem = class_stem(field.name) + "Choice"
        alias, number = stem, 2
        while alias in taken:
            alias, number = f"{stem}{number}", number + 1
        taken.add(alias)
        aliases[field.choices] = lit.name(Identifier(alias))
    return aliases


def _alias_lines(alias: str, options: tuple[Choice, ...]) -> list[str]:
    head = f"{alias}: TypeAlias = "
    literal = _literal(options)
    if len(options) == 1 and not fits(head + literal.flat):
        # ruff splits a one-element subscript without adding a comma (which would make
        # its index a tuple): `X = Literal[` / the option / `]`.
        return [head + "Literal[", "    " + lit.scalar(options[0]), "]"]
    return lay_out(literal, "", head)


@lru_cache(maxsize=1024)
def _literal(options: tuple[Choice, ...]) -> Group:
    # Workflows of one project share their combos (samplers, schedulers): quote them once.
    return Group("Literal[", tuple(("", lit.scalar(option)) for option in options), "]")


def _annotation(field: ParamField, aliases: dict[tuple[Choice, ...], str]) -> str:
    annotation = aliases[field.choices] if field.choices is not None else _ANNOTATIONS[field.type]
    return annotation + " | None" if field.nullable else annotation


def _declaration(field: ParamField, annotation: str) -> list[str]:
    """`width: int = Field(832, ge=16, le=16384)`, `prompt: str`, `seed: int = 5`."""
    head = f"{lit.name(field.name)}: {annotation}"
    bounds = tuple(
        (keyword, lit.scalar(value))
        for keyword, value in (("ge=", field.minimum), ("le=", field.maximum))
        if value is not None
    )
    default = None if field.required else lit.scalar(field.default)
    if not bounds:
        if default is None:
            return ["    " + head]
        line = f"    {head} = {default}"
        if fits(line):
            return [line]
    arguments = ((("", default),) if default is not None else ()) + bounds
    return lay_out(Group("Field(", arguments, ")"), "    ", f"{head} = ")


_IN2, _IN3 = " " * 8, " " * 12  # a spec item's indent; a target's


def _item(head: str, items: tuple[tuple[str, str | Group], ...], indent: str) -> str | Group:
    """`head(items)` as one line of text when it fits at `indent` as a tuple item (most
    do, and text is cheap), else as a group that `lay_out` explodes."""
    group = Group(head + "(", items, ")")
    return group.flat if fits(indent + group.flat + ",") else group


def _param_spec(param: ParamSpec) -> str | Group:
    targets = ", ".join(
        f"InputRef({lit.string(t.node_id)}, {lit.string(t.input)})" for t in param.targets
    )
    flags = (", required=True" if param.required else "") + (", media=True" if param.media else "")
    comma = "," if len(param.targets) == 1 else ""
    text = f"ParamSpec({lit.string(param.name)}, ({targets}{comma}){flags})"
    if fits(_IN2 + text + ","):
        return text
    refs = tuple(
        ("", _item("InputRef", (("", lit.string(t.node_id)), ("", lit.string(t.input))), _IN3))
        for t in param.targets
    )
    items: list[tuple[str, str | Group]] = [
        ("", lit.string(param.name)),
        ("", Group("(", refs, ")", tuple=True)),
    ]
    items += [("required=", "True")] if param.required else []
    items += [("media=", "True")] if param.media else []
    return Group("ParamSpec(", tuple(items), ")")


def _output_spec(output: OutputSpec) -> str | Group:
    node_ids = Group("(", tuple(("", lit.string(n)) for n in output.node_ids), ")", tuple=True)
    items: tuple[tuple[str, str | Group], ...] = (
        ("", lit.string(output.name)),
        ("", lit.string(output.kind)),
        ("", node_ids),
    )
    return _item("OutputSpec", items, _IN2)


def _spec_lines(translation: Translation) -> list[str]:
    """`_SPEC = WorkflowSpec(...)`: one line per parameter and per output where they fit."""
    params = tuple(("", _param_spec(param)) for param in translation.param_specs)
    outputs = tuple(("", _output_spec(output)) for output in translation.output_specs)
    runninghub_id = translation.ir.runninghub_id
    arguments: tuple[tuple[str, str | Group], ...] = (
        ("name=", lit.string(translation.ir.function)),
        ("graph=", "_GRAPH"),
        ("params=", Group("(", params, ")", tuple=True)),
        ("outputs=", Group("(", outputs, ")", tuple=True)),
    )
    if runninghub_id is not None:
        arguments += (("runninghub_id=", lit.string(runninghub_id)),)
    return lay_out(Group("WorkflowSpec(", arguments, ")"), "", "_SPEC: Final = ")


def _import_lines(module: str, names: list[str]) -> list[str]:
    line = f"from {module} import {', '.join(names)}"
    if fits(line):
        return [line]
    return [f"from {module} import (", *(f"    {name}," for name in names), ")"]


def render_module(ir: WorkflowIR) -> str:
    """Render one workflow module (`parse_error` checks it before anything is written)."""
    translation = translate(ir)
    fields = translation.params
    aliases = _choice_aliases(fields)
    annotations = [_annotation(field, aliases) for field in fields]
    imported = {"Backend", "EventHandler", "WorkflowSpec"}
    imported |= {OUTPUT_CLASSES[output.kind] for output in translation.outputs}
    if fields:
        imported |= {"InputRef", "ParamSpec"}
    if translation.outputs:
        imported.add("OutputSpec")
    if any(field.type == "media" for field in fields):
        imported.add("MediaInput")
    declarations = [_declaration(f, a) for f, a in zip(fields, annotations, strict=True)]
    uses_field = any(" = Field(" in lines[0] for lines in declarations)
    params_class, result_class = lit.name(ir.params_class), lit.name(ir.result_class)
    call = Group(
        f"{params_class}(",
        tuple((f"{lit.name(f.name)}=", lit.name(f.name)) for f in fields),
        ")",
    )
    return (
        _environment()
        .get_template("workflow_module.py.jinja")
        .render(
            header=lit.comment(f"Generated by comfygen from {ir.source} — do not edit."),
            module_doc=_doc(
                _wrap(f"Typed client for the ComfyUI workflow {quote(ir.source)}.", "", ""), ""
            ),
            typing_imports=", ".join(
                ["Any", "Final"] + (["Literal", "TypeAlias"] if aliases else [])
            ),
            runtime_import=_lines(_import_lines("comfygen_runtime", sorted(imported))),
            pydantic_import=_lines(
                _import_lines(
                    "pydantic", ["BaseModel", "ConfigDict", *(["Field"] if uses_field else [])]
                )
            ),
            contract=lit.scalar(CONTRACT_VERSION),
            aliases=[_lines(_alias_lines(alias, options)) for options, alias in aliases.items()],
            graph=lit.json_block(ir.graph_json),
            spec=_lines(_spec_lines(translation)),
            params_class=params_class,
            params_doc=_class_doc(
                f"Parameters of `{ir.function}`, validated before anything is sent."
            ),
            # Each field: its declaration, then its description as an attribute docstring.
            params=[
                _lines([*lines, "    " + _class_doc(field.description)])
                for field, lines in zip(fields, declarations, strict=True)
            ],
            result_class=result_class,
            result_doc=_class_doc(
                f"Outputs of `{ir.function}`: one field per output of the workflow."
            ),
            outputs=[
                f"    {lit.name(output.name)}: list[{OUTPUT_CLASSES[output.kind]}]\n"
                f"    {_class_doc(output.description)}"
                for output in translation.outputs
            ],
            function=lit.name(ir.function),
            signature=_lines(
                [
                    f"    {lit.name(f.name)}: {a}"
                    + ("," if f.required else f" = {lit.scalar(f.default)},")
                    for f, a in zip(fields, annotations, strict=True)
                ]
            ),
            function_doc=_doc(_function_doc(ir, fields), "    "),
            params_call=_lines(lay_out(call, "        ", suffix=",")),
        )
    )


def _lines(lines: list[str]) -> str:
    return "\n".join(lines)


def render_package_init(irs: list[WorkflowIR]) -> str:
    imports = []
    for ir in sorted(irs, key=lambda ir: ir.function):
        exports = sorted([ir.function, ir.params_class, ir.result_class])
        imports += _import_lines(f".{lit.name(ir.function)}", [lit.name(e) for e in exports])
    all_names = sorted(
        name for ir in irs for name in (ir.function, ir.params_class, ir.result_class)
    )
    return (
        _environment()
        .get_template("package_init.py.jinja")
        .render(
            header=lit.comment("Generated by comfygen — do not edit."),
            module_doc=_doc(["Typed clients generated by comfygen, one per workflow."], ""),
            imports=_lines(imports),
            all_names=[lit.string(name) for name in all_names],
        )
    )


def parse_error(text: str, name: str) -> str | None:
    """Why `text` does not parse with CPython's parser (None: it does).

    A failure here is a bug in comfygen (templates or literal builders), never in a
    workflow: the build stops before anything is written (`RenderError`).
    """
    try:
        compile(text, name, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        return f"{name}: {error}"
    return None
