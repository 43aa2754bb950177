"""Property: hostile titles, descriptions and values are data in what `comfygen serve`
publishes. Every workflow the compiler accepts becomes a tool and an endpoint whose
schemas carry its texts exactly (lone surrogates, which no UTF-8 encoder can write,
replaced by U+FFFD), and the tool list and the OpenAPI document encode as UTF-8 JSON."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mcp.types as mcp
from comfygen_runtime import ComfyUI
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from comfygen import BuildError
from comfygen._serve import create_app, load_catalog
from comfygen._serve._mcp import tool
from comfygen._serve._outputs import json_safe
from tests.conftest import examples
from tests.property.strategies import text, workflows

descriptions = st.one_of(st.none(), text, st.text(max_size=40))


def _wire(value: Any) -> Any:
    """What a client receives: JSON encoded as UTF-8 (as Starlette and the MCP SDK do)."""
    return json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))


@settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(workflows(), descriptions)
@example(
    {
        "1": {
            "class_type": "PreviewAny",
            "inputs": {"source": "x"},
            "_meta": {"title": '\ud800, $p.source:\ud800\u2028"""'},
        }
    },
    "a\ud800b",
)
def test_hostile_workflows_are_served_as_data(graph: dict[str, Any], about: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wf.json"
        path.write_text(json.dumps(graph), encoding="utf-8")
        if about is not None:
            path.with_suffix(".md").write_text(about, encoding="utf-8", errors="surrogatepass")
        try:
            catalog, _ = load_catalog(
                [path], backend=ComfyUI("http://127.0.0.1:9"), backend_label="-"
            )
        except BuildError as error:
            event("rejected with a diagnostic")
            assert error.diagnostics
            return
    event("served")
    (entry,) = catalog.entries.values()
    listed = _wire(mcp.ListToolsResult(tools=[tool(entry)]).model_dump(mode="json", by_alias=True))
    (published,) = listed["tools"]
    assert published["name"] == entry.name == "wf"
    description = published["description"]
    if about is not None and about.strip():
        shown = about.strip().encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        assert description.startswith(shown)
    schema = published["inputSchema"]
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == list(entry.params_model.model_fields)
    for name, field in entry.params_model.model_fields.items():
        assert schema["properties"][name]["description"] == json_safe(field.description)
        if not field.is_required() and field.default is not None:
            assert schema["properties"][name]["default"] == _wire(json_safe(field.default))
    document = _wire(create_app(catalog).openapi())
    operation = document["paths"]["/workflows/wf"]["post"]
    assert operation["operationId"] == "run_wf"
    assert operation["description"].startswith(description)
    params = document["components"]["schemas"][entry.params_model.__name__]
    assert params["properties"] == schema["properties"]
