"""The ComfyUI editor's saved workflow ("UI format") turned into the API format, as the editor
turns it.

The editor saves ``{"nodes": [...], "links": [...], "definitions": {"subgraphs": [...]}, ...}``;
the server runs ``{node_id: {"class_type", "inputs", "_meta": {"title"}}}``. The editor (the
ComfyUI frontend) converts one into the other when it queues a prompt: it loads the file
(``app.loadGraphData``) and serializes the graph (``app.graphToPrompt``). This module does both
steps offline, from the node schemas, by the rules of the frontend that ComfyUI 0.33.0 ships
(1.49.6); the test suite compares it with that frontend's own output for every official
template and with the widgets it gives every node class:

* loading: a subgraph node whose id is already taken (by a root node or by a node of an
  earlier subgraph definition) gets the next free id (``deduplicateSubgraphNodeIds``), which
  its execution id ``"<instance>:<id>"`` then carries;
* widgets: a node gets the widgets the editor gives a new node of its class: one per widget
  input in schema order, an INT seed's ``control_after_generate``, a combo's control and
  filter list, a server-filled combo's refresh toggle and button, the inputs of a dynamic
  combo's chosen option right after it, an upload button, and what the editor's extensions add
  (audio players, 3D viewers, ``CustomCombo``'s growing options). ``widgets_values`` fills the
  saved ones in order, whatever their type; widgets left over keep their initial value and
  values left over are ignored, as in the editor;
* sending: every widget the editor sends gives its value (lists as ``{"__value__": [...]}``,
  prompts without ``//`` and ``/* */`` comments); then each linked input is followed back to a
  real node's output, through ``Reroute`` nodes, bypassed nodes (mode 4: the input whose type
  fits stands for the output) and subgraph boundaries; an unlinked subgraph input passes the
  instance's promoted widget value; ``PrimitiveNode`` writes its value into the widgets it
  feeds. Notes, muted and bypassed nodes are left out, and so are inputs linked to them;
* titles: an untitled node gets its class's name as the editor shows it.

What the editor computes when it queues (a capture of a 3D view, a webcam picture, a recording,
a random ``{a|b}`` choice), a class the schemas do not know, and a broken file are returned as
problems naming the node, instead of a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ._graph import is_link, is_ui_format
from ._schema import InputSchema, NodeSchema

__all__ = ["is_ui_format", "ui_to_api"]

MUTED = 2
BYPASSED = 4
SUBGRAPH_INPUT_NODE = -10

DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
SEED_NAMES = frozenset({"seed", "noise_seed"})
# Editor-only nodes: never sent to the server.
NOTE_CLASSES = frozenset({"Note", "MarkdownNote"})
REROUTE = "Reroute"
PRIMITIVE_NODE = "PrimitiveNode"
# Widget types whose one widget the editor saves and sends as it is.
VALUE_WIDGETS = frozenset(
    {
        "INT", "FLOAT", "BOOLEAN", "STRING", "COMBO", "COLOR", "PAINTER", "BOUNDING_BOXES",
        "COLORS", "COMPOSITOR", "CURVE",
    }
)  # fmt: skip
# Widget types the editor knows but whose saving this converter has not been checked against.
UNCHECKED_WIDGETS = frozenset({"MARKDOWN", "TEXTAREA", "CHART", "GALLERIA", "RANGE", "VIDEO_EDIT"})
# Widgets whose sent value the editor computes when it queues: (class, input) -> what it is.
CAPTURED = {
    ("Load3D", "image"): "a capture of the 3D view",
    ("Load3DAdvanced", "viewport_state"): "the state of the 3D viewport",
    ("Save3DAdvanced", "viewport_state"): "the state of the 3D viewport",
    ("Preview3DAdvanced", "viewport_state"): "the state of the 3D viewport",
    ("WebcamCapture", "image"): "a webcam picture",
    ("RecordAudio", "audio"): "a microphone recording",
}
# Classes whose nodes the editor's audio extension gives a player widget (not saved, not sent).
AUDIO_PLAYER_CLASSES = frozenset(
    {"LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus", "SaveAudioAdvanced"}
)
# Untitled nodes show the editor's English node name, which differs from the server's
# display_name for these classes (frontend 1.49.6, locales/en/nodeDefs.json).
EDITOR_NAMES = {
    "ByteDance2ReferenceNode": "ByteDance Seedance 2.5 Reference to Video",
    "ByteDanceSeedreamNodeV2": "ByteDance Seedream 4.5 & 5.0",
    "IdeogramPImage": "Ideogram P-Image",
    "LTXVConcatAVLatent": "LTXVConcatAVLatent",
    "LTXVSeparateAVLatent": "LTXVSeparateAVLatent",
    "TopazImageEnhance": "Topaz Image Enhance",
}


class _Unset:
    """JavaScript's `undefined`: a widget without a value, left out of what is sent."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"


_UNSET: Any = _Unset()


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
    origin: str
    origin_slot: int
    target: str
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
    renumbered: Mapping[str, str] = field(default_factory=dict)  # saved id -> id after loading


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _key(value: Any) -> str:
    """A node or link id as the editor's `String(id)` writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "null" if value is None else str(value)


def _numeric_key(key: str) -> int | None:
    """The number an id stands for, if its text is that number's own (`numericSerializedNodeId`)."""
    return int(key) if re.fullmatch(r"-?(0|[1-9]\d*)", key) else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return None


def _truthy(value: Any) -> bool:
    """JavaScript's truthiness (an empty list or object is true there)."""
    if isinstance(value, (list, dict)):
        return True
    return bool(value) and value == value  # NaN is false


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
        links[_key(link_id)] = _Link(
            _key(origin), origin_index, _key(target), target_index, _type_name(kind)
        )
    return links


def _type_name(kind: Any) -> str:
    if isinstance(kind, list):
        return "COMBO"
    return kind if isinstance(kind, str) else "*"


def _parse_nodes(raw: Mapping[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    nodes = raw.get("nodes")
    if not isinstance(nodes, list):
        raise _Abort(f"{where}: 'nodes' is not a list")
    parsed = []
    for node in nodes:
        if not isinstance(node, dict) or node.get("id") is None:
            raise _Abort(f"{where}: a node without an id")
        parsed.append((_key(node["id"]), node))
    return parsed


def _graph(
    raw: Mapping[str, Any],
    nodes: list[tuple[str, dict[str, Any]]],
    key: str,
    name: str,
    where: str,
    renumbered: Mapping[str, str] | None = None,
) -> _Graph:
    by_id: dict[str, dict[str, Any]] = {}
    for node_id, node in nodes:
        if node_id in by_id:
            raise _Abort(f"{where}: node id {node_id} appears twice")
        by_id[node_id] = node
    links = _parse_links(raw.get("links"), where)
    if renumbered:
        # patchSerialisedLinks: the subgraph's own links follow its renumbered nodes.
        links = {
            link_id: replace(
                link,
                origin=renumbered.get(link.origin, link.origin),
                target=renumbered.get(link.target, link.target),
            )
            for link_id, link in links.items()
        }
    inputs = [s for s in raw.get("inputs") or [] if isinstance(s, dict)]
    outputs = [s for s in raw.get("outputs") or [] if isinstance(s, dict)]
    order = [n for n, _ in nodes]
    return _Graph(key, name, by_id, order, links, inputs, outputs, dict(renumbered or {}))


def _last_node_id(ui: Mapping[str, Any]) -> float:
    """The graph's `state.lastNodeId` after it reads the file's header."""
    last: float = 0
    state = ui.get("state")
    if ui.get("version") != 0.4 and isinstance(state, dict) and _is_number(state.get("lastNodeId")):
        last = max(last, state["lastNodeId"])
    if "last_node_id" in ui:  # copied onto the graph as it is
        value = ui["last_node_id"]
        last = value if _is_number(value) else 0
    return last


def _renumber(
    ui: Mapping[str, Any],
    root: list[tuple[str, dict[str, Any]]],
    definitions: list[list[tuple[str, dict[str, Any]]]],
) -> list[dict[str, str]]:
    """deduplicateSubgraphNodeIds: subgraph nodes whose ids are taken get the next free id.

    Rewrites the definitions' node lists in place; returns each definition's old -> new ids.
    """
    numbers = {node["id"] for _, node in root if _is_number(node.get("id"))}
    keys = {_key(number) for number in numbers}
    last = _last_node_id(ui)
    remaps: list[dict[str, str]] = []
    for nodes in definitions:
        remap: dict[str, str] = {}
        for index, (node_id, node) in enumerate(nodes):
            if node_id in keys:
                last += 1
                while last in numbers:
                    last += 1
                new_id = _key(last)
                remap[node_id] = new_id
                numbers.add(last)
                keys.add(new_id)
                nodes[index] = (new_id, node)
            else:
                keys.add(node_id)
                number = _numeric_key(node_id)
                if number is not None:
                    numbers.add(number)
                    last = max(last, number)
        remaps.append(remap)
    return remaps


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


@dataclass
class _Widget:
    """One widget of a node, as the editor creates it.

    saved: it has a place in `widgets_values` (the editor's `serialize`); sent: it goes to the
    server (`options.serialize`). role: "value"; "dynamic" (a dynamic combo: its chosen
    option's widgets follow it); "option" (a CustomCombo option: filling the last one adds
    another); "index" (CustomCombo's index of the chosen option, computed when sent);
    "captured" (what the editor computes when it queues, see CAPTURED).
    """

    name: str
    value: Any
    saved: bool = True
    sent: bool = True
    schema: InputSchema | None = None
    role: str = "value"
    expanded: bool = False  # a dynamic combo that took a value: its group is its option's


def _widget_type(schema: InputSchema) -> str:
    override = schema.widget_type
    return override if isinstance(override, str) and override else schema.type


def _initial(schema: InputSchema) -> Any:
    """The value a new widget starts with (the frontend's widget constructors)."""
    kind = _widget_type(schema)
    if kind == "COMBO":
        options = schema.option_values or schema.options
        if _truthy(schema.default):
            return schema.default
        if options:
            return options[0]
        return "Loading..." if schema.remote else _UNSET
    if kind == DYNAMIC_COMBO:
        return schema.dynamic_options[0][0] if schema.dynamic_options else _UNSET
    if schema.default is not None:
        return schema.default
    return {"INT": 0, "FLOAT": 0, "BOOLEAN": False, "STRING": ""}.get(kind, _UNSET)


def _controls(name: str, schema: InputSchema) -> list[_Widget]:
    """The control widgets the editor adds after a number or combo widget (saved, not sent)."""
    kind = _widget_type(schema)
    flag = schema.control_after_generate
    # useIntWidget: `control_after_generate ?? ['seed', 'noise_seed'].includes(name)`
    wanted = (flag if flag is not None else name in SEED_NAMES) if kind == "INT" else flag
    if not wanted or kind not in ("INT", "FLOAT", "COMBO"):
        return []
    # addValueControlWidgets names the control after a text flag ("fixed": its first mode).
    control = flag if isinstance(flag, str) and flag else "control_after_generate"
    controls = [_Widget(control, "fixed", sent=False)]
    if kind == "COMBO":
        controls.append(_Widget("control_filter_list", "", sent=False))
    return controls


def _captured(node_type: str, name: str) -> str | None:
    return CAPTURED.get((node_type, name))


class _Converter:
    def __init__(self, schemas: Mapping[str, NodeSchema]) -> None:
        self.schemas = schemas
        self.problems: list[str] = []
        self.subgraphs: dict[str, _Graph] = {}
        self.output: dict[str, dict[str, Any]] = {}
        self._widget_cache: dict[tuple[str, str], list[_Widget] | None] = {}
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
        raw_subgraphs = raw_subgraphs if isinstance(raw_subgraphs, list) else []
        for raw in raw_subgraphs:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                raise _Abort("a subgraph definition without an id")
        root_nodes = _parse_nodes(ui, "the workflow")
        names = [
            raw["name"] if isinstance(raw.get("name"), str) else raw["id"] for raw in raw_subgraphs
        ]
        inner = [
            _parse_nodes(raw, f"subgraph {name!r}")
            for raw, name in zip(raw_subgraphs, names, strict=True)
        ]
        remaps = _renumber(ui, root_nodes, inner) if raw_subgraphs else []
        for raw, name, nodes, remap in zip(raw_subgraphs, names, inner, remaps, strict=True):
            self.subgraphs[raw["id"]] = _graph(
                raw, nodes, raw["id"], name, f"subgraph {name!r}", remap
            )
        root = _graph(ui, root_nodes, "", "", "the workflow")
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
            instance = isinstance(node_type, str) and node_type in self.subgraphs
            # A muted or bypassed node is not sent; the nodes inside a subgraph instance are,
            # unless the instance is a muted or bypassed node of the root graph
            # (SubgraphNode.getInnerNodes does not look at the modes of nested instances).
            if node.get("mode", 0) in (MUTED, BYPASSED) and (not instance or not ctx.path):
                continue
            if instance:
                assert isinstance(node_type, str)
                self._check_proxy_widgets(ctx, node_id)
                if node_type in self._expanding:
                    raise _Abort(f"subgraph {self.subgraphs[node_type].name!r} contains itself")
                self._expanding.append(node_type)
                self._emit(_Ctx(self.subgraphs[node_type], (*ctx.path, node_id), ctx, node_id))
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
            widgets = self._widgets(ctx, node_id)
            if widgets is None:
                continue
            inputs = self._sent(f"node {exec_id} ({node_type})", widgets)
            for index, slot in _live_inputs(_slots(node, "inputs"), widgets):
                resolved = self._resolve_input(ctx, node_id, index, set())
                if isinstance(resolved, _Origin):
                    inputs[slot["name"]] = [resolved.node, resolved.slot]
                elif isinstance(resolved, _Value):
                    inputs[slot["name"]] = _wrap(resolved.value, None)
            title = node.get("title")
            if not isinstance(title, str) or not title:
                title = EDITOR_NAMES.get(schema.class_type) or schema.display_name or node_type
            self.output[exec_id] = {
                "inputs": {name: value for name, value in inputs.items() if value is not _UNSET},
                "class_type": node_type,
                "_meta": {"title": title},
            }

    def _check_proxy_widgets(self, ctx: _Ctx, node_id: str) -> None:
        """Widgets an older editor promoted to a subgraph instance (`proxyWidgets`).

        The editor migrates them when it loads the file (flushProxyWidgetMigration). Without
        saved values on the instance that changes no value sent, and they are ignored; with
        saved values, or with a primitive node as the source (the editor then rewires the
        subgraph by slot position), it is not reproduced.
        """
        node = ctx.graph.nodes[node_id]
        properties = node.get("properties")
        entries = properties.get("proxyWidgets") if isinstance(properties, dict) else None
        if not isinstance(entries, list) or not entries:
            return
        graph = self.subgraphs[node["type"]]
        label = f"node {ctx.exec_id(node_id)} (subgraph {graph.name!r})"
        advice = (
            "the editor migrates them when it loads the file, which comfygen does not "
            "reproduce; open and save the workflow in a current ComfyUI editor, or export the "
            "API format"
        )
        if any(value is not None for value in node.get("widgets_values") or []):
            self.problems.append(
                f"{label}: it saved values for widgets an older editor promoted; {advice}"
            )
            return
        for entry in entries:
            source_id = _key(entry[0]) if isinstance(entry, list) and entry else None
            source = graph.nodes.get(graph.renumbered.get(source_id or "", source_id or ""))
            # A primitive the editor already replaced by a subgraph input names that input.
            moved = (source.get("properties") or {}) if isinstance(source, dict) else {}
            bypassed = moved.get("proxyBypassedToSubgraphInput") in [
                sg_input.get("name") for sg_input in graph.inputs
            ]
            if isinstance(source, dict) and source.get("type") == PRIMITIVE_NODE and not bypassed:
                self.problems.append(
                    f"{label}: an older editor promoted the primitive node {source_id} inside "
                    f"it; {advice}"
                )
                return

    def _sent(self, label: str, widgets: list[_Widget]) -> dict[str, Any]:
        """What graphToPrompt sends for the widgets (`serializeValue` where it has one)."""
        inputs: dict[str, Any] = {}
        for widget in widgets:
            if not widget.sent or not widget.name:
                continue
            value = widget.value
            if widget.role == "index":
                # CustomCombo: the position of the chosen value among the options.
                chosen = widgets[0].value
                options = widgets[2:]
                value = next((i for i, o in enumerate(options) if _same(o.value, chosen)), -1)
            elif widget.schema is not None and widget.schema.dynamic_prompts:
                value = _resolved(label, widget, value, self.problems)
            inputs[widget.name] = _wrap(value, widget.schema)
        return inputs

    # -- links ---------------------------------------------------------------------------------

    def _inputs_of(self, ctx: _Ctx, node_id: str) -> list[dict[str, Any]]:
        """A node's input slots as the editor has them after loading.

        A subgraph instance has the subgraph's inputs, in their order, each with the link of
        the saved input of its name (ComfyNode.configure merges them by name).
        """
        node = ctx.graph.nodes[node_id]
        slots = _slots(node, "inputs")
        node_type = node.get("type")
        if not (isinstance(node_type, str) and node_type in self.subgraphs):
            return slots
        saved = {slot.get("name"): slot for slot in slots}
        return [
            saved.get(sg_input.get("name")) or {"name": sg_input.get("name"), "link": None}
            for sg_input in self.subgraphs[node_type].inputs
        ]

    def _resolve_input(
        self, ctx: _Ctx, node_id: str, index: int, visited: set[tuple[str, str, str, int]]
    ) -> _Resolved:
        """What an input slot receives (ExecutableNodeDTO.resolveInput)."""
        mark = (ctx.graph.key, "/".join(ctx.path), node_id + "[I]", index)
        if mark in visited:
            raise _Abort(f"node {ctx.exec_id(node_id)}: its links go round in a circle")
        visited.add(mark)
        slots = self._inputs_of(ctx, node_id)
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
        if link.origin not in ctx.graph.nodes:
            return None
        return self._resolve_output(ctx, link.origin, link.origin_slot, _slot_type(slot), visited)

    def _resolve_subgraph_input(
        self, ctx: _Ctx, sg_slot: int, visited: set[tuple[str, str, str, int]]
    ) -> _Resolved:
        """A link from a subgraph's input node: continue outside, on the instance's input of
        the same position; unlinked there, it is the instance's promoted widget value."""
        assert ctx.parent is not None and ctx.instance is not None
        slots = self._inputs_of(ctx.parent, ctx.instance)
        if sg_slot >= len(slots):
            return None
        if slots[sg_slot].get("link") is not None:
            return self._resolve_input(ctx.parent, ctx.instance, sg_slot, visited)
        name = slots[sg_slot].get("name")
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
        if node.get("mode", 0) == MUTED:
            return None
        if node.get("mode", 0) == BYPASSED:
            index = _bypass_slot(node, self._inputs_of(ctx, node_id), slot, kind)
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
        if link.origin not in graph.nodes:
            return None
        return self._resolve_output(inner, link.origin, link.origin_slot, kind, visited)

    # -- primitives and promoted widgets -------------------------------------------------------

    def _apply_primitives(self, graph: _Graph) -> None:
        """PrimitiveNode.applyToGraph: the primitive's value replaces the linked widgets'."""
        for node_id in graph.order:
            node = graph.nodes[node_id]
            if node.get("type") != PRIMITIVE_NODE:
                continue
            values = node.get("widgets_values")
            if not isinstance(values, list) or not values:
                continue  # its widget starts with the target's own value: nothing changes
            value = values[0]
            properties = node.get("properties")
            if (
                isinstance(properties, dict)
                and properties.get("Run widget replace on values")
                and isinstance(value, str)
                and "%" in value
            ):
                where = f"{graph.name!r} " if graph.key else ""
                self.problems.append(
                    f"primitive node {where}{node_id}: its value {value!r} has %...% patterns "
                    "the editor replaces when it queues (dates, other widgets); write the value"
                )
                continue
            # applyFirstWidgetValueToGraph: the links its output lists, each to the input
            # that holds it (the editor fixes links' target slots after loading).
            outputs = _slots(node, "outputs")
            link_ids = outputs[0].get("links") if outputs else None
            for link_id in link_ids if isinstance(link_ids, list) else []:
                link = graph.links.get(_key(link_id))
                target = graph.nodes.get(link.target) if link is not None else None
                slots = _slots(target, "inputs") if target is not None else []
                slot = next((s for s in slots if _key(s.get("link")) == _key(link_id)), None)
                widget = slot.get("widget") if slot is not None else None
                name = widget.get("name") if isinstance(widget, dict) else None
                if link is not None and isinstance(name, str):
                    self._overrides[(graph.key, link.target, name)] = value

    def _promoted(self, ctx: _Ctx, node_id: str) -> dict[str, Any] | None:
        """A subgraph instance's promoted widgets: its input name -> value.

        An instance input whose subgraph input feeds a widget inside is promoted; it starts
        with that widget's value, then takes the instance's saved value of its position
        (`_applyPromotedWidgetValues`).
        """
        cache_key = (ctx.graph.key + "/" + "/".join(ctx.path), node_id)
        if cache_key in self._promoted_cache:
            return self._promoted_cache[cache_key]
        self._promoted_cache[cache_key] = None  # guards against recursion
        node = ctx.graph.nodes[node_id]
        graph = self.subgraphs[node["type"]]
        inner = _Ctx(graph, (*ctx.path, node_id), ctx, node_id)
        by_name = {s.get("name"): s for s in graph.inputs}
        promoted: dict[str, Any] = {}
        for slot in self._inputs_of(ctx, node_id):
            name = slot.get("name")
            sg_input = by_name.get(name)
            if not isinstance(name, str) or sg_input is None:
                continue
            for link_id in sg_input.get("linkIds") or []:
                link = graph.links.get(_key(link_id))
                target = graph.nodes.get(link.target) if link is not None else None
                if link is None or target is None:
                    continue
                found = self._widget_behind(inner, link.target, _key(link_id))
                if found is not None:
                    promoted[name] = found[0]
                    break
        saved = node.get("widgets_values")
        for position, name in enumerate(list(promoted)):
            if isinstance(saved, list) and position < len(saved):
                promoted[name] = saved[position]
            override = self._overrides.get((ctx.graph.key, node_id, name), _UNSET)
            if override is not _UNSET:
                promoted[name] = override
        self._promoted_cache[cache_key] = promoted
        return promoted

    def _widget_behind(self, ctx: _Ctx, node_id: str, link_id: str) -> tuple[Any] | None:
        """The value of the widget behind a node's input that a link feeds, if it has one."""
        node = ctx.graph.nodes[node_id]
        node_type = node.get("type")
        slot = next((s for s in _slots(node, "inputs") if _key(s.get("link")) == link_id), None)
        widget = slot.get("widget") if slot is not None else None
        if slot is None:
            return None
        if isinstance(node_type, str) and node_type in self.subgraphs:
            promoted = self._promoted(ctx, node_id)  # a nested instance: its promoted widget
            name = slot.get("name")
            return (promoted[name],) if promoted and name in promoted else None
        if not isinstance(widget, dict) or not isinstance(node_type, str):
            return None
        if node_type not in self.schemas:
            return None
        widgets = self._widgets(ctx, node_id)
        found = next((w for w in widgets or [] if w.name == widget.get("name")), None)
        return (found.value,) if found is not None else None

    # -- widget values -------------------------------------------------------------------------

    def _widgets(self, ctx: _Ctx, node_id: str) -> list[_Widget] | None:
        """The node's widgets after loading (shared by every instance of its subgraph)."""
        cache_key = (ctx.graph.key, node_id)
        if cache_key not in self._widget_cache:
            self._widget_cache[cache_key] = self._configure(ctx, node_id)
        return self._widget_cache[cache_key]

    def _configure(self, ctx: _Ctx, node_id: str) -> list[_Widget] | None:
        node = ctx.graph.nodes[node_id]
        node_type = node["type"]
        schema = self.schemas[node_type]
        label = f"node {ctx.exec_id(node_id)} ({node_type})"
        problems: list[str] = []
        widgets = self._new_widgets(label, node_type, schema, problems)
        saved = node.get("widgets_values")
        if isinstance(saved, dict):
            problems.append(
                f"{label}: its widget values are saved by name, as a custom node's own editor "
                "code saves them; the editor reads them only with that code. Export the API "
                "format from the editor for this workflow"
            )
        values = _migrated(schema, widgets, saved if isinstance(saved, list) else [])
        position = index = 0
        while index < len(widgets):
            # The editor walks the list while filling it: a dynamic combo's value puts its
            # option's widgets right after it, and they are filled next.
            if widgets[index].saved:
                if position >= len(values):
                    break
                self._set(label, node_type, widgets, index, values[position], problems)
                position += 1
            index += 1
        for widget in widgets:  # loadGraphData, after configuring the graph
            if (
                node_type in ("KSampler", "KSamplerAdvanced")
                and widget.name == "sampler_name"
                and isinstance(widget.value, str)
                and widget.value.startswith("sample_")
            ):
                widget.value = widget.value[len("sample_") :]
            options = _combo_options(widget)
            if options and widget.value in (None, _UNSET):
                self._set(label, node_type, widgets, widgets.index(widget), options[0], problems)
        for index, widget in enumerate(widgets):
            override = self._overrides.get((ctx.graph.key, node_id, widget.name), _UNSET)
            if override is not _UNSET:
                self._set(label, node_type, widgets, index, override, problems)
        for widget in widgets:
            what = _captured(node_type, widget.name) if widget.role == "captured" else None
            if what:
                problems.append(
                    f"{label}: its widget {widget.name!r} sends {what}, which the editor makes "
                    "when it queues the workflow; comfygen cannot reproduce it. Export the API "
                    "format from the editor for this workflow"
                )
        if problems:
            self.problems.extend(problems)
            return None
        return widgets

    def _new_widgets(
        self, label: str, node_type: str, schema: NodeSchema, problems: list[str]
    ) -> list[_Widget]:
        """The widgets the editor gives a new node of the class."""
        widgets: list[_Widget] = []
        for name, spec in schema.inputs.items():
            widgets += self._input_widgets(label, node_type, name, spec, problems)
            if node_type == "Load3D" and name == "model_file":  # its upload buttons
                for button, value in (
                    ("upload 3d model", "upload3dmodel"),
                    ("upload extra resources", "uploadExtraResources"),
                    ("clear", "clear"),
                ):
                    widgets.append(_Widget(button, value))
        # Inputs the editor's extensions add to the class (beforeRegisterNodeDef), after the
        # server's: an audio player, an upload button.
        if node_type in AUDIO_PLAYER_CLASSES:
            widgets.append(_Widget("audioUI", "", saved=False, sent=False))
        if _upload_source(schema) is not None:
            widgets.append(_Widget("upload", "image", sent=False))
        # Widgets the extensions add to a new node (nodeCreated).
        if node_type in ("SaveGLB", "Preview3D"):
            widgets.append(_Widget("image", ""))
        elif node_type in ("PreviewAny", "SaveText"):
            widgets.append(_Widget("preview_text", "", saved=False, sent=False))
            widgets.append(_Widget("preview_mode", False, saved=False, sent=False))
        elif node_type == "CustomCombo":
            widgets.append(_Widget("index", -1, role="index"))
            widgets.append(_Widget("option1", "", role="option"))
        elif node_type == "WebcamCapture":
            widgets.append(_Widget("waiting for camera...", "capture"))
        return widgets

    def _input_widgets(
        self, label: str, node_type: str, name: str, spec: InputSchema, problems: list[str]
    ) -> list[_Widget]:
        """The widgets the editor makes for one input (none for a socket)."""
        kind = _widget_type(spec)
        if spec.force_input:
            return []
        captured = "captured" if _captured(node_type, name) else "value"
        if kind == DYNAMIC_COMBO:
            combo = _Widget(name, _initial(spec), schema=spec, role="dynamic")
            return [combo, *self._option_widgets(label, node_type, combo, problems)]
        if kind in VALUE_WIDGETS:
            widgets = [_Widget(name, _initial(spec), schema=spec)]
            if kind == "COMBO" and spec.remote:
                widgets.append(_Widget("Auto-refresh after generation", False, sent=False))
                if spec.refresh_button:
                    widgets.append(_Widget("refresh", "refresh"))
            return widgets + _controls(name, spec)
        if kind == "IMAGECOMPARE":  # not saved; sent as it starts
            return [_Widget(name, ["", ""], saved=False, schema=spec)]
        if kind == "BOUNDING_BOX":
            widgets = [_Widget(name, _initial(spec), schema=spec)]
            if spec.component == "ImageCrop":  # the crop editor's own number fields
                box = spec.default if isinstance(spec.default, dict) else {}
                for part in ("x", "y", "width", "height"):
                    widgets.append(_Widget(part, box.get(part, 0), sent=False))
            return widgets
        if kind in ("LOAD_3D", "WEBCAM"):
            return [_Widget(name, "", schema=spec, role=captured)]
        if kind == "AUDIO_RECORD":
            return [
                _Widget(name, "", schema=spec, role=captured),
                _Widget(name, "", sent=False),
            ]
        if kind in UNCHECKED_WIDGETS:
            problems.append(
                f"{label}: widget {name!r} is of the editor's type {kind}, which comfygen does "
                "not convert yet; export the API format from the editor for this workflow"
            )
        return []

    def _option_widgets(
        self, label: str, node_type: str, combo: _Widget, problems: list[str]
    ) -> list[_Widget]:
        """The widgets of a dynamic combo's chosen option (none for a value that is not one)."""
        assert combo.schema is not None
        options = combo.schema.dynamic_options
        if options is None:
            problems.append(
                f"{label}: input {combo.name!r} is a dynamic combo whose options the schemas do "
                "not describe; pass the server's /object_info"
            )
            return []
        if not _truthy(combo.value):
            return []
        chosen = next((inputs for key, inputs in options if key == _key(combo.value)), None)
        widgets: list[_Widget] = []
        for name, spec in (chosen or {}).items():
            widgets += self._input_widgets(label, node_type, f"{combo.name}.{name}", spec, problems)
        return widgets

    def _set(
        self,
        label: str,
        node_type: str,
        widgets: list[_Widget],
        index: int,
        value: Any,
        problems: list[str],
    ) -> None:
        """A widget takes a value, with what its setter does to the other widgets."""
        widget = widgets[index]
        if widget.role == "index":
            return  # computed; its setter ignores the value
        widget.value = value
        if widget.role == "dynamic":
            prefix = widget.name + "."
            widgets[:] = [w for w in widgets if not w.name.startswith(prefix)]
            widgets[index + 1 : index + 1] = self._option_widgets(
                label, node_type, widget, problems
            )
            widget.expanded = True
        elif widget.role == "option":
            last = widgets[-1]
            if last is widget:
                if _truthy(value):
                    widgets.append(_Widget(f"option{len(widgets) - 1}", "", role="option"))
            elif not _truthy(value) and widgets[-2] is widget and not _truthy(last.value):
                widgets.pop()


# ---------------------------------------------------------------------------------------------
# Helpers


def _same(a: Any, b: Any) -> bool:
    """JavaScript's `===` on widget values."""
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _combo_options(widget: _Widget) -> Sequence[Any]:
    """The options of a combo widget (value combos and dynamic combos)."""
    spec = widget.schema
    if spec is None:
        return ()
    kind = _widget_type(spec)
    if kind == "COMBO":
        return spec.option_values or spec.options or ()
    if kind == DYNAMIC_COMBO:
        return [key for key, _ in spec.dynamic_options or ()]
    return ()


def _upload_source(schema: NodeSchema) -> str | None:
    """The input an upload button serves: the first image/video combo (Comfy.UploadImage), or
    an audio combo named `audio` (Comfy.UploadAudio)."""
    for name, spec in schema.inputs.items():
        if _widget_type(spec) == "COMBO" and spec.upload in ("image", "video"):
            return name
    audio = schema.inputs.get("audio")
    if audio is not None and _widget_type(audio) == "COMBO" and audio.upload == "audio":
        return "audio"
    return None


def _migrated(schema: NodeSchema, widgets: list[_Widget], saved: list[Any]) -> list[Any]:
    """migrateWidgetsValues: an old save that kept values for inputs that are sockets now.

    When the saved values count exactly one per widget input and socket-only input of the
    class (two for an input with `control_after_generate`), the socket-only ones are dropped.
    """
    names = {w.name for w in widgets}
    inputs = list(schema.inputs.items())
    upload = _upload_source(schema)
    if upload is not None:
        spec = schema.inputs[upload]
        inputs.append(("upload", spec if spec.upload != "audio" else InputSchema("AUDIOUPLOAD")))
    socket_only: list[bool] = []
    for name, spec in inputs:
        if name in names or spec.force_input:
            socket_only.append(spec.force_input)
            if _truthy(spec.control_after_generate):
                socket_only.append(False)
    if len(socket_only) != len(saved):
        return saved
    return [value for value, drop in zip(saved, socket_only, strict=True) if not drop]


def _live_inputs(
    slots: list[dict[str, Any]], widgets: list[_Widget]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The saved input slots the loaded node still has, by name (the last of a name counts).

    A dynamic combo that took its saved value keeps only the inputs of its chosen option.
    """
    combos = [w for w in widgets if w.role == "dynamic" and w.expanded]
    last: dict[str, int] = {}
    for index, slot in enumerate(slots):
        name = slot.get("name")
        if isinstance(name, str):
            last[name] = index
    for name, index in last.items():
        if any(_dropped(name, combo) for combo in combos):
            continue
        yield index, slots[index]


def _dropped(name: str, combo: _Widget) -> bool:
    """An input of a dynamic combo's group that its chosen option does not have."""
    prefix = combo.name + "."
    if not name.startswith(prefix):
        return False
    assert combo.schema is not None
    chosen = next(
        (inputs for key, inputs in combo.schema.dynamic_options or () if key == _key(combo.value)),
        None,
    )
    head = name[len(prefix) :].split(".", 1)[0]
    return chosen is None or not _truthy(combo.value) or head not in chosen


def _chain(ctx: _Ctx) -> Iterator[_Ctx]:
    current: _Ctx | None = ctx
    while current is not None:
        yield current
        current = current.parent


def _bypass_slot(
    node: Mapping[str, Any], inputs: list[dict[str, Any]], slot: int, kind: str
) -> int:
    """The input a bypassed node passes to output `slot` (ExecutableNodeDTO, getBypassSlotIndex)."""
    outputs = _slots(node, "outputs")
    if kind in ("*", ""):
        return slot if len(inputs) > slot else 0
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


def _js_json(value: Any) -> Any:
    """A value as the editor's JSON has it: JavaScript has one number type, a double, so `1.0`
    is `1`, an integer beyond 2**53 is rounded as the editor reads it, NaN or infinity is null."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return int(Decimal(repr(float(value))))  # JSON.stringify's shortest digits
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, list):
        return [_js_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _js_json(item) for key, item in value.items()}
    return value


def _wrap(value: Any, schema: InputSchema | None) -> Any:
    """A sent value: lists are links in the API format, so the editor sends list values as
    {"__value__": [...]} (a curve's as {"__type__": "CURVE", "__value__": [...]})."""
    value = _js_json(value)
    if not isinstance(value, list):
        return value
    if schema is not None and _widget_type(schema) == "CURVE":
        return {"__type__": "CURVE", "__value__": value}
    return {"__value__": value}


def _resolved(label: str, widget: _Widget, value: Any, problems: list[str]) -> Any:
    """A prompt widget's value as the editor sends it (dynamic prompts resolved)."""
    if isinstance(value, str):
        value, problem = _dynamic_prompt(value)
        if problem:
            problems.append(f"{label}: widget {widget.name!r} {problem}")
    return value


_COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//.*")
_ESCAPED = re.compile(r"\\([{}|])")


def _dynamic_prompt(text: str) -> tuple[str, str | None]:
    """The frontend's dynamic prompts (processDynamicPrompt): comments are removed, `{a|b}`
    picks one option at random, `\\{` keeps a brace. A block whose options differ is random in
    the editor, so it is a problem here; one option (or equal ones) is simply replaced."""
    result, random = _prompt(text)
    if random:
        return result, (
            "holds a {a|b} choice, which the editor resolves at random each run; "
            "write the chosen text instead"
        )
    return result, None


def _prompt(text: str) -> tuple[str, bool]:
    """processDynamicPrompt, with the choice it would make at random flagged instead."""
    text = _COMMENTS.sub("", text)
    position = 0
    random = False

    def escape() -> str:
        nonlocal position
        position += 1
        return "\\" + (text[position - 1] if position <= len(text) else "undefined")

    def choice_block() -> str:
        nonlocal position, random
        options: list[str] = []
        current = ""
        depth = 0
        while position < len(text):
            char = text[position]
            position += 1
            if char == "\\":
                current += escape()
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                options.append(current)
                current = ""
                continue
            current += char
        options.append(current)
        chosen = [_prompt(option) for option in options]
        if any(flag for _, flag in chosen) or len({text for text, _ in chosen}) > 1:
            random = True
        return chosen[0][0]

    out = ""
    while position < len(text):
        char = text[position]
        position += 1
        if char == "\\":
            out += escape()
        elif char == "{":
            out += choice_block()
        else:
            out += char
    return _ESCAPED.sub(r"\1", out), random
