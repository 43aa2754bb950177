"""comfygen-runtime: runs comfygen-generated workflow functions.

Generated modules import from here; applications normally touch only the backends
(`ComfyUI`, `ComfyUIPool`, `RunningHub`), the output references (`Image`, `Video`,
`Audio`, `Text`, `File`), the events (`Event`, `watch`), the errors, and for jobs that
outlive a call `submit`, `attach` and `JobHandle`. A new backend implements `Backend`
(with `Ticket`, `Prepared`, `Settled`, `Events`).
"""

from ._apply import apply_params
from ._backend import Backend, JobState, Prepared, Settled, Ticket
from ._comfyui import ComfyUI
from ._config import (
    DEFAULT_COMFYUI_URL,
    DEFAULT_RUNNINGHUB_URL,
    ComfyUIConfig,
    redact_url,
    server_urls,
)
from ._errors import (
    AuthenticationError,
    BackendUnavailableError,
    ComfygenError,
    ContractMismatchError,
    ExecutionError,
    IdempotencyConflictError,
    InputError,
    InsufficientBalanceError,
    InvalidNodeInfoError,
    JobInterruptedError,
    JobLostError,
    MissingNodeError,
    NoCapableServerError,
    ParameterError,
    PromptRejectedError,
    QueueFullError,
    RunningHubError,
    WorkflowTimeoutError,
    WorkflowValidationError,
)
from ._events import Event, EventHandler, EventKind, Events, watch
from ._introspect import Device, QueuedJob, QueueState, SystemStats
from ._job import JobHandle, request_fingerprint
from ._media import MediaInput
from ._outputs import Audio, File, Image, Output, Text, Video, node_items
from ._pool import ComfyUIPool, PoolServer
from ._result import WorkflowResult
from ._run import attach, default_client, run_sync, run_workflow, submit, workflow
from ._runninghub import RunningHub
from ._spec import (
    CONTRACT_VERSION,
    InputRef,
    OutputKind,
    OutputSpec,
    ParamSpec,
    WorkflowSpec,
    require_contract,
)

__all__ = [
    "CONTRACT_VERSION",
    "DEFAULT_COMFYUI_URL",
    "DEFAULT_RUNNINGHUB_URL",
    "Audio",
    "AuthenticationError",
    "Backend",
    "BackendUnavailableError",
    "ComfyUI",
    "ComfyUIConfig",
    "ComfyUIPool",
    "ComfygenError",
    "ContractMismatchError",
    "Device",
    "Event",
    "EventHandler",
    "EventKind",
    "Events",
    "ExecutionError",
    "File",
    "IdempotencyConflictError",
    "Image",
    "InputError",
    "InputRef",
    "InsufficientBalanceError",
    "InvalidNodeInfoError",
    "JobHandle",
    "JobInterruptedError",
    "JobLostError",
    "JobState",
    "MediaInput",
    "MissingNodeError",
    "NoCapableServerError",
    "Output",
    "OutputKind",
    "OutputSpec",
    "ParamSpec",
    "ParameterError",
    "PoolServer",
    "Prepared",
    "PromptRejectedError",
    "QueueFullError",
    "QueueState",
    "QueuedJob",
    "RunningHub",
    "RunningHubError",
    "Settled",
    "SystemStats",
    "Text",
    "Ticket",
    "Video",
    "WorkflowResult",
    "WorkflowSpec",
    "WorkflowTimeoutError",
    "WorkflowValidationError",
    "apply_params",
    "attach",
    "default_client",
    "node_items",
    "redact_url",
    "request_fingerprint",
    "require_contract",
    "run_sync",
    "run_workflow",
    "server_urls",
    "submit",
    "watch",
    "workflow",
]
