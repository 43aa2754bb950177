"""Runtime pieces that need no server: configuration, output classification, saving."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import comfygen_runtime as rt
import pytest
from comfygen_runtime._config import ComfyUIConfig, Secret, parse_cookies
from comfygen_runtime._outputs import node_items


def test_configuration_priority() -> None:
    env = {"COMFYUI_BASE_URL": "http://env:1", "COMFYUI_API_KEY": "k-env",
           "COMFYUI_COOKIES": "a=1; b=2"}  # fmt: skip
    from_env = ComfyUIConfig.resolve(env=env)
    assert from_env.base_url == "http://env:1"
    assert from_env.request_headers() == {"Authorization": "Bearer k-env", "Cookie": "a=1; b=2"}
    explicit = ComfyUIConfig.resolve("http://arg:2/", "k-arg", {"c": "3"}, {"X-A": "1"}, env=env)
    assert explicit.base_url == "http://arg:2"
    assert explicit.request_headers() == {
        "X-A": "1", "Authorization": "Bearer k-arg", "Cookie": "c=3",
    }  # fmt: skip
    assert ComfyUIConfig.resolve(env={}).base_url == "http://127.0.0.1:8188"
    with pytest.raises(ValueError, match="http"):
        ComfyUIConfig.resolve("ftp://x", env={})


@pytest.mark.parametrize("url", ["http://h:1/?token=s3cr3t", "http://h:1/#s3cr3t", "http://h:1?"])
def test_a_base_url_with_a_query_or_fragment_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="query or fragment") as caught:
        rt.ComfyUI(url)
    assert "s3cr3t" not in str(caught.value) and "api_key" in str(caught.value)


def test_secrets_are_masked() -> None:
    config = ComfyUIConfig.resolve("http://u:pw-X9@h:1", "sk-1", "s=cookie-X9", env={})
    text = f"{config!r} {config.api_key} {config.display_url} {rt.ComfyUI(config.base_url)!r}"
    assert "sk-1" not in text and "X9" not in text
    assert repr(Secret("x")) == "Secret('***')"
    assert parse_cookies("a=1; junk; b = 2") == {"a": "1", "b": "2"}


def _make(cls: type[rt.File], node_id: str, record: Any) -> rt.File:
    return cls(node_id=node_id, filename=record["filename"], subfolder=record.get("subfolder", ""))


def test_output_classification() -> None:
    vhs = {"gifs": [{"filename": "clip_00001.mp4", "subfolder": "", "type": "output",
                     "format": "video/h264-mp4"}]}  # fmt: skip
    (video,) = node_items("video", "7", vhs, _make)
    assert isinstance(video, rt.Video)
    (generic,) = node_items("file", "7", vhs, _make)
    assert isinstance(generic, rt.Video)
    save_video = {"images": [{"filename": "v.mp4"}], "animated": [True]}
    assert isinstance(node_items("file", "1", save_video, _make)[0], rt.Video)
    animated = {"images": [{"filename": "a.webp"}], "animated": [True]}
    (image,) = node_items("image", "1", animated, _make)
    assert isinstance(image, rt.Image) and image.animated
    audio = {"audio": [{"filename": "s.flac"}]}
    assert isinstance(node_items("file", "1", audio, _make)[0], rt.Audio)
    text = {"text": ["hi"], "files": [{"filename": "t.txt"}]}
    (item,) = node_items("text", "1", text, _make)
    assert isinstance(item, rt.Text) and item.text == "hi" and item.file is not None
    mixed = node_items("file", "1", {"text": ["a"], "result": [{"filename": "m.glb"}]}, _make)
    assert [type(i) for i in mixed] == [rt.File, rt.Text]


async def test_save_refuses_to_leave_its_directory(tmp_path: Path) -> None:
    ref = rt.File(node_id="1", filename="x.png")
    for name in ("../escape.png", "/etc/passwd", "a/b.png", ""):
        with pytest.raises(rt.ComfygenError, match="refusing"):
            await ref.save(tmp_path, name=name)
    sneaky = rt.File(node_id="1", filename="../../evil.png")
    with pytest.raises(rt.ComfygenError, match="not attached"):
        await sneaky.save(tmp_path)  # saved under its base name only: evil.png
    assert list(tmp_path.iterdir()) == []


async def test_within_returns_once_what_it_gave_up_on_has_ended() -> None:
    from comfygen_runtime._net import within

    ended: list[str] = []

    async def holds_something() -> bool:
        try:
            return await asyncio.Event().wait()
        finally:
            ended.append("cleaned up")  # e.g. a follow letting go of its inbox

    assert await within(holds_something(), 0.01) is None
    assert ended == ["cleaned up"]


async def test_an_upload_that_failed_after_its_caller_left_is_tried_again() -> None:
    from comfygen_runtime._media import UploadOnce, upload_for

    picture = upload_for(b"picture", ".png")
    sent: list[str] = []
    server_back = asyncio.Event()
    first_failed = asyncio.Event()

    async def send(upload: Any) -> str:  # the network: down for the first upload
        sent.append(upload.name)
        if len(sent) == 1:
            try:
                await server_back.wait()
                raise rt.BackendUnavailableError("the server was down")
            finally:
                first_failed.set()
        return str(upload.name)

    uploads = UploadOnce(send)
    caller = asyncio.ensure_future(uploads(picture))
    while not sent:
        await asyncio.sleep(0)
    caller.cancel()  # its run timed out; the upload goes on for other callers
    with pytest.raises(asyncio.CancelledError):
        await caller
    server_back.set()
    await first_failed.wait()  # it failed with no caller left to see it
    assert await uploads(picture) == picture.name
    assert sent == [picture.name, picture.name]


def test_a_pool_reads_its_urls_as_comfyui_base_url_lists_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def urls(pool: rt.ComfyUIPool) -> list[str]:
        return [client.base_url for client in pool.members]

    listed = rt.ComfyUIPool(["http://a:1, http://b:2/", " ", "http://c:3"])
    assert urls(listed) == ["http://a:1", "http://b:2", "http://c:3"]
    assert urls(rt.ComfyUIPool(" http://a:1 ,http://b:2 ")) == ["http://a:1", "http://b:2"]
    monkeypatch.setenv("COMFYUI_BASE_URL", "http://e:1,http://f:2")
    assert urls(rt.ComfyUIPool()) == ["http://e:1", "http://f:2"]
    monkeypatch.delenv("COMFYUI_BASE_URL")
    assert urls(rt.ComfyUIPool()) == [rt.DEFAULT_COMFYUI_URL]


def test_a_node_that_reports_one_text_gives_one_text() -> None:
    def no_files(*args: object) -> rt.File:
        raise AssertionError("no files here")

    (item,) = node_items("text", "5", {"text": "hello"}, no_files)
    assert isinstance(item, rt.Text) and item.text == "hello"
    items = node_items("text", "5", {"text": ["a", "b"]}, no_files)
    assert [t.text for t in items if isinstance(t, rt.Text)] == ["a", "b"]


def test_cookie_formats() -> None:
    assert parse_cookies("a=1; b = 2") == {"a": "1", "b": "2"}
    assert parse_cookies(' {"a": "1", "n": 2} ') == {"a": "1", "n": "2"}
    with pytest.raises(ValueError, match="fetched by ComfyKit only"):
        parse_cookies("https://auth.example/cookies?token=SECRET")
    with pytest.raises(ValueError, match="JSON"):
        parse_cookies("{not json")
