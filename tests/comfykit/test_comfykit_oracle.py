"""comfykit 0.1.12 is the oracle for the DSL: on every workflow in tests/ and examples/,
both parsers agree on names, fields, required, upload, defaults and outputs, except for
the deliberate differences listed in the README's DSL reference (each tested below)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from comfykit.comfyui.workflow_parser import WorkflowParser

from comfygen import BuildError, build
from tests.conftest import ROOT, WriteWorkflow, node

WORKFLOWS = sorted(
    [*ROOT.glob("examples/workflows/**/*.json"), *ROOT.glob("tests/golden/*/workflows/*.json")]
)
COMFYKIT_OUTPUT_NODES = {"SaveImage", "SaveVideo", "SaveAudio", "VHS_SaveVideo", "VHS_SaveAudio"}


def _norm(value: Any) -> Any:
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def test_there_are_workflows_to_compare() -> None:
    assert len(WORKFLOWS) >= 10


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_both_parsers_agree(path: Path) -> None:
    graph = json.loads(path.read_text(encoding="utf-8"))
    theirs = WorkflowParser().parse_workflow(graph, path.stem)
    (ours,) = build([path]).workflows

    # Deliberate difference 1: comfykit ignores parameter markers on output nodes.
    # Deliberate difference 2: a `$~name` shorthand that names no input binds the node's
    # only file input here; comfykit writes into a new input named `name`.
    def ours_in_comfykit_terms(target_field: str, inferred: bool, key: str) -> str:
        return key if inferred else target_field

    our_mappings = sorted(
        (
            param.key,
            t.node.node_id,
            ours_in_comfykit_terms(t.input, t.inferred, param.key),
            param.type == "media",
        )
        for param in ours.params
        for t in param.targets
        if t.node.class_type not in COMFYKIT_OUTPUT_NODES
    )
    their_mappings = sorted(
        (m.param_name, m.node_id, m.input_field, m.need_upload)
        for m in theirs.mapping_info.param_mappings
    )
    assert our_mappings == their_mappings

    for param in ours.params:
        their = theirs.params[param.key]
        assert their.required == param.required
        assert their.need_upload == (param.type == "media")
        assert _norm(their.default) == _norm(param.default)
        if param.type != "media" and not _int_agrees_with_float(param, their.type):
            assert their.type == param.type

    our_outputs = sorted(
        (node_ref.node_id, output.key)
        for output in ours.outputs
        for node_ref in output.nodes
        if not output.auto or node_ref.class_type in COMFYKIT_OUTPUT_NODES
    )
    their_outputs = sorted((m.node_id, m.output_var) for m in theirs.mapping_info.output_mappings)
    assert our_outputs == their_outputs


def _int_agrees_with_float(param: Any, their_type: str) -> bool:
    """Deliberate difference 3: one name on nodes holding an int (known only from the
    saved value: the editor saves 1.0 as 1) and a float is a float here; comfykit takes the
    last node's type."""
    return len(param.targets) > 1 and param.type == "float" and their_type == "int"


# Each deliberate difference, shown on comfykit's own behaviour.


def test_difference_upload_shorthand_binds_the_file_input(write_workflow: WriteWorkflow) -> None:
    graph = {"10": node("LoadImage", "$~input_image!", image="default.png")}
    theirs = WorkflowParser().parse_workflow(graph, "wf")
    assert theirs.mapping_info.param_mappings[0].input_field == "input_image"  # ignored input
    (ours,) = build([write_workflow(graph)]).workflows
    assert ours.params[0].targets[0].input == "image"


def test_difference_params_on_output_nodes(write_workflow: WriteWorkflow) -> None:
    graph = {
        "9": node(
            "SaveImage", "Save, $prefix.filename_prefix", filename_prefix="x", images=["1", 0]
        )
    }
    assert WorkflowParser().parse_workflow(graph, "wf").params == {}
    (ours,) = build([write_workflow(graph)]).workflows
    assert [p.name for p in ours.params] == ["prefix"]
    assert [o.name for o in ours.outputs] == ["node_9"]


def test_difference_an_int_agrees_with_a_float(write_workflow: WriteWorkflow) -> None:
    graph = {
        "1": node("ImageScaleBy", "$scale.scale_by", upscale_method="bicubic", scale_by=1.5,
                  image=["9", 0]),
        "2": node("MyResize", "$scale.factor", factor=2),
    }  # fmt: skip
    assert WorkflowParser().parse_workflow(graph, "wf").params["scale"].type == "int"
    (ours,) = build([write_workflow(graph)]).workflows
    assert ours.params[0].type == "float"


@pytest.mark.parametrize(
    ("graph", "code"),
    [
        # comfykit replaces the link with the value: the upstream node is silently cut off.
        ({"1": node("A", "$image!", image=["2", 0])}, "linked-input"),
        # comfykit adds an input the node does not have: the value is silently ignored.
        ({"1": node("A", "$prompt.txt!", text="x")}, "unknown-input"),
        # comfykit keeps the last binding's type and default for all nodes.
        (
            {"1": node("A", "$seed", seed=1), "2": node("B", "$seed", seed="2")},
            "conflicting-bindings",
        ),
        # comfykit takes "cover, $x" as the output name.
        ({"1": node("SaveImage", "$output.cover, $x", x=1)}, "output-marker-not-alone"),
        # comfykit accepts any text as a name; it cannot become a keyword argument.
        ({"1": node("A", "$2x", **{"2x": 1})}, "bad-name"),
    ],
)
def test_difference_silent_mistakes_are_errors(
    write_workflow: WriteWorkflow, graph: dict[str, Any], code: str
) -> None:
    WorkflowParser().parse_workflow(graph, "wf")  # comfykit accepts it without a word
    with pytest.raises(BuildError) as caught:
        build([write_workflow(graph)])
    assert code in {d.code for d in caught.value.diagnostics}
