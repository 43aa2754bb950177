"""Constant answers of the recorded server (endpoints_misc.json)."""

from __future__ import annotations

from typing import Any

SYSTEM_STATS: dict[str, Any] = {
    "system": {
        "os": "linux",
        "ram_total": 25276502016,
        "ram_free": 24312377344,
        "comfyui_version": "0.33.0",
        "required_frontend_version": "1.49.6",
        "installed_templates_version": "0.11.44",
        "required_templates_version": "0.11.44",
        "comfy_package_versions": [
            {"name": "comfyui-frontend-package", "installed": "1.49.6", "required": "1.49.6"},
            {"name": "comfyui-workflow-templates", "installed": "0.11.44", "required": "0.11.44"},
            {"name": "comfyui-embedded-docs", "installed": "0.5.10", "required": "0.5.10"},
            {"name": "comfy-kitchen", "installed": "0.2.31", "required": "0.2.31"},
            {"name": "comfy-aimdo", "installed": "0.4.13", "required": "0.4.13"},
        ],
        "python_version": "3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]",
        "pytorch_version": "2.13.0+cpu",
        "embedded_python": False,
        "deploy_environment": "local-git",
        "argv": ["main.py", "--cpu", "--listen", "127.0.0.1", "--port", "8188"],
    },
    "devices": [
        {
            "name": "cpu",
            "type": "cpu",
            "index": None,
            "vram_total": 25276502016,
            "vram_free": 24312377344,
            "torch_vram_total": 25276502016,
            "torch_vram_free": 24312377344,
        }
    ],
}

FEATURES: dict[str, Any] = {
    "supports_preview_metadata": True,
    "supports_model_type_tags": True,
    "max_upload_size": 104857600,
    "extension": {"manager": {"supports_v4": True}},
    "node_replacements": True,
    "assets": False,
}

MODEL_FOLDERS: list[str] = [
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "custom_nodes",
    "datasets",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
    "background_removal",
    "frame_interpolation",
    "geometry_estimation",
    "optical_flow",
    "detection",
]

EXTENSIONS: list[str] = [
    "/extensions/core/textPreviewWidgets.js",
    "/extensions/core/groupNode.js",
    "/extensions/core/editAttention.js",
    "/extensions/core/widgetInputs.js",
    "/extensions/core/widgetValuePropagation.js",
]
