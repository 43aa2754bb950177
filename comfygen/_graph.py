"""Facts about workflow graphs that both formats' readers need (API and the editor's UI)."""

from __future__ import annotations

from typing import Any

__all__ = ["is_link", "is_ui_format"]


def is_link(value: Any) -> bool:
    """`["4", 0]`: an input fed by output 0 of node "4" (API format)."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def is_ui_format(data: Any) -> bool:
    """The editor's UI format (`nodes` with `links` or `edges`), not the API format."""
    return isinstance(data, dict) and "nodes" in data and ("links" in data or "edges" in data)
