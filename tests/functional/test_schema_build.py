"""Types and validation from node schemas, in builds and in `comfygen vet`."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest
from click.testing import CliRunner, Result

from comfygen import BuildError, Diagnostic, build
from comfygen._analyze import analyze
from comfygen._cli_run import parameter_help
from comfygen._dynamic import params_model
from comfygen._names import Identifier
from comfygen._schema import Schemas, bundled, from_object_info, merged
from comfygen._translate import translate
from comfygen.cli import main
from tests.conftest import WriteWorkflow, node
from tests.fakes import FakeComfyUI

SAVE = node("SaveImage", "", images=["1", 0], filename_prefix="x")


def _sampler(title: str, **overrides: Any) -> dict[str, Any]:
    inputs = {"seed": 1, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
              "denoise": 1.0, "model": ["9", 0], "positive": ["9", 0], "negative": ["9", 0],
              "latent_image": ["9", 0], **overrides}  # fmt: skip
    return node("KSampler", title, **inputs)


def test_types_bounds_choices_and_tooltips(write_workflow: WriteWorkflow) -> None:
    path = write_workflow({"3": _sampler("$cfg, $steps, $sampler_name"), "4": SAVE})
    (ir,) = build([path]).workflows
    cfg, steps, sampler = ir.params
    assert (cfg.type, cfg.default, cfg.minimum, cfg.maximum) == ("float", 8.0, 0.0, 100.0)
    assert isinstance(cfg.default, float), "an int value of a FLOAT input is a float"
    assert (steps.type, steps.minimum, steps.maximum) == ("int", 1, 10000)
    assert sampler.choices and "euler" in sampler.choices and sampler.type == "str"
    assert cfg.description and "Classifier-Free Guidance" in cfg.description
    module = next(f.text for f in build([path]).files if f.path == "wf.py")
    assert "cfg: float = 8.0," in module and "sampler_name: SamplerNameChoice =" in module
    assert "SamplerNameChoice: TypeAlias = Literal[" in module
    assert "steps: int = Field(20, ge=1, le=10000)" in module


def test_model_file_combos_stay_str(write_workflow: WriteWorkflow) -> None:
    graph = {"4": node("CheckpointLoaderSimple", "$model.ckpt_name", ckpt_name="x.safetensors")}
    (ir,) = build([write_workflow({**graph, "5": SAVE})]).workflows
    assert ir.params[0].type == "str" and ir.params[0].choices is None


def test_without_a_schema_types_come_from_values(write_workflow: WriteWorkflow) -> None:
    result = build([write_workflow({"1": node("MyCustomNode", "$x", x=3), "2": SAVE})])
    (ir,) = result.workflows
    assert ir.params[0].type == "int" and not ir.params[0].schema
    assert [d.code for d in result.diagnostics] == ["unknown-node"]
    module = next(f.text for f in result.files if f.path == "wf.py")
    assert "Type inferred from the workflow's value: no node schema for" in module
    assert '"MyCustomNode"' in module


@pytest.mark.parametrize(
    ("graph", "code"),
    [
        ({"3": _sampler("$steps", steps=0)}, "out-of-range"),
        ({"3": _sampler("$cfg", cfg=1000.0)}, "out-of-range"),
        ({"3": _sampler("$steps", steps="20")}, "schema-mismatch"),
        ({"3": _sampler("$cfg.cgf")}, "unknown-input"),
        ({"3": _sampler("$model")}, "linked-input"),
    ],
)
def test_defaults_are_checked_against_the_schema(
    write_workflow: WriteWorkflow, graph: dict[str, Any], code: str
) -> None:
    with pytest.raises(BuildError) as caught:
        build([write_workflow({**graph, "4": SAVE})])
    errors = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert [e.code for e in errors] == [code]
    assert errors[0].node_id == "3" and errors[0].class_type == "KSampler" and errors[0].hint


def test_an_option_missing_from_the_bundled_schema_is_a_warning(
    write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    # The user's server may know more samplers than the core nodes comfygen bundles (custom
    # samplers extend KSampler's list), so the bundled schema cannot refuse one: a warning,
    # and the parameter is a plain str. A server's own schema is authoritative: an error.
    path = write_workflow({"3": _sampler("$sampler_name", sampler_name="my_sampler"), "4": SAVE})
    result = build([path])
    assert [(d.code, d.severity) for d in result.diagnostics] == [("not-an-option", "warning")]
    assert "--server" in (result.diagnostics[0].hint or "")
    (ir,) = result.workflows
    assert (ir.params[0].type, ir.params[0].choices) == ("str", None)
    assert ir.params[0].default == "my_sampler"
    module = next(f.text for f in result.files if f.path == "wf.py")
    assert 'sampler_name: str = "my_sampler",' in module and "SamplerNameChoice" not in module

    info = tmp_path / "object_info.json"
    info.write_text(json.dumps({"KSampler": {"input": {"required": {
        "sampler_name": [["euler", "heun"], {}]}}}}))  # fmt: skip
    outcome = _cli("vet", "--object-info", str(info), str(path))
    assert outcome.exit_code == 1 and "error[not-an-option]" in outcome.output, outcome.output


def test_loader_file_inputs_take_uploads_without_the_marker(write_workflow: WriteWorkflow) -> None:
    # comfykit uploads a path or URL given for a loader's file input even without `~`.
    graph = {"1": node("LoadImage", "$image", image="a.png"),
             "2": node("VHS_LoadVideo", "$clip.video", video="b.mp4", frame_load_cap=0),
             "3": node("LoadAudio", "$voice.audio!", audio="c.wav"), "4": SAVE}  # fmt: skip
    result = build([write_workflow(graph)])
    assert [d.code for d in result.diagnostics if d.code != "unknown-node"] == []
    (ir,) = result.workflows
    assert [(p.name, p.type, p.default) for p in ir.params] == [
        ("image", "media", "a.png"),
        ("clip", "media", "b.mp4"),
        ("voice", "media", None),
    ]
    module = next(f.text for f in result.files if f.path == "wf.py")
    assert 'image: MediaInput = "a.png",' in module and "voice: MediaInput," in module


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})  # rich: no wrapping


def test_vet_and_strict(write_workflow: WriteWorkflow, tmp_path: Path) -> None:
    clean = write_workflow({"3": _sampler("$steps"), "4": SAVE}, "clean")
    outcome = _cli("vet", str(clean))
    assert outcome.exit_code == 0 and "1 workflow(s) vetted, 0 warning(s)" in outcome.output
    custom = write_workflow({"1": node("MyCustomNode", "$x", x=3), "2": SAVE}, "custom")
    assert _cli("vet", str(custom)).exit_code == 0
    strict = _cli("vet", "--strict", str(custom))
    assert strict.exit_code == 1 and "unknown-node" in strict.output
    out = tmp_path / "gen"
    assert _cli("build", "--strict", str(custom), "-o", str(out)).exit_code == 1
    assert not out.exists()
    bad = write_workflow({"3": _sampler("$steps", steps=0), "4": SAVE}, "bad")
    assert _cli("vet", str(bad)).exit_code == 1


def test_object_info_file_adds_custom_nodes(write_workflow: WriteWorkflow, tmp_path: Path) -> None:
    info = tmp_path / "object_info.json"
    info.write_text(json.dumps({"MyCustomNode": {"input": {"required": {
        "x": ["FLOAT", {"min": 0, "max": 5, "tooltip": "How much."}]}}}}))  # fmt: skip
    custom = write_workflow({"1": node("MyCustomNode", "$x", x=3), "2": SAVE}, "custom")
    outcome = _cli("vet", "--strict", "--object-info", str(info), str(custom))
    assert outcome.exit_code == 0, outcome.output
    outcome = _cli("inspect", "--object-info", str(info), str(custom))
    assert "float [0, 5]" in outcome.output


async def test_server_schemas_and_strict_combos(write_workflow: WriteWorkflow) -> None:
    server = FakeComfyUI(models={"checkpoints": ["a.safetensors", "b.safetensors"]})
    await server.start()
    graph = {"4": node("CheckpointLoaderSimple", "$model.ckpt_name", ckpt_name="a.safetensors"),
             "5": SAVE}  # fmt: skip
    path = write_workflow(graph)
    try:
        outcome = await asyncio.to_thread(
            _cli, "inspect", "--server", server.base_url, "--strict-combos", str(path)
        )
        missing = write_workflow(
            {
                **graph,
                "4": node("CheckpointLoaderSimple", "$model.ckpt_name", ckpt_name="c.safetensors"),
            },
            "missing",
        )
        rejected = await asyncio.to_thread(
            _cli, "vet", "--server", server.base_url, "--strict-combos", str(missing)
        )
    finally:
        await server.stop()
    assert outcome.exit_code == 0, outcome.output
    assert "str in a.safetensors|b.safetensors" in outcome.output
    assert rejected.exit_code == 1 and "not-an-option" in rejected.output


# -- combos of numbers (partner nodes: Kling, Runway, LTXV, Pixverse, Sora durations) ----------

KLING = {"model_name": "kling-v2-6", "prompt": "a cat", "mode": "pro", "aspect_ratio": "16:9",
         "duration": 5, "generate_audio": True, "seed": 0}  # fmt: skip


def _kling(title: str, **overrides: Any) -> dict[str, Any]:
    return node("KlingTextToVideoWithAudio", title, **{**KLING, **overrides})


def test_a_combo_of_integers_is_an_int_literal(
    write_workflow: WriteWorkflow, make_module: Any
) -> None:
    # /object_info lists Kling's duration as [5, 10], numbers: the saved 5 is right.
    graph = {"1": _kling("$prompt.prompt!, $duration"), "2": SAVE}
    result = build([write_workflow(graph)])
    assert result.diagnostics == ()
    duration = result.workflows[0].params[1]
    assert (duration.type, duration.choices, duration.default) == ("int", (5, 10), 5)
    text = next(f.text for f in result.files if f.path == "wf.py")
    assert "DurationChoice: TypeAlias = Literal[5, 10]" in text
    assert "    duration: DurationChoice = 5\n" in text
    params = make_module(graph).WfParams
    assert params(prompt="x", duration=10).duration == 10
    assert "int, one of: 5, 10" in parameter_help(result.workflows[0])  # comfygen run
    assert "int in 5|10" in _cli("inspect", str(write_workflow(graph))).output
    for wrong in (7, "10", 7.5):
        with pytest.raises(pydantic.ValidationError):
            params(prompt="x", duration=wrong)


@pytest.mark.parametrize(
    ("value", "code", "severity", "fragment"),
    [
        ("5", "schema-mismatch", "error", "is a COMBO of int options in the node's definition"),
        (5.5, "schema-mismatch", "error", "but the workflow holds 5.5"),
        # the bundled schema may lack a newer option: a warning, an int without Literal
        (15, "not-an-option", "warning", 'the default 15 of input "duration" is not one of'),
    ],
)
def test_a_combo_of_integers_checks_the_saved_value(
    write_workflow: WriteWorkflow, value: Any, code: str, severity: str, fragment: str
) -> None:
    path = write_workflow({"1": _kling("$duration", duration=value), "2": SAVE})
    try:
        diagnostics = list(build([path]).diagnostics)
    except BuildError as error:
        diagnostics = list(error.diagnostics)
    assert [(d.code, d.severity) for d in diagnostics] == [(code, severity)]
    assert fragment in diagnostics[0].message, diagnostics[0].message
    if severity == "warning":
        assert "its options (5, 10) in the bundled core-node schema" in diagnostics[0].message
        (param,) = build([path]).workflows[0].params
        assert (param.type, param.choices, param.default) == ("int", None, 15)


def test_a_servers_combo_of_floats_and_a_mixed_one(write_workflow: WriteWorkflow) -> None:
    # A Literal holds no floats: a combo of 0.5, 1.0, 1.5 is a float, its saved value
    # checked against those numbers. A combo of text and numbers gives no type: the
    # saved value decides, as for a custom node.
    info = {"Zoom": {"input": {"required": {
        "factor": [[0.5, 1.0, 1.5], {}], "size": [["auto", 512, 1024], {}]}}}}  # fmt: skip
    schemas = merged(bundled(), from_object_info(info))
    good = write_workflow({"1": node("Zoom", "$factor, $size", factor=1, size=512), "2": SAVE})
    result = build([good], schemas=schemas)
    factor, size = result.workflows[0].params
    assert (factor.type, factor.choices, factor.default) == ("float", None, 1.0)
    assert (size.type, size.choices, size.default) == ("int", None, 512)
    assert factor.schema and not size.schema
    bad = write_workflow({"1": node("Zoom", "$factor", factor=0.75), "2": SAVE}, "bad")
    with pytest.raises(BuildError) as caught:
        build([bad], schemas=schemas)
    (error,) = caught.value.diagnostics
    assert error.code == "not-an-option" and "(0.5, 1.0, 1.5)" in error.message


def test_what_ruff_would_rewrite_is_written_as_ruff_writes_it(
    write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    # A one-option Literal wider than a line (ruff splits it, without a comma, which would
    # make its index a tuple) and float bounds with exponents (ruff drops the "+").
    long = "o" * 90
    info = {"Wide": {"input": {"required": {
        "only": [[long], {}], "f": ["FLOAT", {"min": -1e308, "max": 1e308}]}}}}  # fmt: skip
    graph = {"1": node("Wide", "$only, $f", only=long, f=1e20), "2": SAVE}
    result = build([write_workflow(graph)], schemas=merged(bundled(), from_object_info(info)))
    text = next(f.text for f in result.files if f.path == "wf.py")
    assert f'OnlyChoice: TypeAlias = Literal[\n    "{long}"\n]\n' in text
    assert "    f: float = Field(1e20, ge=-1e308, le=1e308)\n" in text
    module = tmp_path / "wf.py"
    module.write_text(text, encoding="utf-8")
    ruff = Path(sys.executable).parent / "ruff"
    outcome = subprocess.run(
        [str(ruff), "format", "--diff", "--isolated", str(module)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout


def test_an_option_that_is_not_unicode_makes_no_literal(
    write_workflow: WriteWorkflow, tmp_path: Path
) -> None:
    # A lone surrogate (valid JSON, no valid text) in a server's options: pydantic cannot
    # read it in a Literal, so the module would fail at import. The parameter is a str.
    info = {"Odd": {"input": {"required": {"mode": [["a", "b\ud800"], {}]}}}}
    graph = {"1": node("Odd", "$mode", mode="a"), "2": SAVE}
    result = build([write_workflow(graph)], schemas=merged(bundled(), from_object_info(info)))
    (param,) = result.workflows[0].params
    assert (param.type, param.choices, param.default) == ("str", None, "a")
    text = next(f.text for f in result.files if f.path == "wf.py")
    namespace: dict[str, Any] = {}
    exec(compile(text, "wf.py", "exec"), namespace)  # the generated module, as imported
    assert namespace["WfParams"]().mode == "a"


# -- lenient defaults: the dynamic API's analysis (the caller may override a saved value) --------


def _server_schemas() -> Schemas:
    """What ComfyKit types workflows with: the server's /object_info over the bundled one."""
    from tests.fakes._graph import object_info

    return merged(bundled(), from_object_info(object_info()))


def _analyze(graph: dict[str, Any], *, lenient: bool) -> tuple[Any, list[Diagnostic]]:
    return analyze(
        graph,
        source="wf.json",
        function=Identifier("wf"),
        schemas=_server_schemas(),
        lenient_defaults=lenient,
    )


SCALE_CUSTOM = {
    "1": node("LoadImage", "", image="example.png"),
    "2": node("ImageScaleBy", "$method.upscale_method", upscale_method="my_custom_method",
              scale_by=0.5, image=["1", 0]),
    "3": node("SaveImage", "$output.out", filename_prefix="x", images=["2", 0]),
}  # fmt: skip


@pytest.mark.parametrize(
    ("graph", "code", "name", "what"),
    [
        (SCALE_CUSTOM, "not-an-option", "method",
         "the workflow's value \"my_custom_method\" of input \"upscale_method\" of node \"2\" "
         "(ImageScaleBy) is not one of its options (\"nearest-exact\", "),
        ({"3": _sampler("$steps", steps=0), "4": SAVE}, "out-of-range", "steps",
         "the workflow's value 0 of input \"steps\" of node \"3\" (KSampler) is outside "
         "[1, 10000], so it is no default"),
        ({"3": _sampler("$steps", steps="20"), "4": SAVE}, "schema-mismatch", "steps",
         "the workflow's value \"20\" of input \"steps\" of node \"3\" (KSampler) is not INT"),
    ],
)  # fmt: skip
def test_lenient_defaults_make_a_broken_default_required(
    graph: dict[str, Any], code: str, name: str, what: str
) -> None:
    # `comfygen build` refuses the saved value that breaks the server's schema...
    ir, diagnostics = _analyze(graph, lenient=False)
    assert ir is None and [(d.code, d.severity) for d in diagnostics] == [(code, "error")]
    # ...the dynamic API lets the caller override it: a warning, and a required parameter
    # that keeps its exact type (bounds, options), without the broken default.
    ir, diagnostics = _analyze(graph, lenient=True)
    assert ir is not None and [(d.code, d.severity) for d in diagnostics] == [(code, "warning")]
    assert "the parameter is required" in diagnostics[0].message
    (param,) = ir.params
    assert (param.name, param.required, param.default, param.schema) == (name, True, None, True)
    assert param.refused_default is not None and what in param.refused_default
    (field,) = translate(ir).params
    assert field.required and field.refused_default == param.refused_default
    assert translate(ir).spec.params[0].required
    model = params_model(ir)
    assert model.model_fields[name].is_required()
    if code == "not-an-option":
        assert param.choices is not None and "bicubic" in param.choices
        assert model.model_validate({"method": "bicubic"}).model_dump() == {"method": "bicubic"}
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({"method": "my_custom_method"})
    else:
        assert (param.type, param.minimum, param.maximum) == ("int", 1, 10000)
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({"steps": 0})


def test_lenient_defaults_leave_good_and_required_values_alone() -> None:
    # `$steps!`: the saved value is never used, so nothing is refused (only reported); a
    # good default stays the default; the bundled schema's missing option stays a warning
    # with the saved value as default (the server may have the option).
    graph = {"3": _sampler("$steps!, $cfg, $scheduler", steps="20", scheduler="mine"), "4": SAVE}
    schemas = {**_server_schemas(), "KSampler": bundled()["KSampler"]}
    ir, diagnostics = analyze(
        graph,
        source="wf.json",
        function=Identifier("wf"),
        schemas=schemas,
        lenient_defaults=True,
    )
    assert ir is not None
    assert [(d.code, d.severity) for d in diagnostics] == [
        ("schema-mismatch", "warning"),
        ("not-an-option", "warning"),
    ]
    steps, cfg, scheduler = ir.params
    assert (steps.required, steps.refused_default) == (True, None)
    assert (cfg.required, cfg.default, cfg.refused_default) == (False, 8.0, None)
    assert (scheduler.required, scheduler.default, scheduler.choices) == (False, "mine", None)


def test_lenient_defaults_one_broken_node_makes_the_name_required() -> None:
    # One name in two nodes: a caller's value sets both, so one broken default is enough.
    graph = {
        "3": _sampler("$steps", steps=20),
        "5": _sampler("$steps", steps=0),
        "4": SAVE,
    }
    ir, diagnostics = _analyze(graph, lenient=True)
    assert ir is not None and [d.code for d in diagnostics] == ["out-of-range"]
    (steps,) = ir.params
    assert steps.required and steps.default is None
    assert steps.refused_default and 'of node "5" (KSampler)' in steps.refused_default


# -- where node schemas come from: --object-info FILE, --server URL ------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1, 2]", "a JSON list, not an object of node classes"),
        ("{}", "an empty object: it lists no node classes"),
        ('{"MyNode": ["INT"]}', 'entry "MyNode" is not a node definition'),
        ('{"MyNode": {"input": {"required": []}}}', 'entry "MyNode" is not a node definition'),
        (
            '{"1": {"class_type": "SaveImage", "inputs": {}}}',
            "this is a workflow, not a server's /object_info",
        ),
        ("{", "Expecting property name"),
    ],
)
def test_an_object_info_file_of_the_wrong_shape_is_a_usage_error(
    write_workflow: WriteWorkflow, tmp_path: Path, content: str, problem: str
) -> None:
    info = tmp_path / "object_info.json"
    info.write_text(content, encoding="utf-8")
    path = write_workflow({"3": _sampler("$steps"), "4": SAVE})
    for command in ("vet", "build"):
        extra = ["-o", str(tmp_path / "gen")] if command == "build" else []
        outcome = _cli(command, "--object-info", str(info), str(path), *extra)
        assert outcome.exit_code == 2 and outcome.exception is not None, outcome.output
        assert isinstance(outcome.exception, SystemExit), "no traceback"
        assert f"--object-info {info}: " in outcome.output and problem in outcome.output
    assert not (tmp_path / "gen").exists()


async def test_server_failures_are_usage_errors_with_their_cause(
    write_workflow: WriteWorkflow, start_fake_comfyui: Any
) -> None:
    path = write_workflow({"3": _sampler("$steps"), "4": SAVE})
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    refused = await asyncio.to_thread(_cli, "vet", "--server", closed, str(path))
    assert refused.exit_code == 2 and isinstance(refused.exception, SystemExit)
    assert f"cannot reach ComfyUI at {closed}: connection refused" in refused.output

    server = await start_fake_comfyui()
    # A server that cannot answer now: one attempt, no waiting for it to come back.
    server.fail_next_requests["/object_info"] = 3
    unavailable = await asyncio.to_thread(_cli, "vet", "--server", server.base_url, str(path))
    assert unavailable.exit_code == 2 and "GET /object_info: HTTP 503" in unavailable.output
    assert server.fail_next_requests == {"/object_info": 2}
    # An answer whose entries are no node definitions.
    server.fail_next_requests.clear()
    server.node_classes = {"Broken": ["INT", {}]}
    broken = await asyncio.to_thread(_cli, "vet", "--server", server.base_url, str(path))
    assert broken.exit_code == 2 and isinstance(broken.exception, SystemExit)
    assert 'entry "Broken" is not a node definition' in broken.output
    server.node_classes = {}
    fine = await asyncio.to_thread(_cli, "vet", "--server", server.base_url, str(path))
    assert fine.exit_code == 0, fine.output
