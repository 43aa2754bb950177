"""Python identifiers for parameters, outputs, functions and classes.

Names come from workflow titles and file names, which are untrusted. `Identifier` is a
`str` that is known to be a valid, non-keyword, NFKC-stable Python identifier; every
identifier that reaches generated code is one. Renaming is done only where it is safe and
deterministic (`neg-prompt` -> `neg_prompt`, `class` -> `class_`); anything else is an
error that says how to rename.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass

from comfygen_runtime import WorkflowResult
from pydantic import BaseModel

__all__ = [
    "FUNCTION_KEYWORDS",
    "MODEL_ATTRIBUTES",
    "MODULE_NAMES",
    "RESULT_FIELDS",
    "Identifier",
    "NameResult",
    "class_stem",
    "field_name",
    "function_name",
    "is_identifier",
]


class Identifier(str):
    """A string proven to be a usable Python identifier."""

    __slots__ = ()

    def __new__(cls, value: str) -> Identifier:
        if not is_identifier(value):
            raise ValueError(f"not a usable Python identifier: {value!r}")
        return super().__new__(cls, value)


def is_identifier(value: str) -> bool:
    return (
        value.isidentifier()
        and not keyword.iskeyword(value)
        and (value.isascii() or unicodedata.normalize("NFKC", value) == value)
    )


# Keyword arguments every generated function has besides the workflow's parameters.
FUNCTION_KEYWORDS = frozenset({"client", "on_event", "timeout", "idempotency_key"})

# Names the generated module itself uses in class bodies and annotations; a field of the
# same name would shadow them.
MODULE_NAMES = frozenset(
    {
        "Any", "Audio", "BaseModel", "Backend", "ConfigDict", "EventHandler", "Field",
        "File", "Final", "Image", "MediaInput", "Output", "Text", "Video",
        "WorkflowResult", "bool", "float", "int", "json", "list", "str",
    }
)  # fmt: skip

# Attributes of pydantic models that a field must not shadow.
MODEL_ATTRIBUTES = frozenset(name for name in dir(BaseModel) if not name.startswith("_"))
RESULT_FIELDS = frozenset(WorkflowResult.model_fields)


@dataclass(frozen=True)
class NameResult:
    """The outcome of turning a DSL name into an identifier."""

    identifier: Identifier | None
    renamed: bool = False
    problem: str | None = None
    hint: str | None = None


_SEPARATORS = re.compile(r"[-\s]+")


def field_name(raw: str, *, what: str) -> NameResult:
    """Turn a parameter or output name from a title into a field identifier."""
    if raw == "":
        return NameResult(None, problem=f"the {what} name is empty", hint=_NAME_HINT)
    candidate = _SEPARATORS.sub("_", raw.strip())
    if keyword.iskeyword(candidate):
        candidate += "_"
    if not is_identifier(candidate):
        return NameResult(
            None,
            problem=f"the {what} name is not a usable Python identifier",
            hint=_NAME_HINT,
        )
    if candidate.startswith("_"):
        return NameResult(
            None,
            problem=f"the {what} name starts with '_', which pydantic reserves for "
            "private attributes",
            hint=f"drop the leading underscore, e.g. {candidate.lstrip('_') or 'value'}",
        )
    if candidate in MODEL_ATTRIBUTES or candidate.startswith(("model_dump", "model_validate")):
        return NameResult(
            None,
            problem=f"the {what} name shadows the pydantic model attribute {candidate!r}",
            hint=f"rename it, e.g. {candidate}_value",
        )
    if candidate in MODULE_NAMES:
        return NameResult(
            None,
            problem=f"the {what} name shadows {candidate!r}, which the generated module uses",
            hint=f"rename it, e.g. {candidate.lower()}_value",
        )
    return NameResult(Identifier(candidate), renamed=candidate != raw)


_NAME_HINT = (
    "use letters, digits and underscores, not starting with a digit (e.g. $positive_prompt.text)"
)


def function_name(stem: str) -> Identifier | None:
    """Derive a snake_case function (and module) name from a workflow file's stem."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", stem)
    snake = re.sub(r"[^0-9A-Za-z]+", "_", snake).strip("_").lower()
    if not snake:
        return None
    if snake[0].isdigit():
        snake = "workflow_" + snake
    if keyword.iskeyword(snake):
        snake += "_"
    if snake in MODULE_NAMES:
        snake += "_workflow"  # `json.json` must not shadow the module's own `json`
    return Identifier(snake)


def class_stem(function: Identifier) -> str:
    """`generate_cover` -> `GenerateCover` (the stem of the Params/Result class names)."""
    return "".join(part[:1].upper() + part[1:] for part in function.split("_") if part)
