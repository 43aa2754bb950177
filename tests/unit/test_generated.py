"""Generated modules import, validate their parameters and hand one call to the runtime."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import comfygen_runtime as rt
import pydantic
import pytest

from comfygen import build
from tests.conftest import ROOT, TESTS

GOLDEN = TESTS / "golden"


def _load(tmp_path: Path, case: str, module: str) -> ModuleType:
    """Build a golden case into a fresh package under tmp_path and import one module."""
    package = f"gen_{case}_{tmp_path.name}".replace("-", "_")
    out = tmp_path / package
    out.mkdir()
    for file in build([GOLDEN / case / "workflows"]).files:
        (out / file.path).write_text(file.text, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(f"{package}.{module}")
    finally:
        sys.path.remove(str(tmp_path))


class RecordingBackend:
    """A backend that runs nothing: it records the values it was asked to run, and every
    job it "accepts" finishes at once without outputs."""

    base_url = "http://recording.invalid"
    default_timeout = None
    cancel_on_timeout = True

    def __init__(self) -> None:
        self.calls: list[tuple[rt.WorkflowSpec, dict[str, Any]]] = []

    async def lookup(self, spec: rt.WorkflowSpec, job_id: str) -> rt.Ticket | None:
        return None

    async def prepare(self, spec: rt.WorkflowSpec, values: dict[str, Any]) -> rt.Prepared:
        self.calls.append((spec, dict(values)))
        return rt.Prepared(values)

    async def submit(
        self, spec: rt.WorkflowSpec, prepared: rt.Prepared, *, job_id: str
    ) -> rt.Ticket:
        return rt.Ticket("p-1", self.base_url)

    async def follow(self, spec: rt.WorkflowSpec, ticket: rt.Ticket, events: rt.Events) -> Any:
        return {}

    async def cancel(self, ticket: rt.Ticket) -> bool:
        return False

    async def settle(self, spec: rt.WorkflowSpec, ticket: rt.Ticket, record: Any) -> rt.Settled:
        return rt.Settled(outputs={})

    def file_ref(self, cls: type[rt.File], node_id: str, record: Mapping[str, Any]) -> rt.File:
        return cls(node_id=node_id, filename=str(record.get("filename", "")))


def test_signature_is_typed_keyword_only(tmp_path: Path) -> None:
    module = _load(tmp_path, "seed_readme", "t2i_workflow")
    signature = inspect.signature(module.t2i_workflow)
    params = signature.parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert list(params) == [
        "seed", "steps", "model", "width", "height", "prompt", "negative_prompt",
        "client", "on_event", "timeout", "idempotency_key",
    ]  # fmt: skip
    assert params["prompt"].default is inspect.Parameter.empty
    assert params["width"].default is inspect.Parameter.empty
    assert params["steps"].default == 20
    assert params["model"].default == "sd_xl_base_1.0.safetensors"
    assert params["steps"].annotation == "int"
    assert signature.return_annotation == "T2iWorkflowResult"
    assert 'Sets input "text" of node "6"' in (module.t2i_workflow.__doc__ or "")


def test_params_model_validates(tmp_path: Path) -> None:
    module = _load(tmp_path, "seed_readme", "t2i_workflow")
    params_type = module.T2iWorkflowParams
    ok = params_type(prompt="a cat", width=1024, height=768)
    assert ok.steps == 20 and ok.seed == 0
    with pytest.raises(pydantic.ValidationError):
        params_type(prompt="a cat", width="wide", height=768)
    with pytest.raises(pydantic.ValidationError, match="extra"):
        params_type(prompt="a cat", width=1, height=1, stpes=3)
    with pytest.raises(pydantic.ValidationError, match="prompt"):
        params_type(width=1, height=1)
    assert params_type.model_fields["prompt"].description == "What to draw"


async def test_function_hands_validated_values_to_the_backend(tmp_path: Path) -> None:
    module = _load(tmp_path, "seed_readme", "t2i_workflow")
    backend = RecordingBackend()
    result = await module.t2i_workflow(prompt="a cat", width=1024, height=768, client=backend)
    assert isinstance(result, module.T2iWorkflowResult)
    assert result.result == []
    ((spec, values),) = backend.calls
    assert spec is module._SPEC
    assert values["prompt"] == "a cat"
    assert values["steps"] == 20

    graph = rt.apply_params(spec, values)
    assert graph["6"]["inputs"]["text"] == "a cat"
    assert graph["5"]["inputs"]["height"] == 768
    assert graph["6"]["inputs"]["clip"] == ["4", 1]
    original = json.loads((GOLDEN / "seed_readme/workflows/t2i_workflow.json").read_text())
    assert spec.graph == original, "the embedded graph must never be modified by a run"


async def test_invalid_arguments_fail_before_the_backend_is_called(tmp_path: Path) -> None:
    module = _load(tmp_path, "seed_readme", "t2i_workflow")
    backend = RecordingBackend()
    with pytest.raises(pydantic.ValidationError):
        await module.t2i_workflow(prompt=5, width=1, height=1, client=backend)
    assert backend.calls == []


async def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    module = _load(tmp_path, "seed_readme", "t2i_workflow")
    async with rt.ComfyUI("http://127.0.0.1:9", unavailable_after=0.3) as client:
        with pytest.raises(rt.BackendUnavailableError, match=r"127\.0\.0\.1:9"):
            await module.t2i_workflow(prompt="x", width=512, height=512, client=client)


def test_hostile_module_embeds_the_graph_exactly(tmp_path: Path) -> None:
    module = _load(tmp_path, "hostile", "hostile_names_2")
    source = (GOLDEN / "hostile/workflows/Hostile Names 2!.json").read_text(encoding="utf-8")
    assert json.dumps(module._GRAPH) == json.dumps(json.loads(source))
    signature = inspect.signature(module.hostile_names_2).parameters
    assert signature["neg_prompt"].default == "tab\there\r\nand \u2028 sep \x00 nul \ud800 lone"
    assert signature["huge"].default == 123456789012345678901234567890
    assert str(signature["neg_zero"].default) == "-0.0"


def test_a_module_for_another_contract_fails_at_import(tmp_path: Path) -> None:
    # A real generated module, as if generated by a comfygen of another contract version.
    import re

    text = (ROOT / "examples" / "gen" / "book_cover.py").read_text()
    call = re.compile(r"_rt\.require_contract\((\d+)\)")
    match = call.search(text)
    assert match is not None and int(match.group(1)) == rt.CONTRACT_VERSION
    for version, advice in ((rt.CONTRACT_VERSION + 1, "upgrade comfygen-runtime"),
                            (rt.CONTRACT_VERSION - 1, "upgrade comfygen")):  # fmt: skip
        name = f"stale_contract_{version}_{tmp_path.name}".replace("-", "_")
        (tmp_path / f"{name}.py").write_text(call.sub(f"_rt.require_contract({version})", text))
        sys.path.insert(0, str(tmp_path))
        try:
            with pytest.raises(rt.ContractMismatchError, match=advice):
                importlib.import_module(name)
        finally:
            sys.path.remove(str(tmp_path))
        assert name not in sys.modules, "a failed import leaves no half-initialised module"


def test_contract_is_checked_at_import() -> None:
    rt.require_contract(rt.CONTRACT_VERSION)
    with pytest.raises(rt.ContractMismatchError, match="upgrade comfygen-runtime"):
        rt.require_contract(rt.CONTRACT_VERSION + 1)
    with pytest.raises(ImportError, match="upgrade comfygen"):
        rt.require_contract(rt.CONTRACT_VERSION - 1)


def test_apply_params_rejects_unknown_names(tmp_path: Path) -> None:
    module = _load(tmp_path, "seed_readme", "t2i_workflow")
    with pytest.raises(rt.ParameterError, match="has no parameter 'stpes'"):
        rt.apply_params(module._SPEC, {"stpes": 3})
