"""Node definitions, prompt validation and execution order, the way ComfyUI's execution.py does
them (validate_prompt / validate_inputs, TopologicalSort / ExecutionList, the classic cache's
input signatures), driven by the recorded GET /object_info of a real server."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OBJECT_INFO_PATH = Path(__file__).parent / "data" / "object_info_full.json.gz"

# Where the real server iterates a Python set (the output nodes of a prompt, a node's inputs,
# the executed nodes, the node ids in `current_outputs`), the order is the set's hash order,
# which is random per server process. The fake uses one fixed pseudo-random order; this salt
# makes it reproduce every order seen in the recordings (outputs [3, 7, 6] in transcript 04,
# dependent_outputs [2, 4, 6] in 06, current_outputs [2, 1, 3] in 05, executed [2, 1] ...).
_SET_ORDER_SALT = b"1714:"


def set_order(items: Iterable[str]) -> list[str]:
    """The iteration order of `set(items)` in the fake (fixed, hash-like)."""
    return sorted(
        set(items),
        key=lambda s: hashlib.blake2b(_SET_ORDER_SALT + s.encode(), digest_size=8).digest(),
    )


@functools.cache
def object_info() -> dict[str, Any]:
    """The whole GET /object_info of the recorded server (887 node classes)."""
    with gzip.open(OBJECT_INFO_PATH, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@dataclass(frozen=True)
class NodeDef:
    """One node class, as GET /object_info describes it."""

    name: str
    info: dict[str, Any]

    def _section(self, name: str) -> dict[str, Any]:
        section: dict[str, Any] = self.info.get("input", {}).get(name, {})
        return section

    @property
    def output_node(self) -> bool:
        return bool(self.info.get("output_node"))

    @property
    def return_types(self) -> list[Any]:
        out: list[Any] = self.info.get("output", [])
        return out

    @property
    def hidden(self) -> dict[str, str]:
        """Hidden inputs: name -> kind ("PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", ...)."""
        out: dict[str, str] = {}
        for name, spec in self._section("hidden").items():
            out[name] = spec[0] if isinstance(spec, list) else str(spec)
        return out

    @property
    def v1_hidden(self) -> bool:
        """Old-style (non-V3) nodes get their hidden inputs as ordinary arguments."""
        return any(not isinstance(s, list) for s in self._section("hidden").values())

    @property
    def include_unique_id(self) -> bool:
        return "UNIQUE_ID" in self.hidden.values()

    def valid_inputs(self) -> list[str]:
        return set_order([*self._section("required"), *self._section("optional")])

    def input_info(self, name: str) -> tuple[Any, str | None, dict[str, Any] | None]:
        for category in ("required", "optional", "hidden"):
            section = self._section(category)
            if name in section:
                spec = section[name]
                if not isinstance(spec, list):
                    return spec, category, {}
                extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                return spec[0], category, extra
        return None, None, None


@functools.cache
def node_defs() -> dict[str, NodeDef]:
    return {name: NodeDef(name, info) for name, info in object_info().items()}


def is_link(obj: object) -> bool:
    return (
        isinstance(obj, list)
        and len(obj) == 2
        and isinstance(obj[0], str)
        and isinstance(obj[1], (int, float))
        and not isinstance(obj[1], bool)
    )


def full_type_name(klass: type) -> str:
    module = klass.__module__
    if module == "builtins":
        return klass.__qualname__
    return module + "." + klass.__qualname__


def validate_node_input(received_type: Any, input_type: Any) -> bool:
    if received_type == "*" or input_type == "*":
        return True
    if received_type == input_type:
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        # A list (old-style combo) input accepts a COMBO link.
        return received_type == "COMBO" and isinstance(input_type, list)
    received = {t.strip() for t in received_type.split(",")}
    accepted = {t.strip() for t in input_type.split(",")}
    return len(received & accepted) > 0


@dataclass(frozen=True)
class CustomValidation:
    """A node's VALIDATE_INPUTS: the inputs it takes, and a check giving for each of them
    True, False or an error message."""

    inputs: frozenset[str]
    check: Callable[[dict[str, Any]], dict[str, object]]


CustomValidators = Mapping[str, CustomValidation]

Validated = dict[str, tuple[bool, list[dict[str, Any]], str]]


def _error(kind: str, message: str, details: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def validate_inputs(
    prompt: dict[str, Any],
    item: str,
    validated: Validated,
    custom: CustomValidators,
    defs: Mapping[str, NodeDef] | None = None,
) -> tuple[bool, list[dict[str, Any]], str]:
    """execution.py validate_inputs: the node's own errors, and recursion into linked nodes.
    `defs`: the node definitions to validate against (default: the recorded ones)."""
    unique_id = item
    if unique_id in validated:
        return validated[unique_id]

    if defs is None:
        defs = node_defs()
    inputs = prompt[unique_id]["inputs"]
    class_type = prompt[unique_id]["class_type"]
    node_def = defs[class_type]
    hook = custom.get(class_type)
    validate_function_inputs = hook.inputs if hook is not None else frozenset()

    errors: list[dict[str, Any]] = []
    valid = True
    literal: dict[str, Any] = {}

    for x in node_def.valid_inputs():
        input_type, input_category, extra_info = node_def.input_info(x)
        assert extra_info is not None
        if x not in inputs:
            if input_category == "required":
                errors.append(
                    _error(
                        "required_input_missing", "Required input is missing", x, {"input_name": x}
                    )
                )
            continue

        val = inputs[x]
        info = [input_type, extra_info]
        if isinstance(val, list):
            if len(val) != 2:
                errors.append(
                    _error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        x,
                        {"input_name": x, "input_config": info, "received_value": val},
                    )
                )
                continue
            o_id = val[0]
            o_class_type = prompt[o_id]["class_type"]
            received_type = defs[o_class_type].return_types[val[1]]
            if not validate_node_input(received_type, input_type):
                details = f"{x}, received_type({received_type}) mismatch input_type({input_type})"
                errors.append(
                    _error(
                        "return_type_mismatch",
                        "Return type mismatch between linked nodes",
                        details,
                        {
                            "input_name": x,
                            "input_config": info,
                            "received_type": received_type,
                            "linked_node": val,
                        },
                    )
                )
                continue
            try:
                r = validate_inputs(prompt, o_id, validated, custom, defs)
                if r[0] is False:
                    # `r` is in `validated[o_id]` already.
                    valid = False
                    continue
            except Exception as ex:
                typ, _, tb = sys.exc_info()
                assert typ is not None
                valid = False
                reasons = [
                    _error(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        str(ex),
                        {
                            "input_name": x,
                            "input_config": info,
                            "exception_message": str(ex),
                            "exception_type": full_type_name(typ),
                            "traceback": traceback.format_tb(tb),
                            "linked_node": val,
                        },
                    )
                ]
                validated[o_id] = (False, reasons, o_id)
                continue
        else:
            try:
                if isinstance(val, dict) and "__value__" in val:
                    val = val["__value__"]
                    inputs[x] = val
                if input_type == "INT":
                    val = int(val)
                    inputs[x] = val
                if input_type == "FLOAT":
                    val = float(val)
                    inputs[x] = val
                if input_type == "STRING":
                    val = str(val)
                    inputs[x] = val
                if input_type == "BOOLEAN":
                    val = bool(val)
                    inputs[x] = val
            except Exception as ex:
                errors.append(
                    _error(
                        "invalid_input_type",
                        f"Failed to convert an input value to a {input_type} value",
                        f"{x}, {val}, {ex}",
                        {
                            "input_name": x,
                            "input_config": info,
                            "received_value": val,
                            "exception_message": str(ex),
                        },
                    )
                )
                continue
            literal[x] = val

            if x not in validate_function_inputs:
                if "min" in extra_info and val < extra_info["min"]:
                    errors.append(
                        _error(
                            "value_smaller_than_min",
                            "Value {} smaller than min of {}".format(val, extra_info["min"]),
                            x,
                            {"input_name": x, "input_config": info, "received_value": val},
                        )
                    )
                    continue
                if "max" in extra_info and val > extra_info["max"]:
                    errors.append(
                        _error(
                            "value_bigger_than_max",
                            "Value {} bigger than max of {}".format(val, extra_info["max"]),
                            x,
                            {"input_name": x, "input_config": info, "received_value": val},
                        )
                    )
                    continue
                if isinstance(input_type, list) or input_type == "COMBO":
                    options = extra_info.get("options", []) if input_type == "COMBO" else input_type
                    if val not in options:
                        input_config: Any = info
                        if len(options) > 20:
                            list_info = f"(list of length {len(options)})"
                            input_config = None
                        else:
                            list_info = str(options)
                        errors.append(
                            _error(
                                "value_not_in_list",
                                "Value not in list",
                                f"{x}: '{val}' not in {list_info}",
                                {
                                    "input_name": x,
                                    "input_config": input_config,
                                    "received_value": val,
                                },
                            )
                        )
                        continue

    if hook is not None:
        results = hook.check({k: v for k, v in literal.items() if k in hook.inputs})
        for x, result in results.items():
            if result is not True:
                details = x if result is False else f"{x} - {result}"
                errors.append(
                    _error(
                        "custom_validation_failed",
                        "Custom validation failed for node",
                        details,
                        {"input_name": x},
                    )
                )

    ret = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
    validated[unique_id] = ret
    return ret


def validate_prompt(
    prompt: Any,
    partial_execution_list: list[str] | None,
    custom: CustomValidators,
    defs: Mapping[str, NodeDef] | None = None,
) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
    """execution.py validate_prompt: (valid, error, outputs to execute, node_errors).
    `defs`: the node definitions to validate against (default: the recorded ones)."""
    if defs is None:
        defs = node_defs()
    outputs: list[str] = []
    for x in prompt:
        if "class_type" not in prompt[x]:
            node_title = prompt[x].get("_meta", {}).get("title")
            error = _error(
                "missing_node_type",
                f"Node '{node_title or f'ID #{x}'}' has no class_type. "
                "The workflow may be corrupted or a custom node is missing.",
                f"Node ID '#{x}'",
                {"node_id": x, "class_type": None, "node_title": node_title},
            )
            return False, error, [], {}
        class_type = prompt[x]["class_type"]
        node_def = defs.get(class_type) if isinstance(class_type, str) else None
        if node_def is None:
            node_title = prompt[x].get("_meta", {}).get("title", class_type)
            error = _error(
                "missing_node_type",
                f"Node '{node_title}' not found. The custom node may not be installed.",
                f"Node ID '#{x}'",
                {"node_id": x, "class_type": class_type, "node_title": node_title},
            )
            return False, error, [], {}
        if node_def.output_node and (partial_execution_list is None or x in partial_execution_list):
            outputs.append(x)

    if not outputs:
        return False, _error("prompt_no_outputs", "Prompt has no outputs", "", {}), [], {}

    good_outputs: list[str] = []
    errors: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    validated: Validated = {}
    for o in set_order(outputs):
        valid = False
        reasons: list[dict[str, Any]] = []
        try:
            valid, reasons, _ = validate_inputs(prompt, o, validated, custom, defs)
        except Exception as ex:
            typ, _, tb = sys.exc_info()
            assert typ is not None
            valid = False
            reasons = [
                _error(
                    "exception_during_validation",
                    "Exception when validating node",
                    str(ex),
                    {"exception_type": full_type_name(typ), "traceback": traceback.format_tb(tb)},
                )
            ]
            validated[o] = (False, reasons, o)

        if valid is True:
            good_outputs.append(o)
        else:
            if reasons:
                errors.append((o, reasons))
            for node_id, result in validated.items():
                # A node downstream of a failing node is invalid too, but has no errors of
                # its own: only nodes with errors are reported.
                if result[0] is not True and len(result[1]) > 0:
                    if node_id not in node_errors:
                        node_errors[node_id] = {
                            "errors": result[1],
                            "dependent_outputs": [],
                            "class_type": prompt[node_id]["class_type"],
                        }
                    node_errors[node_id]["dependent_outputs"].append(o)

    if not good_outputs:
        details = "\n".join(
            f"{error['message']}: {error['details']}" for _, reasons in errors for error in reasons
        )
        error = _error(
            "prompt_outputs_failed_validation", "Prompt outputs failed validation", details, {}
        )
        return False, error, set_order(good_outputs), node_errors
    return True, None, set_order(good_outputs), node_errors


class ExecutionList:
    """comfy_execution/graph.py TopologicalSort + ExecutionList: which node runs next."""

    def __init__(
        self,
        prompt: dict[str, Any],
        is_cached: Callable[[str], bool],
        is_output: Callable[[str], bool],
    ) -> None:
        self.prompt = prompt
        self.is_cached = is_cached
        self.is_output = is_output
        self.pending_nodes: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, dict[Any, bool]]] = {}

    def _add_strong_link(self, from_node_id: str, from_socket: Any, to_node_id: str) -> None:
        if not self.is_cached(from_node_id):
            self.add_node(from_node_id)
            if to_node_id not in self.blocking[from_node_id]:
                self.blocking[from_node_id][to_node_id] = {}
                self.block_count[to_node_id] += 1
            self.blocking[from_node_id][to_node_id][from_socket] = True

    def add_node(self, node_unique_id: str) -> None:
        node_ids = [node_unique_id]
        links: list[tuple[str, Any, str]] = []
        while node_ids:
            unique_id = node_ids.pop()
            if unique_id in self.pending_nodes:
                continue
            self.pending_nodes[unique_id] = True
            self.block_count[unique_id] = 0
            self.blocking[unique_id] = {}
            for value in self.prompt[unique_id]["inputs"].values():
                if is_link(value):
                    from_node_id, from_socket = value
                    if not self.is_cached(from_node_id):
                        node_ids.append(from_node_id)
                    links.append((from_node_id, from_socket, unique_id))
        for link in links:
            self._add_strong_link(*link)

    def is_empty(self) -> bool:
        return len(self.pending_nodes) == 0

    def stage(self) -> str:
        available = [n for n in self.pending_nodes if self.block_count[n] == 0]
        if not available:
            raise RuntimeError("Dependency cycle detected")
        return self._ux_friendly_pick_node(available)

    def _ux_friendly_pick_node(self, node_list: list[str]) -> str:
        # An output node first, so that a PreviewImage shows its result as soon as it can.
        for node_id in node_list:
            if self.is_output(node_id):
                return node_id
        # The VAEDecode -> preview case.
        for node_id in node_list:
            for blocked in self.blocking[node_id]:
                if self.is_output(blocked):
                    return node_id
        # The VAELoader -> VAEDecode -> preview case.
        for node_id in node_list:
            for blocked in self.blocking[node_id]:
                for blocked1 in self.blocking[blocked]:
                    if self.is_output(blocked1):
                        return node_id
        return node_list[0]

    def complete(self, node_id: str) -> None:
        del self.pending_nodes[node_id]
        for blocked in self.blocking[node_id]:
            self.block_count[blocked] -= 1
        del self.blocking[node_id]


def signatures(prompt: dict[str, Any], is_changed: Callable[[str, str], str]) -> dict[str, str]:
    """The classic cache's input signature of every node: class, IS_CHANGED, literal inputs
    and (recursively) the signatures of linked ancestors; the node id only for nodes that
    take a hidden UNIQUE_ID. Equal signature = cache hit."""
    defs = node_defs()
    memo: dict[str, Any] = {}

    def sig(node_id: str, stack: tuple[str, ...]) -> Any:
        if node_id in memo:
            return memo[node_id]
        if node_id in stack or node_id not in prompt:
            return ["NaN", node_id]
        node = prompt[node_id]
        class_type = node["class_type"]
        out: list[Any] = [class_type, is_changed(node_id, class_type)]
        node_def = defs.get(class_type)
        if node_def is not None and node_def.include_unique_id:
            out.append(node_id)
        inputs = node["inputs"]
        for key in sorted(inputs):
            value = inputs[key]
            if is_link(value):
                out.append([key, ["ANCESTOR", sig(value[0], (*stack, node_id)), value[1]]])
            else:
                out.append([key, value])
        memo[node_id] = out
        return out

    return {
        node_id: json.dumps(sig(node_id, ()), sort_keys=True, default=repr) for node_id in prompt
    }
