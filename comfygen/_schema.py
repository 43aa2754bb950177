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
    files: bool = False
    tooltip: str | None = None


@dataclass(frozen=True)
class NodeSchema:
    class_type: str
    inputs: Mapping[str, InputSchema]
    output_node: bool = False


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
    return InputSchema(
        type=kind,
        default=default if isinstance(default, (str, int, float, bool)) else None,
        minimum=_number(extra.get("min")),
        maximum=_number(extra.get("max")),
        step=_number(extra.get("step")),
        options=tuple(str(o) for o in options) if options is not None else None,
        files=files,
        tooltip=tooltip if isinstance(tooltip, str) else None,
    )


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def from_object_info(object_info: Mapping[str, Any]) -> dict[str, NodeSchema]:
    """Schemas of every node class in a `/object_info` answer."""
    schemas: dict[str, NodeSchema] = {}
    for class_type, info in object_info.items():
        if not isinstance(info, dict):
            continue
        inputs: dict[str, InputSchema] = {}
        for section in ("required", "optional"):
            for name, spec in (info.get("input", {}).get(section) or {}).items():
                parsed = _input(spec)
                if parsed is not None:
                    inputs[name] = parsed
        schemas[class_type] = NodeSchema(class_type, inputs, bool(info.get("output_node")))
    return schemas


def _compact(schemas: Mapping[str, NodeSchema]) -> dict[str, Any]:
    """The bundled file's form: only what comfygen uses, no display text but tooltips."""
    out: dict[str, Any] = {}
    for class_type in sorted(schemas):
        node = schemas[class_type]
        inputs = {}
        for name, schema in node.inputs.items():
            entry: dict[str, Any] = {"type": schema.type}
            for key in ("default", "minimum", "maximum", "step", "options", "tooltip"):
                value = getattr(schema, key)
                if key == "options" and schema.files:
                    continue  # the recording server's own files say nothing about yours
                if value is not None:
                    entry[key] = list(value) if isinstance(value, tuple) else value
            if schema.files:
                entry["files"] = True
            inputs[name] = entry
        out[class_type] = {"inputs": inputs, **({"output_node": True} if node.output_node else {})}
    return out


def _expand(data: Mapping[str, Any]) -> dict[str, NodeSchema]:
    schemas = {}
    for class_type, node in data.items():
        inputs = {}
        for name, entry in node["inputs"].items():
            fields: dict[str, Any] = dict(entry)
            if "options" in fields:
                fields["options"] = tuple(fields["options"])
            inputs[name] = InputSchema(**fields)
        schemas[class_type] = NodeSchema(class_type, inputs, bool(node.get("output_node")))
    return schemas


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
