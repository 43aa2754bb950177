"""The fake ComfyUI against the recordings of a real ComfyUI 0.33.0 (tests/fakes/recordings).

Each test drives the fake the way an API client drives the real server (httpx + websockets on
real sockets) and compares what comes back with what the real server sent, ignoring only
ids, timestamps, counters and random file name parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

from tests.conftest import ROOT, TESTS
from tests.fakes import FakeComfyUI, running_fake_comfyui
from tests.fakes._images import encode_png, png_text_chunks

RECORDINGS = TESTS / "fakes" / "recordings"
EXAMPLES = ROOT / "examples" / "workflows"
TIMEOUT = 5.0

Frame = dict[str, Any]


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


def workflow(name: str) -> dict[str, Any]:
    graph: dict[str, Any] = recording(f"workflows/{name}.json")
    return graph


def transcript(name: str) -> dict[str, Any]:
    data: dict[str, Any] = recording(f"transcripts/{name}.transcript.json")
    return data


# -- normalisation: what may differ between two runs of the same server ---------------------

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_TIME_KEYS = {"timestamp", "create_time", "execution_start_time", "execution_end_time"}
_NUMBER_KEYS = {"priority", "number"}


def norm(obj: Any, key: str | None = None) -> Any:
    if isinstance(obj, dict):
        return {("<uuid>" if _UUID.match(k) else k): norm(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        items = [norm(v) for v in obj]
        if len(obj) == 5 and isinstance(obj[0], (int, float)) and items[1] == "<uuid>":
            items[0] = "<n>"  # a queue item: (number, prompt_id, prompt, extra_data, outputs)
        return items
    if key in _TIME_KEYS and isinstance(obj, int):
        return "<time>"
    if key in _NUMBER_KEYS and isinstance(obj, (int, float)):
        return "<n>"
    if isinstance(obj, str):
        if _UUID.match(obj):
            return "<uuid>"
        if _HEX32.match(obj):
            return "<client>"
        return re.sub(r"ComfyUI_temp_[a-z]{5}_", "ComfyUI_temp_<r>_", obj)
    return obj


_TRUNCATED_LIST = re.compile(r"^\.\.\. (\d+) more$")
_TRUNCATED_STR = re.compile(r"\.\.\.<(\d+) more chars>$", re.S)


def assert_matches(expected: Any, actual: Any, path: str = "$") -> None:
    """Equality, key order included, where the recording's `... N more` / `...<N more chars>`
    elisions match any actual tail of that length."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r}"
        assert list(expected) == list(actual), f"{path}: keys {list(expected)} != {list(actual)}"
        for k in expected:
            assert_matches(expected[k], actual[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: {actual!r}"
        if expected and isinstance(expected[-1], str) and _TRUNCATED_LIST.match(expected[-1]):
            more = int(_TRUNCATED_LIST.match(expected[-1]).group(1))  # type: ignore[union-attr]
            expected = expected[:-1]
            assert len(actual) == len(expected) + more, f"{path}: length"
            actual = actual[: len(expected)]
        assert len(expected) == len(actual), f"{path}: {len(expected)} != {len(actual)} items"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_matches(e, a, f"{path}[{i}]")
    elif isinstance(expected, str) and (m := _TRUNCATED_STR.search(expected)):
        prefix = expected[: m.start()]
        assert isinstance(actual, str) and actual.startswith(prefix), path
        assert len(actual) == len(prefix) + int(m.group(1)), f"{path}: length"
    else:
        assert expected == actual, f"{path}: {expected!r} != {actual!r}"


# -- a client of the fake ---------------------------------------------------------------------


def decode_frame(message: str | bytes) -> Frame:
    if isinstance(message, str):
        frame: Frame = json.loads(message)
        return frame
    (event,) = struct.unpack(">I", message[:4])
    if event == 3:
        (length,) = struct.unpack(">I", message[4:8])
        node = message[8 : 8 + length].decode()
        return {"binary": 3, "node_id": node, "text": message[8 + length :].decode()}
    return {"binary": event, "payload": message[4:]}


def recorded_frame(message: dict[str, Any]) -> Frame:
    if message["frame"] == "text":
        frame: Frame = message["json"]
        return frame
    return {"binary": message["event_type_u32be"], "node_id": message["node_id"],
            "text": message["text"]}  # fmt: skip


def is_preview(frame: Frame) -> bool:
    return frame.get("binary") in (1, 4)


@dataclass
class Session:
    """One API user: an httpx client and one websocket with its clientId."""

    fake: FakeComfyUI
    http: httpx.AsyncClient
    ws: ClientConnection
    client_id: str

    async def recv(self, timeout: float = TIMEOUT) -> Frame:
        return decode_frame(await asyncio.wait_for(self.ws.recv(), timeout))

    async def post(self, prompt: dict[str, Any], **body: Any) -> httpx.Response:
        return await self.http.post(
            "/prompt", json={"prompt": prompt, "client_id": self.client_id, **body}
        )

    async def submit(self, prompt: dict[str, Any], **body: Any) -> str:
        response = await self.post(prompt, **body)
        assert response.status_code == 200, response.text
        prompt_id: str = response.json()["prompt_id"]
        return prompt_id

    async def until(self, frames: list[Frame], type_: str, **data: Any) -> Frame:
        """Receive into `frames` until a message of that type with those data fields."""
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame.get("type") == type_ and all(
                frame["data"].get(k) == v for k, v in data.items()
            ):
                return frame

    async def until_done(self, prompt_id: str, frames: list[Frame] | None = None) -> list[Frame]:
        frames = [] if frames is None else frames
        await self.until(frames, "executing", node=None, prompt_id=prompt_id)
        return frames

    async def run(self, prompt: dict[str, Any], **body: Any) -> tuple[str, list[Frame]]:
        prompt_id = await self.submit(prompt, **body)
        return prompt_id, await self.until_done(prompt_id)

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()


@contextlib.asynccontextmanager
async def session(
    fake: FakeComfyUI, client_id: str | None = None, path: str = "/ws"
) -> AsyncIterator[Session]:
    cid = client_id or uuid.uuid4().hex
    async with (
        httpx.AsyncClient(base_url=fake.base_url, timeout=TIMEOUT) as http,
        connect(f"ws://127.0.0.1:{fake.port}{path}?clientId={cid}", max_size=None) as ws,
    ):
        yield Session(fake, http, ws, cid)


PNG_A = encode_png(16, 16, (200, 30, 30))
PNG_B = encode_png(16, 16, (30, 30, 200))


async def upload(
    http: httpx.AsyncClient, name: str, data: bytes, path: str = "/upload/image", **fields: str
) -> httpx.Response:
    return await http.post(path, data=fields, files={"image": (name, data, "image/png")})


def slow_color_transfer(batch: int = 240, color: int = 116, size: int = 64) -> dict[str, Any]:
    """Like the prompt of queue_control.json E/F: ColorTransfer over a batch, then a preview
    (smaller images, so that the PreviewImage files are quick to write)."""
    graph = workflow("08_slow_progress")
    graph["1"]["inputs"].update(batch_size=batch, color=color, width=size, height=size)
    graph["2"]["inputs"].update(width=size, height=size)
    return graph


async def wait_for(condition: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


# -- the recorded workflows, replayed ---------------------------------------------------------


REPLAYED = [
    "01_empty_image_save",
    "02_load_invert_save_preview",
    "03_animated_webp",
    "04_text_outputs",
    "05_runtime_error",
    "08_slow_progress",
]


@pytest.mark.parametrize("name", REPLAYED)
async def test_replay_transcript(fake_comfyui: FakeComfyUI, name: str) -> None:
    recorded = transcript(name)
    graph = recorded["post_prompt"]["request"]["json"]["prompt"]
    async with session(fake_comfyui) as s:
        if name.startswith("02"):
            assert (await upload(s.http, "proto test.png", PNG_A)).status_code == 200
        frames: list[Frame] = []
        fake_comfyui.hold()
        response = await s.post(graph)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert_matches(norm(recorded["post_prompt"]["response"]["json"]), norm(response.json()))
        prompt_id = response.json()["prompt_id"]

        # Right after the POST the job is queued (held here, so it cannot finish yet).
        queue = await s.get("/queue")
        recorded_queue = recorded["get_queue_right_after_post"]["response"]["json"]
        recorded_item = (recorded_queue["queue_running"] + recorded_queue["queue_pending"])[0]
        assert queue["queue_running"] == []
        assert_matches(norm(recorded_item), norm(queue["queue_pending"][0]))
        job = await s.get(f"/api/jobs/{prompt_id}")
        assert job["status"] == "pending"
        recorded_job = recorded["get_api_jobs_id_right_after_post"]["json"]
        if recorded_job["status"] == "in_progress":
            assert_matches(norm({**recorded_job, "status": "pending"}), norm(job))

        fake_comfyui.release()
        await s.until_done(prompt_id, frames)

        expected = [norm(recorded_frame(m)) for m in recorded["ws_messages"]]
        actual = [norm(f) for f in frames if not is_preview(f)]
        if name.startswith("08"):
            # ColorTransfer's progress is throttled by time on the real server (values 1, 9,
            # 17, 25, 33, 40, 48) and by frame count in the fake (1, 9, ..., 41, 48).
            for frame in (*expected, *actual):
                if frame["type"] == "progress":
                    frame["data"]["value"] = "<v>"
                if frame["type"] == "progress_state":
                    for state in frame["data"]["nodes"].values():
                        if state["state"] == "running" and state["max"] == 48:
                            state["value"] = "<v>"
        assert_matches(expected, actual)

        history = await s.get(f"/history/{prompt_id}")
        assert_matches(norm(recorded["get_history"]["response"]["json"]), norm(history))
        job = await s.get(f"/api/jobs/{prompt_id}")
        assert_matches(norm(recorded["get_api_jobs_id_after_done"]["json"]), norm(job))

        outputs = history[prompt_id]["outputs"]
        for view in recorded.get("get_view_outputs", []):
            # The recorded URL, with the file this run produced for that output.
            item = outputs[view["node"]][view["key"]][0]
            recorded_url = httpx.URL(view["url"])
            assert sorted(recorded_url.params) == ["filename", "subfolder", "type"]
            params = {k: item[k] for k in ("filename", "subfolder", "type")}
            got = await s.http.get(recorded_url.path, params=params)
            want = view["response"]
            assert got.status_code == want["status"] == 200
            for header in ("content-type", "content-disposition", "x-content-type-options"):
                assert norm(got.headers[header]) == norm(want["headers"][header])
            assert "etag" in got.headers and "last-modified" in got.headers
            if "text" in want:
                assert got.text == want["text"]
            else:
                first = bytes.fromhex(want["body_first_16_bytes_hex"])
                assert got.content[:4] == first[:4] and got.content[8:12] == first[8:12]


async def test_identical_rerun_is_cached_and_replays_the_same_files(
    fake_comfyui: FakeComfyUI,
) -> None:
    recorded = transcript("01_empty_image_save.cached_rerun")
    graph = recorded["post_prompt"]["request"]["json"]["prompt"]
    async with session(fake_comfyui) as s:
        first_id, _ = await s.run(graph)
        first = (await s.get(f"/history/{first_id}"))[first_id]["outputs"]
        prompt_id, frames = await s.run(graph)
    expected = [norm(recorded_frame(m)) for m in recorded["ws_messages"]][1:]  # no connect frame
    name = first["2"]["images"][0]["filename"]
    for frame in expected:
        if frame["type"] == "executed":
            frame["data"]["output"]["images"][0]["filename"] = name
    assert_matches(expected, [norm(f) for f in frames])
    history = recorded["get_history"]["response"]["json"]
    entry = next(iter(history.values()))
    entry["outputs"]["2"]["images"][0]["filename"] = name
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        got = (await http.get(f"/history/{prompt_id}")).json()
    assert_matches(norm(history), norm(got))
    assert sorted(p.name for p in fake_comfyui.file("output", "", "proto").iterdir()) == [name]


async def test_without_client_id_only_broadcast_messages_arrive(
    fake_comfyui: FakeComfyUI,
) -> None:
    recorded = transcript("01_empty_image_save.no_client_id")
    body = recorded["post_prompt"]["request"]["json"]
    assert "client_id" not in body
    async with session(fake_comfyui) as s:
        frames = [await s.recv()]
        response = await s.http.post("/prompt", json=body)
        prompt_id = response.json()["prompt_id"]
        await wait_for(lambda: prompt_id in fake_comfyui.history)
        while len(frames) < len(recorded["ws_messages"]):
            frames.append(await s.recv())
        with pytest.raises(asyncio.TimeoutError):
            await s.recv(0.1)
        history = await s.get(f"/history/{prompt_id}")
    expected = [norm(recorded_frame(m)) for m in recorded["ws_messages"]]
    assert_matches(expected, [norm(f) for f in frames])
    recorded_history = recorded["get_history"]["response"]["json"]
    image = next(iter(recorded_history.values()))["outputs"]["2"]["images"][0]
    assert image["filename"] == "empty_00003_.png"  # the third image of that recorded server
    image["filename"] = "empty_00001_.png"  # the first of this one
    assert_matches(norm(recorded_history), norm(history))


async def test_feature_flags_handshake(fake_comfyui: FakeComfyUI) -> None:
    recorded = transcript("01_empty_image_save.feature_flags")
    async with session(fake_comfyui) as s:
        await s.ws.send(
            json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        )
        frames = [await s.recv(), await s.recv()]
    expected = [norm(recorded_frame(m)) for m in recorded["ws_messages"][:2]]
    assert_matches(expected, [norm(f) for f in frames])


@pytest.mark.parametrize("name", ["06_validation_error", "07_missing_node_class"])
async def test_rejected_prompts_answer_exactly_as_recorded(
    fake_comfyui: FakeComfyUI, name: str
) -> None:
    recorded = transcript(name)
    async with session(fake_comfyui) as s:
        response = await s.http.post("/prompt", json=recorded["post_prompt"]["request"]["json"])
        assert response.status_code == recorded["post_prompt"]["response"]["status"] == 400
        assert response.json() == recorded["post_prompt"]["response"]["json"]
        # Nothing was queued: the socket gets nothing beyond its connect status.
        expected = [norm(recorded_frame(m)) for m in recorded["ws_messages"]]
        assert_matches(expected, [norm(await s.recv())])
        with pytest.raises(asyncio.TimeoutError):
            await s.recv(0.1)
    assert fake_comfyui.prompts_received == [recorded["post_prompt"]["request"]["json"]]
    assert fake_comfyui.executions == []


async def test_comfykit_validation_error_is_the_recorded_one(fake_comfyui: FakeComfyUI) -> None:
    # comfykit_0.1.12_results.json: width -5 and width None on the ck_ workflows.
    graph = recording("workflows/comfykit/ck_06_validation_error.json")
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        graph["1"]["inputs"]["width"] = -5
        bad = await http.post("/prompt", json={"prompt": copy.deepcopy(graph)})
        graph["1"]["inputs"]["width"] = None
        missing = await http.post("/prompt", json={"prompt": graph})
    assert bad.text == (
        '{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs '
        'failed validation", "details": "", "extra_info": {}}, "node_errors": {"1": {"errors": '
        '[{"type": "value_smaller_than_min", "message": "Value -5 smaller than min of 1", '
        '"details": "width", "extra_info": {"input_name": "width", "input_config": ["INT", '
        '{"default": 512, "min": 1, "max": 16384, "step": 1}], "received_value": -5}}], '
        '"dependent_outputs": ["2"], "class_type": "EmptyImage"}}}'
    )
    error = missing.json()["node_errors"]["1"]["errors"][0]
    assert error["type"] == "invalid_input_type"
    assert error["details"] == (
        "width, None, int() argument must be a string, a bytes-like object or a real number, "
        "not 'NoneType'"
    )


async def test_partly_valid_prompt_is_queued_with_node_errors(fake_comfyui: FakeComfyUI) -> None:
    graph = workflow("06_validation_error")
    graph["1"]["inputs"]["width"] = 8  # outputs 2 is fine now, 4 and 6 still fail
    async with session(fake_comfyui) as s:
        response = await s.post(graph)
        assert response.status_code == 200
        body = response.json()
        assert list(body["node_errors"]) == ["3", "5"]
        prompt_id = body["prompt_id"]
        await s.until_done(prompt_id)
        history = await s.get(f"/history/{prompt_id}")
    assert history[prompt_id]["prompt"][4] == ["2"]
    assert list(history[prompt_id]["outputs"]) == ["2"]


# -- uploads and /view (upload_and_view.json) -------------------------------------------------


async def test_upload_and_view_as_recorded(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("upload_and_view.json")
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        steps: list[tuple[str, httpx.Response]] = [
            ("1 plain (filename with a space)", await upload(http, "proto test.png", PNG_A)),
            ("2 same name, same bytes, no overwrite -> dedup by hash",
             await upload(http, "proto test.png", PNG_A)),
            ("3 same name, different bytes, no overwrite -> renamed",
             await upload(http, "proto test.png", PNG_B)),
            ("4 same name, different bytes, overwrite=true",
             await upload(http, "proto test.png", PNG_B, overwrite="true")),
            ("5 overwrite=1 restores original bytes",
             await upload(http, "proto test.png", PNG_A, overwrite="1")),
            ("6 subfolder=protosub", await upload(http, "sub.png", PNG_A, subfolder="protosub")),
            ("7 type=temp", await upload(http, "tmp.png", PNG_A, type="temp")),
            ("8 type=output subfolder=proto_up",
             await upload(http, "out.png", PNG_A, type="output", subfolder="proto_up")),
            ("9 path traversal subfolder=../escape",
             await upload(http, "x.png", PNG_A, subfolder="../escape")),
            ("10 wrong field name 'file' instead of 'image'",
             await http.post("/upload/image", files={"file": ("x.png", PNG_A, "image/png")})),
            ("11 empty filename",
             await http.post("/upload/image", files={"image": ("", PNG_A, "image/png")})),
            ("12 type=bogus", await upload(http, "x.png", PNG_A, type="bogus")),
            ("13 via /api/upload/image",
             await upload(http, "api_prefix.png", PNG_A, path="/api/upload/image")),
        ]  # fmt: skip
        for key, response in steps:
            want = rec[key]["response"]
            assert response.status_code == want["status"], key
            if "json" in want:
                assert response.json() == want["json"], key
                assert response.headers["content-type"] == want["headers"]["content-type"]
            else:
                assert response.text == want["text"], key

        assert fake_comfyui.upload_requests == 13
        assert fake_comfyui.uploads[("input", "", "proto test.png")] == PNG_A
        assert fake_comfyui.uploads[("input", "", "proto test (1).png")] == PNG_B
        assert fake_comfyui.uploads[("output", "proto_up", "out.png")] == PNG_A
        assert fake_comfyui.file("input", "proto test.png").read_bytes() == PNG_A

        info = (await http.get("/object_info/LoadImage")).json()
        assert (
            info["LoadImage"]["input"]["required"]["image"] == rec["after: LoadImage combo options"]
        )

        for key, value in rec.items():
            if not key.startswith("GET /view") or "url" not in value:
                continue
            got = await http.get(value["url"])
            want = value["response"]
            assert got.status_code == want["status"], key
            for header in ("content-type", "content-disposition", "x-content-type-options"):
                if header in want["headers"]:
                    assert got.headers[header] == want["headers"][header], (key, header)
            if "body_first_16_bytes_hex" in want:
                first = bytes.fromhex(want["body_first_16_bytes_hex"])
                assert got.content[:4] == first[:4] and got.content[8:12] == first[8:12], key
            else:
                assert got.text == want["text"], key
        got = await http.get("/view", params={"filename": "proto test.png", "type": "input"})
        assert got.content == PNG_A

    # A raw space in the request line is refused by the HTTP parser itself.
    reader, writer = await asyncio.open_connection("127.0.0.1", fake_comfyui.port)
    writer.write(b"GET /view?filename=proto test.png&type=input HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.read(40), TIMEOUT)
    writer.close()
    assert head.startswith(
        rec["GET /view with a raw unencoded space in the request line"]["response_head"][
            :24
        ].encode()
    )


async def test_view_rejects_traversal_and_unknown_types(fake_comfyui: FakeComfyUI) -> None:
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        assert (await http.get("/view", params={"filename": "../x.png"})).status_code == 400
        sub = {"filename": "example.png", "type": "input", "subfolder": "../output"}
        assert (await http.get("/view", params=sub)).status_code == 403
        bogus = {"filename": "example.png", "type": "bogus"}
        assert (await http.get("/view", params=bogus)).status_code == 400
        assert (await http.get("/view")).status_code == 404
        example = {"filename": "example.png [input]"}
        assert (await http.get("/view", params=example)).status_code == 200


# -- queue control (queue_control.json) -------------------------------------------------------


async def test_client_prompt_ids(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["A_client_prompt_id"]
    graph = workflow("01_empty_image_save")
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        numbers = []
        for case in rec.values():
            body = {"prompt": graph, "prompt_id": case["sent_prompt_id"]}
            response = await http.post("/prompt", json=body)
            assert response.status_code == case["response"]["status"]
            if response.status_code == 200:
                numbers.append(response.json()["number"])
                if case["sent_prompt_id"] is not None:
                    assert response.json()["prompt_id"] == case["sent_prompt_id"]
                assert_matches(norm(case["response"]["json"]), norm(response.json()))
            else:
                assert response.json() == case["response"]["json"]
    # The counter moves on for rejected prompts too (58 ... 63 in the recording).
    recorded_numbers = [c["response"]["json"]["number"] for c in rec.values()
                        if c["response"]["status"] == 200]  # fmt: skip
    assert numbers[1] - numbers[0] == recorded_numbers[1] - recorded_numbers[0] == 5


async def test_duplicate_prompt_ids_run_again_and_share_one_history_entry(
    fake_comfyui: FakeComfyUI,
) -> None:
    rec = recording("queue_control.json")["B_duplicate_prompt_id"]
    graph = workflow("01_empty_image_save")
    async with session(fake_comfyui) as s:
        done_id = str(uuid.uuid4())
        await s.run(graph, prompt_id=done_id)
        response = await s.post(graph, prompt_id=done_id)  # resubmit a finished id
        assert response.status_code == 200
        await s.until_done(done_id)
        history = await s.get("/history")
        assert list(history).count(done_id) == rec["history after resubmit"]["entries_for_id"]
        assert history[done_id]["prompt"][0] == response.json()["number"]

        fake_comfyui.hold()
        dup = str(uuid.uuid4())
        first, second = await s.post(graph, prompt_id=dup), await s.post(graph, prompt_id=dup)
        assert first.status_code == second.status_code == 200
        assert second.json()["number"] == first.json()["number"] + 1
        queue = await s.get("/queue")
        assert [item[1] for item in queue["queue_pending"]] == [dup, dup]
        frames: list[Frame] = []
        fake_comfyui.release()
        await s.until_done(dup, frames)
        await s.until_done(dup, frames)
        starts = [f for f in frames if f.get("type") == "execution_start"]
        assert len(starts) == rec["execution_start count per duplicated id"]["dup"] == 2
        history = await s.get("/history")
        assert list(history).count(dup) == rec["history for dup id"]["entries"] == 1
        assert history[dup]["prompt"][0] == second.json()["number"]
        jobs = (await s.get("/api/jobs"))["jobs"]
        assert [j["id"] for j in jobs].count(dup) == rec["api_jobs entries with dup id"] == 1
    assert fake_comfyui.executions.count(dup) == 2


async def test_number_and_front_order_the_queue(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["C_number_front"]
    async with session(fake_comfyui) as s:
        fake_comfyui.node_delays["ColorTransfer"] = 5.0
        slow = await s.submit(slow_color_transfer(batch=8))
        frames: list[Frame] = []
        await s.until(frames, "executing", node="3", prompt_id=slow)
        graph = workflow("01_empty_image_save")
        ids: dict[str, str] = {}
        cases: list[tuple[str, dict[str, Any]]] = [
            ("A normal", {}),
            ("B front=true", {"front": True}),
            ("N number=-1000.5", {"number": -1000.5}),
            ("Z number=1e9", {"number": 1e9}),
        ]
        for label, extra in cases:
            graph["1"]["inputs"]["color"] += 1  # distinct prompts
            response = await s.post(copy.deepcopy(graph), **extra)
            ids[response.json()["prompt_id"]] = label
            want = rec["responses"][label]["number"]
            got = response.json()["number"]
            if isinstance(want, float):
                assert got == want and isinstance(got, float)
            else:
                assert (got > 0) == (want > 0)
        queue = await s.get("/queue")
        raw_order = [ids[item[1]] for item in queue["queue_pending"]]
        assert raw_order == [
            label for _, label in rec["queue_pending_while_slow_runs (raw heap order)"]
        ]
        assert await s.get("/prompt") == rec["GET /prompt while slow runs"]
        fake_comfyui.node_delays.clear()
        assert (await s.http.post("/interrupt", json={"prompt_id": slow})).status_code == 200
        for _ in ids:
            await s.until(frames, "execution_success")
        await wait_for(lambda: len(fake_comfyui.history) == 5)
    order = ["slow(running)"] + [ids[p] for p in fake_comfyui.executions[1:]]
    assert order == rec["execution_order"]


async def test_queue_delete_only_touches_pending_jobs(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["D_queue_delete"]
    async with session(fake_comfyui) as s:
        fake_comfyui.node_delays["ColorTransfer"] = 5.0
        running = await s.submit(slow_color_transfer(batch=8))
        await s.until([], "executing", node="3", prompt_id=running)
        pending = await s.submit(workflow("01_empty_image_save"))

        response = await s.http.post("/queue", json={"delete": [pending]})
        assert (response.status_code, response.text) == (
            200,
            rec["delete pending"]["response"]["text"],
        )
        assert (await s.get("/queue"))["queue_pending"] == rec["delete pending"]["queue_after"]
        gone = await s.http.get(f"/api/jobs/{pending}")
        assert gone.status_code == 404
        assert gone.json() == rec["delete pending"]["api_jobs_id_after"]["json"]

        response = await s.http.post("/queue", json={"delete": [running]})
        assert (response.status_code, response.text) == (200, "")
        assert [i[1] for i in (await s.get("/queue"))["queue_running"]] == [running]

        response = await s.http.post("/queue", json={"delete": [str(uuid.uuid4())]})
        assert (response.status_code, response.text) == (200, "")

        response = await s.http.post("/interrupt", json={"prompt_id": str(uuid.uuid4())})
        assert (response.status_code, response.text) == (200, "")
        await asyncio.sleep(0.05)
        assert (await s.get(f"/api/jobs/{running}"))["status"] == "in_progress"
        await s.http.post("/interrupt", json={"prompt_id": running})
        await s.until_done(running)


async def test_targeted_interrupt_as_recorded(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["E_interrupt_targeted"]
    graph = rec["api_jobs_id"]["workflow"]["prompt"]
    async with session(fake_comfyui) as s:
        fake_comfyui.node_delays["ColorTransfer"] = 5.0
        prompt_id = await s.submit(graph)
        frames: list[Frame] = []
        await s.until(frames, "executing", node="3", prompt_id=prompt_id)
        response = await s.http.post("/interrupt", json={"prompt_id": prompt_id})
        assert (response.status_code, response.text) == (200, rec["response"]["text"])
        await s.until_done(prompt_id, frames)
        history = await s.get(f"/history/{prompt_id}")
        job = await s.get(f"/api/jobs/{prompt_id}")
    # The recording kept this prompt's messages and every status broadcast (some caused by
    # other clients' prompts), but not progress_state / progress.
    recorded = [recorded_frame(m) for m in rec["ws_messages_for_interrupted_prompt"]]
    recorded = [f for f in recorded if f["type"] != "status"]
    skipped = ("progress_state", "progress", "status")
    actual = [f for f in frames if f.get("type") not in skipped and not is_preview(f)]
    assert_matches([norm(f) for f in recorded], [norm(f) for f in actual])
    assert_matches(norm(rec["history.status"]), norm(history[prompt_id]["status"]))
    assert history[prompt_id]["outputs"] == rec["history.outputs"]
    assert_matches(norm(rec["api_jobs_id"]), norm(job))


async def test_global_interrupt_as_recorded(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["E2_interrupt_global_no_body"]
    async with session(fake_comfyui) as s:
        await s.recv()  # the connect status
        fake_comfyui.node_delays["EmptyImage"] = 0.15
        prompt_id = await s.submit(slow_color_transfer(batch=8, color=117))
        frames: list[Frame] = []
        await s.until(frames, "executing", node="1", prompt_id=prompt_id)
        response = await s.http.post("/interrupt")
        assert (response.status_code, response.text) == (200, rec["response"]["text"])
        await s.until_done(prompt_id, frames)
    types = [f["type"] for f in frames if f.get("type") not in ("progress_state", "progress")]
    assert types == rec["types"]
    interrupted = next(f for f in frames if f.get("type") == "execution_interrupted")
    assert interrupted["data"]["node_id"] == "1"
    assert interrupted["data"]["executed"] == ["2"]


async def test_api_jobs_cancel(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["F_api_jobs_cancel"]
    recorded_job = rec["running job after cancel"]
    graph = recorded_job["workflow"]["prompt"]
    async with session(fake_comfyui) as s:
        # As recorded, the reference image (node 2) is cached from an earlier run.
        warm = copy.deepcopy(graph)
        warm["1"]["inputs"].update(batch_size=2)
        await s.run(warm)

        fake_comfyui.hold()
        pending = await s.submit(workflow("01_empty_image_save"))
        response = await s.http.post(f"/api/jobs/{pending}/cancel")
        assert response.json() == rec["cancel pending"]["json"]
        gone = await s.http.get(f"/api/jobs/{pending}")
        assert (gone.status_code, gone.json()) == (404, rec["pending job after cancel"]["json"])
        fake_comfyui.release()

        fake_comfyui.node_delays["ColorTransfer"] = 5.0
        running = await s.submit(graph)
        await s.until([], "executing", node="3", prompt_id=running)
        response = await s.http.post(f"/api/jobs/{running}/cancel")
        assert response.json() == rec["cancel running"]["json"]
        await s.until_done(running)
        assert_matches(norm(recorded_job), norm(await s.get(f"/api/jobs/{running}")))

        again = await s.http.post(f"/api/jobs/{running}/cancel")
        assert again.json() == rec["cancel finished job again"]["json"]
        unknown = await s.http.post(f"/api/jobs/{uuid.uuid4()}/cancel")
        assert unknown.json() == rec["cancel unknown id"]["json"]
        batch = await s.http.post("/api/jobs/cancel", json={"job_ids": [running, "nope"]})
        assert (batch.status_code, batch.json()) == (
            400,
            rec["batch cancel with invalid id"]["json"],
        )
        batch = await s.http.post("/api/jobs/cancel", json={"job_ids": [str(uuid.uuid4())]})
        assert (batch.status_code, batch.json()) == (
            200,
            rec["batch cancel valid unknown ids"]["json"],
        )
        bad = await s.http.get("/api/jobs/not-a-uuid")
        assert (bad.status_code, bad.json()) == (404, rec["GET /api/jobs/not-a-uuid"]["json"])


async def test_queue_clear(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["G_queue_clear"]
    async with session(fake_comfyui) as s:
        fake_comfyui.node_delays["ColorTransfer"] = 5.0
        running = await s.submit(slow_color_transfer(batch=8))
        await s.until([], "executing", node="3", prompt_id=running)
        for color in range(rec["pending_before"]):
            graph = workflow("01_empty_image_save")
            graph["1"]["inputs"]["color"] = color
            await s.submit(graph)
        assert len((await s.get("/queue"))["queue_pending"]) == rec["pending_before"]
        response = await s.http.post("/queue", json={"clear": True})
        assert (response.status_code, response.text) == (200, rec["response"]["text"])
        queue = await s.get("/queue")
        assert len(queue["queue_pending"]) == rec["pending_after"]
        assert bool(queue["queue_running"]) is rec["running_after"]
        await s.http.post("/api/jobs/cancel", json={"job_ids": [running]})
        await s.until_done(running)


async def test_extra_data_sensitive_keys_and_partial_targets(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["H_extra_data"]
    request = rec["request"]
    async with session(fake_comfyui) as s:
        await upload(s.http, "proto test.png", PNG_A)
        response = await s.http.post(
            "/prompt",
            json={
                "prompt": workflow("02_load_invert_save_preview"),
                "client_id": s.client_id,
                "extra_data": request["extra_data"],
                "partial_execution_targets": request["partial_execution_targets"],
            },
            headers={"Comfy-Usage-Source": request["header Comfy-Usage-Source"]},
        )
        prompt_id = response.json()["prompt_id"]
        await s.until_done(prompt_id)
        entry = (await s.get(f"/history/{prompt_id}"))[prompt_id]
        texts = [
            (await s.http.get(path)).text
            for path in ("/queue", "/history", f"/history/{prompt_id}", "/api/jobs",
                         f"/api/jobs/{prompt_id}")
        ]  # fmt: skip
    assert_matches(norm(rec["history.prompt[3] (extra_data as stored)"]), norm(entry["prompt"][3]))
    assert entry["prompt"][4] == rec["history.prompt[4] (outputs_to_execute)"]
    assert len(entry["prompt"]) == rec["history.prompt length"]
    assert list(entry["outputs"]) == rec["history.outputs node ids"]
    assert not any("SECRET-123" in text for text in texts)
    image = entry["outputs"]["3"]["images"][0]
    chunks = png_text_chunks(fake_comfyui.file("output", image["filename"], "proto").read_bytes())
    recorded_chunks = rec["png text chunks of saved image"]
    assert chunks["workflow"] == recorded_chunks["workflow"]
    assert chunks["custom_key"] == recorded_chunks["custom_key"]
    assert chunks["prompt"].startswith(recorded_chunks["prompt"].split(', "is_changed"')[0])
    assert fake_comfyui.prompts_received[-1]["extra_data"]["api_key_comfy_org"] == "SECRET-123"


async def test_history_pagination_and_jobs_listing(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["I_history_and_jobs_listing"]
    async with session(fake_comfyui) as s:
        ids = []
        for color in range(4):
            graph = workflow("01_empty_image_save")
            graph["1"]["inputs"]["color"] = color
            ids.append((await s.run(graph))[0])
            await asyncio.sleep(0.002)  # distinct create_time (ms) for the sort
        failed = (await s.run(workflow("05_runtime_error")))[0]
        ids.append(failed)
        assert list(await s.get("/history")) == ids
        assert list(await s.get("/history", max_items=2)) == ids[-2:]
        assert list(await s.get("/history", max_items=2, offset=0)) == ids[:2]
        page = await s.get("/api/jobs", limit=2, offset=1, status="completed,failed")
        assert page["pagination"] == {"offset": 1, "limit": 2, "total": 5, "has_more": True}
        assert [j["id"] for j in page["jobs"]] == [ids[3], ids[2]]  # newest first
        recorded_job = rec["GET /api/jobs?limit=2&offset=1&status=completed,failed"]["jobs"][0]
        assert re.fullmatch(r"empty_\d{5}_\.png", recorded_job["preview_output"]["filename"])
        recorded_job["preview_output"]["filename"] = page["jobs"][0]["preview_output"]["filename"]
        assert_matches(norm(recorded_job), norm(page["jobs"][0]))
        everything = await s.get("/api/jobs")
        assert sorted(everything["jobs"][1]) == rec["GET /api/jobs first item keys"]
        assert everything["jobs"][0]["status"] == "failed"
        bogus = await s.http.get("/api/jobs", params={"status": "bogus"})
        assert (bogus.status_code, bogus.json()) == (400, rec["GET /api/jobs?status=bogus"]["json"])


async def test_malformed_requests(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["J_malformed"]
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        cases = {
            "POST /prompt without prompt key": await http.post("/prompt", json={"x": 1}),
            "POST /prompt invalid JSON": await http.post("/prompt", content=b"{not json"),
            "POST /prompt prompt={} (no outputs)": await http.post("/prompt", json={"prompt": {}}),
            "POST /prompt node without class_type": await http.post(
                "/prompt", json={"prompt": {"1": {"inputs": {}}}}
            ),
            "POST /prompt with cross-site Origin header": await http.post(
                "/prompt", json={"prompt": {}}, headers={"Origin": "http://evil.example"}
            ),
            "POST /prompt with Sec-Fetch-Site: cross-site": await http.post(
                "/prompt", json={"prompt": {}}, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            "POST /api/prompt (prefix alias) no outputs": await http.post(
                "/api/prompt", json={"prompt": {}}
            ),
        }
    for key, response in cases.items():
        want = rec[key]
        assert response.status_code == want["status"], key
        if "json" in want:
            assert response.json() == want["json"], key
        else:
            assert response.text == want["text"], key


async def test_history_delete_and_unknown_id(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["K_history_delete"]
    async with session(fake_comfyui) as s:
        kept, _ = await s.run(workflow("01_empty_image_save"))
        graph = workflow("01_empty_image_save")
        graph["1"]["inputs"]["color"] = 1
        deleted, _ = await s.run(graph)
        response = await s.http.post("/history", json={"delete": [deleted]})
        assert (response.status_code, response.text) == (200, rec["delete one"]["response"]["text"])
        assert list(await s.get("/history")) == [kept]
        unknown = await s.http.get(f"/history/{uuid.uuid4()}")
        assert (unknown.status_code, unknown.json()) == (200, rec["GET /history/{unknown}"]["json"])
        await s.http.post("/history", json={"clear": True})
        assert await s.get("/history") == {}


async def test_websocket_reconnect_mid_run(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["L_ws_reconnect_same_clientId_mid_run"]
    client_id = uuid.uuid4().hex
    fake_comfyui.node_delays["ColorTransfer"] = 0.3
    async with session(fake_comfyui, client_id) as s:
        prompt_id = await s.submit(slow_color_transfer(batch=240))
        await s.until([], "executing", node="3", prompt_id=prompt_id)
    async with session(fake_comfyui, client_id) as s:
        frames = [await s.recv(), await s.recv()]
        first_progress = await s.until(frames, "progress_state")
        await s.until_done(prompt_id, frames)
    expected = [norm(recorded_frame(m)) for m in rec["first_messages_after_reconnect"]]
    actual = [norm(frames[0]), norm(frames[1]), norm(first_progress)]
    for frame in (expected[2], actual[2]):
        frame["data"]["nodes"]["3"]["value"] = "<v>"  # how far ColorTransfer got
    assert_matches(expected, actual)
    assert rec["received_done_after_reconnect"] is True


async def test_api_jobs_states(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("queue_control.json")["M_api_jobs_states"]
    async with session(fake_comfyui) as s:
        fake_comfyui.node_delays["ColorTransfer"] = 5.0
        running = await s.submit(slow_color_transfer(batch=8))
        await s.until([], "executing", node="3", prompt_id=running)
        await asyncio.sleep(0.005)
        pending = await s.submit(workflow("01_empty_image_save"))
        listing = await s.get("/api/jobs", status="pending,in_progress")
        assert_matches(norm(rec["GET /api/jobs?status=pending,in_progress"]), norm(listing))
        assert [j["id"] for j in listing["jobs"]] == [pending, running]
        assert_matches(
            norm(rec["GET /api/jobs/{running}"]), norm(await s.get(f"/api/jobs/{running}"))
        )
        assert_matches(
            norm(rec["GET /api/jobs/{pending}"]), norm(await s.get(f"/api/jobs/{pending}"))
        )
        await s.http.post("/api/jobs/cancel", json={"job_ids": [running, pending]})
        await s.until_done(running)


# -- the worker crash (worker_crash_duplicate_id_and_number.json) ------------------------------


async def test_same_id_and_number_twice_gives_500_but_runs_twice(
    fake_comfyui: FakeComfyUI,
) -> None:
    rec = recording("worker_crash_duplicate_id_and_number.json")["variant_A_no_other_pending"]
    async with session(fake_comfyui) as s:
        fake_comfyui.node_delays["ColorTransfer"] = 5.0
        slow = await s.submit(slow_color_transfer(batch=8))
        await s.until([], "executing", node="3", prompt_id=slow)
        dup = str(uuid.uuid4())
        graph = workflow("01_empty_image_save")
        first = await s.post(graph, prompt_id=dup, number=500)
        second = await s.post(graph, prompt_id=dup, number=500)
        assert (first.status_code, second.status_code) == (200, 500)
        assert_matches(norm(rec["first_post"]["json"]), norm(first.json()))
        assert first.json()["number"] == rec["first_post"]["json"]["number"]
        assert second.text == rec["second_post"]["text"]
        queue = await s.get("/queue")
        assert [i[:2] for i in queue["queue_pending"]] == [[500.0, dup], [500.0, dup]]
        fake_comfyui.node_delays.clear()
        await s.http.post("/interrupt")
        await s.until_done(dup)
        await s.until_done(dup)
    assert fake_comfyui.executions.count(dup) == rec["execution_start count for the id"] == 2


async def test_same_id_and_number_can_kill_the_worker(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("worker_crash_duplicate_id_and_number.json")
    async with session(fake_comfyui) as s:
        fake_comfyui.hold()
        graph = workflow("01_empty_image_save")
        x = await s.submit(graph)
        dup = str(uuid.uuid4())
        graph["1"]["inputs"]["color"] = 1
        first = await s.post(graph, prompt_id=dup, number=999)
        second = await s.post(graph, prompt_id=dup, number=999)
        assert first.status_code == second.status_code == rec["second_post"]["status"] == 200
        assert [i[1] for i in (await s.get("/queue"))["queue_pending"]] == [x, dup, dup]
        fake_comfyui.release()
        await wait_for(lambda: not fake_comfyui.worker_alive)
        later = await s.submit(workflow("03_animated_webp"))
        await asyncio.sleep(0.1)
        assert fake_comfyui.executions == []  # X, the duplicates and later never run
        queue = await s.get("/queue")
        assert [i[1] for i in queue["queue_pending"]] == [later, dup, dup]
        assert queue["queue_running"] == []
        assert (await s.http.get("/system_stats")).status_code == 200


# -- the other endpoints (endpoints_misc.json) -------------------------------------------------


async def test_misc_endpoints_as_recorded(fake_comfyui: FakeComfyUI) -> None:
    rec = recording("endpoints_misc.json")
    async with httpx.AsyncClient(base_url=fake_comfyui.base_url) as http:
        for key in (
            "GET /object_info/EmptyImage",
            "GET /object_info/NoSuchNode",
            "GET /system_stats",
            "GET /features",
            "GET /prompt",
            "GET /queue",
            "GET /history?max_items=2",
            "GET /api/jobs?limit=2",
            "GET /embeddings",
            "GET /models",
            "GET /models/checkpoints",
        ):
            response = await http.get(key.split(" ", 1)[1])
            assert response.status_code == rec[key]["status"], key
            assert response.headers["content-type"] == rec[key]["headers"]["content-type"]
            assert response.json() == rec[key]["json"], key
        prefixed = await http.get("/api/object_info/EmptyImage")
        assert prefixed.json() == rec["GET /object_info/EmptyImage"]["json"]
        for key in ("GET /api/v2/prompt", "GET /v2/prompt", "GET /api/prompt"):
            response = await http.get(key.split(" ", 1)[1])
            assert response.status_code == rec[key]["status"], key
        extensions = (await http.get("/extensions")).json()
        assert extensions == rec["GET /extensions"]["json"]["first"]
        everything = (await http.get("/object_info")).json()
        assert len(everything) == 887
        assert everything["LoadImage"]["input"]["required"]["image"][0] == ["example.png"]


async def test_api_prefix_only() -> None:
    async with running_fake_comfyui(api_prefix_only=True) as fake:
        async with session(fake) as s:
            assert (await s.http.post("/prompt", json={"prompt": {}})).status_code == 404
            response = await s.http.post(
                "/api/prompt", json={"prompt": workflow("01_empty_image_save"),
                                     "client_id": s.client_id}
            )  # fmt: skip
            assert response.status_code == 200
            await s.until_done(response.json()["prompt_id"])
            assert (await s.http.get("/queue")).status_code == 404
            assert (await s.http.get("/api/queue")).status_code == 200
        async with session(fake, path="/api/ws") as s:
            assert (await s.recv())["type"] == "status"


# -- execution details -----------------------------------------------------------------------


async def test_binary_text_and_preview_frames(fake_comfyui: FakeComfyUI) -> None:
    graph = slow_color_transfer(batch=3)
    async with session(fake_comfyui) as s:
        _, frames = await s.run(graph)
        previews = [f for f in frames if is_preview(f)]
        assert [f["binary"] for f in previews] == [1, 1]  # on frame 1 and on the last
        assert all(f["payload"][:4] == struct.pack(">I", 2) for f in previews)
        assert all(f["payload"][4:12] == b"\x89PNG\r\n\x1a\n" for f in previews)
        kinds = [f.get("type", "binary") for f in frames]
        # progress_state, progress, then the preview (the old-style client order)
        first = kinds.index("progress")
        assert kinds[first - 1 : first + 2] == ["progress_state", "progress", "binary"]

    async with session(fake_comfyui) as s:
        await s.recv()
        flags = {"supports_preview_metadata": True}
        await s.ws.send(json.dumps({"type": "feature_flags", "data": flags}))
        assert (await s.recv())["type"] == "feature_flags"
        graph["1"]["inputs"]["color"] = 5
        _, frames = await s.run(graph)
        previews = [f for f in frames if is_preview(f)]
        assert [f["binary"] for f in previews] == [4, 4]
        payload = previews[0]["payload"]
        (length,) = struct.unpack(">I", payload[:4])
        metadata = json.loads(payload[4 : 4 + length])
        assert metadata["node_id"] == "3" and metadata["image_type"] == "image/png"
        assert payload[4 + length : 4 + length + 4] == b"\x89PNG"
        kinds = [f.get("type", "binary") for f in frames]
        first = kinds.index("progress")
        assert kinds[first - 2 : first + 1] == ["progress_state", "binary", "progress"]

    fake_comfyui.send_previews = False
    async with session(fake_comfyui) as s:
        graph["1"]["inputs"]["color"] = 6
        _, frames = await s.run(graph)
        assert not any(is_preview(f) for f in frames)


async def test_big_text_output_over_the_websocket(fake_comfyui: FakeComfyUI) -> None:
    graph = recording("workflows/comfykit/ck_big_text.json")
    graph["1"]["inputs"]["value"] = "x" * 1_500_000
    async with session(fake_comfyui) as s:
        _, frames = await s.run(graph)
    executed = next(f for f in frames if f.get("type") == "executed")
    assert len(executed["data"]["output"]["text"][0]) == 1_500_000


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("invert_color_image", ("3", "images")),
        ("invert_uploaded_image", ("3", "images")),
        ("text_preview", ("3", "text")),
        ("caption_text", ("6", "text")),
        ("blur_preview", ("3", "images")),
    ],
)
async def test_example_workflows_run(
    fake_comfyui: FakeComfyUI, name: str, check: tuple[str, str]
) -> None:
    graph = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    async with session(fake_comfyui) as s:
        prompt_id, _ = await s.run(graph)
        entry = (await s.get(f"/history/{prompt_id}"))[prompt_id]
    assert entry["status"]["status_str"] == "success"
    node, key = check
    output = entry["outputs"][node][key]
    if key == "images":
        item = output[0]
        path = fake_comfyui.file(item["type"], item["filename"], item["subfolder"])
        assert path.read_bytes().startswith(b"\x89PNG")
    if name == "caption_text":
        assert output == [
            "A photograph of a red fox in the snow, golden hour, shallow depth of field, 85mm lens"
        ]
    if name == "text_preview":
        assert output == ["hello from comfygen!"]


# -- fault injection and observation ----------------------------------------------------------


async def test_delays(fake_comfyui: FakeComfyUI) -> None:
    async with session(fake_comfyui) as s:
        fake_comfyui.http_delay = 0.2
        started = time.monotonic()
        await s.get("/prompt")
        assert time.monotonic() - started >= 0.2
        fake_comfyui.http_delay = 0.0
        fake_comfyui.node_delay = 0.1
        started = time.monotonic()
        await s.run(workflow("01_empty_image_save"))
        assert time.monotonic() - started >= 0.2  # two nodes


async def test_fail_next_requests_answer_503(fake_comfyui: FakeComfyUI) -> None:
    graph = workflow("01_empty_image_save")
    async with session(fake_comfyui) as s:
        fake_comfyui.fail_next_requests = {"/prompt": 2, "/history/": 1}
        assert (await s.post(graph)).status_code == 503
        assert (await s.http.post("/api/prompt", json={"prompt": graph})).status_code == 503
        prompt_id, _ = await s.run(graph)
        assert (await s.http.get(f"/history/{prompt_id}")).status_code == 503
        assert prompt_id in await s.get(f"/history/{prompt_id}")
        assert fake_comfyui.fail_next_requests == {}
    assert len(fake_comfyui.prompts_received) == 3
    assert fake_comfyui.executions == [prompt_id]


@pytest.mark.parametrize("mode", ["500", "reset"])
async def test_fail_after_accept_still_runs_the_job(fake_comfyui: FakeComfyUI, mode: str) -> None:
    prompt_id = str(uuid.uuid4())
    async with session(fake_comfyui) as s:
        fake_comfyui.fail_next_post_prompt_after_accept = mode  # type: ignore[assignment]
        if mode == "500":
            response = await s.post(workflow("01_empty_image_save"), prompt_id=prompt_id)
            assert response.status_code == 500
            assert response.text == "500 Internal Server Error\n\nServer got itself in trouble"
        else:
            with pytest.raises(httpx.TransportError):
                await s.post(workflow("01_empty_image_save"), prompt_id=prompt_id)
        assert fake_comfyui.fail_next_post_prompt_after_accept is None
        await s.until_done(prompt_id)
        assert prompt_id in await s.get(f"/history/{prompt_id}")


async def test_drop_websocket_after_frames(fake_comfyui: FakeComfyUI) -> None:
    client_id = uuid.uuid4().hex
    async with session(fake_comfyui, client_id) as s:
        await s.recv()
        fake_comfyui.drop_ws_after_frames = 3
        prompt_id = await s.submit(workflow("01_empty_image_save"))
        frames: list[Frame] = []
        with pytest.raises(ConnectionClosedError) as closed:
            while True:
                frames.append(await s.recv())
        assert closed.value.rcvd is None  # no close frame: an abrupt drop
        assert [f["type"] for f in frames] == ["status", "status", "execution_start"]
        assert fake_comfyui.drop_ws_after_frames is None
    await wait_for(lambda: prompt_id in fake_comfyui.history)
    async with session(fake_comfyui, client_id) as s:
        assert (await s.recv())["type"] == "status"
        assert prompt_id in await s.get(f"/history/{prompt_id}")
    assert fake_comfyui.ws_connections_opened == 2


async def test_restart(fake_comfyui: FakeComfyUI) -> None:
    port, base_url = fake_comfyui.port, fake_comfyui.base_url
    async with session(fake_comfyui) as s:
        done, _ = await s.run(workflow("01_empty_image_save"))
        fake_comfyui.hold()
        lost = await s.submit(workflow("03_animated_webp"))
        await fake_comfyui.restart(keep_history=True)
        fake_comfyui.release()
        with pytest.raises(ConnectionClosedError) as closed:
            while True:
                await s.recv()
        assert closed.value.rcvd is None  # dropped, no close frame
        assert (fake_comfyui.port, fake_comfyui.base_url) == (port, base_url)
        assert (await s.http.get(f"/api/jobs/{lost}")).status_code == 404
        assert done in await s.get(f"/history/{done}")
        assert (await s.get("/queue")) == {"queue_running": [], "queue_pending": []}

    async with session(fake_comfyui) as s:
        # The counter restarts, so does the cache: the same prompt runs for real again.
        response = await s.post(workflow("01_empty_image_save"))
        assert response.json()["number"] == 0
        frames = await s.until_done(response.json()["prompt_id"])
        cached = next(f for f in frames if f.get("type") == "execution_cached")
        assert cached["data"]["nodes"] == []
    await fake_comfyui.restart()
    assert fake_comfyui.history == {}
    assert fake_comfyui.executions == [done, response.json()["prompt_id"]]


async def test_restart_keeps_pending_jobs_when_asked(fake_comfyui: FakeComfyUI) -> None:
    async with session(fake_comfyui) as s:
        fake_comfyui.hold()
        kept = await s.submit(workflow("04_text_outputs"))
        await fake_comfyui.restart(lose_queue=False, downtime=0.05)
    assert [item[1] for item in fake_comfyui.queue_pending] == [kept]
    fake_comfyui.release()  # test controls such as hold() outlive a restart
    await wait_for(lambda: kept in fake_comfyui.history)
    assert fake_comfyui.executions == [kept]


async def test_delete_from_queue_and_hold(fake_comfyui: FakeComfyUI) -> None:
    async with session(fake_comfyui) as s:
        await s.recv()
        fake_comfyui.hold()
        prompt_id = await s.submit(workflow("01_empty_image_save"))
        assert (await s.recv())["data"]["status"]["exec_info"]["queue_remaining"] == 1
        await asyncio.sleep(0.05)
        assert fake_comfyui.executions == []
        fake_comfyui.delete_from_queue(prompt_id)
        frame = await s.recv()
        assert frame == {
            "type": "status",
            "data": {"status": {"exec_info": {"queue_remaining": 0}}},
        }
        assert (await s.http.get(f"/api/jobs/{prompt_id}")).status_code == 404
        fake_comfyui.release()
        with pytest.raises(asyncio.TimeoutError):
            await s.recv(0.1)
    assert fake_comfyui.executions == []


async def test_history_is_written_after_execution_success(fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.history_write_delay = 0.05  # widen the real server's short window
    async with session(fake_comfyui) as s:
        prompt_id = await s.submit(workflow("01_empty_image_save"))
        frames: list[Frame] = []
        await s.until(frames, "execution_success", prompt_id=prompt_id)
        assert await s.get(f"/history/{prompt_id}") == {}
        await s.until_done(prompt_id, frames)
        assert prompt_id in await s.get(f"/history/{prompt_id}")


async def test_other_nodes(fake_comfyui: FakeComfyUI) -> None:
    graph: dict[str, Any] = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {
            "class_type": "ImageScaleBy",
            "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": 0.5},
        },
        # Not implemented by the fake: a pass-through of its IMAGE input.
        "3": {"class_type": "ImageSharpen", "inputs": {"image": ["2", 0], "sharpen_radius": 1,
                                                        "sigma": 1.0, "alpha": 1.0}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "s"}},
        "5": {"class_type": "SaveText", "inputs": {"text": "abc", "filename_prefix": "t/x",
                                                    "format": "md"}},
    }  # fmt: skip
    async with session(fake_comfyui) as s:
        prompt_id, _ = await s.run(graph)
        outputs = (await s.get(f"/history/{prompt_id}"))[prompt_id]["outputs"]
        graph["5"]["inputs"]["text"] = "def"
        again, _ = await s.run(graph)
        outputs_again = (await s.get(f"/history/{again}"))[again]["outputs"]
        bad = copy.deepcopy(graph)
        bad["2"]["inputs"]["upscale_method"] = "sideways"
        rejected = (await s.post(bad)).json()
    assert outputs["4"]["images"] == [
        {"filename": "s_00001_.png", "subfolder": "", "type": "output"}
    ]
    png = fake_comfyui.file("output", "s_00001_.png").read_bytes()
    assert struct.unpack(">II", png[16:24]) == (32, 32)  # example.png is 64x64
    assert outputs["5"]["files"][0]["filename"] == "x_00001.md"
    assert outputs_again["5"]["files"][0]["filename"] == "x_00002.md"
    assert outputs_again["4"] == outputs["4"]  # cached: the same file again
    assert rejected["node_errors"]["2"]["errors"][0]["details"] == (
        "upscale_method: 'sideways' not in "
        "['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']"
    )
