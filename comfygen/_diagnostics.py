"""Diagnostics: what is wrong, where (file, node, class, title, parameter) and how to fix it.

BuildError          a build that found at least one error; carries every diagnostic
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

__all__ = ["BuildError", "Code", "Diagnostic", "Severity", "quote"]

Severity = Literal["error", "warning"]

Code = Literal[
    # sources
    "no-workflows",
    "unreadable",
    "invalid-json",
    "ui-format",
    "not-api-format",
    "runninghub",
    "no-runninghub-id",
    # the DSL and names
    "bad-name",
    "empty-marker",
    "output-marker-not-alone",
    "marker-in-display-text",
    "reserved-name",
    "name-clash",
    "duplicate-output",
    # bindings
    "malformed-node",
    "unknown-input",
    "linked-input",
    "optional-without-default",
    "unsupported-value",
    "conflicting-bindings",
    "no-outputs",
    # node schemas
    "unknown-node",
    "schema-mismatch",
    "out-of-range",
    "not-an-option",
]
"""Every diagnostic code: a closed set, so a misspelt code is a type error."""


def quote(text: str) -> str:
    """Show untrusted text (titles, names) on one line with control characters escaped."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'  # what json.dumps gives, without its overhead
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Diagnostic:
    """One finding about one workflow, pointing at the node that causes it."""

    severity: Severity
    code: Code
    message: str
    file: str
    node_id: str | None = None
    class_type: str | None = None
    title: str | None = None
    param: str | None = None
    hint: str | None = None

    def location(self) -> str:
        parts = [self.file]
        if self.node_id is not None:
            node = f"node {quote(self.node_id)}"
            if self.class_type is not None:
                node += (
                    f" ({self.class_type if _plain(self.class_type) else quote(self.class_type)}"
                )
                if self.title is not None:
                    node += f", title {quote(self.title)}"
                node += ")"
            parts.append(node)
        if self.param is not None:
            parts.append(f"parameter {quote(self.param)}")
        return ": ".join(parts)

    def __str__(self) -> str:
        text = f"{self.location()}: {self.severity}[{self.code}]: {self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


def _plain(text: str) -> bool:
    return text.isprintable() and text.strip() == text and text != ""


class BuildError(Exception):
    """A build stopped by errors; nothing was written. `diagnostics` lists them all."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__("\n".join(str(d) for d in errors) or "build failed")
