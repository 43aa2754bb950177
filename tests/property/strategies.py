"""Hostile inputs for the property tests: titles, names and values that try to break out."""

from __future__ import annotations

import keyword
from typing import Any

from hypothesis import strategies as st

__all__ = ["NASTY", "SPECIAL_NAMES", "names", "scalars", "schema_workflows", "text", "workflows"]

NASTY = ['"', "'", '"""', "'''", "\\", "\n", "\r", "\x00", "\u2028", "\ud800", "#", "}", "{",
         ":", ".", "!", "~", "$", ",", " ", "-", "λ", "猫", "\U0001f431", "ﬁ",
         "\t", "\x7f"]  # fmt: skip
SPECIAL_NAMES = [*keyword.kwlist, "client", "timeout", "on_event", "json", "str", "int",
                 "model_dump", "copy", "_x", "__init__", "prompt_id", "outputs", "WfParams",
                 "neg-prompt", "a b", "1st", "ok", "x", "y"]  # fmt: skip

text = st.lists(st.one_of(st.sampled_from(NASTY), st.characters()), max_size=8).map("".join)
names = st.one_of(
    st.sampled_from(SPECIAL_NAMES), st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), text
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    graph: dict[str, Any] = {}
    for index in range(draw(st.integers(1, 4))):
        node_id = draw(st.one_of(st.just(str(index + 1)), text.filter(bool)))
        inputs: dict[str, Any] = {}
        parts: list[str] = []
        for _ in range(draw(st.integers(0, 3))):
            name = draw(names)
            field = draw(st.one_of(st.just(name), names))
            inputs[field] = draw(st.one_of(scalars, st.just(["1", 0])))
            marker = "$" + draw(st.sampled_from(["", "~"])) + name
            if field != name:
                marker += "." + field
            marker += draw(st.sampled_from(["", "!"]))
            if draw(st.booleans()):
                marker += ":" + draw(text)
            parts.append(marker)
        if draw(st.booleans()):
            parts.append(draw(text))
        title = ", ".join(parts)
        class_type = draw(
            st.sampled_from(["SaveImage", "PreviewAny", "SaveAudio", "Custom"]) | text
        )
        if draw(st.integers(0, 4)) == 0:
            title = "$output." + draw(names)
        graph[node_id] = {"inputs": inputs, "class_type": class_type, "_meta": {"title": title}}
    return graph


# -- workflows of nodes a server describes (`/object_info`): exact types, bounds, options -------

_identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
# Options long enough to make a `Literal` (even of one option) wider than a line.
_long_text = st.lists(st.one_of(st.sampled_from(NASTY), st.characters()), min_size=60,
                      max_size=120).map("".join)  # fmt: skip
_option_text = st.one_of(text, _long_text, _identifiers)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_big_ints = st.integers(min_value=-(2**70), max_value=2**70)
_INPUT_KINDS = ["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "INT_COMBO", "FLOAT_COMBO",
                "MIXED_COMBO"]  # fmt: skip


def _bounds(draw: st.DrawFn, numbers: st.SearchStrategy[Any]) -> tuple[Any, Any]:
    low, high = draw(st.one_of(st.none(), numbers)), draw(st.one_of(st.none(), numbers))
    if low is not None and high is not None and low > high:
        low, high = high, low
    return low, high


def _input(draw: st.DrawFn) -> tuple[list[Any], Any]:
    """One `/object_info` input spec and a value for it (mostly one it allows)."""
    kind = draw(st.sampled_from(_INPUT_KINDS))
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["tooltip"] = draw(text)
    value: Any
    if kind in ("INT", "FLOAT"):
        numbers = _big_ints if kind == "INT" else _finite
        low, high = _bounds(draw, numbers)
        extra.update({k: v for k, v in (("min", low), ("max", high)) if v is not None})
        if kind == "INT":
            value = draw(st.integers(min_value=low, max_value=high))
        else:
            value = draw(st.floats(min_value=low, max_value=high, allow_nan=False,
                                   allow_infinity=False))  # fmt: skip
        return [kind, extra], value
    if kind == "STRING":
        return [kind, extra], draw(text)
    if kind == "BOOLEAN":
        return [kind, extra], draw(st.booleans())
    options_of: dict[str, st.SearchStrategy[Any]] = {
        "COMBO": _option_text,
        "INT_COMBO": _big_ints,
        "FLOAT_COMBO": _finite,
        "MIXED_COMBO": st.one_of(_option_text, _big_ints, _finite),
    }
    options = draw(st.lists(options_of[kind], min_size=1, max_size=5, unique=True))
    value = draw(st.sampled_from(options)) if draw(st.integers(0, 9)) else draw(scalars)
    return [options, extra], value


@st.composite
def schema_workflows(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(an `/object_info` of custom node classes, a workflow of those nodes): parameters
    typed, bounded and restricted by the schema, with hostile options, tooltips, bounds
    and descriptions."""
    object_info: dict[str, Any] = {}
    graph: dict[str, Any] = {}
    for index in range(draw(st.integers(1, 3))):
        class_type = draw(st.one_of(st.just(f"Custom{index}"), text.filter(bool)))
        specs: dict[str, Any] = {}
        inputs: dict[str, Any] = {}
        parts: list[str] = []
        for _ in range(draw(st.integers(1, 4))):
            field = draw(_identifiers)
            specs[field], inputs[field] = _input(draw)
            name = draw(st.one_of(st.just(field), _identifiers, names))
            marker = f"${name}" if name == field else f"${name}.{field}"
            marker += draw(st.sampled_from(["", "", "!"]))
            if draw(st.booleans()):
                marker += ":" + draw(text)
            parts.append(marker)
        object_info[class_type] = {"input": {"required": specs}, "output": ["IMAGE"]}
        graph[str(index + 1)] = {
            "inputs": inputs,
            "class_type": class_type,
            "_meta": {"title": ", ".join(parts)},
        }
    graph["99"] = {
        "inputs": {"images": ["1", 0], "filename_prefix": "x"},
        "class_type": "SaveImage",
        "_meta": {"title": "$output.picture"},
    }
    return object_info, graph
