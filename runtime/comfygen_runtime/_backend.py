"""The interface every backend (ComfyUI server, RunningHub cloud) implements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._events import EventHandler
from ._outputs import File
from ._result import WorkflowResult
from ._spec import WorkflowSpec

ResultT = TypeVar("ResultT", bound=WorkflowResult)


@runtime_checkable
class Backend(Protocol):
    """Runs one workflow: upload media, submit, follow to completion, map outputs."""

    async def run(
        self,
        spec: WorkflowSpec,
        values: Mapping[str, Any],
        result_type: type[ResultT],
        *,
        on_event: EventHandler | None = None,
        timeout: float | None = None,
    ) -> ResultT:
        """Run `spec` with parameter `values` and return an instance of `result_type`."""
        ...

    def file_ref(self, cls: type[File], node_id: str, record: Mapping[str, Any]) -> File:
        """A reference to an output file described by one of this backend's raw records."""
        ...
