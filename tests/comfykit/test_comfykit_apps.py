"""Call patterns of real comfykit applications, run with comfykit 0.1.12 and with comfygen.

Each test runs one pattern the way public comfykit apps do (Pixelle-Video, Pixelle-MCP, a
Gradio app, LoRA batch scripts, a TTS adapter...) against fresh fake servers: once with
comfykit's own `ComfyKit` and once with `from comfygen import ComfyKit`, and compares what
an app observes — status, texts, media, the graph the server received. Where comfygen
differs on purpose, the test asserts both behaviours and README "Coming from comfykit"
lists the difference.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from comfykit import ComfyKit as OracleKit  # comfykit 0.1.12, the behaviour to match

from comfygen import ComfyKit
from tests.conftest import node
from tests.fakes import FakeComfyUI
from tests.fakes._images import encode_png, probe_png

Fakes = Callable[[], Awaitable[FakeComfyUI]]


def _write(tmp_path: Path, name: str, graph: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    return path


async def _oracle(fake: FakeComfyUI, workflow: Path | str, params: dict[str, Any]) -> Any:
    # comfykit's websocket executor: its http executor sleeps 1 s between history polls.
    kit: Any = OracleKit(comfyui_url=fake.base_url, executor_type="websocket")
    return await kit.execute(str(workflow), params)


async def _ours(fake: FakeComfyUI, workflow: Path | str, params: dict[str, Any]) -> Any:
    async with ComfyKit(comfyui_url=fake.base_url) as kit:
        return await kit.execute(workflow, params)


async def _download(url: str) -> bytes:
    async with httpx.AsyncClient(trust_env=False) as http:
        reply = await http.get(url)
    assert reply.status_code == 200, url
    return reply.content


# -- one name on several nodes with different saved values ----------------------------------

SHARED_WORD = {
    "1": node("PrimitiveString", "$word.value", value="a"),
    "2": node("PrimitiveString", "$word.value", value="b"),
    "3": node("StringConcatenate", "", string_a=["1", 0], string_b=["2", 0], delimiter=""),
    "4": node("PreviewAny", "$output.text", source=["3", 0]),
}


async def test_one_name_with_different_saved_values(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    # comfykit runs this workflow (the build used to refuse it as conflicting-bindings).
    workflow = _write(tmp_path, "shared_word", SHARED_WORD)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    kit = await _oracle(kit_fake, workflow, {"word": "z"})
    gen = await _ours(gen_fake, workflow, {"word": "z"})
    assert (kit.status, gen.status) == ("completed", "completed"), (kit.msg, gen.msg)
    assert kit.texts == gen.texts == ["zz"], "the caller's value sets every node"
    assert [p["prompt"] for p in gen_fake.prompts_received] == [
        p["prompt"] for p in kit_fake.prompts_received
    ]

    # Without a value comfykit writes the last node's saved value into every node ("bb"),
    # silently changing node 1; comfygen leaves each node its own value ("ab").
    kit = await _oracle(kit_fake, workflow, {})
    gen = await _ours(gen_fake, workflow, {})
    assert (kit.texts, gen.texts) == (["bb"], ["ab"])


async def test_shared_name_in_generated_code(
    make_module: Callable[..., Any], fake_comfyui: FakeComfyUI
) -> None:
    import inspect

    from comfygen_runtime import ComfyUI

    module = make_module(SHARED_WORD, "shared_word")
    parameter = inspect.signature(module.shared_word).parameters["word"]
    assert parameter.default is None and "None" in str(parameter.annotation)
    async with ComfyUI(fake_comfyui.base_url) as client:
        kept = await module.shared_word(client=client)
        given = await module.shared_word(word="z", client=client)
    assert [t.text for t in kept.text] == ["ab"] and [t.text for t in given.text] == ["zz"]


# -- loader inputs without `~` are uploaded ---------------------------------------------------

INVERT_UPLOAD = {
    "1": node("LoadImage", "$image.image", image="example.png"),
    "2": node("ImageInvert", "", image=["1", 0]),
    "3": node("SaveImage", "$output.result", images=["2", 0], filename_prefix="inv"),
}


@pytest.mark.parametrize("given", ["path", "url", "server name"])
async def test_loader_input_without_upload_marker(
    tmp_path: Path, start_fake_comfyui: Fakes, given: str
) -> None:
    # Three of Pixelle-Video's shipped workflows title LoadImage `$image.image` and pass a
    # local path or a URL: comfykit uploads it although the title has no `~`.
    workflow = _write(tmp_path, "invert_upload", INVERT_UPLOAD)
    picture = encode_png(6, 4, (200, 40, 10))
    local = tmp_path / "photo.png"
    local.write_bytes(picture)
    media_host = await start_fake_comfyui()  # serves the picture over http for the URL case
    media_host.file("output", "photo.png").write_bytes(picture)
    value = {
        "path": str(local),
        "url": f"{media_host.base_url}/view?filename=photo.png&type=output",
        "server name": "photo.png",
    }[given]
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    for fake in (kit_fake, gen_fake):
        fake.file("input", "photo.png").write_bytes(picture)  # for the server-name case
    kit = await _oracle(kit_fake, workflow, {"image": value})
    gen = await _ours(gen_fake, workflow, {"image": value})
    assert (kit.status, gen.status) == ("completed", "completed"), (kit.msg, gen.msg)
    kit_png, gen_png = await _download(kit.images[0]), await _download(gen.images[0])
    assert probe_png(gen_png) == (6, 4, (55, 215, 245))
    if given == "server name":
        # A comfykit bug comfygen fixes: for a loader input, comfykit drops a string that is
        # neither a URL nor a local file, so the node silently loads the workflow's own file.
        assert kit_fake.prompts_received[0]["prompt"]["1"]["inputs"]["image"] == "example.png"
        assert probe_png(kit_png) == (64, 64, (165, 115, 55))  # the fake's example.png
    else:
        assert probe_png(kit_png) == probe_png(gen_png)
    uploaded = bool(gen_fake.upload_requests)
    assert uploaded == bool(kit_fake.upload_requests) == (given != "server name")
    sent = gen_fake.prompts_received[0]["prompt"]["1"]["inputs"]["image"]
    # comfygen names uploads by content (the same bytes are sent once per server).
    assert sent.startswith("comfygen-") if uploaded else sent == "photo.png"


# -- comfykit's attributes --------------------------------------------------------------------


def test_attributes_are_comfykits(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNNINGHUB_API_KEY", "COMFYUI_API_KEY", "RUNNINGHUB_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    kit = ComfyKit(executor_type="HTTP", cookies="session=1")
    assert kit.executor_type == "http"  # comfykit lowercases it
    assert kit.cookies == "session=1"
    # No RunningHub key: comfykit's attributes are plain values, not errors.
    assert kit.runninghub_api_key is None and kit.runninghub_timeout is None
    assert kit.runninghub_retry_count == 3 and kit.runninghub_instance_type is None
    assert kit.runninghub_url == "https://www.runninghub.ai"
    kit.executor_type = "WebSocket"
    assert kit.executor_type == "websocket"


async def test_attributes_can_be_set_and_take_effect(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    # Apps build one kit and point it elsewhere later (config hot reload, a settings page).
    first, second = await start_fake_comfyui(), await start_fake_comfyui()
    workflow = _write(tmp_path, "shared_word", SHARED_WORD)
    async with ComfyKit(comfyui_url=first.base_url) as kit:
        assert (await kit.execute(workflow, {})).status == "completed"
        kit.comfyui_url = second.base_url
        kit.api_key = "secret-key"
        result = await kit.execute(workflow, {})
        assert result.status == "completed" and result.images == []
        assert result.texts == ["ab"]
        assert "secret-key" not in repr(kit)
    assert (len(first.prompts_received), len(second.prompts_received)) == (1, 1)


# -- types from the server that runs the workflow --------------------------------------------

CUSTOM_SPEED = {
    "1": node("EmptyImage", "$width", width=8, height=8, batch_size=1, color=0),
    "2": node("MyCustomSpeed", "$speed", speed=1, image=["1", 0]),  # the editor saved 1.0 as 1
    "3": node("SaveImage", "$output.image", images=["1", 0], filename_prefix="x"),
}
SPEED_NODE = {
    "input": {"required": {"image": ["IMAGE"], "speed": ["FLOAT", {"min": 0.0, "max": 5.0}]}},
    "output": ["IMAGE"], "output_name": ["IMAGE"], "name": "MyCustomSpeed",
    "display_name": "My custom speed", "category": "custom", "output_node": False,
}  # fmt: skip


async def test_a_custom_nodes_float_takes_a_float(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    # The node is unknown to comfygen's bundled schema and saved `1`: typed by that value,
    # the kit still passes 1.2 through and lets the server decide, as comfykit does.
    workflow = _write(tmp_path, "custom_speed", CUSTOM_SPEED)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    kit = await _oracle(kit_fake, workflow, {"speed": 1.2})
    gen = await _ours(gen_fake, workflow, {"speed": 1.2})
    # (the fakes cannot run a custom node: both get the server's missing-node refusal)
    assert (kit.status, gen.status) == ("error", "error")
    sent = [p["prompt"]["2"]["inputs"]["speed"] for p in (*kit_fake.prompts_received,
                                                          *gen_fake.prompts_received)]  # fmt: skip
    assert sent == [1.2, 1.2]


async def test_the_kits_server_schema_decides(tmp_path: Path, start_fake_comfyui: Fakes) -> None:
    # The server lists the custom node (FLOAT in [0, 5]) and a narrower EmptyImage.width:
    # the kit types the workflow with *its server's* definitions.
    workflow = _write(tmp_path, "custom_speed", CUSTOM_SPEED)
    server = await start_fake_comfyui()
    narrow = json.loads(json.dumps(server_object_info()["EmptyImage"]))
    narrow["input"]["required"]["width"][1]["max"] = 64
    server.node_classes = {"MyCustomSpeed": SPEED_NODE, "EmptyImage": narrow}
    async with ComfyKit(comfyui_url=server.base_url) as kit:
        fast = await kit.execute(workflow, {"speed": 7.5})
        wide = await kit.execute(workflow, {"width": 100})
        ok = await kit.execute(workflow, {"speed": 2.5, "width": 64})
    assert fast.status == "error" and "speed" in (fast.msg or "") and "5" in (fast.msg or "")
    assert wide.status == "error" and "width" in (wide.msg or "") and "64" in (wide.msg or "")
    assert len(server.prompts_received) == 1, "what the server would refuse is never sent"
    assert server.prompts_received[0]["prompt"]["2"]["inputs"]["speed"] == 2.5
    assert ok.status == "error", "the fake cannot run the custom node"


async def test_nodes_installed_later_are_seen(tmp_path: Path, start_fake_comfyui: Fakes) -> None:
    # A kit made before the custom node was installed re-reads /object_info when a workflow
    # uses a class it did not list, so the server's definition applies from then on.
    workflow = _write(tmp_path, "custom_speed", CUSTOM_SPEED)
    server = await start_fake_comfyui()
    async with ComfyKit(comfyui_url=server.base_url) as kit:
        before = await kit.execute(workflow, {"speed": 7.5})  # typed by value: sent
        server.node_classes = {"MyCustomSpeed": SPEED_NODE}
        after = await kit.execute(workflow, {"speed": 7.5})  # now bounded by [0, 5]
    assert len(server.prompts_received) == 1 and before.status == "error"
    assert after.status == "error" and "speed" in (after.msg or "")


def server_object_info() -> dict[str, Any]:
    from tests.fakes._graph import object_info

    return dict(object_info())


# -- the api_key reaches partner (API) nodes ---------------------------------------------------


async def test_api_key_is_sent_as_comfykit_sends_it(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    workflow = _write(tmp_path, "shared_word", SHARED_WORD)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    oracle: Any = OracleKit(comfyui_url=kit_fake.base_url, executor_type="websocket",
                            api_key="key-1")  # fmt: skip
    kit = await oracle.execute(str(workflow), {})
    async with ComfyKit(comfyui_url=gen_fake.base_url, api_key="key-1") as ours:
        gen = await ours.execute(workflow, {})
    assert (kit.status, gen.status) == ("completed", "completed")
    for fake in (kit_fake, gen_fake):
        (body,) = fake.prompts_received
        assert body["extra_data"]["api_key_comfy_org"] == "key-1"
        assert fake.prompt_authorizations == ["Bearer key-1"]


# -- RunningHub: no time limit unless one is set; a timeout leaves the paid task running ------


async def test_runninghub_timeout_leaves_the_task_running(tmp_path: Path) -> None:
    from tests.fakes import FakeRunningHub, Scenario
    from tests.fakes.runninghub import DEFAULT_API_KEY

    hub = FakeRunningHub()
    await hub.start()
    try:
        hub.add_workflow("555", SHARED_WORD)
        hub.scenarios = [Scenario("slow", polls=10_000)]
        settings: dict[str, Any] = {
            "runninghub_url": hub.base_url,
            "runninghub_api_key": DEFAULT_API_KEY,
        }
        assert ComfyKit(**settings).runninghub_timeout is None, "comfykit's default: no limit"
        async with ComfyKit(**settings, runninghub_timeout=0.2) as kit:
            ours = await kit.execute("555", {"word": "z"})
        oracle: Any = OracleKit(**settings, runninghub_timeout=1)
        theirs = await oracle.execute("555", {"word": "z"})
        await oracle.close()
    finally:
        await hub.stop()
    # comfykit reports "error" with "timeout" in its message; comfygen says "timeout".
    assert theirs.status == "error" and "timeout" in theirs.msg
    assert ours.status == "timeout" and ours.prompt_id == next(iter(hub.tasks))
    assert "left running" in (ours.msg or "")
    assert hub.cancelled == [], "neither cancels the paid task"


async def test_execute_with_an_idempotency_key_runs_once(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    # A task queue redelivers a task: the second execute attaches to the first job.
    workflow = _write(tmp_path, "shared_word", SHARED_WORD)
    server = await start_fake_comfyui()
    async with ComfyKit(comfyui_url=server.base_url) as kit:
        first = await kit.execute(workflow, {"word": "q"}, idempotency_key="task-7")
    async with ComfyKit(comfyui_url=server.base_url) as restarted:  # another process, say
        again = await restarted.execute(workflow, {"word": "q"}, idempotency_key="task-7")
    assert (first.status, again.status) == ("completed", "completed")
    assert first.prompt_id == again.prompt_id and again.texts == ["qq"]
    assert len(server.prompts_received) == 1 and server.executions == [first.prompt_id]


# -- combos of numbers (partner nodes' durations) ----------------------------------------------

KLING = {
    "1": node("KlingTextToVideoWithAudio", "$prompt.prompt!, $duration", model_name="kling-v2-6",
              prompt="a cat", mode="pro", aspect_ratio="16:9", duration=5,
              generate_audio=True, seed=0),
    "2": node("SaveVideo", "$output.video", filename_prefix="x", format="auto", codec="auto",
              video=["1", 0]),
}  # fmt: skip


async def test_a_combo_of_integers_takes_an_integer(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    # /object_info lists Kling's durations as the numbers 5 and 10: both kits send 10.
    workflow = _write(tmp_path, "kling", KLING)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    kit = await _oracle(kit_fake, workflow, {"prompt": "dog", "duration": 10})
    gen = await _ours(gen_fake, workflow, {"prompt": "dog", "duration": 10})
    assert (kit.status, gen.status) == ("completed", "completed"), (kit.msg, gen.msg)
    received = [*kit_fake.prompts_received, *gen_fake.prompts_received]
    assert [p["prompt"]["1"]["inputs"]["duration"] for p in received] == [10, 10]
    # Not one of the options: comfygen refuses it before sending (as it does out-of-range).
    refused = await _ours(gen_fake, workflow, {"prompt": "dog", "duration": 7})
    assert refused.status == "error" and "duration" in (refused.msg or "")
    assert "5 or 10" in (refused.msg or "") and len(gen_fake.prompts_received) == 1


# -- values the server converts, it accepts ----------------------------------------------------

CONVERTED = {
    "1": node("PrimitiveString", "$index.value", value="0"),
    "2": node("PrimitiveInt", "$count.value", value=1),
    "3": node("StringConcatenate", "", string_a=["1", 0], string_b="-", delimiter=""),
    "4": node("PreviewAny", "$output.text", source=["3", 0]),
    "5": node("PreviewAny", "$output.n", source=["2", 0]),
}


@pytest.mark.parametrize(
    ("params", "sent"),
    [({"index": 3}, ("1", "value", "3")), ({"count": 2.5}, ("2", "value", 2)),
     ({"count": "7"}, ("2", "value", 7))],
)  # fmt: skip
async def test_values_the_server_converts_are_accepted(
    tmp_path: Path, start_fake_comfyui: Fakes, params: dict[str, Any], sent: tuple[str, str, Any]
) -> None:
    # ComfyUI converts a widget value with int()/float()/str() before checking it, so an app
    # may send 3 for a STRING or 2.5 for an INT: comfykit passes them on; so does comfygen,
    # converted as the server would (it refuses only what the server would refuse).
    workflow = _write(tmp_path, "converted", CONVERTED)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    kit = await _oracle(kit_fake, workflow, params)
    gen = await _ours(gen_fake, workflow, params)
    assert (kit.status, gen.status) == ("completed", "completed"), (kit.msg, gen.msg)
    assert kit.texts == gen.texts
    node_id, name, value = sent
    assert gen_fake.prompts_received[0]["prompt"][node_id]["inputs"][name] == value
    bad = await _ours(gen_fake, workflow, {"count": "many"})  # int("many") fails there too
    assert bad.status == "error" and "count" in (bad.msg or "")


async def test_noise_seed_zero_is_kept_as_comfykit_keeps_it(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    # comfykit randomizes `seed` inputs of 0 only; `noise_seed` (RandomNoise, SamplerCustom)
    # is sent as it is.
    graph = {"1": node("RandomNoise", "", noise_seed=0),
             "2": node("PrimitiveString", "$t.value", value="x"),
             "3": node("PreviewAny", "$output.text", source=["2", 0])}  # fmt: skip
    workflow = _write(tmp_path, "noise", graph)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    await _oracle(kit_fake, workflow, {})
    gen = await _ours(gen_fake, workflow, {})
    for fake in (kit_fake, gen_fake):
        assert fake.prompts_received[0]["prompt"]["1"]["inputs"]["noise_seed"] == 0
    assert gen.seeds == {}


async def test_execute_json_as_comfykit_writes_it(start_fake_comfyui: Fakes) -> None:
    # comfykit json.dumps the dict: integer node ids become strings, tuples lists.
    graph: dict[Any, Any] = {1: node("PrimitiveString", "$t.value", value="z"),
                             2: node("PreviewAny", "$output.text", source=("1", 0))}  # fmt: skip
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    oracle: Any = OracleKit(comfyui_url=kit_fake.base_url, executor_type="websocket")
    kit = await oracle.execute_json(graph, {})
    async with ComfyKit(comfyui_url=gen_fake.base_url) as ours:
        gen = await ours.execute_json(graph, {})
        broken = await ours.execute_json({"1": object()}, {})  # never raises: a result
    assert (kit.status, gen.status, kit.texts, gen.texts) == (
        "completed",
        "completed",
        ["z"],
        ["z"],
    )
    assert broken.status == "error" and broken.error is not None


async def test_cookies_as_comfykit_takes_them(start_fake_comfyui: Fakes, tmp_path: Path) -> None:
    # comfykit takes "a=1; b=2", a JSON object, or a URL that answers one of those.
    server = await start_fake_comfyui()
    server.file("output", "cookies.txt").write_text('{"session": "from-url"}')
    workflow = _write(tmp_path, "shared_word", SHARED_WORD)
    url = f"{server.base_url}/view?filename=cookies.txt&type=output"
    for cookies in ("session=plain", '{"session": "json"}', url):
        async with ComfyKit(comfyui_url=server.base_url, cookies=cookies) as kit:
            assert (await kit.execute(workflow, {})).status == "completed"
    assert server.prompt_cookies == ["session=plain", "session=json", "session=from-url"]


async def test_a_server_that_cannot_be_reached(tmp_path: Path) -> None:
    # The workflow's own problems are named even when the server is down; a sound workflow
    # gets the server's failure, found once.
    dead = "http://127.0.0.1:9"
    broken = _write(tmp_path, "broken", {"1": node("EmptyImage", "$width.widht", width=8)})
    sound = _write(tmp_path, "shared_word", SHARED_WORD)
    async with ComfyKit(comfyui_url=dead) as kit:
        refused = await kit.execute(broken, {})
        down = await kit.execute(sound, {})
    assert refused.status == "error" and "unknown-input" in (refused.msg or "")
    assert down.status == "error" and "connection refused" in (down.msg or "")


async def test_one_output_name_on_several_nodes(tmp_path: Path, start_fake_comfyui: Fakes) -> None:
    # comfykit keeps only the last node of an `$output.name` used twice; comfygen keeps all.
    graph = {"1": node("PrimitiveString", "", value="a"),
             "2": node("PrimitiveString", "", value="b"),
             "3": node("PreviewAny", "$output.text", source=["1", 0]),
             "4": node("PreviewAny", "$output.text", source=["2", 0])}  # fmt: skip
    workflow = _write(tmp_path, "shared_output", graph)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    kit = await _oracle(kit_fake, workflow, {})
    gen = await _ours(gen_fake, workflow, {})
    assert kit.texts_by_var == {"text": ["b"]}
    assert gen.texts_by_var == {"text": ["a", "b"]}


async def test_runninghub_calls_are_typed_without_the_bundles_options() -> None:
    # RunningHub publishes no node schemas and its machines carry custom nodes: an option the
    # bundled core schema lacks is sent, not refused; the kit's `timeout` (for ComfyUI) does
    # not bound RunningHub calls, and a pointer dict runs the workflow it points at.
    from tests.fakes import FakeRunningHub
    from tests.fakes.runninghub import DEFAULT_API_KEY

    graph = {"1": node("EmptyImage", "", width=8, height=8, batch_size=1, color=0),
             "2": node("ImageScale", "$method.upscale_method", upscale_method="bilinear",
                       width=4, height=4, crop="disabled", image=["1", 0]),
             "3": node("SaveImage", "$output.image", images=["2", 0],
                       filename_prefix="x")}  # fmt: skip
    hub = FakeRunningHub()
    await hub.start()
    try:
        hub.add_workflow("556", graph)
        settings: dict[str, Any] = {"runninghub_url": hub.base_url,
                                    "runninghub_api_key": DEFAULT_API_KEY}  # fmt: skip
        async with ComfyKit(**settings, timeout=0.001) as kit:
            custom = await kit.execute("556", {"method": "my_custom_method"})
            pointed = await kit.execute_json({"_source": "runninghub", "workflow_id": "556"}, {})
    finally:
        await hub.stop()
    infos = [body["nodeInfoList"] for body in hub.created]
    assert {"nodeId": "2", "fieldName": "upscale_method",
            "fieldValue": "my_custom_method"} in infos[0]  # fmt: skip
    assert custom.status == "error", "the fake's own ComfyUI has no such method"
    assert pointed.status == "completed" and pointed.images, pointed.msg


async def test_a_saved_value_the_server_refuses_is_overridden(
    tmp_path: Path, start_fake_comfyui: Fakes
) -> None:
    # The workflow saves a method the server does not offer; the app always passes its own.
    # comfykit runs it; so does comfygen. Without a value the parameter is required and the
    # message says why (the server would refuse the saved one).
    graph = {"1": node("EmptyImage", "", width=8, height=8, batch_size=1, color=0),
             "2": node("ImageScaleBy", "$method.upscale_method",
                       upscale_method="my_custom_method", scale_by=0.5, image=["1", 0]),
             "3": node("SaveImage", "$output.out", filename_prefix="x",
                       images=["2", 0])}  # fmt: skip
    workflow = _write(tmp_path, "custom_method", graph)
    kit_fake, gen_fake = await start_fake_comfyui(), await start_fake_comfyui()
    kit = await _oracle(kit_fake, workflow, {"method": "bicubic"})
    gen = await _ours(gen_fake, workflow, {"method": "bicubic"})
    assert (kit.status, gen.status) == ("completed", "completed"), (kit.msg, gen.msg)
    missing = await _ours(gen_fake, workflow, {})
    assert missing.status == "error" and "method: required, not given" in (missing.msg or "")
    assert "my_custom_method" in (missing.msg or "") and len(gen_fake.prompts_received) == 1
