"""Configuration: constructor arguments, then environment variables, then defaults.

The same priority as comfykit, for both APIs:

    setting          ComfyKit(...)              typed client               environment
    ComfyUI URL      comfyui_url=               ComfyUI(base_url)          COMFYUI_BASE_URL
    ComfyUI key      api_key= (Bearer token)    ComfyUI(api_key=)          COMFYUI_API_KEY
    cookies          cookies="a=1; b=2"         ComfyUI(cookies=)          COMFYUI_COOKIES
    executor         executor_type=             (websocket + polling)      COMFYUI_EXECUTOR_TYPE
    RunningHub key   runninghub_api_key=        RunningHub(api_key)        RUNNINGHUB_API_KEY
    RunningHub URL   runninghub_url=            RunningHub(base_url=)      RUNNINGHUB_BASE_URL
    cloud timeout    runninghub_timeout=        RunningHub(timeout=)       RUNNINGHUB_TIMEOUT
    retries          runninghub_retry_count=    RunningHub(retry_count=)   RUNNINGHUB_RETRY_COUNT
    instance type    runninghub_instance_type=  RunningHub(instance_type=) RUNNINGHUB_INSTANCE_TYPE

Creating a kit or a client opens no connection, so the first sections run anywhere; the
last one runs a workflow on the ComfyUI at `COMFYUI_BASE_URL` (default
http://127.0.0.1:8188), configured from the environment alone:

    uv run python examples/02_configuration.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so that `import gen` finds examples/gen from any directory

import comfygen_runtime  # noqa: E402
from comfygen_runtime import ComfyUI, RunningHub  # noqa: E402
from gen import text_preview  # noqa: E402

from comfygen import ComfyKit  # noqa: E402

WORKFLOWS = HERE / "workflows"
CONFIG_VARIABLES = (
    "COMFYUI_BASE_URL",
    "COMFYUI_API_KEY",
    "COMFYUI_COOKIES",
    "COMFYUI_EXECUTOR_TYPE",
    "RUNNINGHUB_API_KEY",
    "RUNNINGHUB_BASE_URL",
    "RUNNINGHUB_TIMEOUT",
    "RUNNINGHUB_RETRY_COUNT",
    "RUNNINGHUB_INSTANCE_TYPE",
)


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Run a block with exactly these configuration variables set; restore them after.

    Only for this demonstration: normally you export them in your shell or a .env file.
    """
    saved = {name: os.environ.get(name) for name in CONFIG_VARIABLES}
    for name in CONFIG_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def example_defaults() -> None:
    print("\n=== 1. Defaults (nothing configured) ===")
    with environment():
        async with ComfyKit() as kit:
            print(f"[dynamic] ComfyUI URL: {kit.comfyui().base_url}")
            print(f"[dynamic] executor type: {kit.executor_type}")
            assert kit.comfyui().base_url == "http://127.0.0.1:8188"
            assert kit.executor_type == "http"
        async with ComfyUI() as comfy:
            print(f"[typed] ComfyUI URL: {comfy.base_url}")
            assert comfy.base_url == "http://127.0.0.1:8188"


async def example_constructor() -> None:
    print("\n=== 2. Constructor arguments ===")
    async with ComfyKit(
        comfyui_url="http://my-server:8188",
        executor_type="websocket",
        api_key="my-api-key",  # sent as "Authorization: Bearer ..."
        cookies="session=abc123",
    ) as kit:
        print(f"[dynamic] ComfyUI URL: {kit.comfyui().base_url}")
        print(f"[dynamic] executor type: {kit.executor_type}")
        # Secrets never show in reprs, logs or error messages.
        print(f"[dynamic] client: {kit.comfyui()!r}")
        assert kit.comfyui().base_url == "http://my-server:8188"
        assert "my-api-key" not in repr(kit.comfyui())
    async with ComfyUI(
        "http://my-server:8188",
        api_key="my-api-key",
        cookies={"session": "abc123"},  # a mapping or "a=1; b=2"
        headers={"X-Team": "covers"},  # extra headers on every request
    ) as comfy:
        print(f"[typed] client: {comfy!r}")
        assert comfy.base_url == "http://my-server:8188"
    # Credentials in the URL are kept for requests but hidden when shown.
    async with ComfyUI("http://user:secret@my-server:8188") as comfy:
        print(f"[typed] URL with credentials shows as: {comfy!r}")
        assert "secret" not in repr(comfy)


async def example_environment() -> None:
    print("\n=== 3. Environment variables ===")
    with environment(COMFYUI_BASE_URL="http://env-server:8188", COMFYUI_API_KEY="env-key"):
        async with ComfyKit() as kit:
            print(f"[dynamic] ComfyUI URL: {kit.comfyui().base_url}")
            assert kit.comfyui().base_url == "http://env-server:8188"
        async with ComfyUI() as comfy:
            print(f"[typed] ComfyUI URL: {comfy.base_url}")
            assert comfy.base_url == "http://env-server:8188"


async def example_priority() -> None:
    print("\n=== 4. Priority: arguments win over the environment ===")
    with environment(COMFYUI_BASE_URL="http://env:8188", COMFYUI_EXECUTOR_TYPE="websocket"):
        async with ComfyKit(comfyui_url="http://param:8188") as kit:
            print(f"[dynamic] URL from the argument: {kit.comfyui().base_url}")
            print(f"[dynamic] executor type from the environment: {kit.executor_type}")
            assert kit.comfyui().base_url == "http://param:8188"
            assert kit.executor_type == "websocket"
        async with ComfyUI("http://param:8188") as comfy:
            print(f"[typed] URL from the argument: {comfy.base_url}")
            assert comfy.base_url == "http://param:8188"


async def example_runninghub() -> None:
    print("\n=== 5. RunningHub configuration ===")
    with environment():
        async with ComfyKit(
            runninghub_api_key="rh-key-xxx",
            runninghub_timeout=600,  # seconds a cloud run may take (default 300)
            runninghub_retry_count=5,  # retries while the queue is full (default 3)
            runninghub_instance_type="plus",  # a 48 GB machine
        ) as kit:
            hub = kit.runninghub()
            print(f"[dynamic] RunningHub URL: {hub.base_url}")
            print(f"[dynamic] client: {hub!r}")
            assert hub.base_url == "https://www.runninghub.ai"
            assert "rh-key-xxx" not in repr(hub)
        async with RunningHub(
            "rh-key-xxx", timeout=600, retry_count=5, instance_type="plus"
        ) as typed_hub:
            print(f"[typed] client: {typed_hub!r}")
        with environment(
            RUNNINGHUB_API_KEY="rh-env-key", RUNNINGHUB_BASE_URL="https://www.runninghub.cn"
        ):
            async with RunningHub() as env_hub:
                print(f"[typed] from the environment: {env_hub.base_url}")
                assert env_hub.base_url == "https://www.runninghub.cn"
        try:
            RunningHub()
        except ValueError as error:
            print(f"[typed] without a key: {error}")


async def example_multiple_instances() -> None:
    print("\n=== 6. Several independent instances ===")
    async with (
        ComfyKit(comfyui_url="http://127.0.0.1:8188") as local,
        ComfyKit(comfyui_url="http://remote:8188") as remote,
    ):
        print(f"[dynamic] local: {local.comfyui().base_url}, remote: {remote.comfyui().base_url}")
        assert local.comfyui().base_url != remote.comfyui().base_url
    # Typed functions take the client per call: one function, any number of servers.
    async with ComfyUI("http://127.0.0.1:8188") as a, ComfyUI("http://remote:8188") as b:
        print(f"[typed] text_preview(text=..., client=a) or client=b: {a!r}, {b!r}")


async def example_live_from_environment() -> bool:
    print("\n=== 7. A real run configured from the environment only ===")
    url = os.environ.get("COMFYUI_BASE_URL") or "http://127.0.0.1:8188"
    print(f"COMFYUI_BASE_URL: {url}")
    async with ComfyKit() as kit:  # no arguments: COMFYUI_BASE_URL, COMFYUI_API_KEY, ...
        result = await kit.execute(
            str(WORKFLOWS / "text_preview.json"), {"text": "configured by the environment"}
        )
    if result.status != "completed":
        print(f"[dynamic] failed ({result.status}): {result.msg}")
        return False
    print(f"[dynamic] texts: {result.texts}")
    # Without `client=`, a generated function uses the default client: a `ComfyUI()`
    # configured from the same environment variables, one per event loop.
    typed = await text_preview(text="configured by the environment", suffix="?")
    print(f"[typed] preview: {[t.text for t in typed.preview]}")
    await comfygen_runtime.default_client().close()
    return True


def example_sync() -> None:
    """From synchronous code: `run_sync` runs one call and closes the default client."""
    print("\n=== 8. Synchronous code ===")
    result = comfygen_runtime.run_sync(text_preview(text="from sync code"))
    print(f"[typed] run_sync: {result.preview[0].text}")


async def main() -> int:
    print("comfygen configuration examples")
    print("=" * 60)
    await example_defaults()
    await example_constructor()
    await example_environment()
    await example_priority()
    await example_runninghub()
    await example_multiple_instances()
    if not await example_live_from_environment():
        print("\nTip: start ComfyUI, or set COMFYUI_BASE_URL to your server.")
        return 1
    return 0


if __name__ == "__main__":
    status = asyncio.run(main())
    if status == 0:
        example_sync()  # outside asyncio.run: run_sync starts its own event loop
        print("\n" + "=" * 60)
        print("Configuration examples completed. Next: 03_local_workflows.py")
    raise SystemExit(status)
