"""Local workflows: files, parameters, dicts, URLs and the outputs they produce.

Each section runs a workflow with the dynamic API (`ComfyKit.execute` /
`execute_json`, comfykit's calls) and then the same workflow through its generated
function from `examples/gen`. The workflows are the model-free examples in
`examples/workflows/`, so any ComfyUI runs them (`COMFYUI_BASE_URL`, default
http://127.0.0.1:8188):

    uv run python examples/03_local_workflows.py
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so that `import gen` finds examples/gen from any directory

from comfygen_runtime import BackendUnavailableError, ComfyUI  # noqa: E402
from gen import (  # noqa: E402
    BlurPreviewResult,
    blur_preview,
    caption_text,
    invert_color_image,
    text_preview,
)

from comfygen import ComfyKit, ExecuteResult  # noqa: E402

WORKFLOWS = HERE / "workflows"
COMFYUI_URL = os.environ.get("COMFYUI_BASE_URL") or "http://127.0.0.1:8188"


def completed(result: ExecuteResult) -> ExecuteResult:
    """A dynamic result that must have completed (the examples stop on a failure)."""
    if result.status != "completed":
        raise RuntimeError(f"workflow failed ({result.status}): {result.msg}")
    return result


async def example_basic(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 1. Basic execution: a workflow file, its default parameters ===")
    # A path as a string or a Path; parameters are optional when all have defaults.
    result = completed(await kit.execute(str(WORKFLOWS / "invert_color_image.json")))
    print(f"[dynamic] status: {result.status}, prompt id: {result.prompt_id}")
    print(f"[dynamic] images: {result.images}")
    result = completed(await kit.execute(WORKFLOWS / "invert_color_image.json"))
    print(f"[dynamic] from a Path too: {len(result.images)} image(s)")

    typed = await invert_color_image(client=comfy)  # width=512, height=512, color=0xFF8000
    print(f"[typed] image: {typed.image[0].url}")


async def example_parameters(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 2. Parameters ===")
    # The dict's keys are the names marked in node titles ("$width!", "$radius.blur_radius").
    result = completed(
        await kit.execute(
            str(WORKFLOWS / "blur_preview.json"),
            {"width": 128, "height": 96, "radius": 3, "sigma": 1.5},
        )
    )
    print(f"[dynamic] blurred preview: {result.images[0]}")
    result = completed(
        await kit.execute(
            str(WORKFLOWS / "caption_text.json"),
            {"subject": "a lighthouse at dawn", "style": "oil painting", "separator": " | "},
        )
    )
    print(f"[dynamic] caption: {result.texts[0]}")

    # The same names are keyword arguments, typed from the workflow's values.
    blurred = await blur_preview(width=128, height=96, radius=3, sigma=1.5, client=comfy)
    print(f"[typed] blurred preview: {blurred.node_3[0].url}")
    caption = await caption_text(
        subject="a lighthouse at dawn", style="oil painting", separator=" | ", client=comfy
    )
    print(f"[typed] caption: {caption.caption[0].text}")
    assert caption.caption[0].text == result.texts[0]


async def example_from_dict(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 3. A workflow given as a dict ===")
    workflow_dict = json.loads((WORKFLOWS / "text_preview.json").read_text(encoding="utf-8"))
    result = completed(await kit.execute_json(workflow_dict, {"text": "from a dict"}))
    print(f"[dynamic] execute_json: {result.texts}")

    # A generated module embeds the workflow's dict, compiled once at build time.
    typed = await text_preview(text="from a dict", client=comfy)
    print(f"[typed] text_preview: {[t.text for t in typed.preview]}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_workflows() -> Iterator[str]:
    """Serve examples/workflows over HTTP on 127.0.0.1 (a stand-in for any web server)."""
    handler = functools.partial(QuietHandler, directory=str(WORKFLOWS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def example_from_url(kit: ComfyKit) -> None:
    print("\n=== 4. A workflow given as a URL ===")
    with serve_workflows() as base:
        url = f"{base}/caption_text.json"
        result = completed(await kit.execute(url, {"subject": "a workflow from the web"}))
    print(f"[dynamic] {url} -> {result.texts}")
    # Typed code is generated ahead of time: download the workflow once, then
    # `comfygen build workflows -o gen` and call the function it writes.
    print("[typed] (built ahead of time: download it, then `comfygen build`)")


async def example_outputs(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 5. Outputs by variable, and auto-detected outputs ===")
    image = completed(
        await kit.execute(str(WORKFLOWS / "invert_color_image.json"), {"width": 64, "height": 64})
    )
    text = completed(await kit.execute(str(WORKFLOWS / "text_preview.json"), {"text": "hi"}))
    preview = completed(
        await kit.execute(str(WORKFLOWS / "blur_preview.json"), {"width": 64, "height": 64})
    )
    # "$output.image" / "$output.preview" name the outputs ...
    print(f"[dynamic] images_by_var['image']: {image.images_by_var['image']}")
    print(f"[dynamic] texts_by_var['preview']: {text.texts_by_var['preview']}")
    # ... an output node without a marker (blur_preview's PreviewImage) is keyed by node id.
    print(f"[dynamic] images_by_var['3']: {preview.images_by_var['3']}")
    print(f"[dynamic] videos: {image.videos}, audios: {image.audios}")

    # Typed: one field per output, typed by kind; unmarked outputs are `node_<id>`.
    typed_image = await invert_color_image(width=64, height=64, client=comfy)
    typed_text = await text_preview(text="hi", client=comfy)
    typed_preview: BlurPreviewResult = await blur_preview(width=64, height=64, client=comfy)
    print(f"[typed] .image: {[i.filename for i in typed_image.image]}  (list[Image])")
    print(f"[typed] .preview: {[t.text for t in typed_text.preview]}  (list[Text])")
    print(f"[typed] .node_3: {[i.filename for i in typed_preview.node_3]}  (list[Image])")


async def example_result_handling(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 6. Result handling ===")
    result = await kit.execute(str(WORKFLOWS / "caption_text.json"), {"subject": "a mountain"})
    if result.status == "completed":
        print(f"[dynamic] success in {result.duration or 0:.2f}s: {result.texts_by_var}")
    else:
        print(f"[dynamic] failed: {result.msg}")
    print(f"[dynamic] raw outputs by node: {sorted(result.outputs or {})}")

    typed = await caption_text(subject="a mountain", client=comfy)
    print(f"[typed] prompt id {typed.prompt_id}, duration {typed.duration or 0:.2f}s")
    print(f"[typed] raw outputs by node: {sorted(typed.outputs)}")
    # Results are pydantic models: serialize them as they are.
    print(f"[typed] as JSON: {typed.model_dump_json(include={'caption'})}")


async def main() -> int:
    print("comfygen local workflow examples")
    print("=" * 60)
    print(f"ComfyUI: {COMFYUI_URL}")
    try:
        async with ComfyKit(comfyui_url=COMFYUI_URL) as kit, ComfyUI(COMFYUI_URL) as comfy:
            await example_basic(kit, comfy)
            await example_parameters(kit, comfy)
            await example_from_dict(kit, comfy)
            await example_from_url(kit)
            await example_outputs(kit, comfy)
            await example_result_handling(kit, comfy)
    except (RuntimeError, BackendUnavailableError) as error:
        print(f"\nError: {error}")
        print("Tip: start ComfyUI, or set COMFYUI_BASE_URL to your server.")
        return 1
    print("\n" + "=" * 60)
    print("Local workflow examples completed. Next: 04_runninghub_cloud.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
