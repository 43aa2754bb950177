"""The node classes the fake can execute, and a generic pass-through for every other class.

Each node gets its literal and linked inputs (already resolved) and a `NodeHost` through which
it reaches the server: files, progress, TEXT frames, interrupts, the configured slowness.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from ._graph import NodeDef
from ._images import RGB, Image, Mask, encode_png, placeholder_webp, probe_png

NodeResult = tuple[tuple[Any, ...], dict[str, Any] | None]


class NodeHost(Protocol):
    """What a running node may use of the server."""

    node_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    node_delay: float

    def directory(self, kind: str) -> Path: ...

    def check_interrupt(self) -> None: ...

    async def work(self, seconds: float) -> None: ...

    async def progress(self, value: int, total: int, preview: Image | None) -> None: ...

    def send_text(self, text: str) -> None: ...

    def temp_suffix(self) -> str: ...


class NodeError(Exception):
    """An exception as the real node raised it (type name and traceback as recorded)."""

    def __init__(self, exception_type: str, message: str, tb: list[str] | None = None) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.traceback = tb


# The traceback ImageBlur gave on the recorded server (transcripts/05).
IMAGE_BLUR_TRACEBACK = [
    '  File "/srv/ComfyUI/execution.py", line 545, in execute\n    output_data, output_ui, '
    "has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, "
    "input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, "
    "v3_data=v3_data)\n" + " " * 62 + "^" * 151 + "\n",
    '  File "/srv/ComfyUI/execution.py", line 344, in get_output_data\n    return_values = '
    "await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, "
    "allow_interrupt=True, execution_block_cb=execution_block_cb, "
    "pre_execute_cb=pre_execute_cb, v3_data=v3_data)\n" + " " * 20 + "^" * 197 + "\n",
    '  File "/srv/ComfyUI/execution.py", line 318, in _async_map_node_over_list\n'
    "    await process_inputs(input_dict, i)\n",
    '  File "/srv/ComfyUI/execution.py", line 306, in process_inputs\n'
    "    result = f(**inputs)\n" + " " * 13 + "^" * 11 + "\n",
    '  File "/srv/ComfyUI/comfy_api/internal/__init__.py", line 149, in wrapped_func\n'
    "    return method(locked_class, **inputs)\n" + " " * 11 + "^" * 30 + "\n",
    '  File "/srv/ComfyUI/comfy_api/latest/_io.py", line 1990, in EXECUTE_NORMALIZED\n'
    "    to_return = cls.execute(*args, **kwargs)\n" + " " * 16 + "^" * 28 + "\n",
    '  File "/srv/ComfyUI/comfy_extras/nodes_post_processing.py", line 107, in execute\n'
    "    padded_image = F.pad(image, (blur_radius,blur_radius,blur_radius,blur_radius), "
    "'reflect')\n" + " " * 19 + "^" * 74 + "\n",
    '  File "/srv/venv/lib/python3.11/site-packages/torch/nn/functional.py", line 5823, in pad\n'
    "    return torch._C._nn.pad(input, pad, mode, value)\n" + " " * 11 + "^" * 41 + "\n",
]


# -- files ----------------------------------------------------------------------------------


def annotated_filepath(name: str) -> tuple[str, str | None]:
    """folder_paths.annotated_filepath: "x.png [output]" -> ("x.png", "output")."""
    for kind in ("output", "input", "temp"):
        suffix = f"[{kind}]"
        if name.endswith(suffix):
            return name[: -len(suffix) - 1], kind
    return name, None


def input_file(host: NodeHost, name: str) -> Path:
    name, kind = annotated_filepath(name)
    return host.directory(kind or "input") / name


def save_path(base: Path, filename_prefix: str) -> tuple[Path, str, int, str]:
    """folder_paths.get_save_image_path: (folder, filename, counter, subfolder)."""
    normalized = os.path.normpath(filename_prefix)
    subfolder = os.path.dirname(normalized)
    filename = os.path.basename(normalized)
    full_output_folder = base / subfolder
    base_dir = str(base)
    if os.path.commonpath((base_dir, os.path.abspath(full_output_folder))) != base_dir:
        raise Exception(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {os.path.abspath(full_output_folder)}"
            f"\n         output_dir: {base_dir}"
            f"\n         commonpath: "
            f"{os.path.commonpath((base_dir, os.path.abspath(full_output_folder)))}"
        )
    prefix_len = len(os.path.basename(filename_prefix))
    counter = 1
    if full_output_folder.is_dir():
        best = 0
        found = False
        for existing in os.listdir(full_output_folder):
            prefix = existing[: prefix_len + 1]
            try:
                digits = int(existing[prefix_len + 1 :].split("_")[0])
            except ValueError:
                digits = 0
            if prefix[:-1] == filename and prefix[-1:] == "_":
                found = True
                best = max(best, digits)
        if found:
            counter = best + 1
    else:
        full_output_folder.mkdir(parents=True, exist_ok=True)
    return full_output_folder, filename, counter, subfolder


def _png_metadata(host: NodeHost) -> dict[str, str]:
    text = {"prompt": json.dumps(host.prompt)}
    extra_pnginfo = host.extra_data.get("extra_pnginfo")
    if isinstance(extra_pnginfo, dict):
        for key, value in extra_pnginfo.items():
            text[str(key)] = json.dumps(value)
    return text


def _save_images(
    host: NodeHost, images: Image, filename_prefix: str, kind: str, compress_level: int
) -> list[dict[str, Any]]:
    folder, filename, counter, subfolder = save_path(host.directory(kind), filename_prefix)
    metadata = _png_metadata(host)
    results: list[dict[str, Any]] = []
    for batch_number, rgb in enumerate(images.colors):
        name = f"{filename.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        png = encode_png(
            images.width, images.height, rgb, text=metadata, compress_level=compress_level
        )
        (folder / name).write_bytes(png)
        results.append({"filename": name, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


# -- the nodes ------------------------------------------------------------------------------


def _image(value: Any) -> Image:
    if not isinstance(value, Image):
        raise NodeError(
            "AttributeError", f"'{type(value).__name__}' object has no attribute 'shape'"
        )
    return value


async def empty_image(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    color = int(i["color"])
    rgb: RGB = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
    return (Image(int(i["width"]), int(i["height"]), (rgb,) * int(i["batch_size"])),), None


async def load_image(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    path = input_file(host, str(i["image"]))
    data = path.read_bytes()
    probed = probe_png(data)
    if probed is None:
        raise NodeError("PIL.UnidentifiedImageError", f"cannot identify image file '{path}'")
    width, height, rgb = probed
    return (Image(width, height, (rgb,)), Mask(width, height, 1)), None


def load_image_is_changed(host: NodeHost, inputs: dict[str, Any]) -> str:
    path = input_file(host, str(inputs.get("image", "")))
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def image_invert(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    image = _image(i["image"])
    colors = tuple((255 - r, 255 - g, 255 - b) for r, g, b in image.colors)
    return (image.with_colors(colors),), None


async def image_blur(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    image = _image(i["image"])
    radius = int(i["blur_radius"])
    if radius == 0:
        return (image,), None
    shape = f"[{image.batch}, 3, {image.height}, {image.width}]"
    if radius >= image.width:
        raise NodeError(
            "RuntimeError",
            "Argument #4: Padding size should be less than the corresponding input dimension, "
            f"but got: padding ({radius}, {radius}) at dimension 3 of input {shape}",
            IMAGE_BLUR_TRACEBACK,
        )
    if radius >= image.height:
        raise NodeError(
            "RuntimeError",
            "Argument #6: Padding size should be less than the corresponding input dimension, "
            f"but got: padding ({radius}, {radius}) at dimension 2 of input {shape}",
            IMAGE_BLUR_TRACEBACK,
        )
    return (image,), None


async def image_scale_by(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    image = _image(i["image"])
    scale = float(i["scale_by"])
    width, height = round(image.width * scale), round(image.height * scale)
    return (Image(width, height, image.colors),), None


async def image_batch(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    first, second = _image(i["image1"]), _image(i["image2"])
    return (first.with_colors(first.colors + second.colors),), None


async def save_image(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    images = _image(i["images"])
    results = _save_images(host, images, str(i["filename_prefix"]), "output", 4)
    return (images,), {"images": results}


async def preview_image(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    images = _image(i["images"])
    results = _save_images(host, images, "ComfyUI" + host.temp_suffix(), "temp", 1)
    return (images,), {"images": results}


async def _save_animated(host: NodeHost, i: dict[str, Any], extension: str) -> NodeResult:
    images = _image(i["images"])
    folder, filename, counter, subfolder = save_path(
        host.directory("output"), str(i["filename_prefix"])
    )
    name = f"{filename}_{counter:05}_.{extension}"
    if extension == "webp":
        data = placeholder_webp(images)
    else:
        data = encode_png(images.width, images.height, images.colors[0], text=_png_metadata(host))
    (folder / name).write_bytes(data)
    ui = {
        "images": [{"filename": name, "subfolder": subfolder, "type": "output"}],
        "animated": [True],
    }
    return (images,), ui


async def save_animated_webp(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    return await _save_animated(host, i, "webp")


async def save_animated_png(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    return await _save_animated(host, i, "png")


async def get_image_size(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    image = _image(i["image"])
    host.send_text(f"width: {image.width}, height: {image.height}\n batch size: {image.batch}")
    return (image.width, image.height, image.batch), None


async def primitive_string(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    return (str(i["value"]),), None


async def string_concatenate(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    return (str(i["delimiter"]).join((str(i["string_a"]), str(i["string_b"]))),), None


async def case_converter(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    text, mode = str(i["string"]), i["mode"]
    if mode == "UPPERCASE":
        out = text.upper()
    elif mode == "lowercase":
        out = text.lower()
    elif mode == "Capitalize":
        out = text.capitalize()
    elif mode == "Title Case":
        out = text.title()
    else:
        out = text
    return (out,), None


def preview_any_text(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, (int, float, bool)):
        return str(source)
    if source is None:
        return "None"
    try:
        return json.dumps(source)
    except Exception:
        return str(source)


async def preview_any(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    value = preview_any_text(i.get("source"))
    return (value,), {"text": [value]}


async def save_text(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    text = str(i["text"])
    extension = str(i.get("format", "txt"))
    folder, filename, _, subfolder = save_path(host.directory("output"), str(i["filename_prefix"]))
    pattern = re.compile(re.escape(filename) + r"_(\d+)\.")
    taken = [int(m.group(1)) for f in os.listdir(folder) if (m := pattern.match(f))]
    name = f"{filename}_{max(taken, default=0) + 1:05}.{extension}"
    (folder / name).write_text(text, encoding="utf-8")
    files = [{"filename": name, "subfolder": subfolder, "type": "output"}]
    return (text,), {"text": [text], "files": files}


# ColorTransfer reports progress on the first frame, then every 8th frame, and on the last
# (the recorded server throttled its 48 frames to values 1, 9, 17, 25, 33, 40, 48).
PROGRESS_EVERY = 8


async def color_transfer(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    target, ref = _image(i["image_target"]), _image(i["image_ref"])
    strength = max(0.0, min(1.0, float(i.get("strength", 1.0))))
    ref_rgb = ref.colors[0]
    total = target.batch
    per_frame = host.node_delay / total if total else 0.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    out: list[RGB] = []
    for index, rgb in enumerate(target.colors):
        # Frame i is done at started + (i+1) * per_frame: the whole node takes node_delay.
        await host.work(started + (index + 1) * per_frame - loop.time())
        new: RGB = (
            round(rgb[0] + (ref_rgb[0] - rgb[0]) * strength),
            round(rgb[1] + (ref_rgb[1] - rgb[1]) * strength),
            round(rgb[2] + (ref_rgb[2] - rgb[2]) * strength),
        )
        out.append(new)
        value = index + 1
        if (value - 1) % PROGRESS_EVERY == 0 or value == total:
            preview = Image(min(target.width, 64), min(target.height, 64), (new,))
            await host.progress(value, total, preview)
    return (target.with_colors(tuple(out)),), None


NodeFn = Callable[[NodeHost, dict[str, Any]], Awaitable[NodeResult]]

IMPLEMENTED: dict[str, NodeFn] = {
    "EmptyImage": empty_image,
    "LoadImage": load_image,
    "ImageInvert": image_invert,
    "ImageBlur": image_blur,
    "ImageScaleBy": image_scale_by,
    "ImageBatch": image_batch,
    "SaveImage": save_image,
    "PreviewImage": preview_image,
    "SaveAnimatedWEBP": save_animated_webp,
    "SaveAnimatedPNG": save_animated_png,
    "GetImageSize": get_image_size,
    "PrimitiveString": primitive_string,
    "StringConcatenate": string_concatenate,
    "CaseConverter": case_converter,
    "PreviewAny": preview_any,
    "SaveText": save_text,
    "ColorTransfer": color_transfer,
}

# Nodes that spread `node_delay` over their own progress steps instead of sleeping up front.
SELF_TIMED = frozenset({"ColorTransfer"})


def _default(kind: Any) -> Any:
    if kind == "IMAGE":
        return Image(64, 64, ((0, 0, 0),))
    if kind == "MASK":
        return Mask(64, 64, 1)
    if kind == "INT":
        return 0
    if kind == "FLOAT":
        return 0.0
    if kind == "STRING":
        return ""
    if kind == "BOOLEAN":
        return False
    return {"fake_comfyui_value": kind}


async def run_node(host: NodeHost, node_def: NodeDef, inputs: dict[str, Any]) -> NodeResult:
    """Execute one node: the implemented classes for real, any other known class as a
    pass-through (each output is the first input of the same type, else a default value)."""
    if node_def.name not in SELF_TIMED:
        await host.work(host.node_delay)
    impl = IMPLEMENTED.get(node_def.name)
    if impl is not None:
        return await impl(host, inputs)
    outputs: list[Any] = []
    for kind in node_def.return_types:
        value = _default(kind)
        for name, given in inputs.items():
            if node_def.input_info(name)[0] == kind:
                value = given
                break
        outputs.append(value)
    return tuple(outputs), None


def new_temp_suffix() -> str:
    """PreviewImage's per-node-object random suffix (the real alphabet has no 'w')."""
    return "_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))


def load_image_exists(directory: Callable[[str], Path], image: Any) -> object:
    """LoadImage.VALIDATE_INPUTS."""
    name, kind = annotated_filepath(str(image))
    if not (directory(kind or "input") / name).exists():
        return f"Invalid image file: {image}"
    return True
