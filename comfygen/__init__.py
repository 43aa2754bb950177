"""comfygen: compile annotated ComfyUI workflows into typed Python.

The compiler (`build`, the `comfygen` command) and the comfykit-compatible dynamic API
(`ComfyKit`, `ExecuteResult`). Errors of the compiler::

    BuildError        a build that found errors (see `.diagnostics`)
"""

from ._build import Build, build
from ._diagnostics import BuildError, Diagnostic
from ._dynamic import ComfyKit, ExecuteResult
from ._ir import OutputIR, ParamIR, WorkflowIR
from ._write import GeneratedFile

__all__ = [
    "Build",
    "BuildError",
    "ComfyKit",
    "Diagnostic",
    "ExecuteResult",
    "GeneratedFile",
    "OutputIR",
    "ParamIR",
    "WorkflowIR",
    "build",
]
