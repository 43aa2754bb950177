"""Runtime pieces that need no server: configuration, output classification, saving."""

from __future__ import annotations

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
