"""Advanced features: batches, progress, timeouts, cancellation, seeds, uploads, saving
outputs and error handling, each with the dynamic API and with generated code.

Runs the model-free example workflows on the ComfyUI at `COMFYUI_BASE_URL` (default
http://127.0.0.1:8188). Files are saved under `COMFYGEN_EXAMPLE_OUTPUT_DIR` (default: a
new temporary directory, printed at the end):

    uv run python examples/05_advanced_features.py
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so that `import gen` finds examples/gen from any directory

import httpx  # noqa: E402
import pydantic  # noqa: E402
from comfygen_runtime import (  # noqa: E402
    BackendUnavailableError,
    ComfyUI,
    Event,
    ExecutionError,
    WorkflowTimeoutError,
    WorkflowValidationError,
    watch,
)
from gen import (  # noqa: E402
    InvertColorImageResult,
    blur_preview,
    book_cover,
    caption_text,
    invert_color_image,
    invert_uploaded_image,
    text_preview,
)

from comfygen import ComfyKit, ExecuteResult  # noqa: E402

WORKFLOWS = HERE / "workflows"
COMFYUI_URL = os.environ.get("COMFYUI_BASE_URL") or "http://127.0.0.1:8188"
OUTPUT_DIR = Path(
    os.environ.get("COMFYGEN_EXAMPLE_OUTPUT_DIR") or tempfile.mkdtemp(prefix="comfygen-examples-")
)


def completed(result: ExecuteResult) -> ExecuteResult:
    """A dynamic result that must have completed (the examples stop on a failure)."""
    if result.status != "completed":
        raise RuntimeError(f"workflow failed ({result.status}): {result.msg}")
    return result


def describe(event: Event) -> str:
    """One line per progress event."""
    text: str = event.kind
    if event.node is not None:
        text += f" node={event.node}"
    if event.max:
        text += f" {event.value:g}/{event.max:g}"
    if event.position is not None:
        text += f" position={event.position}"
    return text


async def example_batch(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 1. Batch execution ===")
    subjects = ["a cat", "a dog", "a bird"]
    workflow = str(WORKFLOWS / "caption_text.json")
    results = await asyncio.gather(*(kit.execute(workflow, {"subject": s}) for s in subjects))
    done = [r for r in results if r.status == "completed"]
    print(f"[dynamic] completed {len(done)}/{len(subjects)}: {[r.texts[0] for r in done]}")
    assert len(done) == len(subjects)

    typed = await asyncio.gather(*(caption_text(subject=s, client=comfy) for s in subjects))
    print(f"[typed] {[r.caption[0].text for r in typed]}")


async def example_progress(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 2. Progress events ===")
    # A callback (sync or async) gets every event: queued, started, cached, executing,
    # progress (value/max, e.g. sampler steps), preview, text, output, finished.
    events: list[Event] = []
    completed(
        await kit.execute(
            str(WORKFLOWS / "text_preview.json"), {"text": "progress"}, on_event=events.append
        )
    )
    print(f"[dynamic] on_event: {', '.join(describe(e) for e in events)}")

    # Typed: the same `on_event=` argument, or `watch()`, an async iterator over a run.
    stream = watch(invert_color_image(width=32, height=32, color=0x00FF00, client=comfy))
    seen = [describe(event) async for event in stream]
    result = await stream  # then the result
    print(f"[typed] watch(): {', '.join(seen)}")
    print(f"[typed] result: {result.image[0].filename}")
    # watch() works around the dynamic API too.
    dynamic_stream = watch(kit.execute(str(WORKFLOWS / "text_preview.json"), {"text": "w"}))
    kinds = [event.kind async for event in dynamic_stream]
    print(f"[dynamic] watch(): {kinds} -> {(await dynamic_stream).texts}")


async def example_timeouts(comfy: ComfyUI) -> None:
    print("\n=== 3. Timeouts ===")
    # `timeout` bounds each call, in seconds. When it passes, the job is cancelled on the
    # server too, so nothing keeps running unseen. 1 ms is deliberately too short.
    workflow = str(WORKFLOWS / "invert_color_image.json")
    async with ComfyKit(comfyui_url=COMFYUI_URL, timeout=60) as kit:
        result = await kit.execute(workflow, {"width": 96})
        print(f"[dynamic] ComfyKit(timeout=60): status {result.status}")
        kit.timeout = 0.001  # the kit's timeout applies to every later `execute`
        result = await kit.execute(workflow, {"width": 97})
    print(f"[dynamic] timeout 0.001: status {result.status}: {result.msg}")
    assert result.status == "timeout"

    typed = await invert_color_image(width=96, client=comfy, timeout=60)
    print(f"[typed] timeout=60: {typed.image[0].filename}")
    try:
        await invert_color_image(width=97, client=comfy, timeout=0.001)
        print("[typed] finished within 1 ms?!")
    except WorkflowTimeoutError as error:  # also a TimeoutError
        print(f"[typed] timeout=0.001: {type(error).__name__}: {error}")


async def example_cancellation(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 4. Cancellation ===")
    # Cancelling the task that awaits a run cancels the job on the server, then raises
    # CancelledError. In an app a "stop" button would call `task.cancel()`; here each task
    # cancels itself as soon as the server has queued its job.
    queued: list[str] = []
    typed_task: asyncio.Task[InvertColorImageResult]

    def cancel_typed(event: Event) -> None:
        if event.kind == "queued":
            queued.append(event.prompt_id)
            typed_task.cancel()

    typed_task = asyncio.create_task(
        invert_color_image(width=80, height=80, client=comfy, on_event=cancel_typed)
    )
    try:
        await typed_task
        print("[typed] finished before the cancel arrived")
    except asyncio.CancelledError:
        print(f"[typed] cancelled; job {queued[-1]} was cancelled on the server too")

    # The same for the dynamic API: cancel the task awaiting `execute`.
    dynamic_task: asyncio.Task[ExecuteResult]

    def cancel_dynamic(event: Event) -> None:
        if event.kind == "queued":
            queued.append(event.prompt_id)
            dynamic_task.cancel()

    dynamic_task = asyncio.create_task(
        kit.execute(
            str(WORKFLOWS / "invert_color_image.json"),
            {"width": 80, "height": 80},
            on_event=cancel_dynamic,
        )
    )
    try:
        result = await dynamic_task
        print(f"[dynamic] finished before the cancel arrived: {result.status}")
    except asyncio.CancelledError:
        print(f"[dynamic] cancelled; job {queued[-1]} was cancelled on the server too")
    # (`watch(...)` streams have a `cancel()` method that does the same.)


def noisy_workflow() -> dict[str, Any]:
    """invert_color_image.json plus a model-free node with a seed (ImageAddNoise)."""
    graph: dict[str, Any] = json.loads((WORKFLOWS / "invert_color_image.json").read_text())
    graph["4"] = {
        "class_type": "ImageAddNoise",
        "inputs": {"image": ["2", 0], "seed": 0, "strength": 0.25},
        "_meta": {"title": "Noise, $seed, $strength"},
    }
    graph["3"]["inputs"]["images"] = ["4", 0]  # save the noisy image
    return graph


async def example_seeds(kit: ComfyKit) -> None:
    print("\n=== 5. Seeds ===")
    graph = noisy_workflow()
    # As in comfykit, a seed of 0 means "pick one at random"; comfygen reports the pick.
    first = completed(await kit.execute_json(graph, {"width": 64, "height": 64}))
    print(f"[dynamic] seed 0 -> random seeds used (node id -> seed): {first.seeds}")
    picked = first.seeds["4"]
    again = completed(await kit.execute_json(graph, {"width": 64, "height": 64, "seed": picked}))
    print(f"[dynamic] seed={picked} reproduces it; no random pick: {again.seeds}")
    async with ComfyKit(comfyui_url=COMFYUI_URL, random_seed=False) as fixed:
        zero = completed(await fixed.execute_json(graph, {"width": 64, "height": 64}))
    print(f"[dynamic] ComfyKit(random_seed=False) keeps 0: {zero.seeds}")

    # Typed: a `$seed` is an ordinary int argument, honoured as given (book_cover's needs a
    # checkpoint, so it is not run here). `ComfyUI(url, randomize_seeds=True)` opts in to
    # the random-0 rule for every call on that client; `result.seeds` reports the picks.
    default = inspect.signature(book_cover).parameters["seed"].default
    print(f"[typed] book_cover(..., seed: int = {default}, ...): the seed is used as given")


async def example_uploads(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 6. Uploads from a Path or bytes ===")
    # A picture to upload: make one with a workflow and save it.
    made = await invert_color_image(width=48, height=32, color=0x3366FF, client=comfy)
    picture = await made.image[0].save(OUTPUT_DIR / "inputs")
    data = picture.read_bytes()

    # "$~image!" marks a media parameter: pass a path (str or Path), bytes or an http(s)
    # URL; comfygen uploads it once per content and sets the server's file name.
    by_path = completed(
        await kit.execute(str(WORKFLOWS / "invert_uploaded_image.json"), {"image": str(picture)})
    )
    by_bytes = completed(
        await kit.execute(str(WORKFLOWS / "invert_uploaded_image.json"), {"image": data})
    )
    print(f"[dynamic] from a path: {by_path.images_by_var['inverted']}")
    print(f"[dynamic] from bytes: {by_bytes.images_by_var['inverted']}")

    typed_path = await invert_uploaded_image(image=picture, client=comfy)  # a Path
    typed_bytes = await invert_uploaded_image(image=data, client=comfy)  # bytes
    print(f"[typed] from a Path: {typed_path.inverted[0].url}")
    print(f"[typed] from bytes: {typed_bytes.inverted[0].url}")
    # One picture: uploaded once (named after its content), so the four runs are the same
    # job to ComfyUI, which answers the later ones from its cache.


async def example_saving(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 7. Saving outputs ===")
    result = completed(
        await kit.execute(str(WORKFLOWS / "invert_color_image.json"), {"width": 40, "height": 40})
    )
    # The dynamic API returns URLs: download them with any HTTP client.
    folder = OUTPUT_DIR / "dynamic"
    folder.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient() as http:
        for index, url in enumerate(result.images):
            reply = await http.get(url)
            reply.raise_for_status()
            target = folder / f"image_{index}.png"
            target.write_bytes(reply.content)
            print(f"[dynamic] saved {target}")

    # Typed: every file reference can `read()` or `save(dir)` itself (streamed through
    # its client, with its credentials; a file name can never escape `dir`).
    typed = await invert_color_image(width=40, height=40, client=comfy)
    saved = await typed.image[0].save(OUTPUT_DIR / "typed")
    print(f"[typed] saved {saved}")
    renamed = await typed.image[0].save(OUTPUT_DIR / "typed", name="inverted.png")
    print(f"[typed] saved {renamed}")


async def example_errors(kit: ComfyKit, comfy: ComfyUI) -> None:
    print("\n=== 8. Error handling ===")
    # Dynamic: nothing is raised; `status` is "error" (or "timeout"), `msg` says why, and
    # `error` keeps the typed exception.
    cases: list[tuple[str, str | Path, dict[str, Any]]] = [
        ("missing file", "non_existent_workflow.json", {}),
        ("missing parameter", WORKFLOWS / "text_preview.json", {}),
        # Outside the node's bounds: refused before anything is sent, as in typed code.
        ("out of bounds", WORKFLOWS / "blur_preview.json", {"width": 0, "height": 8}),
        # Refused by the server: no such file in its input folder.
        ("rejected input", WORKFLOWS / "invert_uploaded_image.json", {"image": "nope.png"}),
        ("node failure", WORKFLOWS / "blur_preview.json", {"width": 8, "height": 8, "radius": 16}),
    ]
    for label, workflow, params in cases:
        result = await kit.execute(workflow, params)
        message = " ".join((result.msg or "").split())
        print(f"[dynamic] {label}: {result.status}, {type(result.error).__name__}: {message[:90]}")
        assert result.status == "error"

    # Typed: a missing or misspelled argument is a mypy error; untyped callers get a
    # pydantic ValidationError before anything is sent.
    untyped: dict[str, Any] = {"text": 42}
    try:
        await text_preview(**untyped, client=comfy)
    except pydantic.ValidationError as error:
        print(f"[typed] bad argument: ValidationError: {error.errors()[0]['msg']}")
    # Bounds from the node's definition are checked before anything is sent...
    try:
        await blur_preview(width=0, height=8, client=comfy)
    except pydantic.ValidationError as error:
        print(f"[typed] out of bounds: ValidationError: {error.errors()[0]['msg']}")
    # ...and the server's own validation errors name the parameters that set the inputs.
    try:
        await invert_uploaded_image(image="no_such_file_on_the_server.png", client=comfy)
    except WorkflowValidationError as error:
        problem = error.errors[0]
        print(f"[typed] rejected input: parameter {problem.params}: {problem.message}")
    # A node that fails while running: node, class, exception and traceback.
    try:
        await blur_preview(width=8, height=8, radius=16, client=comfy)
    except ExecutionError as error:
        print(f"[typed] node failure: node {error.node_id} ({error.node_type}) raised")
        print(f"        {error.exception_type}: {error.exception_message.strip()[:60]}...")


async def main() -> int:
    print("comfygen advanced features")
    print("=" * 60)
    print(f"ComfyUI: {COMFYUI_URL}")
    try:
        async with ComfyKit(comfyui_url=COMFYUI_URL) as kit, ComfyUI(COMFYUI_URL) as comfy:
            await example_batch(kit, comfy)
            await example_progress(kit, comfy)
            await example_timeouts(comfy)
            await example_cancellation(kit, comfy)
            await example_seeds(kit)
            await example_uploads(kit, comfy)
            await example_saving(kit, comfy)
            await example_errors(kit, comfy)
    except (RuntimeError, BackendUnavailableError) as error:
        print(f"\nError: {error}")
        print("Tip: start ComfyUI, or set COMFYUI_BASE_URL to your server.")
        return 1
    print("\n" + "=" * 60)
    print(f"Advanced examples completed. Files are in {OUTPUT_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
