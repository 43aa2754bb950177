"""The editor's UI format converted to the API format (comfygen._ui), as graphToPrompt does.

Test data: `tests/ui_format/*.json` are editor saves taken from the official workflow templates
(package comfyui-workflow-templates-json 0.1.123), each with its API-format twin `*.api.json`,
checked by hand against the editor file. The whole template collection is converted too when
the package is importable (or `COMFYGEN_UI_TEMPLATES` names a folder of templates), e.g.::

    uv pip install --target /tmp/tpl comfyui-workflow-templates-json
    PYTHONPATH=/tmp/tpl uv run pytest tests/test_ui_format.py
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfygen._schema import InputSchema, NodeSchema, bundled
from comfygen._ui import is_ui_format, ui_to_api

HERE = Path(__file__).parent
VENDORED = HERE / "ui_format"
RECORDED = HERE / "fakes" / "data" / "object_info_full.json.gz"
TEMPLATE_PACKAGE = "comfyui_workflow_templates_json"


def _vendored() -> list[Path]:
    return sorted(p for p in VENDORED.glob("*.json") if not p.name.endswith(".api.json"))


def _installed_templates() -> tuple[list[Path], str]:
    """The template collection's editor files, or none and why."""
    folder = os.environ.get("COMFYGEN_UI_TEMPLATES")
    if folder:
        root = Path(folder)
    else:
        spec = importlib.util.find_spec(TEMPLATE_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            return [], (
                f"the package {TEMPLATE_PACKAGE} (pip: comfyui-workflow-templates-json) is not "
                "importable and COMFYGEN_UI_TEMPLATES is not set"
            )
        root = Path(next(iter(spec.submodule_search_locations))) / "templates"
    files = []
    for path in sorted(root.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if is_ui_format(data):
            files.append(path)
    return files, f"no editor workflows under {root}"


INSTALLED, WHY_NONE = _installed_templates()


# -- (a) every template converts or names its problems; nothing crashes ------------------------

VIRTUAL = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}


def _check_conversion(path: Path, schemas: Mapping[str, NodeSchema]) -> None:
    ui = json.loads(path.read_text(encoding="utf-8"))
    graph, problems = ui_to_api(ui, schemas)
    assert (graph is None) == bool(problems)
    assert all(isinstance(p, str) and p for p in problems)
    subgraphs = {s["id"] for s in (ui.get("definitions") or {}).get("subgraphs") or []}
    nodes = list(ui["nodes"]) + [
        n for s in (ui.get("definitions") or {}).get("subgraphs") or [] for n in s["nodes"]
    ]
    unknown = {
        n["type"]
        for n in nodes
        if n.get("mode", 0) not in (2, 4)
        and n["type"] not in schemas
        and n["type"] not in subgraphs
        and n["type"] not in VIRTUAL
    }
    for class_type in unknown:
        assert graph is None
        assert any(repr(class_type) in p for p in problems), (class_type, problems)
    if graph is None:
        return
    for node_id, node in graph.items():
        assert isinstance(node_id, str)
        assert node["class_type"] in schemas
        assert isinstance(node["_meta"]["title"], str) and node["_meta"]["title"]
        for value in node["inputs"].values():
            if isinstance(value, list):
                assert len(value) == 2 and value[0] in graph and isinstance(value[1], int)


@pytest.mark.parametrize("path", _vendored(), ids=lambda p: p.name)
def test_vendored_editor_files_convert(path: Path) -> None:
    _check_conversion(path, bundled())


def test_the_template_collection_is_installed() -> None:
    # comfyui-workflow-templates-json is a dev dependency: hundreds of real editor saves.
    assert len(INSTALLED) > 100, WHY_NONE


@pytest.mark.parametrize("path", INSTALLED, ids=lambda p: p.name)
def test_installed_templates_convert_or_name_their_problems(path: Path) -> None:
    _check_conversion(path, bundled())


# -- (b) core-only editor saves equal their hand-checked API twins -----------------------------


@pytest.mark.parametrize("path", _vendored(), ids=lambda p: p.name)
def test_editor_file_equals_its_api_twin(path: Path) -> None:
    twin = json.loads(path.with_suffix(".api.json").read_text(encoding="utf-8"))
    graph, problems = ui_to_api(json.loads(path.read_text(encoding="utf-8")), bundled())
    assert problems == []
    assert graph == twin


def test_twins_cover_the_rules() -> None:
    assert len(_vendored()) >= 3
    hidream = json.loads((VENDORED / "hidream_e1_1.api.json").read_text(encoding="utf-8"))
    # PrimitiveNode values reach the widgets they feed; the Reroute is resolved away.
    assert hidream["53"]["inputs"]["cfg_conds"] == 3
    assert hidream["53"]["inputs"]["model"] == ["55", 0]
    # The seed's control_after_generate and LoadImage's upload button are not sent.
    assert hidream["47"]["inputs"] == {"noise_seed": 567500569211369}
    assert hidream["13"]["inputs"] == {"image": "hidream_e1_1_input_image.jpg"}
    wan = json.loads((VENDORED / "video_wan2.1_alpha_t2v_14B.api.json").read_text("utf-8"))
    assert "59" not in wan and wan["65"]["inputs"]["model"] == ["37", 0]  # bypassed LoRA
    runway = json.loads((VENDORED / "api_runway_text_to_image.api.json").read_text("utf-8"))
    assert "reference_image" not in runway["3"]["inputs"]  # bypassed LoadImage, no input
    flux = json.loads((VENDORED / "flux_dev_checkpoint_example.api.json").read_text("utf-8"))
    assert flux["9"]["inputs"]["images"] == ["56:53", 0]  # subgraph expanded


# -- rules, one by one --------------------------------------------------------------------------


def _node(
    node_id: int,
    class_type: str,
    values: Any = None,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": node_id,
        "type": class_type,
        "mode": 0,
        "inputs": inputs or [],
        "outputs": outputs or [],
    }
    if values is not None:
        node["widgets_values"] = values
    node.update(extra)
    return node


def _slot(name: str, kind: str, link: int | None = None, widget: bool = False) -> dict[str, Any]:
    slot: dict[str, Any] = {"name": name, "type": kind, "link": link}
    if widget:
        slot["widget"] = {"name": name}
    return slot


def _ui(nodes: list[dict[str, Any]], links: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {"nodes": nodes, "links": links, "version": 0.4, **extra}


def _plain() -> dict[str, NodeSchema]:
    """The bundled schemas without what the editor needs beyond types and options (display
    names, dynamic combos, dynamic prompts): what a minimal server schema gives."""

    def strip(schema: InputSchema) -> InputSchema:
        return dataclasses.replace(
            schema, dynamic_prompts=False, dynamic_options=None, control_after_generate=None
        )

    return {
        name: dataclasses.replace(
            node, display_name=None, inputs={k: strip(v) for k, v in node.inputs.items()}
        )
        for name, node in bundled().items()
    }


PLAIN = _plain()


def _convert(ui: dict[str, Any], schemas: Mapping[str, NodeSchema] | None = None) -> Any:
    graph, problems = ui_to_api(ui, bundled() if schemas is None else schemas)
    assert problems == [], problems
    return graph


def _problems(ui: dict[str, Any], schemas: Mapping[str, NodeSchema] | None = None) -> list[str]:
    graph, problems = ui_to_api(ui, bundled() if schemas is None else schemas)
    assert graph is None and problems
    return problems


def _sampler_chain(mode: int = 0) -> dict[str, Any]:
    """Checkpoint -> LoRA (mode) -> KSampler, and an empty latent."""
    return _ui(
        [
            _node(1, "CheckpointLoaderSimple", ["m.safetensors"], outputs=[
                {"name": "MODEL", "type": "MODEL", "links": [1]},
                {"name": "CLIP", "type": "CLIP", "links": [2]},
            ]),
            _node(2, "LoraLoader", ["l.safetensors", 1.0, 1.0], mode=mode, inputs=[
                _slot("model", "MODEL", 1), _slot("clip", "CLIP", 2),
            ], outputs=[
                {"name": "MODEL", "type": "MODEL", "links": [3]},
                {"name": "CLIP", "type": "CLIP", "links": []},
            ]),
            _node(3, "KSampler", [7, "fixed", 20, 8.0, "euler", "normal", 1.0], inputs=[
                _slot("model", "MODEL", 3),
            ], title="Sampler # seed"),
        ],
        [[1, 1, 0, 2, 0, "MODEL"], [2, 1, 1, 2, 1, "CLIP"], [3, 2, 0, 3, 0, "MODEL"]],
    )  # fmt: skip


def test_widgets_links_and_titles() -> None:
    graph = _convert(_sampler_chain())
    assert graph["3"] == {
        "inputs": {
            "seed": 7,
            "steps": 20,
            "cfg": 8.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["2", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "Sampler # seed"},
    }
    assert graph["2"]["inputs"]["clip"] == ["1", 1]
    assert graph["1"]["_meta"]["title"] == "Load Checkpoint"  # the class's display name
    plain = _convert(_sampler_chain(), PLAIN)
    assert plain["1"]["_meta"]["title"] == "CheckpointLoaderSimple"  # without display names
    assert _convert(_sampler_chain(), bundled())["1"]["_meta"]["title"] == "Load Checkpoint"


def test_bypassed_node_passes_the_input_of_the_same_type() -> None:
    graph = _convert(_sampler_chain(mode=4))
    assert "2" not in graph
    assert graph["3"]["inputs"]["model"] == ["1", 0]


def test_muted_node_is_dropped_with_the_links_to_it() -> None:
    graph = _convert(_sampler_chain(mode=2))
    assert "2" not in graph and "model" not in graph["3"]["inputs"]


def test_links_through_reroutes_and_notes_are_dropped() -> None:
    ui = _sampler_chain()
    ui["nodes"].append(
        _node(9, "Reroute", inputs=[_slot("", "*", 4)], outputs=[{"name": "", "type": "*"}])
    )
    ui["nodes"].append(_node(10, "MarkdownNote", ["# hello"]))
    ui["links"] = [link for link in ui["links"] if link[0] != 3]
    ui["links"] += [[4, 2, 0, 9, 0, "MODEL"], [3, 9, 0, 3, 0, "MODEL"]]
    graph = _convert(ui)
    assert set(graph) == {"1", "2", "3"}
    assert graph["3"]["inputs"]["model"] == ["2", 0]


def test_primitive_node_value_flows_into_the_linked_widgets() -> None:
    ui = _sampler_chain()
    ui["nodes"].append(
        _node(8, "PrimitiveNode", [42, "increment"], outputs=[{"name": "INT", "type": "INT"}])
    )
    ui["nodes"][2]["inputs"].append(_slot("seed", "INT", 5, widget=True))
    ui["links"].append([5, 8, 0, 3, 1, "INT"])
    assert _convert(ui)["3"]["inputs"]["seed"] == 42


def test_unknown_class_is_a_problem_naming_class_and_node() -> None:
    ui = _sampler_chain()
    ui["nodes"].append(_node(12, "VHS_VideoCombine", {"frame_rate": 8}))
    (problem,) = _problems(ui)
    assert "node 12" in problem and "'VHS_VideoCombine'" in problem


def test_control_after_generate_is_skipped_by_name_flag_or_saved_value() -> None:
    ui = _ui(
        [_node(1, "PrimitiveInt", [5, "fixed"]), _node(2, "RandomNoise", [9, "randomize"])], []
    )
    graph = _convert(ui)  # bundled: PrimitiveInt's control found from the saved value
    assert graph["1"]["inputs"] == {"value": 5} and graph["2"]["inputs"] == {"noise_seed": 9}
    rich = _convert(ui, bundled())  # rich: from object_info's control_after_generate
    assert {k: v["inputs"] for k, v in rich.items()} == {k: v["inputs"] for k, v in graph.items()}


def test_widget_values_saved_as_an_object() -> None:
    values = {"seed": 3, "control_after_generate": "fixed", "steps": 4, "cfg": 2.5}
    graph = _convert(_ui([_node(1, "KSampler", values)], []))
    assert graph["1"]["inputs"] == {
        "seed": 3,
        "steps": 4,
        "cfg": 2.5,
        "sampler_name": "euler",  # not saved: the widget's default
        "scheduler": "simple",
        "denoise": 1.0,
    }


def test_values_that_do_not_fit_the_schema_are_problems() -> None:
    surplus = _ui([_node(1, "EmptyLatentImage", [512, 512, 1, 99])], [])
    (problem,) = _problems(surplus)
    assert "4 widget values" in problem and "width, height, batch_size" in problem
    shifted = _ui([_node(1, "EmptyLatentImage", ["512", 512, 1])], [])
    assert "'width' got '512'" in _problems(shifted)[0]
    # Fewer values: the missing widgets keep their defaults, as in the editor.
    assert _convert(_ui([_node(1, "EmptyLatentImage", [640])], []))["1"]["inputs"] == {
        "width": 640,
        "height": 512,
        "batch_size": 1,
    }


def test_dynamic_combo_needs_its_options_in_the_schema() -> None:
    resize = _node(
        1,
        "ResizeImageMaskNode",
        ["scale longer dimension", 2048, "lanczos"],
        inputs=[_slot("input", "IMAGE,MASK")],
    )
    (problem,) = _problems(_ui([resize], []), PLAIN)
    assert "'resize_type' is a dynamic combo" in problem
    assert _convert(_ui([resize], []), bundled())["1"]["inputs"] == {
        "resize_type": "scale longer dimension",
        "resize_type.longer_size": 2048,
        "scale_method": "lanczos",
    }


def test_list_values_are_wrapped_and_dynamic_prompts_resolved() -> None:
    text = _node(1, "CLIPTextEncode", ["a {red} cat // comment"], inputs=[_slot("clip", "CLIP")])
    assert _convert(_ui([text], []), PLAIN)["1"]["inputs"]["text"] == "a {red} cat // comment"
    assert _convert(_ui([text], []), bundled())["1"]["inputs"]["text"] == "a red cat "
    text["widgets_values"] = ["a {red|blue} cat"]
    assert "at random" in _problems(_ui([text], []), bundled())[0]
    crop = _node(1, "ImageCompare", [], inputs=[_slot("image_a", "IMAGE")])
    assert _convert(_ui([crop], []))["1"]["inputs"] == {"compare_view": {"__value__": ["", ""]}}


def test_editor_computed_widgets_are_problems() -> None:
    painter = _node(1, "Painter", ["", 512, 512, "#000000"], inputs=[_slot("image", "IMAGE")])
    assert "PAINTER" in _problems(_ui([painter], []), bundled())[0]


def _subgraph_workflow() -> dict[str, Any]:
    """A subgraph around a KSampler whose seed and steps are promoted to the instance."""
    sampler = _node(
        5,
        "KSampler",
        [1, "randomize", 10, 8.0, "euler", "normal", 1.0],
        inputs=[
            _slot("model", "MODEL", 11),
            _slot("seed", "INT", 12, widget=True),
            _slot("steps", "INT", 13, widget=True),
        ],
        outputs=[{"name": "LATENT", "type": "LATENT", "links": [14]}],
    )
    subgraph: dict[str, Any] = {
        "id": "0b5e1a52-0000-4000-8000-000000000001",
        "name": "Sampler",
        "inputs": [
            {"name": "model", "type": "MODEL", "linkIds": [11]},
            {"name": "seed", "type": "INT", "linkIds": [12]},
            {"name": "steps", "type": "INT", "linkIds": [13]},
        ],
        "outputs": [{"name": "LATENT", "type": "LATENT", "linkIds": [14]}],
        "nodes": [sampler],
        "links": [
            {
                "id": 11,
                "origin_id": -10,
                "origin_slot": 0,
                "target_id": 5,
                "target_slot": 0,
                "type": "MODEL",
            },
            {
                "id": 12,
                "origin_id": -10,
                "origin_slot": 1,
                "target_id": 5,
                "target_slot": 1,
                "type": "INT",
            },
            {
                "id": 13,
                "origin_id": -10,
                "origin_slot": 2,
                "target_id": 5,
                "target_slot": 2,
                "type": "INT",
            },
            {
                "id": 14,
                "origin_id": 5,
                "origin_slot": 0,
                "target_id": -20,
                "target_slot": 0,
                "type": "LATENT",
            },
        ],
    }
    nodes = [
        _node(
            1,
            "CheckpointLoaderSimple",
            ["m.safetensors"],
            outputs=[
                {"name": "MODEL", "type": "MODEL", "links": [1]},
            ],
        ),
        _node(
            7,
            subgraph["id"],
            [123, 30],
            inputs=[
                _slot("model", "MODEL", 1),
                _slot("seed", "INT", None, widget=True),
                _slot("steps", "INT", None, widget=True),
            ],
            outputs=[{"name": "LATENT", "type": "LATENT", "links": [2]}],
            title="Sub",
        ),
        _node(3, "VAEDecode", inputs=[_slot("samples", "LATENT", 2), _slot("vae", "VAE")]),
    ]
    links = [[1, 1, 0, 7, 0, "MODEL"], [2, 7, 0, 3, 0, "LATENT"]]
    return _ui(nodes, links, definitions={"subgraphs": [subgraph]})


def test_subgraphs_are_expanded_with_promoted_widget_values() -> None:
    ui = _subgraph_workflow()
    graph = _convert(ui)
    assert set(graph) == {"1", "7:5", "3"}
    assert graph["7:5"]["inputs"] == {
        "seed": 123,
        "steps": 30,
        "cfg": 8.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1.0,
        "model": ["1", 0],
    }
    assert graph["3"]["inputs"]["samples"] == ["7:5", 0]
    # Newer editors save no promoted values (proxyWidgets): the inner widgets' values count.
    without = copy.deepcopy(ui)
    without["nodes"][1]["widgets_values"] = []
    assert _convert(without)["7:5"]["inputs"]["seed"] == 1
    bad = copy.deepcopy(ui)
    bad["nodes"][1]["widgets_values"] = [1, 2, 3]
    assert "3 widget values for 2 promoted widgets" in _problems(bad)[0]


def test_broken_structure_is_a_problem_not_a_crash() -> None:
    assert "no nodes" in _problems({"nodes": [], "links": []})[0]
    assert _problems({"nodes": "x", "links": []})
    assert _problems({"nodes": [{"type": "KSampler"}], "links": []})
    looped = _sampler_chain(mode=4)
    looped["links"] += [[4, 2, 0, 2, 0, "MODEL"]]
    looped["nodes"][1]["inputs"][0]["link"] = 4
    assert "circle" in _problems(looped)[0]


@pytest.mark.parametrize("path", _vendored(), ids=lambda p: p.name)
def test_ui_export_builds_the_same_module_as_its_api_twin(path: Path, tmp_path: Path) -> None:
    from comfygen import build

    ui_dir, api_dir = tmp_path / "ui", tmp_path / "api"
    ui_dir.mkdir()
    api_dir.mkdir()
    (ui_dir / "workflow.json").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    twin = path.with_suffix(".api.json").read_text(encoding="utf-8")
    (api_dir / "workflow.json").write_text(twin, encoding="utf-8")
    from_ui = {f.path: f.text for f in build([ui_dir]).files}
    from_api = {f.path: f.text for f in build([api_dir]).files}
    assert from_ui == from_api


# Property: whatever values an editor save holds for a node's widgets, the conversion puts
# each one into the input of the same name, in schema order.
@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 16384),
    height=st.integers(1, 16384),
    batch=st.integers(1, 4096),
    color=st.integers(0, 0xFFFFFF),
    prefix=st.text(max_size=20),
    title=st.text(max_size=20),
)
def test_widget_values_land_in_their_inputs(
    width: int, height: int, batch: int, color: int, prefix: str, title: str
) -> None:
    outputs = [{"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0}]
    empty = _node(1, "EmptyImage", [width, height, batch, color], outputs=outputs)
    if title:
        empty["title"] = title
    save = _node(2, "SaveImage", [prefix], inputs=[_slot("images", "IMAGE", link=1)])
    graph = _convert(_ui([empty, save], [[1, 1, 0, 2, 0, "IMAGE"]]))
    assert graph["1"]["inputs"] == {"width": width, "height": height, "batch_size": batch,
                                    "color": color}  # fmt: skip
    assert graph["1"]["_meta"]["title"] == (title or bundled()["EmptyImage"].display_name)
    assert graph["2"]["inputs"] == {"filename_prefix": prefix, "images": ["1", 0]}


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_malformed_editor_files_are_problems_not_crashes(data: st.DataObject) -> None:
    files = _vendored()
    ui = json.loads(files[data.draw(st.integers(0, len(files) - 1))].read_text())
    junk = st.one_of(st.none(), st.integers(-2, 99), st.text(max_size=3), st.just([]),
                     st.just({}), st.just([1, 2]), st.just({"a": 1}))  # fmt: skip
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["node", "slot", "link"]))
        links = [link for link in ui["links"] if isinstance(link, list) and link]
        if where == "link" and links:
            link = data.draw(st.sampled_from(links))
            link[data.draw(st.integers(0, len(link) - 1))] = data.draw(junk)
            continue
        node = data.draw(st.sampled_from(ui["nodes"]))
        slots = node.get("inputs")
        slots = [s for s in slots if isinstance(s, dict)] if isinstance(slots, list) else []
        if where == "slot" and slots:
            slot = data.draw(st.sampled_from(slots))
            slot[data.draw(st.sampled_from(["link", "name", "type", "widget"]))] = data.draw(junk)
            continue
        field = data.draw(st.sampled_from(["id", "type", "mode", "inputs", "outputs",
                                           "widgets_values", "title"]))  # fmt: skip
        node[field] = data.draw(junk)
    graph, problems = ui_to_api(ui, bundled())
    assert (graph is None) == bool(problems)
