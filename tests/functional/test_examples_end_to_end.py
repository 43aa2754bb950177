"""Every example workflow, end to end through its generated function, on a fake ComfyUI that
has the model files the examples load (read from examples/workflows/*.json)."""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import comfygen_runtime as rt
import httpx
import pytest
from gen import (
    blur_preview,
    book_cover,
    caption_text,
    image_to_image,
    invert_color_image,
    invert_uploaded_image,
    sdxl_text_to_image,
    text_preview,
    text_to_audio,
    text_to_video,
)

from tests.conftest import ROOT
from tests.fakes import FakeComfyUI, models_used_by, running_fake_comfyui
from tests.fakes._graph import node_defs
from tests.fakes._models import FOLDER_EXTENSIONS, MODEL_INPUTS

WORKFLOWS = ROOT / "examples" / "workflows"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB = tuple[int, int, int]


def _graphs() -> dict[str, dict[str, Any]]:
    graphs: dict[str, dict[str, Any]] = {}
    for path in sorted(WORKFLOWS.glob("*.json")):
        graphs[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return graphs


EXAMPLE_MODELS = models_used_by(*_graphs().values())


def _png(width: int, height: int, rgb: RGB) -> bytes:
    """A real solid-colour RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = (b"\x00" + bytes(rgb) * width) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _png_info(data: bytes) -> tuple[int, int, RGB]:
    """Width, height and first pixel of an 8-bit RGB PNG (asserting that it is one)."""
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    assert (depth, color_type) == (8, 2)
    idat, pos = b"", len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    first_row = zlib.decompress(idat)[: 1 + 3 * width]
    return width, height, (first_row[1], first_row[2], first_row[3])


async def _image(ref: rt.Image) -> tuple[int, int, RGB]:
    assert isinstance(ref, rt.Image)
    return _png_info(await ref.read())


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with running_fake_comfyui(models=EXAMPLE_MODELS) as server:
        yield server


@pytest.fixture
async def client(fake: FakeComfyUI) -> AsyncIterator[rt.ComfyUI]:
    async with rt.ComfyUI(fake.base_url) as comfy:
        yield comfy


def test_the_examples_name_these_models() -> None:
    assert {folder: sorted(names) for folder, names in EXAMPLE_MODELS.items()} == {
        "checkpoints": [
            "sd_xl_base_1.0.safetensors",
            "stable-audio-open-1.0.safetensors",
            "v1-5-pruned-emaonly-fp16.safetensors",
        ],
        "diffusion_models": ["wan2.1_t2v_1.3B_fp16.safetensors"],
        "text_encoders": ["t5_base.safetensors", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
        "vae": ["wan_2.1_vae.safetensors"],
    }


async def test_sdxl_text_to_image(client: rt.ComfyUI) -> None:
    result = await sdxl_text_to_image(
        prompt="a lighthouse", width=512, height=384, steps=4, client=client
    )
    (image,) = result.images
    assert isinstance(image, rt.Image)
    assert (image.subfolder, image.type) == ("sdxl", "output")
    assert image.filename.startswith("txt2img_") and image.filename.endswith(".png")
    width, height, color = await _image(image)
    assert (width, height) == (512, 384)
    # The sampler's output depends on the seed.
    other = await sdxl_text_to_image(
        prompt="a lighthouse", width=512, height=384, steps=4, seed=7, client=client
    )
    assert (await _image(other.images[0]))[2] != color


async def test_image_to_image(client: rt.ComfyUI) -> None:
    result = await image_to_image(
        image=_png(100, 60, (200, 40, 40)), prompt="an oil painting", steps=3, client=client
    )
    (image,) = result.images
    # The VAE works on multiples of 8 pixels: the input is cropped to 96 x 56.
    assert (await _image(image))[:2] == (96, 56)
    assert image.filename.startswith("img2img_")


async def test_book_cover(client: rt.ComfyUI) -> None:
    result = await book_cover(prompt="an astronaut in a field of flowers", client=client)
    (cover,) = result.cover
    (thumbnail,) = result.thumbnail
    assert (cover.subfolder, thumbnail.subfolder) == ("book", "book")
    cover_info, thumbnail_info = await _image(cover), await _image(thumbnail)
    assert cover_info[:2] == (832, 1216)
    assert thumbnail_info == (208, 304, cover_info[2])  # scaled by 0.25, same picture


async def test_text_to_video(client: rt.ComfyUI) -> None:
    result = await text_to_video(prompt="a fox in the snow", frames=9, steps=3, client=client)
    (video,) = result.video
    assert isinstance(video, rt.Video)
    assert video.filename.startswith("wan_t2v_") and video.filename.endswith(".mp4")
    assert (video.subfolder, video.type) == ("video", "output")
    data = await video.read()
    assert data[4:8] == b"ftyp"
    assert result.outputs["11"]["animated"] == [True]


async def test_text_to_audio(client: rt.ComfyUI) -> None:
    result = await text_to_audio(prompt="lo-fi beat", steps=3, client=client)
    (audio,) = result.audio
    assert isinstance(audio, rt.Audio)
    assert audio.filename == "stable_audio_00001.flac"
    assert (audio.subfolder, audio.type) == ("audio", "output")
    data = await audio.read()
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # first metadata block: STREAMINFO
    (packed,) = struct.unpack(">Q", data[18:26])
    sample_rate, channels = packed >> 44, ((packed >> 41) & 0x7) + 1
    samples = packed & ((1 << 36) - 1)
    # 30 s: EmptyLatentAudio makes 646 latent steps of 2048 samples at 44.1 kHz, stereo.
    assert (sample_rate, channels, samples) == (44100, 2, 646 * 2048)
    again = await text_to_audio(prompt="lo-fi beat", seed=1, steps=3, client=client)
    assert again.audio[0].filename == "stable_audio_00002.flac"


async def test_caption_text(client: rt.ComfyUI) -> None:
    result = await caption_text(subject="a red fox", client=client)
    (caption,) = result.caption
    assert isinstance(caption, rt.Text)
    assert caption.text == (
        "A photograph of a red fox, golden hour, shallow depth of field, 85mm lens"
    )


async def test_text_preview(client: rt.ComfyUI) -> None:
    result = await text_preview(text="hello", client=client)
    (preview,) = result.preview
    assert isinstance(preview, rt.Text) and preview.text == "hello!"


async def test_invert_color_image(client: rt.ComfyUI) -> None:
    result = await invert_color_image(width=16, height=8, color=0x102030, client=client)
    assert await _image(result.image[0]) == (16, 8, (0xEF, 0xDF, 0xCF))


async def test_invert_uploaded_image(client: rt.ComfyUI) -> None:
    result = await invert_uploaded_image(image=_png(24, 12, (10, 20, 30)), client=client)
    (inverted,) = result.inverted
    assert inverted.subfolder == "invert"
    assert await _image(inverted) == (24, 12, (245, 235, 225))


async def test_blur_preview(client: rt.ComfyUI) -> None:
    result = await blur_preview(width=32, height=24, client=client)
    (preview,) = result.node_3
    assert isinstance(preview, rt.Image) and preview.type == "temp"
    assert (await _image(preview))[:2] == (32, 24)


async def test_the_sampler_reports_every_step(fake: FakeComfyUI, client: rt.ComfyUI) -> None:
    fake.node_delays["KSampler"] = 0.3
    events: list[rt.Event] = []
    started = time.monotonic()
    await sdxl_text_to_image(
        prompt="a lighthouse", width=64, height=64, steps=6, client=client, on_event=events.append
    )
    assert time.monotonic() - started >= 0.3  # node_delay is spread over the steps
    progress = [e for e in events if e.kind == "progress"]
    assert [(e.node, e.value, e.max) for e in progress] == [("5", v, 6) for v in range(1, 7)]
    kinds = [e.kind for e in events]
    assert kinds.index("progress") > kinds.index("executing")
    assert not [e for e in events if e.kind == "preview"]  # --preview-method none


async def test_without_models_the_checkpoint_is_rejected() -> None:
    async with running_fake_comfyui() as bare, rt.ComfyUI(bare.base_url) as comfy:
        with pytest.raises(rt.WorkflowValidationError) as caught:
            await sdxl_text_to_image(prompt="a lighthouse", client=comfy)
    error = caught.value.errors[0]
    assert error.params == ("model",)
    assert (error.node_id, error.input, error.type) == ("1", "ckpt_name", "value_not_in_list")


async def test_a_model_that_is_not_installed_is_rejected(client: rt.ComfyUI) -> None:
    with pytest.raises(rt.WorkflowValidationError) as caught:
        await sdxl_text_to_image(prompt="a lighthouse", model="missing.safetensors", client=client)
    (error,) = caught.value.errors
    assert error.params == ("model",) and error.type == "value_not_in_list"
    assert "missing.safetensors" in error.details


async def test_model_listings() -> None:
    models = {
        "checkpoints": ["b.safetensors", "a.ckpt", "sub/c.sft", "notes.txt"],
        "clip": ["clip_l.safetensors"],  # the legacy models/clip folder
        "text_encoders": ["t5xxl.safetensors"],
        "unet": ["flux.safetensors"],
        "vae": ["ae.safetensors"],
        "vae_approx": ["taesd_decoder.pth", "taesd_encoder.pth", "taehv.safetensors"],
        "embeddings": ["easynegative.safetensors"],
    }
    async with (
        running_fake_comfyui(models=models) as fake,
        httpx.AsyncClient(base_url=fake.base_url) as http,
    ):
        info = (await http.get("/object_info")).json()
        checkpoints = ["a.ckpt", "b.safetensors", "sub/c.sft"]  # sorted, .txt not listed
        assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == checkpoints
        assert info["VAELoader"]["input"]["required"]["vae_name"] == [
            ["ae.safetensors", "taehv.safetensors", "taesd", "pixel_space"]
        ]
        encoders = ["clip_l.safetensors", "t5xxl.safetensors"]
        assert info["CLIPLoader"]["input"]["required"]["clip_name"][0] == encoders
        assert info["UNETLoader"]["input"]["required"]["unet_name"][0] == ["flux.safetensors"]
        upscale = info["UpscaleModelLoader"]["input"]["required"]["model_name"]
        assert upscale == ["COMBO", {"multiselect": False, "options": []}]
        one = (await http.get("/api/object_info/DualCLIPLoader")).json()
        assert one["DualCLIPLoader"]["input"]["required"]["clip_name2"][0] == encoders

        assert (await http.get("/models/checkpoints")).json() == checkpoints
        assert (await http.get("/models/text_encoders")).json() == encoders
        assert (await http.get("/models/diffusion_models")).json() == ["flux.safetensors"]
        assert (await http.get("/models/loras")).json() == []
        assert (await http.get("/models/clip")).status_code == 404  # not a folder name
        assert (await http.get("/embeddings")).json() == ["easynegative"]

        fake.models = None  # the files are gone again
        assert (await http.get("/models/checkpoints")).json() == []
        info = (await http.get("/object_info")).json()
        assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == []


def test_every_model_input_is_a_recorded_model_listing() -> None:
    # The recorded server had no model files: each of these lists was empty, except the
    # entries the real server adds of its own.
    special = {
        ("VAELoader", "vae_name"): ["pixel_space"],
        ("TrainLoraNode", "existing_lora"): ["[None]"],
    }
    defs = node_defs()
    for (class_type, input_name), folder in MODEL_INPUTS.items():
        assert folder in FOLDER_EXTENSIONS
        kind, category, extra = defs[class_type].input_info(input_name)
        assert category == "required" and extra is not None
        options = kind if isinstance(kind, list) else extra["options"]
        if (class_type, input_name) == ("CheckpointLoader", "config_name"):
            assert "v1-inference.yaml" in options  # the configs ComfyUI ships
        else:
            assert options == special.get((class_type, input_name), [])


def test_unknown_model_folders_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown model folder 'checkpoint'"):
        FakeComfyUI(models={"checkpoint": ["x.safetensors"]})
    with pytest.raises(TypeError):
        FakeComfyUI(models={"checkpoints": "x.safetensors"})
