"""Property: hostile titles, names and values either fail the build with a diagnostic or
produce a module that parses, imports, exposes exactly the expected names, and embeds
the input graph exactly. No input can inject code."""

from __future__ import annotations

import ast
import inspect
import json
import math
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from comfygen_runtime import WorkflowResult
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from comfygen import BuildError, build
from comfygen._schema import bundled, from_object_info, merged
from comfygen._translate import translate
from tests.conftest import examples
from tests.property.strategies import NASTY, schema_workflows, workflows


def _is_choice_alias(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.AnnAssign)
        and isinstance(statement.annotation, ast.Name)
        and statement.annotation.id == "TypeAlias"
    )


_counter = 0


def _import(text_: str) -> types.ModuleType:
    global _counter
    _counter += 1
    name = f"_comfygen_property_{_counter}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(text_, name, "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    return type(a) is type(b) and a == b


class _Generated:
    """Every module a property test generated, checked at its end by one ruff run and one
    mypy run over all of them (a process per module would cost far more than the test)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def add(self, source: str, *inputs: Any) -> None:
        self.count += 1
        stem = f"module_{self.count:05d}"
        (self.folder / f"{stem}.py").write_text(source, encoding="utf-8")
        (self.folder / f"{stem}.json").write_text(json.dumps(inputs), encoding="utf-8")

    def check(self) -> None:
        """`ruff format` leaves every module as it is, and `mypy --strict` passes them."""
        assert self.count > 0
        ruff = Path(sys.executable).parent / "ruff"
        formatted = subprocess.run(
            [str(ruff), "format", "--diff", "--isolated", "--line-length", "88", "."],
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert formatted.returncode == 0, self._explain(formatted.stdout + formatted.stderr)
        typed = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--cache-dir", ".mypy_cache",
             "--no-error-summary", "."],
            cwd=self.folder,
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        assert typed.returncode == 0, self._explain(typed.stdout + typed.stderr)

    def _explain(self, report: str) -> str:
        """The report, and the inputs (workflow, object_info) of the modules it names."""
        stems = sorted(set(re.findall(r"module_\d{5}", report)))[:3]
        inputs = [(self.folder / f"{stem}.json").read_text("utf-8") for stem in stems]
        return report[:6000] + "\n\ninputs of " + ", ".join(stems) + ":\n" + "\n".join(inputs)


_BUILD_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


def test_hostile_workflows_build_safely(tmp_path: Path) -> None:
    generated = _Generated(tmp_path)

    @settings(_BUILD_SETTINGS, max_examples=examples(2500))
    @given(workflows())
    def hostile_workflow(graph: dict[str, Any]) -> None:
        _build_safely(graph, generated)

    hostile_workflow()
    generated.check()


def test_hostile_schemas_build_safely(tmp_path: Path) -> None:
    # A server's /object_info is hostile input too: options (text, integers, floats, long
    # ones), bounds (huge, with exponents), tooltips.
    generated = _Generated(tmp_path)

    @settings(_BUILD_SETTINGS, max_examples=examples(1500))
    @given(schema_workflows())
    def hostile_schema(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
        object_info, graph = pair
        _build_safely(graph, generated, object_info)

    hostile_schema()
    generated.check()


def _build_safely(
    graph: dict[str, Any], generated: _Generated, object_info: dict[str, Any] | None = None
) -> None:
    schemas = None if object_info is None else merged(bundled(), from_object_info(object_info))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wf.json"
        path.write_text(json.dumps(graph), encoding="utf-8")
        try:
            result = build([path], schemas=schemas)
        except BuildError as error:
            event("rejected with a diagnostic")
            assert error.diagnostics and all(d.file == "wf.json" for d in error.diagnostics)
            return
    event("built")
    (ir,) = result.workflows
    source = next(file.text for file in result.files if file.path == "wf.py")
    generated.add(source, graph, object_info)

    tree = ast.parse(source)
    top_level = [
        type(statement).__name__
        for statement in tree.body
        if not _is_choice_alias(statement)  # `XChoice: TypeAlias = Literal[...]`
    ]
    assert top_level == [
        "Expr", "ImportFrom", "Import", "ImportFrom", "Import", "ImportFrom", "ImportFrom",
        "Expr", "AnnAssign", "AnnAssign", "ClassDef", "ClassDef", "AsyncFunctionDef",
    ]  # fmt: skip
    function_def = tree.body[-1]
    assert isinstance(function_def, ast.AsyncFunctionDef)
    assert len(function_def.body) == 2  # the docstring and the one runtime call

    module = _import(source)
    assert json.dumps(module._GRAPH) == json.dumps(graph)
    public = {n for n in vars(module) if not n.startswith("_")}
    assert {"WfParams", "WfResult", "wf"} <= public
    expected = {"WfParams", "WfResult", "wf", "annotations", "json", "Any", "Final",
                     "BaseModel", "ConfigDict", "Field", "Backend", "EventHandler",
                     "MediaInput", "Image", "Audio", "Video", "Text", "Output", "InputRef",
                     "ParamSpec", "OutputSpec", "WorkflowSpec", "Literal",
                     "TypeAlias"}  # fmt: skip
    aliases = {n for n in public if n.endswith("Choice") or n[-1].isdigit()}
    assert public - expected - aliases == set()
    assert translate(ir).spec == module._SPEC

    parameters = inspect.signature(module.wf).parameters
    assert list(parameters)[-4:] == ["client", "on_event", "timeout", "idempotency_key"]
    for param in ir.params:
        default = parameters[param.name].default
        if param.required:
            assert default is inspect.Parameter.empty
        else:
            assert _same(default, param.default)
            held = [graph[t.node.node_id]["inputs"][t.input] for t in param.targets]
            if param.type == "float":  # an int saved for a float (the editor saves 1.0 as 1)
                held = [float(v) if type(v) is int else v for v in held]
            if default is None:  # the nodes hold different values: each keeps its own
                assert len(param.targets) > 1
                assert not all(_same(value, held[0]) for value in held)
            else:
                assert _same(held[0], default)
    assert set(module.WfResult.model_fields) == set(WorkflowResult.model_fields) | {
        output.name for output in ir.outputs
    }


def _usable_stem(stem: str) -> bool:
    size = len(stem.encode("utf-8", "surrogatepass"))
    return "/" not in stem and "\x00" not in stem and stem not in (".", "..") and size < 200


stems = (
    st.lists(st.one_of(st.sampled_from(NASTY), st.characters()), min_size=1, max_size=10)
    .map("".join)
    .filter(_usable_stem)
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stems)
def test_hostile_file_names_build_safely(stem: str) -> None:
    graph = {"1": {"inputs": {"w": 1}, "class_type": "SaveImage", "_meta": {"title": "$w"}}}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{stem}.json"
        try:
            path.write_text(json.dumps(graph), encoding="utf-8")
        except (OSError, UnicodeEncodeError):
            return  # not a name this file system can hold
        try:
            result = build([path])
        except BuildError as error:
            assert [d.code for d in error.diagnostics] == ["bad-name"]
            return
    (ir,) = result.workflows
    module_text = next(f.text for f in result.files if f.path == f"{ir.function}.py")
    header = module_text.splitlines()[0]
    assert header.startswith("# Generated by comfygen from ") and header.endswith("do not edit.")
    module = _import(module_text)
    assert module._SPEC.name == ir.function
    assert json.dumps(module._GRAPH) == json.dumps(graph)
