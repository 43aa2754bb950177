"""Every diagnostic names file, node, class and title, and a failed build writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from comfygen import BuildError, Diagnostic, build
from comfygen.cli import main
from tests.conftest import WriteWorkflow, node


def _errors(paths: list[Path]) -> list[Diagnostic]:
    with pytest.raises(BuildError) as caught:
        build(paths)
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def _one_error(write_workflow: WriteWorkflow, graph: Any, name: str = "wf") -> Diagnostic:
    errors = _errors([write_workflow(graph, name)])
    assert len(errors) == 1, errors
    return errors[0]


SAVE = node("SaveImage", "", images=["1", 0], filename_prefix="x")


@pytest.mark.parametrize(
    ("title", "inputs", "code", "fragment"),
    [
        ("$width", {"width": None}, "optional-without-default", "has no default"),
        ("$image", {"image": ["9", 0]}, "linked-input", "connected to node"),
        ("$image!", {"image": ["9", 0]}, "linked-input", "connected to node"),
        ("$prompt.txt!", {"text": "x"}, "unknown-input", "does not have"),
        ("$2fast", {"2fast": 1}, "bad-name", "not a usable Python identifier"),
        ("$a(b)", {"a(b)": 1}, "bad-name", "not a usable Python identifier"),
        ("$_private", {"_private": 1}, "bad-name", "starts with '_'"),
        ("$client", {"client": 1}, "reserved-name", "keyword argument 'client'"),
        ("$timeout", {"timeout": 1.0}, "reserved-name", "keyword argument 'timeout'"),
        ("$json", {"json": "x"}, "bad-name", "shadows"),
        ("$model_dump", {"model_dump": "x"}, "bad-name", "shadows"),
        ("$str", {"str": "x"}, "bad-name", "shadows"),
        ("$", {}, "empty-marker", "no parameter name"),
        ("$p.", {"p": 1}, "empty-marker", "names no input"),
        ("$opts", {"opts": {"a": 1}}, "unsupported-value", "not a string, number"),
        ("$~n", {"n": 3}, "unsupported-value", "not a file name"),
        ("Save, $output.cover", {}, "output-marker-not-alone", "whole title"),
    ],
)
def test_marker_diagnostics(
    write_workflow: WriteWorkflow,
    title: str,
    inputs: dict[str, Any],
    code: str,
    fragment: str,
) -> None:
    graph = {"7": node("CustomNode", title, **inputs), "8": SAVE}
    error = _one_error(write_workflow, graph)
    assert error.code == code
    assert fragment in error.message
    assert (error.file, error.node_id, error.class_type, error.title) == (
        "wf.json",
        "7",
        "CustomNode",
        title,
    )
    assert error.hint
    rendered = str(error)
    assert rendered.startswith('wf.json: node "7" (CustomNode, title ')
    assert "fix: " in rendered


@pytest.mark.parametrize(
    ("second", "detail"),
    [
        (node("B", "$seed", seed="1"), "conflicting types (int vs str)"),
        (node("B", "$seed", seed=True), "conflicting types (int vs bool)"),
        (node("B", "$seed!", seed=1), "required in one node only"),
        (node("B", "$~seed", seed="x.png"), "media parameter in one node only"),
    ],
)
def test_one_name_in_several_nodes_must_agree(
    write_workflow: WriteWorkflow, second: dict[str, Any], detail: str
) -> None:
    graph = {"1": node("A", "$seed", seed=1), "2": second, "3": SAVE}
    error = _one_error(write_workflow, graph)
    assert error.code == "conflicting-bindings"
    assert detail in error.message
    assert 'node "1" and node "2"' in error.message


SCALE = node("ImageScaleBy", "$scale.scale_by", upscale_method="bicubic", scale_by=0.5,
             image=["9", 0])  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second", "default"),
    [
        # FLOAT by ImageScaleBy's definition; a custom node saved as 1 (inferred int)
        (SCALE, node("MyResize", "$scale.factor", factor=1), None),
        (SCALE, node("MyResize", "$scale.factor", factor=0.5), 0.5),
        # both only inferred: the editor saves 1.0 as 1
        (node("A", "$scale.x", x=2), node("B", "$scale.y", y=2.0), 2.0),
        (node("A", "$scale.x", x=2), node("B", "$scale.y", y=1.5), None),
    ],
)
def test_an_int_only_inferred_agrees_with_a_float(
    write_workflow: WriteWorkflow, first: Any, second: Any, default: float | None
) -> None:
    # comfykit sends one value to both nodes; the parameter is a float.
    result = build([write_workflow({"1": first, "2": second, "3": SAVE})])
    (param,) = result.workflows[0].params
    assert param.type == "float" and [t.node.node_id for t in param.targets] == ["1", "2"]
    assert param.default == default and type(param.default) is type(default)
    module = next(f.text for f in result.files if f.path == "wf.py")
    if default is None:  # the nodes hold different values: each keeps its own
        assert "    scale: float | None = " in module
    else:
        assert f"    scale: float = {default!r}" in module


def test_int_and_float_by_the_definitions_conflict(write_workflow: WriteWorkflow) -> None:
    # KSampler's steps is INT and its cfg FLOAT: no value is right for both.
    sampler = node("KSampler", "$n.steps, $n.cfg", seed=1, steps=20, cfg=8.0,
                   sampler_name="euler", scheduler="normal", denoise=1.0,
                   model=["9", 0], positive=["9", 0], negative=["9", 0],
                   latent_image=["9", 0])  # fmt: skip
    error = _one_error(write_workflow, {"1": sampler, "2": SAVE})
    assert error.code == "conflicting-bindings"
    assert "conflicting types (int vs float)" in error.message


def test_an_integer_combo_does_not_agree_with_a_float(write_workflow: WriteWorkflow) -> None:
    # Kling's duration is a combo of 5 and 10: a `Literal[5, 10]` holds no float.
    kling = node("KlingTextToVideoWithAudio", "$d.duration", model_name="kling-v2-6",
                 prompt="a cat", mode="pro", aspect_ratio="16:9", duration=5,
                 generate_audio=True, seed=0)  # fmt: skip
    error = _one_error(write_workflow, {"1": kling, "2": node("B", "$d.x", x=5.5), "3": SAVE})
    assert "conflicting types (int vs float)" in error.message


def test_names_that_differ_only_by_renaming_conflict(write_workflow: WriteWorkflow) -> None:
    graph = {"1": node("A", "$neg-p.text", text="x"), "2": node("B", "$neg_p.text", text="x")}
    assert _one_error(write_workflow, graph).code == "conflicting-bindings"


def test_outputs_collide_with_result_fields(write_workflow: WriteWorkflow) -> None:
    graph = {"1": node("SaveImage", "$output.prompt_id", images=["2", 0])}
    error = _one_error(write_workflow, graph)
    assert error.code == "reserved-name"
    assert error.node_id == "1"


def test_parameter_colliding_with_generated_class(write_workflow: WriteWorkflow) -> None:
    graph = {"1": node("A", "$WfParams", WfParams=1), "2": SAVE}
    assert _one_error(write_workflow, graph).code == "reserved-name"


def test_bad_output_name(write_workflow: WriteWorkflow) -> None:
    error = _one_error(write_workflow, {"1": node("SaveImage", "$output.a.b", images=["2", 0])})
    assert error.code == "bad-name"
    assert error.node_id == "1"


def test_two_workflows_one_function_name(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    first = write_workflow({"1": SAVE}, "generate-cover")
    second = write_workflow({"1": SAVE}, "generate_cover")
    errors = _errors([first, second])
    assert [e.code for e in errors] == ["name-clash"]
    assert "generate-cover.json" in errors[0].message or errors[0].file == "generate-cover.json"


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ('{"1": {', "invalid-json", "line 1 column"),
        ('{"1": {"class_type": "A", "inputs": {}}, "1": {}}', "invalid-json", "appears twice"),
        ('{"nodes": [], "links": [], "version": 0.4}', "ui-format", "UI format"),
        ("[1, 2]", "not-api-format", "not an API-format"),
        ("{}", "not-api-format", "no nodes"),
        ('{"1": 5}', "malformed-node", "not of the API-format shape"),
        (
            '{"1": {"class_type": "A", "inputs": {}, "_meta": {"title": 5}}}',
            "malformed-node",
            "title is not a string",
        ),
    ],
)
def test_file_level_diagnostics(
    write_workflow: WriteWorkflow, raw: str, code: str, fragment: str
) -> None:
    errors = _errors([write_workflow(None, raw=raw)])
    assert [e.code for e in errors] == [code]
    assert fragment in errors[0].message
    assert errors[0].file == "wf.json"


def test_ui_format_says_how_to_export(write_workflow: WriteWorkflow) -> None:
    error = _one_error(write_workflow, {"nodes": [], "links": []})
    assert "Export (API)" in (error.hint or "")


def test_not_utf8(write_workflow: WriteWorkflow) -> None:
    path = write_workflow(None, raw="")
    path.write_bytes(b'{"1": "\xff"}')
    assert [e.code for e in _errors([path])] == ["invalid-json"]


def test_safe_renames_are_done_and_documented(
    tmp_path: Path, write_workflow: WriteWorkflow
) -> None:
    graph = {
        "1": node("A", "$neg-prompt.text, $class!", text="bad", **{"class": "x"}),
        "2": SAVE,
    }
    result = build([write_workflow(graph)])
    (ir,) = result.workflows
    assert [(p.name, p.key) for p in ir.params] == [
        ("neg_prompt", "neg-prompt"),
        ("class_", "class"),
    ]
    module = next(f.text for f in result.files if f.path == "wf.py")
    assert 'Written "neg-prompt" in the workflow.' in module
    assert 'Written "class" in the workflow.' in module
    # The runtime knows the Python name; the DSL name is for people (and ComfyKit).
    assert 'ParamSpec("neg_prompt", (InputRef("1", "text"),))' in module


def test_display_text_that_looks_like_a_marker_warns(write_workflow: WriteWorkflow) -> None:
    result = build([write_workflow({"1": node("EmptyImage", "Size $width", width=1), "2": SAVE})])
    assert [d.code for d in result.diagnostics] == ["marker-in-display-text"]


def test_failed_build_writes_nothing(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    good = write_workflow({"1": node("A", "$w", w=1), "2": SAVE}, "good")
    write_workflow({"1": node("A", "$w", w=None), "2": SAVE}, "bad")
    out = tmp_path / "gen"
    outcome = CliRunner().invoke(main, ["build", str(good.parent), "-o", str(out)])
    assert outcome.exit_code == 1
    assert not out.exists()
    assert 'bad.json: node "1" (A, title "$w"): parameter "w": error[optional-without-default]' in (
        outcome.output
    )
    assert "nothing was written" in outcome.output


def test_every_error_is_reported_not_just_the_first(write_workflow: WriteWorkflow) -> None:
    graph = {"1": node("A", "$a, $b", a=None, b=["3", 0]), "2": node("B", "$", x=1), "3": SAVE}
    assert sorted(e.code for e in _errors([write_workflow(graph)])) == [
        "empty-marker",
        "linked-input",
        "optional-without-default",
    ]


def test_function_names_never_shadow_the_module(write_workflow: WriteWorkflow) -> None:
    result = build([write_workflow({"1": SAVE}, "json")])
    assert [ir.function for ir in result.workflows] == ["json_workflow"]


def test_upload_shorthand_needs_a_file_name_input(write_workflow: WriteWorkflow) -> None:
    graph = {"1": node("CLIPTextEncode", "$~style!", text="a cat", clip=["2", 0]), "3": SAVE}
    assert _one_error(write_workflow, graph).code == "unknown-input"


def test_hints_quote_untrusted_names(write_workflow: WriteWorkflow) -> None:
    graph = {"7": node("A", "$p.x!", **{"\x1b[31mred": "x"}), "8": SAVE}
    error = _one_error(write_workflow, graph)
    assert "\x1b" not in str(error) and "\\u001b[31mred" in str(error)


def test_generated_files_follow_the_umask(tmp_path: Path, write_workflow: WriteWorkflow) -> None:
    import os

    src = write_workflow({"1": SAVE}, "perm").parent
    out = tmp_path / "gen"
    previous = os.umask(0o022)
    try:
        assert CliRunner().invoke(main, ["build", str(src), "-o", str(out)]).exit_code == 0
    finally:
        os.umask(previous)
    assert ((out / "perm.py").stat().st_mode & 0o777) == 0o644
