"""The only way untrusted text (titles, names, values, paths) becomes code.

Every literal and identifier that a generated module contains is produced here: strings
and docstrings fully escaped, numbers exact (huge ints, NaN/inf, -0.0), identifiers
proven to be identifiers. Quote choice and escapes follow ruff's formatter, so generated
files are stable under `ruff format`; CPython's own parser checks every file of a build
before anything is written (`_render.parse_error`), and the property tests check that
each literal reads back as exactly the value it was made from.
"""

from __future__ import annotations

import math
import re

from ._names import Identifier

__all__ = ["comment", "docstring", "json_block", "name", "scalar", "string"]


def name(identifier: Identifier) -> str:
    if not isinstance(identifier, Identifier):
        raise TypeError(f"identifiers must be validated Identifier values, got {identifier!r}")
    return str(identifier)


def _escape(char: str, quote: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == quote:
        return "\\" + quote
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if char.isprintable():
        return char
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def string(value: str) -> str:
    """A one-line string literal; double quotes unless single ones need fewer escapes."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    if value.isprintable() and quote not in value and "\\" not in value:
        body = value  # the common case, without a per-character pass
    else:
        body = "".join(_escape(char, quote) for char in value)
    return quote + body + quote


def scalar(value: str | int | float | bool | None) -> str:
    """A literal for a JSON scalar, exact for huge ints, NaN/inf and -0.0."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            text = 'float("nan")' if math.isnan(value) else 'float("inf")'
            return "-" + text if value < 0 else text
        # repr's exponent sign as ruff writes it: 1e+20 -> 1e20 (1e-07 stays)
        return repr(value).replace("e+", "e")
    if isinstance(value, str):
        return string(value)
    raise TypeError(f"not a JSON scalar: {type(value).__name__}")


def docstring(lines: list[str], indent: str) -> str:
    """A triple-quoted docstring of `lines` (each one line of text), indented for its block."""
    if len(lines) == 1:
        return '"""' + _docstring_line(lines[0], last=True) + '"""'
    escaped = [
        _docstring_line(line, last=index == len(lines) - 1) for index, line in enumerate(lines)
    ]
    body = escaped[0]
    for line in escaped[1:]:
        body += "\n" + (indent + line if line else "")
    if len(escaped) > 1:
        body += "\n" + indent
    return '"""' + body + '"""'


_QUOTE_BEFORE_QUOTE = re.compile(r'"(?=")')


def _escaped_quote(_: re.Match[str]) -> str:
    return '\\"'


def _docstring_line(line: str, *, last: bool) -> str:
    # A '"' is escaped only where it could close the docstring: before another '"', or at
    # the very end, so no three unescaped quotes ever stand in a row.
    if not line.isprintable() or "\\" in line:
        line = "".join(_escape(char, "") for char in line)
    if '"' in line:
        line = _QUOTE_BEFORE_QUOTE.sub(_escaped_quote, line)
        if last and line.endswith('"'):
            line = line[:-1] + '\\"'
    return line


def json_block(text: str) -> str:
    """A raw triple-quoted string holding JSON text (newlines kept for readability).

    `json.dumps` never produces three unescaped quotes in a row nor a trailing backslash,
    so a raw string holds it verbatim; characters that are not printable are turned into
    JSON escapes, which `json.loads` reads back to the very same string.
    """
    if text.replace("\n", "").isprintable():
        body = text
    else:
        body = "".join(_json_escape(char) for char in text)
    if '"""' in body or body.endswith("\\"):
        raise ValueError("JSON text cannot be embedded in a raw triple-quoted string")
    return 'r"""\n' + body + '\n"""'


def _json_escape(char: str) -> str:
    if char == "\n" or char.isprintable():
        return char
    point = ord(char)
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"


def comment(text: str) -> str:
    """A one-line comment; line breaks and other unprintable characters are escaped."""
    return "# " + "".join(c if c.isprintable() else _escape(c, "") for c in text)
