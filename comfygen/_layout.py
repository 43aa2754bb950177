"""Laying out nested calls, tuples and subscripts exactly as ruff's formatter does.

An expression is either written on one line, when that line fits in 88 columns, or
exploded: one item per line, each laid out the same way, with a trailing comma. ruff
keeps both as they are (an exploded form's trailing comma is "magic"; a one-line form
has none), so generated code is stable under `ruff format` without running it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cached_property

__all__ = ["WIDTH", "Group", "display_width", "fits", "lay_out"]

WIDTH = 88


def display_width(text: str) -> int:
    """Columns as ruff counts them: East Asian wide and full-width characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fits(line: str) -> bool:
    return display_width(line) <= WIDTH


@dataclass(frozen=True)
class Group:
    """`open item, item, ... close`: a call (`f(`), a tuple (`(`) or a subscript (`X[`).

    `items` are (prefix, item) pairs: the item is code that cannot be split (a literal, a
    name) or a group; the prefix is a keyword (`required=`) or empty. A one-element tuple
    keeps its comma on one line: `("7",)`. (A one-element subscript must be given as
    text: exploding it would add a comma, which makes its index a tuple.)
    """

    open: str
    items: tuple[tuple[str, str | Group], ...]
    close: str
    tuple: bool = False

    @cached_property
    def flat(self) -> str:
        inner = ", ".join(prefix + _flat(item) for prefix, item in self.items)
        if self.tuple and len(self.items) == 1:
            inner += ","
        return self.open + inner + self.close


def _flat(item: str | Group) -> str:
    return item if isinstance(item, str) else item.flat


def lay_out(item: str | Group, indent: str, prefix: str = "", suffix: str = "") -> list[str]:
    """The lines of `prefix item suffix` at `indent`: on one line if it fits, else exploded."""
    line = indent + prefix + _flat(item) + suffix
    if isinstance(item, str) or fits(line) or not item.items:
        return [line]
    lines = [indent + prefix + item.open]
    inner = indent + "    "
    for key, child in item.items:
        lines += lay_out(child, inner, key, ",")
    lines.append(indent + item.close + suffix)
    return lines
