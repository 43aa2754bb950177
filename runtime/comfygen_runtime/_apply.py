"""Applying parameter values to a copy of a workflow graph."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._errors import ParameterError
from ._spec import WorkflowSpec

__all__ = ["apply_params"]


def apply_params(spec: WorkflowSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of `spec.graph` with each value written into its target inputs.

    `values` maps parameter names to the (already validated, already uploaded) values;
    parameters absent from `values`, or None (a parameter bound to nodes holding different
    values, not passed by the caller), keep the workflow's own input values. The spec's graph
    is never modified, so one spec serves any number of concurrent runs.
    """
    graph: dict[str, Any] = copy.deepcopy(dict(spec.graph))
    known = {param.name: param for param in spec.params}
    for name, value in values.items():
        param = known.get(name)
        if param is None:
            raise ParameterError(
                f"workflow {spec.name!r} has no parameter {name!r}; "
                f"its parameters are: {', '.join(sorted(known)) or '(none)'}"
            )
        if value is None:
            continue
        for target in param.targets:
            graph[target.node_id]["inputs"][target.input] = value
    return graph
