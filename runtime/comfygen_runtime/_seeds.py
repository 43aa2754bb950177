"""comfykit's seed rule, offered as an option: a `seed` of 0 means "pick one at random".

Off by default for generated functions (a typed `seed` argument is honoured as given); on
by default in the comfykit-compatible dynamic API, as in comfykit. The seeds picked are
reported in `WorkflowResult.seeds` (node id -> seed), so a result can be reproduced.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

__all__ = ["SEED_INPUTS", "pick_seeds", "randomize_zero_seeds"]

# comfykit randomizes `seed` inputs only (not `noise_seed`): the same rule, so the same runs.
SEED_INPUTS = ("seed",)
_random = random.SystemRandom()  # no shared global RNG state between tasks or tenants


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and value.strip() == "0"


def pick_seeds(graph: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """A random 63-bit seed for every seed input that is 0: {(node id, input): seed}."""
    picked: dict[tuple[str, str], int] = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if not isinstance(inputs, Mapping):
            continue
        for name in SEED_INPUTS:
            if name in inputs and _is_zero(inputs[name]):
                picked[(str(node_id), name)] = _random.randint(0, (1 << 63) - 1)
    return picked


def randomize_zero_seeds(graph: dict[str, Any]) -> dict[str, int]:
    """Replace zero seeds in `graph` in place; return {node id: seed} of those replaced."""
    picked = pick_seeds(graph)
    for (node_id, name), seed in picked.items():
        graph[node_id]["inputs"][name] = seed
    return {node_id: seed for (node_id, _), seed in picked.items()}
