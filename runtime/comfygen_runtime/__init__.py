"""comfygen-runtime: runs comfygen-generated workflow functions.

Generated modules import from here; applications normally only touch the backends, the
output references and the errors.
"""

from ._apply import apply_params
from ._backend import Backend
from ._errors import (
    BackendUnavailableError,
    ComfygenError,
    ContractMismatchError,
    ParameterError,
)
from ._events import Event, EventHandler
from ._media import MediaInput
from ._outputs import Audio, File, Image, Output, Text, Video
from ._result import WorkflowResult
from ._run import run_workflow
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
    "Audio",
    "Backend",
    "BackendUnavailableError",
    "ComfygenError",
    "ContractMismatchError",
    "Event",
    "EventHandler",
    "File",
    "Image",
    "InputRef",
    "MediaInput",
    "Output",
    "OutputKind",
    "OutputSpec",
    "ParamSpec",
    "ParameterError",
    "Text",
    "Video",
    "WorkflowResult",
    "WorkflowSpec",
    "apply_params",
    "require_contract",
    "run_workflow",
]
