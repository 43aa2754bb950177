"""comfygen: compile annotated ComfyUI workflows into typed Python.

BuildError        a build that found errors (see `.diagnostics`)
"""

from ._build import Build, build
from ._diagnostics import BuildError, Diagnostic
from ._ir import OutputIR, ParamIR, WorkflowIR
from ._write import GeneratedFile

__all__ = [
    "Build",
    "BuildError",
    "Diagnostic",
    "GeneratedFile",
    "OutputIR",
    "ParamIR",
    "WorkflowIR",
    "build",
]
