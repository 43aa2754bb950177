"""Node schemas: what ComfyUI's `/object_info` says about each node's inputs.

A bundled, compact schema of ComfyUI's core nodes ships with comfygen
(`comfygen/schemas/core.json.gz`, about 70 KiB), derived from a real server's `/object_info` and
regenerated with one command::

    uv run python -m comfygen._schema ../shared/protocol/object_info_full.json

A server's own nodes (custom nodes included) come from `--object-info FILE` or
`--server URL`; they take precedence over the bundled ones, class by class.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "BUNDLED",
    "SCALAR_TYPES",
    "InputSchema",
    "NodeSchema",
    "Schemas",
    "bundled",
    "check_object_info",
    "from_object_info",
    "main",
    "merged",
]

BUNDLED = Path(__file__).parent / "schemas" / "core.json.gz"
SCALAR_TYPES = ("INT", "FLOAT", "BOOLEAN", "STRING", "COMBO")
_MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")


@dataclass(frozen=True)
class InputSchema:
    """One widget input: its type, default, bounds, options and help text.

    `files` marks a combo whose options are the server's files (models, uploaded inputs):
    they differ from server to server, so they do not make a `Literal` type by default.
    Link-only inputs (IMAGE, MODEL, ...) have `type` set to that type name.
    """

    type: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] | None = None
    option_values: tuple[Any, ...] | None = None  # the options as sent, when not all are text
    files: bool = False
    tooltip: str | None = None
    # What the editor needs to read its own saves (UI format), see `_ui`:
    control_after_generate: bool | str | None = None  # the widget's extra "fixed/randomize"
    upload: str | None = None  # "image"/"video"/"audio": the loader's upload button
    remote: bool = False  # a combo the editor fills from a server route...
    refresh_button: bool = False  # ...with a refresh button
    component: str | None = None  # the editor's own component for the widget ("ImageCrop")
    dynamic_prompts: bool = False
    widget_type: str | None = None
    force_input: bool = False  # a socket only, never a widget
    dynamic_options: tuple[tuple[str, Mapping[str, InputSchema]], ...] | None = None


@dataclass(frozen=True)
class NodeSchema:
    class_type: str
    inputs: Mapping[str, InputSchema]
    output_node: bool = False
    display_name: str | None = None
    # From the schema bundled with comfygen (the core nodes of one ComfyUI release), not
    # from the server that runs the workflow: its combo options may be fewer than yours.
    bundled: bool = False


Schemas = Mapping[str, NodeSchema]


def _input(spec: Any) -> InputSchema | None:
    """Read one `/object_info` input spec: `["INT", {...}]`, `[[options], {...}]`, ..."""
    if not isinstance(spec, list) or not spec:
        return None
    head: Any = spec[0]
    extra: dict[str, Any] = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    options: list[Any] | None = None
    kind: Any = head
    if isinstance(head, list):
        kind, options = "COMBO", head
    elif kind == "COMBO":
        options = extra.get("options") if isinstance(extra.get("options"), list) else []
    if not isinstance(kind, str):
        return None
    files = False
    if kind == "COMBO":
        assert options is not None
        flags = ("image_upload", "audio_upload", "video_upload", "remote")
        files = not options or any(extra.get(flag) for flag in flags)
        files = files or set(map(str, options)) <= {"pixel_space"}  # VAELoader, no models
        files = files or any(str(o).lower().endswith(_MODEL_EXTENSIONS) for o in options)
    tooltip = extra.get("tooltip")
    default = extra.get("default")
    upload = None
    if kind == "COMBO":
        kinds = {"image": "image", "animated_image": "image", "video": "video", "audio": "audio"}
        upload = next((v for k, v in kinds.items() if extra.get(f"{k}_upload") is True), None)
    dynamic = None
    if kind == "COMFY_DYNAMICCOMBO_V3":
        dynamic = tuple(
            (str(option["key"]), _inputs(option.get("inputs") or {}))
            for option in extra.get("options") or []
            if isinstance(option, dict) and "key" in option
        )
    widget_type = extra.get("widgetType")
    control = extra.get("control_after_generate")
    remote = extra.get("remote")
    component = extra.get("component")
    return InputSchema(
        type=kind,
        default=default,
        minimum=_number(extra.get("min")),
        maximum=_number(extra.get("max")),
        step=_number(extra.get("step")),
        options=tuple(str(o) for o in options) if options is not None else None,
        option_values=tuple(options)
        if options and any(not isinstance(o, str) for o in options)
        else None,
        files=files,
        tooltip=tooltip if isinstance(tooltip, str) else None,
        control_after_generate=control if isinstance(control, (bool, str)) else None,
        upload=upload,
        remote=isinstance(remote, dict),
        refresh_button=isinstance(remote, dict) and bool(remote.get("refresh_button")),
        component=component if isinstance(component, str) else None,
        dynamic_prompts=bool(extra.get("dynamicPrompts")),
        widget_type=widget_type if isinstance(widget_type, str) else None,
        force_input=bool(extra.get("forceInput")),
        dynamic_options=dynamic,
    )


def _inputs(sections: Mapping[str, Any]) -> dict[str, InputSchema]:
    """The inputs of an `/object_info` `input` table, required then optional, in order."""
    inputs: dict[str, InputSchema] = {}
    for section in ("required", "optional"):
        for name, spec in (sections.get(section) or {}).items():
            parsed = _input(spec)
            if parsed is not None:
                inputs[name] = parsed
    return inputs


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check_object_info(data: Any) -> dict[str, Any]:
    """`data` if it has the shape of a `/object_info` answer: an object mapping each node
    class to its definition, `{"input": {"required": {...}, "optional": {...}}, ...}`.
    Raises `ValueError` saying what it is instead (a workflow, a list, ...)."""
    if not isinstance(data, dict):
        raise ValueError(
            f"a JSON {_json_type(data)}, not an object of node classes as GET /object_info answers"
        )
    if not data:
        raise ValueError("an empty object: it lists no node classes")
    for class_type, info in data.items():
        where = f"entry {json.dumps(class_type, ensure_ascii=False)}"
        if isinstance(info, dict) and "class_type" in info and "inputs" in info:
            raise ValueError(
                f"{where} is a workflow's node ({{class_type, inputs}}): this is a workflow, "
                "not a server's /object_info"
            )
        sections = info.get("input") if isinstance(info, dict) else None
        if not isinstance(sections, dict) or not all(
            isinstance(sections.get(name, {}), dict) for name in ("required", "optional")
        ):
            raise ValueError(
                f'{where} is not a node definition ({{"input": {{"required": {{...}}}}, '
                "...}) as GET /object_info answers"
            )
    return data


def _json_type(data: Any) -> str:
    names = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if data is None else names.get(type(data), type(data).__name__)


def from_object_info(object_info: Mapping[str, Any]) -> dict[str, NodeSchema]:
    """Schemas of every node class in a `/object_info` answer."""
    schemas: dict[str, NodeSchema] = {}
    for class_type, info in object_info.items():
        if not isinstance(info, dict):
            continue
        display = info.get("display_name")
        schemas[class_type] = NodeSchema(
            class_type,
            _inputs(info.get("input") or {}),
            bool(info.get("output_node")),
            display if isinstance(display, str) and display else None,
        )
    return schemas


_OPTIONAL_FIELDS = (
    "default", "minimum", "maximum", "step", "options", "option_values", "tooltip",
    "control_after_generate",
    "upload", "widget_type", "component",
)  # fmt: skip


def _compact_input(schema: InputSchema) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": schema.type}
    for key in _OPTIONAL_FIELDS:
        value = getattr(schema, key)
        if value is None or (key in ("options", "option_values") and schema.files):
            continue  # the recording server's own files say nothing about yours
        entry[key] = list(value) if isinstance(value, tuple) else value
    for flag in ("files", "dynamic_prompts", "force_input", "remote", "refresh_button"):
        if getattr(schema, flag):
            entry[flag] = True
    if schema.dynamic_options is not None:
        entry["dynamic_options"] = [
            [key, {name: _compact_input(s) for name, s in inputs.items()}]
            for key, inputs in schema.dynamic_options
        ]
    return entry


def _compact(schemas: Mapping[str, NodeSchema]) -> dict[str, Any]:
    """The bundled file's form: only what comfygen uses; tooltips kept for documentation."""
    out: dict[str, Any] = {}
    for class_type in sorted(schemas):
        node = schemas[class_type]
        entry: dict[str, Any] = {
            "inputs": {name: _compact_input(schema) for name, schema in node.inputs.items()}
        }
        if node.output_node:
            entry["output_node"] = True
        if node.display_name and node.display_name != class_type:
            entry["display_name"] = node.display_name
        out[class_type] = entry
    return out


def _expand_input(entry: Mapping[str, Any]) -> InputSchema:
    fields: dict[str, Any] = dict(entry)
    for key in ("options", "option_values"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if "dynamic_options" in fields:
        fields["dynamic_options"] = tuple(
            (key, {name: _expand_input(e) for name, e in inputs.items()})
            for key, inputs in fields["dynamic_options"]
        )
    return InputSchema(**fields)


def _expand(data: Mapping[str, Any]) -> dict[str, NodeSchema]:
    return {
        class_type: NodeSchema(
            class_type,
            {name: _expand_input(entry) for name, entry in node["inputs"].items()},
            bool(node.get("output_node")),
            node.get("display_name"),
            bundled=True,
        )
        for class_type, node in data.items()
    }


@cache
def bundled() -> Mapping[str, NodeSchema]:
    """The core nodes' schemas shipped with comfygen."""
    return _expand(json.loads(gzip.decompress(BUNDLED.read_bytes())))


def merged(*layers: Mapping[str, NodeSchema]) -> dict[str, NodeSchema]:
    """Later layers (a server's own nodes) replace earlier ones class by class.

    A combo that an earlier layer knows as a file list stays one: a server with models
    lists its files there, which would otherwise look like an ordinary set of options.
    """
    result: dict[str, NodeSchema] = {}
    for layer in layers:
        for class_type, node in layer.items():
            known = result.get(class_type)
            if known is not None:
                inputs = {
                    name: dataclasses.replace(schema, files=True)
                    if schema.type == "COMBO" and name in known.inputs and known.inputs[name].files
                    else schema
                    for name, schema in node.inputs.items()
                }
                node = dataclasses.replace(node, inputs=inputs)
            result[class_type] = node
    return result


def main(argv: list[str]) -> int:
    """Regenerate the bundled schema from an `/object_info` JSON file."""
    if len(argv) != 1:
        print("usage: python -m comfygen._schema OBJECT_INFO.json", file=sys.stderr)
        return 2
    object_info = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    text = json.dumps(_compact(from_object_info(object_info)), separators=(",", ":"))
    BUNDLED.parent.mkdir(exist_ok=True)
    # mtime=0: the same input gives the same bytes
    BUNDLED.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    size = BUNDLED.stat().st_size // 1024
    print(f"wrote {BUNDLED} ({len(object_info)} node classes, {size} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
