"""Node schemas from /object_info: the bundled core schema and how inputs are read."""

from __future__ import annotations

import json

from comfygen._schema import _compact, _expand, bundled, from_object_info, merged
from tests.conftest import TESTS

RECORDED = TESTS / "fakes" / "data" / "object_info_full.json.gz"


def test_bundled_schema_is_the_recorded_object_info() -> None:
    import gzip

    recorded = from_object_info(json.loads(gzip.decompress(RECORDED.read_bytes())))
    # The bundled file leaves out the recording server's own file lists (models, uploads).
    assert bundled() == _expand(_compact(recorded)), (
        "regenerate: uv run python -m comfygen._schema OBJECT_INFO"
    )
    assert len(bundled()) == 887


def test_inputs_are_read_with_types_bounds_and_options() -> None:
    schemas = bundled()
    width = schemas["EmptyImage"].inputs["width"]
    assert (width.type, width.default, width.minimum, width.maximum) == ("INT", 512, 1, 16384)
    cfg = schemas["KSampler"].inputs["cfg"]
    assert cfg.type == "FLOAT" and cfg.step == 0.1 and cfg.tooltip
    sampler = schemas["KSampler"].inputs["sampler_name"]
    assert sampler.type == "COMBO" and sampler.options and "euler" in sampler.options
    assert not sampler.files
    assert schemas["KSampler"].inputs["model"].type == "MODEL"
    for model_input in (
        schemas["CheckpointLoaderSimple"].inputs["ckpt_name"],
        schemas["VAELoader"].inputs["vae_name"],
        schemas["LoadImage"].inputs["image"],
        schemas["LoadAudio"].inputs["audio"],
    ):
        assert model_input.files and model_input.options is None
    new_style = schemas["LatentCut"].inputs["dim"]
    assert new_style.type == "COMBO" and new_style.options == ("x", "y", "t")
    assert schemas["SaveImage"].output_node and not schemas["EmptyImage"].output_node


def test_a_servers_schema_replaces_bundled_classes() -> None:
    custom = from_object_info(
        {
            "EmptyImage": {"input": {"required": {"width": ["INT", {"max": 64}]}}},
            "MyNode": {"input": {"optional": {"x": ["FLOAT", {}]}}, "output_node": True},
        }
    )
    schemas = merged(bundled(), custom)
    assert schemas["EmptyImage"].inputs["width"].maximum == 64
    assert "height" not in schemas["EmptyImage"].inputs
    assert schemas["MyNode"].output_node and schemas["KSampler"] is bundled()["KSampler"]
