"""RunningHub cloud: run workflows on RunningHub's GPUs, no local ComfyUI needed.

The dynamic API runs a RunningHub workflow by its id, a string of digits, exactly as
comfykit does. A generated function runs on RunningHub when it is given a `RunningHub`
client: the workflow id was recorded in its module at build time
(`examples/comfygen.toml`, `[tool.comfygen.runninghub]` in a pyproject.toml, or
`comfygen build rh:<id>`).

Configuration, from the environment:

    RUNNINGHUB_API_KEY            your key (without it this example skips itself)
    RUNNINGHUB_BASE_URL           default https://www.runninghub.ai
    COMFYGEN_EXAMPLE_RH_WORKFLOW  the id of examples/workflows/text_preview.json in your
                                  account (default 1987654322, the id examples/comfygen.toml gives)
    COMFYUI_BASE_URL              a local ComfyUI for section 3 (optional)

    RUNNINGHUB_API_KEY=... uv run python examples/04_runninghub_cloud.py
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so that `import gen` finds examples/gen from any directory

from comfygen_runtime import (  # noqa: E402
    AuthenticationError,
    BackendUnavailableError,
    ComfygenError,
    ComfyUI,
    RunningHub,
    RunningHubError,
)
from gen import invert_color_image, text_preview  # noqa: E402

from comfygen import ComfyKit, ExecuteResult  # noqa: E402

WORKFLOWS = HERE / "workflows"
COMFYUI_URL = os.environ.get("COMFYUI_BASE_URL") or "http://127.0.0.1:8188"
RUNNINGHUB_KEY = os.environ.get("RUNNINGHUB_API_KEY")
RUNNINGHUB_URL = os.environ.get("RUNNINGHUB_BASE_URL") or "https://www.runninghub.ai"
RH_WORKFLOW = os.environ.get("COMFYGEN_EXAMPLE_RH_WORKFLOW") or "1987654322"
# The ids `comfygen build` recorded in examples/gen (from examples/comfygen.toml): the typed
# calls run these workflows, whatever COMFYGEN_EXAMPLE_RH_WORKFLOW says.
BUILT_TEXT_PREVIEW_ID = "1987654322"
BUILT_INVERT_COLOR_IMAGE_ID = "1987654321"


def completed(result: ExecuteResult) -> ExecuteResult:
    """A dynamic result that must have completed (the examples stop on a failure)."""
    if result.status != "completed":
        raise RuntimeError(f"workflow failed ({result.status}): {result.msg}")
    return result


async def example_basic_cloud() -> None:
    print("\n=== 1. Run a workflow by its RunningHub id ===")
    # No arguments: RUNNINGHUB_API_KEY and RUNNINGHUB_BASE_URL come from the environment.
    async with ComfyKit() as kit:
        result = completed(await kit.execute(RH_WORKFLOW, {"text": "a beautiful sunset"}))
    print(f"[dynamic] workflow {RH_WORKFLOW}: status {result.status}, texts {result.texts}")
    print(f"[dynamic] task id: {result.prompt_id}, duration: {result.duration or 0:.2f}s")

    if RH_WORKFLOW != BUILT_TEXT_PREVIEW_ID:
        print(f"[typed] skipped: gen/text_preview.py runs workflow {BUILT_TEXT_PREVIEW_ID};")
        print("        rebuild it for yours: uv run comfygen build examples/workflows -o")
        print("        examples/gen --runninghub-id examples/workflows/text_preview.json=<id>")
        return
    async with RunningHub() as hub:  # the same environment variables
        typed = await text_preview(text="a beautiful sunset", client=hub)
        print(f"[typed] text_preview on RunningHub: {[t.text for t in typed.preview]}")
        print(f"[typed] task id: {typed.prompt_id}, usage: {typed.usage}")


async def example_custom_config() -> None:
    print("\n=== 2. Configuration in code ===")
    assert RUNNINGHUB_KEY is not None
    async with ComfyKit(
        runninghub_api_key=RUNNINGHUB_KEY,
        runninghub_url=RUNNINGHUB_URL,
        runninghub_timeout=600,  # seconds a cloud run may take
        runninghub_retry_count=5,  # retries while RunningHub's queue is full
    ) as kit:
        result = completed(await kit.execute(RH_WORKFLOW, {"text": "a cyberpunk city"}))
    print(f"[dynamic] {result.texts}")

    if RH_WORKFLOW != BUILT_TEXT_PREVIEW_ID:
        print("[typed] skipped (see section 1)")
        return
    async with RunningHub(RUNNINGHUB_KEY, base_url=RUNNINGHUB_URL, retry_count=5) as hub:
        # `timeout=` per call (RunningHub's own `timeout=` is the default for calls)
        typed = await text_preview(text="a cyberpunk city", client=hub, timeout=600)
        print(f"[typed] {[t.text for t in typed.preview]}")


async def example_local_and_cloud() -> None:
    print("\n=== 3. One parameter format, local or cloud ===")
    params = {"text": "same parameters everywhere", "suffix": "."}
    async with ComfyKit(comfyui_url=COMFYUI_URL) as kit:
        # The source decides where it runs: digits -> RunningHub, a file -> ComfyUI,
        # an http(s) URL -> downloaded, then run on ComfyUI.
        cloud = completed(await kit.execute(RH_WORKFLOW, params))
        local = await kit.execute(str(WORKFLOWS / "text_preview.json"), params)
    print(f"[dynamic] cloud: {cloud.texts}")
    if local.status == "completed":
        print(f"[dynamic] local: {local.texts}")
    else:
        print(f"[dynamic] local ComfyUI not available ({local.msg})")

    if RH_WORKFLOW != BUILT_TEXT_PREVIEW_ID:
        print("[typed] skipped (see section 1)")
        return
    # Typed: one function, the client decides.
    async with RunningHub() as hub, ComfyUI(COMFYUI_URL) as comfy:
        on_cloud = await text_preview(text="same parameters everywhere", suffix=".", client=hub)
        print(f"[typed] cloud: {[t.text for t in on_cloud.preview]}")
        try:
            on_comfyui = await text_preview(
                text="same parameters everywhere", suffix=".", client=comfy
            )
            print(f"[typed] local: {[t.text for t in on_comfyui.preview]}")
        except BackendUnavailableError as error:
            print(f"[typed] local ComfyUI not available ({error})")


async def example_images_and_account() -> None:
    print("\n=== 4. Images from the cloud, and the account ===")
    if RH_WORKFLOW != BUILT_TEXT_PREVIEW_ID:
        print("[typed] skipped (see section 1)")
        return
    async with RunningHub() as hub:
        account = await hub.account_status()
        print(f"[typed] account: {account.get('remainCoins')} coins left")
        result = await invert_color_image(width=64, height=64, client=hub)
        image = result.image[0]
        data = await image.read()  # RunningHub's file URL, read through the client
        print(f"[typed] workflow {BUILT_INVERT_COLOR_IMAGE_ID}: {image.url} ({len(data)} bytes)")
        print(f"[typed] usage: {result.usage}")


async def example_errors() -> None:
    print("\n=== 5. Errors ===")
    async with ComfyKit() as kit:
        result = await kit.execute("1", {"text": "no such workflow"})
    print(f"[dynamic] unknown workflow: status {result.status}: {result.msg}")
    assert result.status == "error"

    # Typed: RunningHub's business codes become exceptions (`.code`, `.msg`).
    async with RunningHub("not-a-valid-key-" + "0" * 16, base_url=RUNNINGHUB_URL) as hub:
        try:
            await text_preview(text="x", client=hub)
        except AuthenticationError as error:
            print(f"[typed] wrong key: {type(error).__name__} (code {error.code})")
        except RunningHubError as error:
            print(f"[typed] wrong key: {type(error).__name__}: {error}")


async def main() -> int:
    print("comfygen RunningHub cloud examples")
    print("=" * 60)
    if not RUNNINGHUB_KEY:
        print("SKIPPED: RUNNINGHUB_API_KEY is not set, so there is nothing to run on.")
        print("To run it: get a key at https://www.runninghub.ai, add the workflow")
        print("examples/workflows/text_preview.json to your account, then")
        print("  export RUNNINGHUB_API_KEY='your-key'")
        print("  export COMFYGEN_EXAMPLE_RH_WORKFLOW='<its workflow id>'")
        return 0
    print(f"RunningHub: {RUNNINGHUB_URL}, workflow {RH_WORKFLOW}")
    try:
        await example_basic_cloud()
        await example_custom_config()
        await example_local_and_cloud()
        await example_images_and_account()
        await example_errors()
    except (RuntimeError, ComfygenError) as error:
        print(f"\nError: {error}")
        print("Check the API key, that the workflow id exists in your account")
        print("(COMFYGEN_EXAMPLE_RH_WORKFLOW), and the network.")
        return 1
    print("\n" + "=" * 60)
    print("RunningHub examples completed. Next: 05_advanced_features.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
