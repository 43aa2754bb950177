"""Exceptions raised by comfygen-runtime.

    ComfygenError
     ├── ContractMismatchError      generated code and runtime disagree on the spec contract
     ├── ParameterError             a value that cannot be applied (unknown name, missing file)
     ├── BackendUnavailableError    no backend configured, or the server cannot be reached
     ├── IdempotencyConflictError   an idempotency key reused with other parameters
     ├── NoCapableServerError       no server of a pool has every node class and model file
     ├── PromptRejectedError        the server refused the workflow (HTTP 400)
     │    ├── WorkflowValidationError   inputs failed validation; `.errors` name the parameters
     │    └── MissingNodeError          a node class is not installed on the server
     ├── ExecutionError             a node raised while the job ran (node, exception, traceback)
     ├── JobInterruptedError        the job was interrupted or cancelled on the server
     ├── JobLostError               the server does not know the job (restart, deleted)
     ├── WorkflowTimeoutError       the call's `timeout` passed (`.cancelled`: was the job?)
     └── RunningHubError            a RunningHub business code (`.code`, `.msg`)
          ├── QueueFullError            instances/queue full (415, 421, 814, 1003, 1011, 1520),
          │                             raised once the client's retries are spent
          ├── InsufficientBalanceError  not enough coins or wallet balance (414, 416, 812)
          ├── AuthenticationError       the API key is refused (412, 801, 802, 806, 811)
          └── InvalidNodeInfoError      a nodeInfoList entry does not fit the workflow (803)

Cancelling the task that awaits a run raises `asyncio.CancelledError` as usual, after the
job has been cancelled on the server. No message ever contains an API key or cookie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "ComfygenError",
    "ContractMismatchError",
    "ExecutionError",
    "IdempotencyConflictError",
    "InputError",
    "InsufficientBalanceError",
    "InvalidNodeInfoError",
    "JobInterruptedError",
    "JobLostError",
    "MissingNodeError",
    "NoCapableServerError",
    "ParameterError",
    "PromptRejectedError",
    "QueueFullError",
    "RunningHubError",
    "WorkflowTimeoutError",
    "WorkflowValidationError",
]


class ComfygenError(Exception):
    """Base class of every error raised by comfygen-runtime."""


class ContractMismatchError(ComfygenError, ImportError):
    """The generated module needs a different runtime contract version."""


class ParameterError(ComfygenError, ValueError):
    """A parameter value that cannot be applied to the workflow graph."""


class BackendUnavailableError(ComfygenError, ConnectionError):
    """No backend was configured, or the server could not be reached.

    `prompt_id` names a job the server accepted before it stopped answering (None: no
    job was accepted): it was not cancelled and may still run; attach to it by this id.
    """

    def __init__(self, message: str, *, prompt_id: str | None = None) -> None:
        super().__init__(message)
        self.prompt_id = prompt_id


class IdempotencyConflictError(ComfygenError, ValueError):
    """An idempotency key whose job is queued, running or finished was used again with
    other parameters. A key stands for one request: its job's outputs are never handed
    to another one. `prompt_id` is the key's job (None: it has not reached a server yet);
    use a new key for new parameters."""

    def __init__(self, message: str, *, prompt_id: str | None) -> None:
        super().__init__(message)
        self.prompt_id = prompt_id


class NoCapableServerError(ComfygenError):
    """No server of a `ComfyUIPool` has every node class and model file a job needs.

    Raised before anything is submitted. `missing` says, per server (base URL), what it
    lacks: node classes, and model files with the node and input that name them.
    """

    def __init__(self, workflow: str, missing: dict[str, list[str]]) -> None:
        lines = "\n".join(
            f"  {server}: missing {'; '.join(lacks)}" for server, lacks in missing.items()
        )
        super().__init__(
            f"no server can run workflow {workflow!r} (install what is missing on one of "
            f"them, or add a server that has it):\n{lines}"
        )
        self.missing = missing


@dataclass(frozen=True)
class InputError:
    """One input the server rejected, with the parameters whose bindings set it."""

    node_id: str
    class_type: str
    input: str | None
    type: str
    message: str
    details: str
    params: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"node {self.node_id} ({self.class_type})"
        if self.input:
            where += f" input {self.input!r}"
        if self.params:
            where = f"parameter {', '.join(self.params)} -> {where}"
        detail = f": {self.details}" if self.details and self.details != self.input else ""
        return f"{where}: {self.message}{detail}"


class PromptRejectedError(ComfygenError):
    """The server answered the submission with HTTP 400."""

    def __init__(self, message: str, *, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.body = body or {}


class WorkflowValidationError(PromptRejectedError):
    """Inputs failed the server's validation; `errors` lists each, mapped to parameters."""

    def __init__(self, errors: list[InputError], *, body: dict[str, Any]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {error}" for error in errors)
        super().__init__(f"the server rejected the workflow's inputs:\n{lines}", body=body)


class MissingNodeError(PromptRejectedError):
    """A node's class is not installed on the server (a missing custom node)."""

    def __init__(self, message: str, *, node_id: str, class_type: str, body: dict[str, Any]):
        super().__init__(message, body=body)
        self.node_id = node_id
        self.class_type = class_type


@dataclass
class ExecutionError(ComfygenError):
    """A node raised an exception while the job ran."""

    prompt_id: str
    node_id: str
    node_type: str
    exception_type: str
    exception_message: str
    traceback: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"node {self.node_id} ({self.node_type}) failed with {self.exception_type}: "
            f"{self.exception_message.strip()}"
        )


class JobInterruptedError(ComfygenError):
    """The job was interrupted or cancelled on the server before it finished."""

    def __init__(self, prompt_id: str, node_id: str | None = None) -> None:
        at = f" at node {node_id}" if node_id else ""
        super().__init__(f"job {prompt_id} was interrupted on the server{at}")
        self.prompt_id = prompt_id
        self.node_id = node_id


class JobLostError(ComfygenError):
    """The server does not know the job any more (restarted, or deleted from its queue)."""

    def __init__(self, prompt_id: str, reason: str) -> None:
        super().__init__(f"job {prompt_id} is gone from the server: {reason}")
        self.prompt_id = prompt_id


class WorkflowTimeoutError(ComfygenError, TimeoutError):
    """The run did not finish within its `timeout`.

    `prompt_id` is the job's id (None if no job was submitted); `cancelled` says whether
    the job was cancelled on the server (True), left running or not confirmed cancelled
    (False), or never existed (None). The message says which, and why.
    """

    def __init__(
        self, message: str, *, prompt_id: str | None = None, cancelled: bool | None = None
    ) -> None:
        super().__init__(message)
        self.prompt_id = prompt_id
        self.cancelled = cancelled


class RunningHubError(ComfygenError):
    """RunningHub answered with a business error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"RunningHub error {code}: {message}")
        self.code = code
        self.msg = message


class QueueFullError(RunningHubError):
    """No instance or queue slot was free, even after the client's retries."""


class InsufficientBalanceError(RunningHubError):
    """The account has not enough coins or wallet balance for the task."""


class AuthenticationError(RunningHubError):
    """The API key is missing, wrong, or not allowed to use this API."""


class InvalidNodeInfoError(RunningHubError):
    """A parameter's node or input does not exist in the RunningHub workflow."""
