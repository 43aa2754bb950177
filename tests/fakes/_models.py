"""Model files "installed" on the fake server: the folder listings (folder_paths.py) and the
node inputs whose combo options are such a listing.

The recorded server had no model files, so in the recorded GET /object_info every model-file
combo (`ckpt_name`, `vae_name`, `clip_name`, `unet_name`, `lora_name`, ...) is an empty list
(`["pixel_space"]` for VAELoader). `FakeComfyUI(models=...)` fills these lists the way the real
server builds them from its `models/` directory, at commit 783545f (ComfyUI 0.33.0).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ._data import MODEL_FOLDERS
from ._graph import NodeDef, node_defs, object_info, set_order

# folder_paths.supported_pt_extensions
PT_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})

# The extensions folder_paths lists for each folder (an empty set lists every file; {""} lists
# files without an extension; "folder" matches no file name).
FOLDER_EXTENSIONS: dict[str, frozenset[str]] = {
    **{folder: PT_EXTENSIONS for folder in MODEL_FOLDERS},
    "configs": frozenset({".yaml"}),
    "diffusers": frozenset({"folder"}),
    "custom_nodes": frozenset(),
    "datasets": frozenset(),
    "classifiers": frozenset({""}),
}

# folder_paths.map_legacy: models/clip is part of text_encoders, models/unet of diffusion_models.
# GET /models/clip and /models/unet answer 404 (they are not folder names of the server).
LEGACY_FOLDERS: dict[str, str] = {"clip": "text_encoders", "unet": "diffusion_models"}

# (node class, input) -> the folder whose listing is that combo's options. From the node
# sources of the recorded commit; every other combo of object_info is left as recorded.
MODEL_INPUTS: dict[tuple[str, str], str] = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("CheckpointLoader", "ckpt_name"): "checkpoints",
    ("CheckpointLoader", "config_name"): "configs",
    ("unCLIPCheckpointLoader", "ckpt_name"): "checkpoints",
    ("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints",
    ("CreateHookModelAsLora", "ckpt_name"): "checkpoints",
    ("CreateHookModelAsLoraModelOnly", "ckpt_name"): "checkpoints",
    ("LTXVAudioVAELoader", "ckpt_name"): "checkpoints",
    ("LTXAVTextEncoderLoader", "ckpt_name"): "checkpoints",
    ("LTXAVTextEncoderLoader", "text_encoder"): "text_encoders",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("LoraLoaderBypass", "lora_name"): "loras",
    ("LoraLoaderBypassModelOnly", "lora_name"): "loras",
    ("CreateHookLora", "lora_name"): "loras",
    ("CreateHookLoraModelOnly", "lora_name"): "loras",
    ("TrainLoraNode", "existing_lora"): "loras",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name1"): "text_encoders",
    ("TripleCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name3"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name1"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name2"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name3"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name4"): "text_encoders",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("DiffusersLoader", "model_path"): "diffusers",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("StyleModelLoader", "style_model_name"): "style_models",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("DiffControlNetLoader", "control_net_name"): "controlnet",
    ("GLIGENLoader", "gligen_name"): "gligen",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("LatentUpscaleModelLoader", "model_name"): "latent_upscale_models",
    ("HypernetworkLoader", "hypernetwork_name"): "hypernetworks",
    ("PhotoMakerLoader", "photomaker_model_name"): "photomaker",
    ("ModelPatchLoader", "name"): "model_patches",
    ("AudioEncoderLoader", "audio_encoder_name"): "audio_encoders",
    ("LoadBackgroundRemovalModel", "bg_removal_name"): "background_removal",
    ("FrameInterpolationModelLoader", "model_name"): "frame_interpolation",
    ("LoadMoGeModel", "model_name"): "geometry_estimation",
    ("LoadDA3Model", "model_name"): "geometry_estimation",
    ("OpticalFlowLoader", "model_name"): "optical_flow",
    ("LoadMediaPipeFaceLandmarker", "model_name"): "detection",
}

# VAELoader.vae_list: TAE decoders from vae_approx join the vae listing.
VIDEO_TAES = ("taehv", "lighttaew2_2", "lighttaew2_1", "lighttaehy1_5", "taeltx_2", "taeh3")
IMAGE_TAES = ("taesd", "taesdxl", "taesd3", "taef1", "taef2")


class Models:
    """The installed model files: folder (as `folder_names_and_paths` names it) -> files."""

    def __init__(self, models: Mapping[str, Sequence[str]] | None = None) -> None:
        self.files: dict[str, tuple[str, ...]] = {}
        if models is None:
            return
        if not isinstance(models, Mapping):
            raise TypeError(f"models must be a mapping of folder -> file names, not {models!r}")
        gathered: dict[str, list[str]] = {}
        for key, names in models.items():
            folder = LEGACY_FOLDERS.get(key, key)
            if folder not in FOLDER_EXTENSIONS:
                valid = ", ".join([*MODEL_FOLDERS, *LEGACY_FOLDERS])
                raise ValueError(f"unknown model folder {key!r} (known: {valid})")
            if isinstance(names, (str, bytes)) or not all(
                isinstance(name, str) and name for name in names
            ):
                raise TypeError(f"models[{key!r}] must be a sequence of file names, not {names!r}")
            gathered.setdefault(folder, []).extend(names)
        self.files = {folder: tuple(dict.fromkeys(names)) for folder, names in gathered.items()}

    def __bool__(self) -> bool:
        return any(self.files.values())

    def listing(self, folder: str) -> list[str]:
        """folder_paths.get_filename_list: the folder's files with its extensions, sorted."""
        extensions = FOLDER_EXTENSIONS[LEGACY_FOLDERS.get(folder, folder)]
        names = self.files.get(LEGACY_FOLDERS.get(folder, folder), ())
        return sorted(
            name
            for name in set(names)
            if not extensions or os.path.splitext(name)[-1].lower() in extensions
        )

    def embeddings(self) -> list[str]:
        """GET /embeddings: the embeddings' names without extension."""
        return [os.path.splitext(name)[0] for name in self.listing("embeddings")]

    def vae_list(self) -> list[str]:
        """nodes.py VAELoader.vae_list."""
        vaes = self.listing("vae")
        have_encoder: set[str] = set()
        have_decoder: set[str] = set()
        for name in self.listing("vae_approx"):
            parts = name.split("_", 1)
            if len(parts) != 2 or parts[0] not in IMAGE_TAES:
                if name.startswith(VIDEO_TAES):
                    vaes.append(name)
                continue
            if parts[1].startswith("encoder."):
                have_encoder.add(parts[0])
            elif parts[1].startswith("decoder."):
                have_decoder.add(parts[0])
        vaes += [k for k in set_order(have_decoder) if k in have_encoder]
        vaes.append("pixel_space")
        return vaes

    def options(self, class_type: str, input_name: str, recorded: list[Any]) -> list[Any]:
        """The combo options the real server would list for a model input."""
        folder = MODEL_INPUTS[(class_type, input_name)]
        if class_type == "VAELoader":
            return list(self.vae_list())
        if class_type == "DiffusersLoader":
            # Directories holding a model_index.json, not files.
            return sorted(set(self.files.get("diffusers", ())))
        if class_type == "TrainLoraNode":
            return [*self.listing(folder), "[None]"]
        if folder == "configs":
            # The recorded server ships the configs/*.yaml that ComfyUI comes with.
            return sorted({*recorded, *self.listing(folder)})
        return self.listing(folder)

    def object_info(self) -> dict[str, Any]:
        """The recorded GET /object_info with the model inputs listing these files."""
        info = dict(object_info())
        for (class_type, input_name), _ in MODEL_INPUTS.items():
            if class_type not in info:
                continue
            node = info[class_type]
            if node is object_info().get(class_type):
                node = info[class_type] = copy.deepcopy(node)
            for section in ("required", "optional"):
                spec = node.get("input", {}).get(section, {}).get(input_name)
                if not isinstance(spec, list) or not spec:
                    continue
                if isinstance(spec[0], list):
                    spec[0] = self.options(class_type, input_name, spec[0])
                elif spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
                    spec[1]["options"] = self.options(
                        class_type, input_name, list(spec[1].get("options", []))
                    )
        return info

    def node_defs(self) -> dict[str, NodeDef]:
        """Node definitions for validation: the recorded ones, model inputs refilled."""
        if not self:
            return node_defs()
        info = self.object_info()
        defs = dict(node_defs())
        for class_type, _ in MODEL_INPUTS:
            if class_type in info:
                defs[class_type] = NodeDef(class_type, info[class_type])
        return defs


def models_used_by(*graphs: Mapping[str, Any]) -> dict[str, list[str]]:
    """The model files API-format workflows load, by folder: what a FakeComfyUI needs in
    `models=` to accept them. Linked model inputs (set by another node) are not followed."""
    found: dict[str, list[str]] = {}
    for graph in graphs:
        for node in graph.values():
            if not isinstance(node, Mapping):
                continue
            class_type = node.get("class_type")
            inputs = node.get("inputs")
            if not isinstance(class_type, str) or not isinstance(inputs, Mapping):
                continue
            for input_name, value in inputs.items():
                folder = MODEL_INPUTS.get((class_type, input_name))
                if folder is None or not isinstance(value, str):
                    continue
                if class_type == "VAELoader" and value == "pixel_space":
                    continue
                if class_type == "TrainLoraNode" and value == "[None]":
                    continue
                names = found.setdefault(folder, [])
                if value not in names:
                    names.append(value)
    return found
