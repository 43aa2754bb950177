"""The contract between generated modules and this runtime.

A generated module embeds a `WorkflowSpec`: the API-format graph plus the bindings that
say which node inputs each parameter sets and which nodes feed each result field. The
spec is plain frozen data so that the compiler's dynamic API can build the very same
object at run time (one path, two entry points).

`CONTRACT_VERSION` changes whenever the meaning of a spec changes; generated code calls
`require_contract` at import so that a stale runtime fails loudly instead of misbehaving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import ContractMismatchError

__all__ = [
    "CONTRACT_VERSION",
    "InputRef",
    "OutputKind",
    "OutputSpec",
    "ParamSpec",
    "WorkflowSpec",
    "require_contract",
]

CONTRACT_VERSION = 2
"""2: `ParamSpec(name, targets, required=, media=)`, `OutputSpec(name, kind, node_ids)`;
no `key` fields and no `WorkflowSpec.source` (the runtime never read them)."""

OutputKind = Literal["image", "video", "audio", "text", "file"]
"""What a result field holds; decides the reference class of its items."""


@dataclass(frozen=True)
class InputRef:
    """One node input that a parameter sets."""

    node_id: str
    input: str


@dataclass(frozen=True)
class ParamSpec:
    """A workflow parameter: `name` (the params model's field) sets every input of `targets`.

    `required`: the caller must pass it (the workflow's own value is not a default).
    `media`: the value is uploaded first (a path, bytes or URL) and the server's file name
    goes into the inputs.
    """

    name: str
    targets: tuple[InputRef, ...]
    required: bool = False
    media: bool = False


@dataclass(frozen=True)
class OutputSpec:
    """A result field `name`: the outputs of `node_ids`, typed by `kind`."""

    name: str
    kind: OutputKind
    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class WorkflowSpec:
    """Everything the runtime needs to run one workflow."""

    name: str
    graph: Mapping[str, Any]
    params: tuple[ParamSpec, ...]
    outputs: tuple[OutputSpec, ...]
    runninghub_id: str | None = None  # the same workflow on RunningHub, when known
    contract: int = CONTRACT_VERSION


def require_contract(version: int) -> None:
    """Fail at import when generated code expects another contract than this runtime's."""
    if version != CONTRACT_VERSION:
        newer = "comfygen-runtime" if version > CONTRACT_VERSION else "comfygen"
        raise ContractMismatchError(
            f"this module was generated for runtime contract {version}, but the installed "
            f"comfygen-runtime speaks contract {CONTRACT_VERSION}; upgrade {newer} "
            "(or regenerate the module with the matching comfygen) so both agree"
        )
