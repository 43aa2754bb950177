"""Exceptions raised by comfygen-runtime.

ComfygenError
 ├── ContractMismatchError   generated code and runtime disagree on the spec contract
 ├── ParameterError          arguments that cannot be applied to the workflow
 └── BackendUnavailableError no backend configured or reachable
"""

from __future__ import annotations


class ComfygenError(Exception):
    """Base class of every error raised by comfygen-runtime."""


class ContractMismatchError(ComfygenError, ImportError):
    """The generated module needs a different runtime contract version."""


class ParameterError(ComfygenError, ValueError):
    """A parameter value that cannot be applied to the workflow graph."""


class BackendUnavailableError(ComfygenError):
    """No backend could be reached or none was configured."""
