"""libcst nodes for every literal and identifier that reaches generated code.

Untrusted text (titles, names, values, paths) never reaches a module by pasting: it becomes
a libcst node here, and the text of that node is what the templates place. Quote choice and
escapes follow ruff's formatter, so generated files are stable under `ruff format`.
"""

from __future__ import annotations

import math

import libcst as cst

from ._names import Identifier

_MODULE = cst.Module(body=[])


def code(node: cst.CSTNode) -> str:
    return _MODULE.code_for_node(node)


def name(identifier: Identifier) -> cst.Name:
    if not isinstance(identifier, Identifier):
        raise TypeError(f"identifiers must be validated Identifier values, got {identifier!r}")
    return cst.Name(identifier)


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


def string(value: str) -> cst.SimpleString:
    """A one-line string literal; double quotes unless single ones need fewer escapes."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    if value.isprintable() and quote not in value and "\\" not in value:
        body = value  # the common case, without a per-character pass
    else:
        body = "".join(_escape(char, quote) for char in value)
    return cst.SimpleString(quote + body + quote)


def scalar(value: str | int | float | bool | None) -> cst.BaseExpression:
    """A literal for a JSON scalar, exact for huge ints and NaN/inf floats."""
    if value is None or isinstance(value, bool):
        return cst.Name(repr(value))
    if isinstance(value, int):
        number: cst.BaseExpression = cst.Integer(str(abs(value)))
        return cst.UnaryOperation(cst.Minus(), number) if value < 0 else number
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            text = "nan" if math.isnan(value) else "inf"
            call = cst.Call(cst.Name("float"), [cst.Arg(string(text))])
            return cst.UnaryOperation(cst.Minus(), call) if value < 0 else call
        number = cst.Float(repr(abs(value)))
        return cst.UnaryOperation(cst.Minus(), number) if math.copysign(1, value) < 0 else number
    if isinstance(value, str):
        return string(value)
    raise TypeError(f"not a JSON scalar: {type(value).__name__}")


def docstring(lines: list[str], indent: str) -> cst.SimpleString:
    """A triple-quoted docstring of `lines` (each one line of text), indented for its block."""
    escaped = [
        _docstring_line(line, last=index == len(lines) - 1) for index, line in enumerate(lines)
    ]
    body = escaped[0]
    for line in escaped[1:]:
        body += "\n" + (indent + line if line else "")
    if len(escaped) > 1:
        body += "\n" + indent
    return cst.SimpleString('"""' + body + '"""')


def _docstring_line(line: str, *, last: bool) -> str:
    # A '"' is escaped only where it could close the docstring: before another '"', or at
    # the very end, so no three unescaped quotes ever stand in a row.
    if line.isprintable() and '"' not in line and "\\" not in line:
        return line
    out = []
    for index, char in enumerate(line):
        if char == '"':
            following = line[index + 1 : index + 2]
            out.append('\\"' if following == '"' or (following == "" and last) else '"')
        else:
            out.append(_escape(char, ""))
    return "".join(out)


def json_block(text: str) -> cst.SimpleString:
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
    return cst.SimpleString('r"""\n' + body + '\n"""')


def _json_escape(char: str) -> str:
    if char == "\n" or char.isprintable():
        return char
    point = ord(char)
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"


def comment(text: str) -> cst.Comment:
    """A one-line comment; line breaks and other unprintable characters are escaped."""
    return cst.Comment("# " + "".join(c if c.isprintable() else _escape(c, "") for c in text))
