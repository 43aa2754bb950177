"""Hostile inputs for the property tests: titles, names and values that try to break out."""

from __future__ import annotations

import keyword
from typing import Any

from hypothesis import strategies as st

__all__ = ["NASTY", "SPECIAL_NAMES", "names", "scalars", "text", "workflows"]

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
