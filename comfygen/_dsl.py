"""The title DSL: node titles -> parameter and output markers.

Grammar (comfykit 0.1.12 compatible; see README "DSL reference")::

    title   := part ("," part)*            parts are stripped; non-"$" parts are display text
    marker  := "$" ["~"] name ["." ["~"] field] ["!"] [":" description]
    output  := "$output." name             only as the whole title

`~` marks a media (upload) parameter, `!` a required one. Without `.field` the parameter
binds the input of its own name. The description runs to the next comma.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ._diagnostics import Code

__all__ = [
    "OUTPUT_PREFIX",
    "OutputMarker",
    "ParamMarker",
    "ParsedTitle",
    "Problem",
    "parse_marker",
    "parse_title",
]

OUTPUT_PREFIX = "$output."


@dataclass(frozen=True)
class ParamMarker:
    """`$~name.field!:description` as written in a title."""

    text: str
    name: str
    field: str
    upload: bool
    required: bool
    description: str | None


@dataclass(frozen=True)
class OutputMarker:
    """`$output.name`: the node's outputs form the result field `name`."""

    name: str


@dataclass(frozen=True)
class Problem:
    code: Code
    message: str
    hint: str


@dataclass(frozen=True)
class ParsedTitle:
    params: tuple[ParamMarker, ...] = ()
    output: OutputMarker | None = None
    problems: tuple[Problem, ...] = ()
    # Display text that looks like a marker that was not recognised as one.
    suspicious: tuple[str, ...] = ()


_NO_MARKERS = ParsedTitle()
_LOOKS_LIKE_MARKER = re.compile(r"\$~?[A-Za-z_]")


def parse_title(title: str) -> ParsedTitle:
    """Split a title into markers; malformed markers become problems, never guesses."""
    if "$" not in title:
        return _NO_MARKERS  # most titles: "KSampler", "VAE Decode"
    parts = [part.strip() for part in title.split(",")]
    outputs = [part for part in parts if part.startswith(OUTPUT_PREFIX)]
    if outputs:
        if len(parts) != 1:
            return ParsedTitle(
                problems=(
                    Problem(
                        "output-marker-not-alone",
                        f"{outputs[0]!r} must be the whole title, but the title has other parts",
                        f"set the title to just {outputs[0]!r}; a node is either an "
                        "output or has parameters, and display text goes elsewhere",
                    ),
                )
            )
        name = parts[0][len(OUTPUT_PREFIX) :]
        if not name:
            return ParsedTitle(
                problems=(
                    Problem(
                        "empty-marker",
                        "the output marker '$output.' has no name",
                        "write the result field's name after the dot, e.g. $output.cover",
                    ),
                )
            )
        return ParsedTitle(output=OutputMarker(name))

    params: list[ParamMarker] = []
    problems: list[Problem] = []
    suspicious: list[str] = []
    for part in parts:
        if not part.startswith("$"):
            if _LOOKS_LIKE_MARKER.search(part):
                suspicious.append(part)
            continue
        marker, problem = parse_marker(part)
        if problem is not None:
            problems.append(problem)
        elif marker is not None:
            params.append(marker)
    return ParsedTitle(tuple(params), None, tuple(problems), tuple(suspicious))


def parse_marker(text: str) -> tuple[ParamMarker | None, Problem | None]:
    body = text[1:]
    description: str | None = None
    if ":" in body:
        body, raw_description = body.split(":", 1)
        description = raw_description.strip() or None
    required = body.endswith("!")
    if required:
        body = body[:-1]
    upload = body.startswith("~")
    if upload:
        body = body[1:]
    if "." in body:
        name, field = body.split(".", 1)
        if field.startswith("~"):
            upload = True
            field = field[1:]
    else:
        name = field = body
    if name == "":
        return None, Problem(
            "empty-marker",
            f"the marker {text!r} has no parameter name",
            "write a name after '$', e.g. $prompt.text! or $width",
        )
    if field == "":
        return None, Problem(
            "empty-marker",
            f"the marker {text!r} names no input after the '.'",
            f"name the node input to set, e.g. {json.dumps('$' + name + '.text')}, or drop the '.'",
        )
    return ParamMarker(text, name, field, upload, required, description), None
