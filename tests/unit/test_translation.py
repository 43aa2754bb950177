"""One translation: generated code and the dynamic API run the same spec and refuse alike.

For every workflow in tests/ and examples/, the module `comfygen build` writes and the
models `ComfyKit` builds at run time come from `translate(ir)`: the embedded `_SPEC` is
the dynamic spec, and the params models agree field by field (types, defaults, bounds,
`Literal` choices, descriptions). Values outside a bound or not among the options are
refused by both; parameters typed only from the saved value are strict in generated
code and pass through in the dynamic API. The workflows of tests/refused, which the build
refuses (one mistake each), `ComfyKit` refuses too, with the same errors, loading them
against a server.
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pydantic
import pytest
from comfygen_runtime import ComfygenError, MediaInput, ParameterError, WorkflowResult

from comfygen import BuildError, ComfyKit, build
from comfygen._dynamic import JsonScalar, _validated, params_model, result_model
from comfygen._translate import ParamField, translate
from tests.conftest import ROOT
from tests.fakes import FakeComfyUI

WORKFLOWS = sorted(
    {
        *ROOT.glob("examples/workflows/*.json"),
        *ROOT.glob("tests/golden/*/workflows/*.json"),
        *ROOT.glob("tests/fakes/recordings/workflows/**/*.json"),
        *ROOT.glob("tests/seed_readme/*.json"),
        *ROOT.glob("tests/ui_format/*.json"),
        *ROOT.glob("tests/refused/*.json"),
    }
)
REFUSED = {path for path in WORKFLOWS if path.parent.name == "refused"}


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _module(tmp_path: Path, path: Path) -> tuple[Any, ModuleType] | None:
    """Build one workflow and import its module; None when the build refuses it."""
    try:
        result = build([path])
    except BuildError:
        return None
    (ir,) = result.workflows
    package = f"translation_{abs(hash(tmp_path))}"
    out = tmp_path / package
    out.mkdir()
    for file in result.files:
        (out / file.path).write_text(file.text, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        return ir, importlib.import_module(f"{package}.{ir.function}")
    finally:
        sys.path.remove(str(tmp_path))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and bool(a == b)


def _bounds(info: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "le"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    return found


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def test_the_corpus_is_the_whole_of_tests_and_examples() -> None:
    assert len(WORKFLOWS) >= 40 and len(REFUSED) >= 8


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
async def test_generated_code_and_the_dynamic_api_share_one_translation(
    tmp_path: Path, path: Path, start_fake_comfyui: Callable[[], Awaitable[FakeComfyUI]]
) -> None:
    built = _module(tmp_path, path)
    assert (built is None) == (path in REFUSED), "only tests/refused holds refused workflows"
    if built is None:
        # What the build refuses, ComfyKit refuses too (the same analysis), typing the
        # workflow with its server's node schemas.
        with pytest.raises(BuildError) as build_error:
            build([path])
        errors = {
            (d.code, d.node_id) for d in build_error.value.diagnostics if d.severity == "error"
        }
        server = await start_fake_comfyui()
        async with ComfyKit(comfyui_url=server.base_url) as kit:
            with pytest.raises(ComfygenError) as kit_error:
                await kit.load(path)
            assert (await kit.execute(path)).status == "error"
        message = str(kit_error.value)
        assert {code for code, _ in errors} == set(re.findall(r"error\[([a-z-]+)\]", message))
        for code, node_id in errors:
            assert node_id is None or f'node "{node_id}"' in message, (code, message)
        assert server.prompts_received == []
        return
    ir, module = built
    translation = translate(ir)
    assert translation.spec == module._SPEC

    generated = getattr(module, ir.params_class).model_fields
    dynamic = params_model(ir).model_fields
    assert list(generated) == list(dynamic) == [f.name for f in translation.params]
    for field in translation.params:
        ours, theirs = generated[field.name], dynamic[field.name]
        assert ours.is_required() == theirs.is_required() == field.required
        if not field.required:
            assert _same(ours.default, field.default) and _same(theirs.default, field.default)
        assert _words(ours.description) == _words(theirs.description) == field.description
        if field.exact:
            assert ours.annotation == theirs.annotation, field.name
            assert _bounds(ours) == _bounds(theirs), field.name
        else:
            assert theirs.annotation == JsonScalar
            assert ours.annotation in (str, int, float, bool), field.name

    generated_result = getattr(module, ir.result_class).model_fields
    dynamic_result = result_model(ir).model_fields
    assert list(generated_result) == list(dynamic_result)
    for name in set(generated_result) - set(WorkflowResult.model_fields):
        assert generated_result[name].annotation == dynamic_result[name].annotation
        assert generated_result[name].description == dynamic_result[name].description

    _refuse_alike(ir, getattr(module, ir.params_class), translation.params)


def _valid(field: ParamField) -> Any:
    if field.choices:
        return field.choices[0]
    if field.minimum is not None:
        return int(field.minimum) if field.type == "int" else field.minimum
    return {"str": "x", "int": 1, "float": 1.5, "bool": True, "media": "in.png"}[field.type]


def _refuse_alike(ir: Any, generated: type[pydantic.BaseModel], fields: Any) -> None:
    """Out-of-range numbers and unknown options: refused by both, before sending."""
    base = {f.name: _valid(f) for f in fields if f.required}
    generated.model_validate(base)
    _validated(ir, base)
    for field in fields:
        wrong: list[Any] = []
        if field.exact and field.choices:
            wrong.append("surely-not-an-option")
        if field.exact and field.minimum is not None and not math.isinf(field.minimum):
            wrong.append(field.minimum - max(1, abs(field.minimum)))
        if field.exact and field.maximum is not None and not math.isinf(field.maximum):
            wrong.append(field.maximum + max(1, abs(field.maximum)))
        for value in wrong:
            with pytest.raises(pydantic.ValidationError):
                generated.model_validate({**base, field.name: value})
            with pytest.raises(ParameterError, match=rf"\b{field.key}\b"):
                _validated(ir, {**base, field.key: value})


def test_the_corpus_has_bounds_choices_and_inferred_types() -> None:
    seen = {"bounds": 0, "choices": 0, "inferred": 0, "media": 0}
    for path in WORKFLOWS:
        try:
            result = build([path])
        except BuildError:
            continue
        for field in translate(result.workflows[0]).params:
            seen["bounds"] += field.minimum is not None
            seen["choices"] += field.choices is not None
            seen["inferred"] += not field.exact
            seen["media"] += field.type == "media"
    assert all(count > 0 for count in seen.values()), seen


# -- the dynamic API's rules ---------------------------------------------------------------

CUSTOM = {
    "1": {
        "inputs": {"speed": 1, "mode": "fast", "strength": 0.5},
        "class_type": "MyCustomNode",
        "_meta": {"title": "$speed, $mode, $neg-strength.strength"},
    },
    "2": {
        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0},
        "class_type": "EmptyImage",
        "_meta": {"title": "$width, $height"},
    },
    "3": {
        "inputs": {"filename_prefix": "x", "images": ["2", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "$output.picture"},
    },
}


@pytest.fixture
def custom_ir(write_workflow: Any) -> Any:
    return build([write_workflow(CUSTOM, "custom")]).workflows[0]


def test_types_from_saved_values_pass_through(custom_ir: Any) -> None:
    # The editor saves 1.0 as 1: generated code types `speed` as int, the dynamic API
    # lets the server decide (as comfykit does).
    model = _validated(custom_ir, {"speed": 1.2, "mode": 3, "neg-strength": "0.7"})
    assert model.model_dump()["speed"] == 1.2
    assert model.model_dump()["mode"] == 3
    assert model.model_dump()["neg_strength"] == "0.7"
    assert _validated(custom_ir, {}).model_dump()["speed"] == 1


def test_types_from_schemas_are_checked(custom_ir: Any) -> None:
    with pytest.raises(ParameterError, match=r"width: Input should be greater than or equal to 1"):
        _validated(custom_ir, {"width": 0})
    with pytest.raises(ParameterError, match=r"height: Input should be a valid integer"):
        _validated(custom_ir, {"height": "tall"})
    assert _validated(custom_ir, {"width": "32"}).model_dump()["width"] == 32  # as generated


def test_dsl_name_and_python_name_both_work(custom_ir: Any) -> None:
    assert _validated(custom_ir, {"neg-strength": 0.1}).model_dump()["neg_strength"] == 0.1
    assert _validated(custom_ir, {"neg_strength": 0.2}).model_dump()["neg_strength"] == 0.2
    # Both given: the DSL name, the one comfykit knows, wins.
    both = _validated(custom_ir, {"neg_strength": 0.2, "neg-strength": 0.3})
    assert both.model_dump()["neg_strength"] == 0.3


def test_unknown_keys_are_ignored_and_reported_once(
    custom_ir: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import comfygen._dynamic as dynamic

    dynamic._warned.discard(custom_ir.source)
    caplog.set_level("DEBUG", logger="comfygen")
    first = _validated(custom_ir, {"index": 3, "duration": 5, "width": 16})
    assert first.model_dump()["width"] == 16
    _validated(custom_ir, {"index": 4})
    records = [r for r in caplog.records if "does not declare" in r.getMessage()]
    assert [r.levelname for r in records] == ["WARNING", "DEBUG"]
    assert "index, duration" in records[0].getMessage()
    assert "custom.json" in records[0].getMessage()


def test_media_and_choices_are_typed_as_generated(tmp_path: Path) -> None:
    (path,) = [p for p in WORKFLOWS if p.name == "invert_uploaded_image.json"]
    built = _module(tmp_path, path)
    assert built is not None
    ir, _ = built
    media = [f for f in translate(ir).params if f.type == "media"]
    assert media
    for field in media:
        assert params_model(ir).model_fields[field.name].annotation == MediaInput
