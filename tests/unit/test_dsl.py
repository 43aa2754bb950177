from __future__ import annotations

import pytest

from comfygen._dsl import OutputMarker, ParamMarker, parse_title


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("$prompt", [("prompt", "prompt", False, False, None)]),
        ("$prompt.text", [("prompt", "text", False, False, None)]),
        ("$prompt!", [("prompt", "prompt", False, True, None)]),
        ("$~image", [("image", "image", True, False, None)]),
        ("$~image!", [("image", "image", True, True, None)]),
        ("$img.~image!", [("img", "image", True, True, None)]),
        ("$~img.image", [("img", "image", True, False, None)]),
        ("$prompt.text!:What to draw", [("prompt", "text", False, True, "What to draw")]),
        ("$seed:  ", [("seed", "seed", False, False, None)]),
        (
            "Size, $width!, $height!",
            [("width", "width", False, True, None), ("height", "height", False, True, None)],
        ),
        (
            "  Sampler ,  $seed , $steps  ",
            [("seed", "seed", False, False, None), ("steps", "steps", False, False, None)],
        ),
        ("Plain title", []),
        ("", []),
        # comfykit reads everything after the first ':' as the description, so a '!'
        # written after it does not make the parameter required.
        ("$p:desc!", [("p", "p", False, False, "desc!")]),
    ],
)
def test_param_markers(title: str, expected: list[tuple[str, str, bool, bool, str | None]]) -> None:
    parsed = parse_title(title)
    assert parsed.problems == ()
    assert parsed.output is None
    got = [(m.name, m.field, m.upload, m.required, m.description) for m in parsed.params]
    assert got == expected
    assert all(isinstance(m, ParamMarker) for m in parsed.params)


def test_output_marker_is_the_whole_title() -> None:
    assert parse_title("$output.cover").output == OutputMarker("cover")
    assert parse_title("  $output.cover  ").output == OutputMarker("cover")


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("$", "empty-marker"),
        ("$!", "empty-marker"),
        ("$~", "empty-marker"),
        ("$.text", "empty-marker"),
        ("$prompt.", "empty-marker"),
        ("$output.", "empty-marker"),
        ("Save, $output.cover", "output-marker-not-alone"),
        ("$output.cover, $prefix.filename_prefix", "output-marker-not-alone"),
    ],
)
def test_malformed_markers_are_problems(title: str, code: str) -> None:
    parsed = parse_title(title)
    assert [p.code for p in parsed.problems] == [code]
    assert parsed.params == ()
    assert parsed.output is None


def test_marker_like_display_text_is_reported() -> None:
    parsed = parse_title("Size $width, $height")
    assert [m.name for m in parsed.params] == ["height"]
    assert parsed.suspicious == ("Size $width",)
    assert parse_title("Costs 5 $").suspicious == ()
