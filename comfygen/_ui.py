"""The ComfyUI editor's saved workflow ("UI format") turned into the API format.

The editor saves ``{"nodes": [...], "links": [...], "definitions": {"subgraphs": [...]}, ...}``;
the server runs ``{node_id: {"class_type", "inputs", "_meta": {"title"}}}``. The editor converts
one into the other when it queues a prompt (``graphToPrompt`` in the ComfyUI frontend). This
module does the same offline, from the node schemas:

* widget values: ``widgets_values`` is positional, one entry per widget the editor created for
  the node, in the order of the node's inputs (required, then optional). Link-only inputs make no
  widget; an INT seed makes an extra ``control_after_generate`` widget right after it, a combo
  with ``control_after_generate`` two (control and filter list); nodes with a media-upload combo
  get an ``upload`` button after their required inputs. Those extra widgets are saved but never
  sent. Values missing at the end take the widget's default, as the editor does;
* links: an input's link is followed back to a real node's output, through ``Reroute`` nodes,
  bypassed nodes (mode 4: the first input whose type fits stands for the output), and subgraph
  boundaries. ``PrimitiveNode`` (the editor-only primitive) writes its value into the widgets it
  is linked to. Notes and other editor-only nodes, muted nodes (mode 2) and bypassed nodes are
  left out, and so are inputs linked to a node that is left out;
* subgraphs (``definitions.subgraphs``) are expanded: a node inside subgraph instance ``12`` gets
  the id ``"12:5"`` (``"12:7:5"`` when nested). A subgraph input with no link outside passes its
  promoted widget value (the instance's ``widgets_values``) to the widgets inside.

Whatever the converter cannot reproduce exactly (an unknown node class, saved values that do not
line up with the schema's widgets, a widget whose value the editor computes when queueing) is
returned as a problem instead of a guess.

Three schema facts the bundled schema does not record are read from `InputSchema` attributes when
present and guessed otherwise: ``control_after_generate`` (the raw object_info value; guessed from
the names ``seed``/``noise_seed`` and from the saved values), ``upload`` (``"image"``, ``"video"``,
``"audio"``; guessed for the core loaders), ``dynamic_prompts`` (``{a|b}`` and comment handling of
prompt widgets), ``widget_type`` and ``dynamic_options`` (the inputs of each option of a
``COMFY_DYNAMICCOMBO_V3`` input); ``NodeSchema.display_name`` gives untitled nodes their title.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._graph import is_link, is_ui_format
from ._schema import InputSchema, NodeSchema

__all__ = ["is_ui_format", "ui_to_api"]

MUTED = 2
BYPASSED = 4
SUBGRAPH_INPUT_NODE = -10
SUBGRAPH_OUTPUT_NODE = -20

PRIMITIVE_WIDGETS = frozenset({"INT", "FLOAT", "BOOLEAN", "STRING", "COMBO"})
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize", "increment-wrap"})
SEED_NAMES = frozenset({"seed", "noise_seed"})
# Editor-only nodes: never sent to the server.
NOTE_CLASSES = frozenset({"Note", "MarkdownNote"})
REROUTE = "Reroute"
PRIMITIVE_NODE = "PrimitiveNode"
# The editor's own widget types (beyond the primitives) whose saved value is what it sends.
PLAIN_CUSTOM_WIDGETS = frozenset({"COLOR", "BOUNDING_BOX"})
# Widget types whose sent value the editor computes when queueing (uploads a canvas, a 3D view,
# a recording, ...) or that it does not save: the converter cannot reproduce them.
EDITOR_WIDGETS = frozenset(
    {
        "LOAD_3D",
        "LOAD_3D_ANIMATION",
        "PAINTER",
        "AUDIO_RECORD",
        "WEBCAM",
        "BOUNDING_BOXES",
        "COMPOSITOR",
        "CURVE",
        "COLORS",
        "MARKDOWN",
    }
)
# Widgets the editor does not save in `widgets_values` but sends: type -> initial value.
UNSAVED_WIDGETS: dict[str, tuple[str, ...]] = {"IMAGECOMPARE": ("", "")}
# Core loaders whose media combo gets an upload button (object_info's image_upload /
# video_upload / audio_upload), for schemas that do not record `upload`.
_UPLOAD_FALLBACK = {
    "LoadImage": "image",
    "LoadImageMask": "image",
    "LoadImageOutput": "image",
    "LoadVideo": "video",
    "LoadAudio": "audio",
}


def ui_to_api(
    ui: Mapping[str, Any], schemas: Mapping[str, NodeSchema]
) -> tuple[dict[str, Any] | None, list[str]]:
    """The API-format graph of an editor workflow, or None and the problems that prevent it."""
    converter = _Converter(schemas)
    try:
        graph = converter.convert(ui)
    except _Abort as abort:
        converter.problems.append(str(abort))
        graph = None
    except (TypeError, KeyError, ValueError, AttributeError, IndexError, RecursionError) as error:
        # A file no editor wrote (hand-edited, truncated, ...): a problem, never a crash.
        converter.problems.append(
            f"the editor file is malformed ({type(error).__name__}: {error}); save it again"
        )
        graph = None
    problems = list(dict.fromkeys(converter.problems))
    if graph == {} and not problems:
        problems.append("the workflow has no nodes the server runs (only notes, muted nodes, ...)")
    return (None, problems) if problems else (graph, [])


# ---------------------------------------------------------------------------------------------
# The workflow's graphs


class _Abort(Exception):
    """A problem that stops the conversion at once (the workflow's structure is broken)."""


@dataclass(frozen=True)
class _Link:
    origin: Any
    origin_slot: int
    target: Any
    target_slot: int
    type: str


@dataclass
class _Graph:
    """The root graph or one subgraph definition."""

    key: str
    name: str
    nodes: dict[str, dict[str, Any]]
    order: list[str]
    links: dict[str, _Link]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Ctx:
    """Where a node sits: its graph, and the chain of subgraph instances leading there."""

    graph: _Graph
    path: tuple[str, ...] = ()
    parent: _Ctx | None = None
    instance: str | None = None  # the instance's node id in parent.graph

    def exec_id(self, node_id: str) -> str:
        return ":".join((*self.path, node_id))


@dataclass(frozen=True)
class _Origin:
    """A link resolved to a real node's output."""

    node: str
    slot: int


@dataclass(frozen=True)
class _Value:
    """A link resolved to a value: a subgraph instance's promoted widget."""

    value: Any


_Resolved = _Origin | _Value | None


def _key(value: Any) -> str:
    return str(value)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return None


def _parse_links(raw: Any, where: str) -> dict[str, _Link]:
    links: dict[str, _Link] = {}
    if raw is None:
        return links
    if not isinstance(raw, list):
        raise _Abort(f"{where}: 'links' is not a list")
    for entry in raw:
        if isinstance(entry, list) and len(entry) >= 5:
            link_id, origin, origin_slot, target, target_slot = entry[:5]
            kind = entry[5] if len(entry) > 5 else "*"
        elif isinstance(entry, dict):
            link_id = entry.get("id")
            origin, origin_slot = entry.get("origin_id"), entry.get("origin_slot")
            target, target_slot = entry.get("target_id"), entry.get("target_slot")
            kind = entry.get("type", "*")
        else:
            continue  # the editor drops malformed links when it loads a workflow
        origin_index, target_index = _as_int(origin_slot), _as_int(target_slot)
        if link_id is None or origin_index is None or target_index is None:
            continue
        links[_key(link_id)] = _Link(origin, origin_index, target, target_index, _type_name(kind))
    return links


def _type_name(kind: Any) -> str:
    if isinstance(kind, list):
        return "COMBO"
    return kind if isinstance(kind, str) else "*"


def _parse_graph(raw: Mapping[str, Any], key: str, name: str, where: str) -> _Graph:
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, list):
        raise _Abort(f"{where}: 'nodes' is not a list")
    nodes: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for node in nodes_raw:
        if not isinstance(node, dict) or node.get("id") is None:
            raise _Abort(f"{where}: a node without an id")
        node_id = _key(node["id"])
        if node_id in nodes:
            raise _Abort(f"{where}: node id {node_id} appears twice")
        nodes[node_id] = node
        order.append(node_id)
    links = _parse_links(raw.get("links"), where)
    inputs = [s for s in raw.get("inputs") or [] if isinstance(s, dict)]
    outputs = [s for s in raw.get("outputs") or [] if isinstance(s, dict)]
    return _Graph(key, name, nodes, order, links, inputs, outputs)


def _slots(node: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    slots = node.get(key)
    if not isinstance(slots, list):
        return []
    return [s if isinstance(s, dict) else {} for s in slots]


def _slot_type(slot: Mapping[str, Any]) -> str:
    return _type_name(slot.get("type", "*"))


def _valid_connection(a: str, b: str) -> bool:
    """litegraph's `isValidConnection`: `*`/empty match anything, lists match any member."""
    if a in ("", "*") or b in ("", "*") or a == b:
        return True
    a, b = a.lower(), b.lower()
    if "," not in a and "," not in b:
        return a == b
    return any(_valid_connection(x, y) for x in a.split(",") for y in b.split(","))


# ---------------------------------------------------------------------------------------------
# Widgets


@dataclass(frozen=True)
class _Widget:
    """One widget of a node, in the editor's order.

    kind: "value" (saved and sent), "control" (saved, not sent: control_after_generate, combo
    filter, upload button), "maybe-control" (a control the schema does not tell about: taken only
    if the saved values hold one there), "dynamic" (a dynamic combo: its option's inputs follow).
    """

    kind: str
    name: str
    schema: InputSchema | None = None


def _attr(obj: object, name: str) -> Any:
    return getattr(obj, name, None)


def _widget_type(schema: InputSchema) -> str:
    override = _attr(schema, "widget_type")
    return override if isinstance(override, str) and override else schema.type


def _control_widgets(name: str, schema: InputSchema, prefix: str) -> list[_Widget]:
    """The control widgets the editor adds after a widget (useIntWidget, useComboWidget)."""
    kind = _widget_type(schema)
    has_flag = hasattr(schema, "control_after_generate")
    flag = _attr(schema, "control_after_generate")
    short = name.rsplit(".", 1)[-1] if prefix else name
    if kind == "INT":
        if flag is None:
            if short in SEED_NAMES:
                return [_Widget("control", "control_after_generate")]
            return [] if has_flag else [_Widget("maybe-control", "control_after_generate")]
        return [_Widget("control", "control_after_generate")] if flag else []
    if kind == "COMBO" and flag:
        return [_Widget("control", "control_after_generate"), _Widget("control", "filter")]
    return []


class _Converter:
    def __init__(self, schemas: Mapping[str, NodeSchema]) -> None:
        self.schemas = schemas
        self.problems: list[str] = []
        self.subgraphs: dict[str, _Graph] = {}
        self.output: dict[str, dict[str, Any]] = {}
        self._widget_cache: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._overrides: dict[tuple[str, str, str], Any] = {}
        self._promoted_cache: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._expanding: list[str] = []

    # -- entry ---------------------------------------------------------------------------------

    def convert(self, ui: Mapping[str, Any]) -> dict[str, Any]:
        if not is_ui_format(ui):
            raise _Abort("this is not the editor's UI format (no 'nodes' with 'links')")
        if "links" not in ui:
            raise _Abort("this workflow uses the 'edges' form of the UI format, which is not read")
        extra = ui.get("extra")
        group_nodes = extra.get("groupNodes") if isinstance(extra, dict) else None
        definitions = ui.get("definitions")
        raw_subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        for raw in raw_subgraphs if isinstance(raw_subgraphs, list) else []:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                raise _Abort("a subgraph definition without an id")
            name = raw["name"] if isinstance(raw.get("name"), str) else raw["id"]
            self.subgraphs[raw["id"]] = _parse_graph(raw, raw["id"], name, f"subgraph {name!r}")
        root = _parse_graph(ui, "", "", "the workflow")
        if group_nodes:
            for node_id in root.order:
                node_type = root.nodes[node_id].get("type")
                if isinstance(node_type, str) and node_type.startswith("workflow"):
                    self.problems.append(
                        f"node {node_id} is a group node ({node_type!r}), an old editor feature "
                        "the converter does not expand; convert it to a subgraph or export the "
                        "API format from the editor"
                    )
        for graph in (root, *self.subgraphs.values()):
            self._apply_primitives(graph)
        self._emit(_Ctx(root))
        # Inputs linked to nodes that are not sent are dropped, as the editor does.
        for node in self.output.values():
            inputs = node["inputs"]
            for name in [n for n, v in inputs.items() if is_link(v) and v[0] not in self.output]:
                del inputs[name]
        return self.output

    # -- nodes ---------------------------------------------------------------------------------

    def _emit(self, ctx: _Ctx) -> None:
        for node_id in ctx.graph.order:
            node = ctx.graph.nodes[node_id]
            node_type = node.get("type")
            mode = node.get("mode", 0)
            if mode in (MUTED, BYPASSED):
                continue
            if isinstance(node_type, str) and node_type in self.subgraphs:
                if node_type in self._expanding:
                    raise _Abort(f"subgraph {self.subgraphs[node_type].name!r} contains itself")
                self._expanding.append(node_type)
                inner = _Ctx(self.subgraphs[node_type], (*ctx.path, node_id), ctx, node_id)
                self._emit(inner)
                self._expanding.pop()
                continue
            if node_type in NOTE_CLASSES or node_type in (REROUTE, PRIMITIVE_NODE):
                continue
            exec_id = ctx.exec_id(node_id)
            schema = self.schemas.get(node_type) if isinstance(node_type, str) else None
            if schema is None:
                self.problems.append(
                    f"node {exec_id}: class {node_type!r} is not among the known node schemas "
                    "(a custom node, or a node newer than the schemas); pass the server's "
                    "/object_info with --object-info or --server"
                )
                continue
            widgets = self._widget_values(ctx, node_id)
            if widgets is None:
                continue
            inputs: dict[str, Any] = dict(widgets)
            for index, slot in enumerate(_slots(node, "inputs")):
                name = slot.get("name")
                if not isinstance(name, str):
                    continue
                resolved = self._resolve_input(ctx, node_id, index, set())
                if isinstance(resolved, _Origin):
                    inputs[name] = [resolved.node, resolved.slot]
                elif isinstance(resolved, _Value):
                    inputs[name] = _wrap(resolved.value)
            title = node.get("title")
            if not isinstance(title, str) or not title:
                display = _attr(schema, "display_name")
                title = display if isinstance(display, str) and display else node_type
            self.output[exec_id] = {
                "inputs": inputs,
                "class_type": node_type,
                "_meta": {"title": title},
            }

    # -- links ---------------------------------------------------------------------------------

    def _resolve_input(
        self, ctx: _Ctx, node_id: str, index: int, visited: set[tuple[str, str, str, int]]
    ) -> _Resolved:
        """What an input slot receives (ExecutableNodeDTO.resolveInput)."""
        mark = (ctx.graph.key, "/".join(ctx.path), node_id + "[I]", index)
        if mark in visited:
            raise _Abort(f"node {ctx.exec_id(node_id)}: its links go round in a circle")
        visited.add(mark)
        slots = _slots(ctx.graph.nodes[node_id], "inputs")
        if index >= len(slots):
            return None
        slot = slots[index]
        link_id = slot.get("link")
        if link_id is None:
            return None
        link = ctx.graph.links.get(_key(link_id))
        if link is None:
            return None
        if _as_int(link.origin) == SUBGRAPH_INPUT_NODE and ctx.parent is not None:
            return self._resolve_subgraph_input(ctx, link.origin_slot, visited)
        origin = _key(link.origin)
        if origin not in ctx.graph.nodes:
            return None
        return self._resolve_output(ctx, origin, link.origin_slot, _slot_type(slot), visited)

    def _resolve_subgraph_input(
        self, ctx: _Ctx, sg_slot: int, visited: set[tuple[str, str, str, int]]
    ) -> _Resolved:
        """A link from a subgraph's input node: continue outside, on the instance."""
        assert ctx.parent is not None and ctx.instance is not None
        graph = ctx.graph
        if sg_slot >= len(graph.inputs):
            return None
        name = graph.inputs[sg_slot].get("name")
        instance = ctx.parent.graph.nodes[ctx.instance]
        for index, slot in enumerate(_slots(instance, "inputs")):
            if slot.get("name") == name and slot.get("link") is not None:
                return self._resolve_input(ctx.parent, ctx.instance, index, visited)
        promoted = self._promoted(ctx.parent, ctx.instance)
        if promoted is not None and isinstance(name, str) and name in promoted:
            return _Value(promoted[name])
        return None

    def _resolve_output(
        self,
        ctx: _Ctx,
        node_id: str,
        slot: int,
        kind: str,
        visited: set[tuple[str, str, str, int]],
    ) -> _Resolved:
        """Where an output really comes from (ExecutableNodeDTO.resolveOutput)."""
        mark = (ctx.graph.key, "/".join(ctx.path), node_id + "[O]", slot)
        if mark in visited:
            raise _Abort(f"node {ctx.exec_id(node_id)}: its links go round in a circle")
        visited.add(mark)
        node = ctx.graph.nodes[node_id]
        node_type = node.get("type")
        if node.get("mode", 0) == BYPASSED:
            index = _bypass_slot(node, slot, kind)
            return None if index < 0 else self._resolve_input(ctx, node_id, index, visited)
        if isinstance(node_type, str) and node_type in self.subgraphs:
            return self._resolve_subgraph_output(ctx, node_id, node_type, slot, kind, visited)
        if node_type in (REROUTE, PRIMITIVE_NODE) or node_type in NOTE_CLASSES:
            # Virtual nodes pass input N to output N; a primitive has no inputs (its value was
            # written into the widgets it feeds).
            if slot < len(_slots(node, "inputs")):
                return self._resolve_input(ctx, node_id, slot, visited)
            return None
        return _Origin(ctx.exec_id(node_id), slot)

    def _resolve_subgraph_output(
        self,
        ctx: _Ctx,
        node_id: str,
        subgraph_id: str,
        slot: int,
        kind: str,
        visited: set[tuple[str, str, str, int]],
    ) -> _Resolved:
        graph = self.subgraphs[subgraph_id]
        if subgraph_id in {c.graph.key for c in _chain(ctx)}:
            raise _Abort(f"subgraph {graph.name!r} contains itself")
        inner = _Ctx(graph, (*ctx.path, node_id), ctx, node_id)
        if slot >= len(graph.outputs):
            return None
        link_ids = graph.outputs[slot].get("linkIds") or []
        link = graph.links.get(_key(link_ids[0])) if link_ids else None
        if link is None:
            return None
        if _as_int(link.origin) == SUBGRAPH_INPUT_NODE:
            return self._resolve_subgraph_input(inner, link.origin_slot, visited)
        origin = _key(link.origin)
        if origin not in graph.nodes:
            return None
        return self._resolve_output(inner, origin, link.origin_slot, kind, visited)

    # -- primitives and promoted widgets -------------------------------------------------------

    def _apply_primitives(self, graph: _Graph) -> None:
        """PrimitiveNode.applyToGraph: the primitive's value replaces the linked widgets'."""
        for node_id in graph.order:
            node = graph.nodes[node_id]
            if node.get("type") != PRIMITIVE_NODE:
                continue
            targets = [
                link
                for link in graph.links.values()
                if _key(link.origin) == node_id and link.origin_slot == 0
            ]
            if not targets:
                continue
            values = node.get("widgets_values")
            if not isinstance(values, list) or not values:
                where = f"{graph.name!r} " if graph.key else ""
                self.problems.append(
                    f"primitive node {where}{node_id}: it feeds widgets but saved no value"
                )
                continue
            for link in targets:
                target = graph.nodes.get(_key(link.target))
                if target is None:
                    continue
                slots = _slots(target, "inputs")
                if link.target_slot >= len(slots):
                    continue
                widget = slots[link.target_slot].get("widget")
                if isinstance(widget, dict) and isinstance(widget.get("name"), str):
                    self._overrides[(graph.key, _key(link.target), widget["name"])] = values[0]

    def _promoted(self, ctx: _Ctx, node_id: str) -> dict[str, Any] | None:
        """A subgraph instance's promoted widgets: subgraph input name -> value."""
        cache_key = (ctx.graph.key + "/" + "/".join(ctx.path), node_id)
        if cache_key in self._promoted_cache:
            return self._promoted_cache[cache_key]
        self._promoted_cache[cache_key] = None  # guards against recursion
        node = ctx.graph.nodes[node_id]
        graph = self.subgraphs[node["type"]]
        inner = _Ctx(graph, (*ctx.path, node_id), ctx, node_id)
        promoted: list[tuple[str, Any]] = []  # name, the first linked inner widget's value
        for sg_input in graph.inputs:
            name = sg_input.get("name")
            if not isinstance(name, str):
                continue
            for link_id in sg_input.get("linkIds") or []:
                link = graph.links.get(_key(link_id))
                if link is None:
                    continue
                target_id = _key(link.target)
                target = graph.nodes.get(target_id)
                slots = _slots(target, "inputs") if target is not None else []
                if link.target_slot >= len(slots):
                    continue
                widget = slots[link.target_slot].get("widget")
                if not isinstance(widget, dict) or not isinstance(widget.get("name"), str):
                    continue
                promoted.append((name, self._inner_widget_value(inner, target_id, widget["name"])))
                break
        saved = node.get("widgets_values")
        result: dict[str, Any] = {}
        if isinstance(saved, dict):
            result = {name: saved.get(name, value) for name, value in promoted}
        elif isinstance(saved, list) and saved:
            if len(saved) != len(promoted):
                self.problems.append(
                    f"node {ctx.exec_id(node_id)} (subgraph {graph.name!r}): it saved "
                    f"{len(saved)} widget values for {len(promoted)} promoted widgets "
                    f"({', '.join(n for n, _ in promoted) or 'none'})"
                )
                return None
            result = {name: value for (name, _), value in zip(promoted, saved, strict=True)}
        else:
            # Newer editors keep promoted values in the inner widgets (proxyWidgets).
            result = dict(promoted)
        self._promoted_cache[cache_key] = result
        return result

    def _inner_widget_value(self, ctx: _Ctx, node_id: str, name: str) -> Any:
        node = ctx.graph.nodes[node_id]
        node_type = node.get("type")
        if isinstance(node_type, str) and node_type in self.subgraphs:
            promoted = self._promoted(ctx, node_id)
            return promoted.get(name) if promoted else None
        if not isinstance(node_type, str) or node_type not in self.schemas:
            return None
        values = self._widget_values(ctx, node_id)
        return values.get(name) if values else None

    # -- widget values -------------------------------------------------------------------------

    def _widget_values(self, ctx: _Ctx, node_id: str) -> dict[str, Any] | None:
        cache_key = (ctx.graph.key, node_id)
        if cache_key not in self._widget_cache:
            self._widget_cache[cache_key] = self._compute_widgets(ctx, node_id)
        cached = self._widget_cache[cache_key]
        return dict(cached) if cached is not None else None

    def _compute_widgets(self, ctx: _Ctx, node_id: str) -> dict[str, Any] | None:
        node = ctx.graph.nodes[node_id]
        node_type = node["type"]
        schema = self.schemas[node_type]
        label = f"node {ctx.exec_id(node_id)} ({node_type})"
        slots = {s["name"]: s for s in _slots(node, "inputs") if isinstance(s.get("name"), str)}
        saved = node.get("widgets_values")
        problems: list[str] = []
        if isinstance(saved, dict):
            values = self._named_widgets(label, node_type, schema, slots, saved, problems)
        else:
            listed = saved if isinstance(saved, list) else []
            values = self._positional_widgets(label, node_type, schema, slots, listed, problems)
        for name in values:
            if (ctx.graph.key, node_id, name) in self._overrides:
                values[name] = self._overrides[(ctx.graph.key, node_id, name)]
        if problems:
            self.problems.extend(problems)
            return None
        for name, value in _unsaved_widgets(schema.inputs, slots):
            values.setdefault(name, value)
        return {name: _wrap(value) for name, value in values.items()}

    def _layout(
        self,
        label: str,
        node_type: str,
        inputs: Mapping[str, InputSchema],
        slots: Mapping[str, Mapping[str, Any]],
        problems: list[str],
        prefix: str = "",
    ) -> Iterator[_Widget]:
        """The node's widgets in the editor's order (before dynamic combo expansion)."""
        for name, schema in inputs.items():
            full = prefix + name
            kind = _widget_type(schema)
            slot = slots.get(full)
            socket_only = slot is not None and not slot.get("widget")
            if kind == DYNAMIC_COMBO:
                yield _Widget("dynamic", full, schema)
            elif kind in PRIMITIVE_WIDGETS:
                if socket_only or _attr(schema, "force_input"):
                    continue
                yield _Widget("value", full, schema)
                yield from _control_widgets(full, schema, prefix)
            elif kind in PLAIN_CUSTOM_WIDGETS or kind in EDITOR_WIDGETS:
                if socket_only:
                    continue
                if kind in EDITOR_WIDGETS:
                    problems.append(
                        f"{label}: widget {full!r} is of the editor's type {kind}, whose value "
                        "the editor computes or keeps itself when it queues the workflow; "
                        "export the API format from the editor for this workflow"
                    )
                yield _Widget("value", full, schema)
        if not prefix:
            # The upload button goes after the required inputs; the core loaders have no
            # optional ones, so it is the last widget.
            if any(hasattr(s, "upload") for s in inputs.values()):
                upload = any(_attr(s, "upload") for s in inputs.values())
            else:
                upload = node_type in _UPLOAD_FALLBACK
            if upload:
                yield _Widget("control", "upload")

    def _positional_widgets(
        self,
        label: str,
        node_type: str,
        schema: NodeSchema,
        slots: Mapping[str, Mapping[str, Any]],
        saved: Sequence[Any],
        problems: list[str],
    ) -> dict[str, Any]:
        """Match `widgets_values` to the widgets: first without guessed controls, then with."""
        attempts: list[tuple[dict[str, Any], int, list[str]]] = []
        for guess in (False, True):
            local: list[str] = []
            values, used, guessed = self._assign(
                label, node_type, schema, slots, saved, guess, local
            )
            attempts.append((values, used, local))
            if used >= len(saved) or not guessed:
                break
        best = next((a for a in attempts if a[1] >= len(saved)), attempts[0])
        values, used, local = best
        problems.extend(local)
        surplus = saved[used:]
        if any(value is not None for value in surplus):
            names = ", ".join(values) or "none"
            problems.append(
                f"{label}: it saved {len(saved)} widget values, but the schema's widgets "
                f"({names}) take {used}; the node's definition differs from the one the "
                "workflow was saved with (pass the server's /object_info)"
            )
        return values

    def _assign(
        self,
        label: str,
        node_type: str,
        schema: NodeSchema,
        slots: Mapping[str, Mapping[str, Any]],
        saved: Sequence[Any],
        guess: bool,
        problems: list[str],
    ) -> tuple[dict[str, Any], int, bool]:
        values: dict[str, Any] = {}
        pending = list(self._layout(label, node_type, schema.inputs, slots, problems))
        used = 0
        guessed = False
        while pending:
            widget = pending.pop(0)
            present = used < len(saved)
            if widget.kind == "maybe-control":
                guessed = True
                if guess and present and saved[used] in CONTROL_VALUES:
                    used += 1
                continue
            if widget.kind == "control":
                used += 1 if present else 0
                continue
            assert widget.schema is not None
            if present:
                value = saved[used]
                used += 1
                problem = _type_problem(widget.schema, value)
                if problem:
                    problems.append(
                        f"{label}: widget {widget.name!r} got {value!r}, {problem}; the saved "
                        "values do not line up with the schema's widgets (pass the server's "
                        "/object_info)"
                    )
            else:
                value = _missing_value(label, widget, problems)
            values[widget.name] = _resolved(label, widget, value, problems)
            if widget.kind == "dynamic":
                expansion = self._dynamic_inputs(label, node_type, widget, value, slots, problems)
                if expansion is None:
                    return values, len(saved), guessed  # the rest cannot be placed
                pending[0:0] = expansion
        return values, used, guessed

    def _dynamic_inputs(
        self,
        label: str,
        node_type: str,
        widget: _Widget,
        choice: Any,
        slots: Mapping[str, Mapping[str, Any]],
        problems: list[str],
    ) -> list[_Widget] | None:
        """The widgets a dynamic combo's chosen option adds, right after the combo.

        None when the schema does not describe the options: the widgets after it cannot be
        placed.
        """
        options = _attr(widget.schema, "dynamic_options")
        if options is None:
            problems.append(
                f"{label}: input {widget.name!r} is a dynamic combo whose per-option inputs the "
                "schemas do not describe"
            )
            return None
        chosen: Mapping[str, InputSchema] | None = None
        for key, inputs in options:
            if key == choice:
                chosen = inputs
        if chosen is None:
            problems.append(f"{label}: input {widget.name!r} has no option {choice!r}")
            return None
        return list(self._layout(label, node_type, chosen, slots, problems, widget.name + "."))

    def _named_widgets(
        self,
        label: str,
        node_type: str,
        schema: NodeSchema,
        slots: Mapping[str, Mapping[str, Any]],
        saved: Mapping[str, Any],
        problems: list[str],
    ) -> dict[str, Any]:
        """`widgets_values` saved as an object (name -> value), as some editors do."""
        values: dict[str, Any] = {}
        pending = list(self._layout(label, node_type, schema.inputs, slots, problems))
        while pending:
            widget = pending.pop(0)
            if widget.kind not in ("value", "dynamic"):
                continue
            assert widget.schema is not None
            if widget.name in saved:
                value = saved[widget.name]
                problem = _type_problem(widget.schema, value)
                if problem:
                    problems.append(f"{label}: widget {widget.name!r} got {value!r}, {problem}")
            else:
                value = _missing_value(label, widget, problems)
            values[widget.name] = _resolved(label, widget, value, problems)
            if widget.kind == "dynamic":
                pending[0:0] = (
                    self._dynamic_inputs(label, node_type, widget, value, slots, problems) or []
                )
        return values


def _unsaved_widgets(
    inputs: Mapping[str, InputSchema], slots: Mapping[str, Mapping[str, Any]]
) -> Iterator[tuple[str, Any]]:
    """Widgets the editor does not save but sends with their initial value.

    ImageCompare's `compare_view` (useImageCompareWidget: `widget.serialize = false`, its
    prompt serialization left on) starts as `['', '']`.
    """
    for name, schema in inputs.items():
        slot = slots.get(name)
        if _widget_type(schema) in UNSAVED_WIDGETS and (slot is None or slot.get("widget")):
            yield name, list(UNSAVED_WIDGETS[_widget_type(schema)])


def _chain(ctx: _Ctx) -> Iterator[_Ctx]:
    current: _Ctx | None = ctx
    while current is not None:
        yield current
        current = current.parent


def _bypass_slot(node: Mapping[str, Any], slot: int, kind: str) -> int:
    """The input a bypassed node passes to output `slot` (ExecutableNodeDTO, getBypassSlotIndex)."""
    inputs = _slots(node, "inputs")
    outputs = _slots(node, "outputs")
    if kind in ("*", ""):
        return slot if len(inputs) > slot else (0 if inputs else -1)
    output_type = _slot_type(outputs[slot]) if slot < len(outputs) else "*"
    if slot < len(inputs):
        opposite = _slot_type(inputs[slot])
        if _valid_connection(opposite, output_type) and _valid_connection(opposite, kind):
            return slot
    for index, entry in enumerate(inputs):
        if _slot_type(entry) == kind:
            return index
    for index, entry in enumerate(inputs):
        entry_type = _slot_type(entry)
        if _valid_connection(entry_type, output_type) and _valid_connection(entry_type, kind):
            return index
    return -1


def _wrap(value: Any) -> Any:
    """Lists are links in the API format; the editor sends list values as {"__value__": [...]}."""
    return {"__value__": value} if isinstance(value, list) else value


def _type_problem(schema: InputSchema, value: Any) -> str | None:
    kind = _widget_type(schema)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if value is None:
        return "no value"
    if kind == "INT" and not (number and float(value).is_integer()):
        return "which is not an integer"
    if kind == "FLOAT" and not number:
        return "which is not a number"
    if kind == "BOOLEAN" and not isinstance(value, bool):
        return "which is not a boolean"
    if kind == "STRING" and not isinstance(value, str):
        return "which is not a string"
    if kind in ("COMBO", DYNAMIC_COMBO) and not (isinstance(value, str) or number):
        return "which is not a choice"
    return None


def _missing_value(label: str, widget: Any, problems: list[str]) -> Any:
    """The value the editor uses for a widget the save has no value for: its default."""
    value, problem = _default(widget.schema)
    if problem:
        problems.append(f"{label}: widget {widget.name!r} saved no value and {problem}")
    return value


def _resolved(label: str, widget: Any, value: Any, problems: list[str]) -> Any:
    """A widget value as the editor sends it (dynamic prompts resolved)."""
    if isinstance(value, str) and _attr(widget.schema, "dynamic_prompts"):
        value, problem = _dynamic_prompt(value)
        if problem:
            problems.append(f"{label}: widget {widget.name!r} {problem}")
    return value


def _default(schema: InputSchema) -> tuple[Any, str | None]:
    """The value a new widget starts with (the frontend's widget constructors)."""
    kind = _widget_type(schema)
    if schema.default is not None:
        return schema.default, None
    if kind in ("INT", "FLOAT"):
        return 0, None
    if kind == "BOOLEAN":
        return False, None
    if kind == "STRING":
        return "", None
    if kind in ("COMBO", DYNAMIC_COMBO) and schema.options:
        return schema.options[0], None
    options = _attr(schema, "dynamic_options")
    if kind == DYNAMIC_COMBO and options:
        return options[0][0], None
    return None, "the schema has no default for it"


_COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//.*")


def _dynamic_prompt(text: str) -> tuple[str, str | None]:
    """The frontend's dynamic prompts: comments are removed and `{a|b}` picks one at random.

    Braces with a single option are replaced by it, as the editor does; a real choice is
    random in the editor, so it is a problem here.
    """
    prompt = _COMMENTS.sub("", text)
    while "{" in prompt.replace("\\{", "", 1) and "}" in prompt.replace("\\}", "", 1):
        start = prompt.replace("\\{", "00", 1).index("{")
        end = prompt.replace("\\}", "00", 1).index("}")
        if end < start:
            return prompt, "has a '}' before its '{', which the editor's dynamic prompts garble"
        options = prompt[start + 1 : end].split("|")
        if len(options) > 1:
            return prompt, (
                "holds a {a|b} choice, which the editor resolves at random each run; "
                "write the chosen text instead"
            )
        prompt = prompt[:start] + options[0] + prompt[end + 1 :]
    return prompt, None
