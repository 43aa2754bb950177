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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._graph import NodeDef
from ._images import RGB, Image, Mask, encode_png, placeholder_webp, probe_png
from ._media import (
    AUDIO_CHANNELS,
    AUDIO_DOWNSCALE,
    AUDIO_SAMPLE_RATE,
    Audio,
    Latent,
    Video,
    encode_flac,
    placeholder_video,
)

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
                digits = int(existing[prefix_len + 1 :].split(".")[0].split("_")[0])
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


# -- latents and sampling ------------------------------------------------------------------


@dataclass(frozen=True)
class Sigmas:
    """A SIGMAS value: the number of sampling steps it makes (len(sigmas) - 1)."""

    steps: int


@dataclass(frozen=True)
class Noise:
    """A NOISE value: RandomNoise's seed, None for DisableNoise."""

    seed: int | None


def _latent(value: Any) -> Latent:
    if not isinstance(value, Latent):
        raise NodeError("KeyError", "'samples'")
    return value


def _pixels(size: int) -> int:
    """A size after the VAE's 8x downscale and back (latents are size // 8)."""
    return max(size // 8, 1) * 8


async def empty_latent_image(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    colors: tuple[RGB, ...] = ((0, 0, 0),) * int(i["batch_size"])
    width, height = _pixels(int(i["width"])), _pixels(int(i["height"]))
    return (Latent("image", colors, width, height),), None


async def empty_hunyuan_latent_video(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    # The latent holds ((length - 1) // 4) + 1 frames, decoded 4 to 1 after the first.
    length = int(i["length"])
    colors: tuple[RGB, ...] = ((0, 0, 0),) * int(i.get("batch_size", 1))
    width, height = _pixels(int(i["width"])), _pixels(int(i["height"]))
    frames = ((length - 1) // 4) * 4 + 1
    return (Latent("video", colors, width, height, frames=frames),), None


async def empty_latent_audio(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    length = round((float(i["seconds"]) * AUDIO_SAMPLE_RATE / AUDIO_DOWNSCALE) / 2) * 2
    colors: tuple[RGB, ...] = ((0, 0, 0),) * int(i["batch_size"])
    return (Latent("audio", colors, samples=length * AUDIO_DOWNSCALE),), None


async def vae_encode(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    # VAE.encode crops the pixels to a multiple of the VAE's downscale (8).
    image = _image(i["pixels"])
    latent = Latent("image", image.colors, _pixels(image.width), _pixels(image.height))
    return (latent,), None


async def vae_decode(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i["samples"])
    colors = tuple(rgb for rgb in latent.colors for _ in range(latent.frames))
    return (Image(latent.width or 64, latent.height or 64, colors),), None


async def vae_decode_audio(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i["samples"])
    samples = latent.samples if latent.kind == "audio" else AUDIO_DOWNSCALE
    return (Audio(AUDIO_SAMPLE_RATE, AUDIO_CHANNELS, samples, latent.batch),), None


async def conditioning_stable_audio(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    return (i["positive"], i["negative"]), None


async def random_noise(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    return (Noise(int(i["noise_seed"])),), None


async def disable_noise(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    return (Noise(None),), None


def _seed_color(seed: int, index: int) -> RGB:
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=3).digest()
    return (digest[0], digest[1], digest[2])


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


# extra_data["preview_method"] values that turn sampler previews on (the server's default,
# `--preview-method none`, sends none).
PREVIEW_METHODS = frozenset({"auto", "latent2rgb", "taesd"})


async def _sample(
    host: NodeHost, latent: Latent, total: int, seed: int | None, strength: float
) -> Latent:
    """Denoise `latent` in `total` steps spread over `node_delay`, reporting every step as
    the sampler's progress bar does (value 1..total, max total). Each batch item becomes a
    colour drawn from the seed, mixed with the input's by `strength` (the denoise); without
    noise (seed None: add_noise disabled, a second pass) the input's colours stay."""
    strength = max(0.0, min(1.0, strength))
    targets = tuple(
        rgb if seed is None else _mix(rgb, _seed_color(seed, index), strength)
        for index, rgb in enumerate(latent.colors)
    )
    if total <= 0:
        await host.work(host.node_delay)
        return latent
    previews = str(host.extra_data.get("preview_method", "")).lower() in PREVIEW_METHODS
    loop = asyncio.get_running_loop()
    started = loop.time()
    per_step = host.node_delay / total
    for step in range(1, total + 1):
        await host.work(started + step * per_step - loop.time())
        preview = None
        if previews and latent.kind != "audio" and latent.colors:
            color = _mix(latent.colors[0], targets[0], step / total)
            preview = Image(max(latent.width // 8, 1), max(latent.height // 8, 1), (color,))
        await host.progress(step, total, preview)
    return latent.with_colors(targets)


async def ksampler(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i["latent_image"])
    denoise = float(i.get("denoise", 1.0))
    total = int(i["steps"]) if denoise > 0 else 0
    return (await _sample(host, latent, total, int(i["seed"]), denoise),), None


async def ksampler_advanced(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i["latent_image"])
    steps, start = int(i["steps"]), int(i.get("start_at_step", 0))
    last = min(int(i.get("end_at_step", 10000)), steps)
    total = last - start if start < last else 0
    seed = None if i.get("add_noise") == "disable" else int(i["noise_seed"])
    return (await _sample(host, latent, total, seed, total / steps if steps else 0.0),), None


async def sampler_custom(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    latent = _latent(i["latent_image"])
    sigmas = i.get("sigmas")
    total = sigmas.steps if isinstance(sigmas, Sigmas) else 0
    if "noise" in i:  # SamplerCustomAdvanced
        noise = i["noise"]
        seed = noise.seed if isinstance(noise, Noise) else 0
    else:
        seed = int(i["noise_seed"]) if i.get("add_noise", True) else None
    out = await _sample(host, latent, total, seed, 1.0)
    return (out, out), None


# -- video and audio ------------------------------------------------------------------------


async def create_video(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    images = _image(i["images"])
    audio = i.get("audio")
    video = Video(
        images.width,
        images.height,
        images.batch,
        float(i["fps"]),
        audio if isinstance(audio, Audio) else None,
    )
    return (video,), None


VIDEO_CONTAINERS = {"auto": "mp4", "mp4": "mp4", "mkv": "mkv", "webm": "webm"}


async def save_video(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    video = i["video"]
    if not isinstance(video, Video):
        raise NodeError(
            "AttributeError", f"'{type(video).__name__}' object has no attribute 'get_dimensions'"
        )
    container = i.get("format", "auto")
    if isinstance(container, dict):
        container = container.get("format", "auto")
    extension = VIDEO_CONTAINERS.get(str(container))
    if extension is None:
        raise NodeError("ValueError", f"'{container}' is not a valid VideoContainer")
    folder, filename, counter, subfolder = save_path(
        host.directory("output"), str(i["filename_prefix"])
    )
    name = f"{filename}_{counter:05}_.{extension}"
    (folder / name).write_bytes(placeholder_video(video, extension))
    ui = {
        "images": [{"filename": name, "subfolder": subfolder, "type": "output"}],
        "animated": [True],
    }
    return (video,), ui


def _save_audio(host: NodeHost, audio: Any, filename_prefix: str, kind: str) -> dict[str, Any]:
    """AudioSaveHelper.save_audio as FLAC: one file per batch item, `<name>_<counter>.flac`."""
    if not isinstance(audio, Audio):
        raise NodeError("TypeError", f"'{type(audio).__name__}' object is not subscriptable")
    folder, filename, counter, subfolder = save_path(host.directory(kind), filename_prefix)
    results: list[dict[str, Any]] = []
    flac = encode_flac(audio.sample_rate, audio.channels, audio.samples)
    for batch_number in range(audio.batch):
        name = f"{filename.replace('%batch_num%', str(batch_number))}_{counter:05}.flac"
        (folder / name).write_bytes(flac)
        results.append({"filename": name, "subfolder": subfolder, "type": kind})
        counter += 1
    return {"audio": results}


async def save_audio(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    audio = i["audio"]
    if audio is None:
        raise NodeError(
            "ValueError",
            "SaveAudio: input audio is None (source video may have no audio track).",
        )
    return (audio,), _save_audio(host, audio, str(i["filename_prefix"]), "output")


async def preview_audio(host: NodeHost, i: dict[str, Any]) -> NodeResult:
    # A new random name at every run (PreviewAudio's alphabet has the 'w').
    suffix = "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5))
    return (), _save_audio(host, i["audio"], "ComfyUI_temp_" + suffix, "temp")


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
    "EmptyLatentImage": empty_latent_image,
    "EmptySD3LatentImage": empty_latent_image,
    "EmptyHunyuanLatentVideo": empty_hunyuan_latent_video,
    "EmptyLatentAudio": empty_latent_audio,
    "VAEEncode": vae_encode,
    "VAEDecode": vae_decode,
    "VAEDecodeTiled": vae_decode,
    "VAEDecodeAudio": vae_decode_audio,
    "ConditioningStableAudio": conditioning_stable_audio,
    "RandomNoise": random_noise,
    "DisableNoise": disable_noise,
    "KSampler": ksampler,
    "KSamplerAdvanced": ksampler_advanced,
    "SamplerCustom": sampler_custom,
    "SamplerCustomAdvanced": sampler_custom,
    "CreateVideo": create_video,
    "SaveVideo": save_video,
    "SaveAudio": save_audio,
    "PreviewAudio": preview_audio,
}

# Nodes that spread `node_delay` over their own progress steps instead of sleeping up front.
SELF_TIMED = frozenset(
    {"ColorTransfer", "KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
)


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
    if kind == "LATENT":
        return Latent("image", ((0, 0, 0),), 64, 64)
    if kind == "AUDIO":
        return Audio(AUDIO_SAMPLE_RATE, AUDIO_CHANNELS, AUDIO_SAMPLE_RATE)
    if kind == "VIDEO":
        return Video(64, 64, 1, 24.0)
    return {"fake_comfyui_value": kind}


async def run_node(host: NodeHost, node_def: NodeDef, inputs: dict[str, Any]) -> NodeResult:
    """Execute one node: the implemented classes for real, any other known class as a
    pass-through (each output is the first input of the same type, else a default value of
    that type: a 64x64 black IMAGE or LATENT, a second of silent AUDIO, ...)."""
    if node_def.name not in SELF_TIMED:
        await host.work(host.node_delay)
    impl = IMPLEMENTED.get(node_def.name)
    if impl is not None:
        return await impl(host, inputs)
    outputs: list[Any] = []
    for kind in node_def.return_types:
        if kind == "SIGMAS" and "steps" in inputs:
            # A scheduler: steps + 1 sigmas (none when denoise <= 0), so `steps` steps.
            steps = int(inputs["steps"]) if float(inputs.get("denoise", 1.0)) > 0 else 0
            outputs.append(Sigmas(steps))
            continue
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
