"""The editor's UI format converted to the API format (comfygen._ui) exactly as the editor does.

The reference is the real editor: `tests/ui_format/frontend-1.49.6.json.gz` holds what the
ComfyUI frontend 1.49.6 (the one ComfyUI 0.33.0 ships) sends for every official template
(`comfyui-workflow-templates-json` 0.1.123, a dev dependency) on the recorded 0.33.0 schema, and
the widgets it gives a new node of every class. `tests/frontend_recording.py` records it again
(`uv run --group frontend python -m tests.frontend_recording`, with Debian's chromium).

Also here: editor saves checked by hand against their API twins (`tests/ui_format/*.json` and
`*.api.json`, taken from the same templates), and the rules one by one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfygen._schema import InputSchema, NodeSchema, bundled
from comfygen._ui import _UNSET, _Converter, _Widget, ui_to_api
from tests.conftest import TESTS, examples
from tests.frontend_recording import (
    FRONTEND_VERSION,
    editor_cases,
    editor_templates,
    load_recording,
    templates_folder,
)

HERE = TESTS
VENDORED = HERE / "ui_format"
TEMPLATES_VERSION = "0.1.123"

RECORDING = load_recording()
TEMPLATES = editor_templates()
CONVERTED = sorted(n for n, r in RECORDING["results"].items() if "output" in r)
MISSING = sorted(n for n, r in RECORDING["results"].items() if "missing" in r)
CASES = editor_cases()


def _vendored() -> list[Path]:
    return sorted(p for p in VENDORED.glob("*.json") if not p.name.endswith(".api.json"))


# -- (a) the real editor's conversion of every official template -------------------------------


def test_the_recording_is_of_the_installed_templates() -> None:
    # comfyui-workflow-templates-json is a dev dependency pinned to the recorded version.
    folder, why = templates_folder()
    assert len(TEMPLATES) > 600, why or f"no editor workflows under {folder}"
    assert RECORDING["frontend"] == FRONTEND_VERSION
    assert RECORDING["templates"] == TEMPLATES_VERSION
    assert sorted(RECORDING["results"]) == sorted(TEMPLATES)
    assert sorted(RECORDING["cases"]) == sorted(CASES)
    assert len(CONVERTED) + len(MISSING) == len(TEMPLATES)  # the editor loaded every one


def _differences(expected: Mapping[str, Any], graph: Mapping[str, Any]) -> list[str]:
    """Node for node: ids, class types, titles, every input value and link."""
    found = [f"node {i} missing" for i in sorted(set(expected) - set(graph))]
    found += [f"node {i} not sent by the editor" for i in sorted(set(graph) - set(expected))]
    for node_id in sorted(set(expected) & set(graph)):
        want, got = expected[node_id], graph[node_id]
        for key in ("class_type", "_meta"):
            if want[key] != got[key]:
                found.append(f"node {node_id} {key}: editor {want[key]!r}, comfygen {got[key]!r}")
        for name in sorted(set(want["inputs"]) | set(got["inputs"])):
            a, b = want["inputs"].get(name, "<absent>"), got["inputs"].get(name, "<absent>")
            if a != b or type(a) is not type(b):
                found.append(f"node {node_id} input {name!r}: editor {a!r}, comfygen {b!r}")
    return found


# Templates the editor converts that comfygen refuses, naming the node: what the editor computes
# when it queues (a capture of its 3D viewer), and a subgraph whose promoted primitive node the
# editor rewires by slot position when it loads it (sending a model name as an aspect ratio).
REFUSALS = (
    "sends a capture of the 3D view",
    "sends the state of the 3D viewport",
    "an older editor promoted the primitive node",
)


@pytest.mark.parametrize("name", CONVERTED)
def test_conversion_is_the_editors(name: str) -> None:
    expected = RECORDING["results"][name]["output"]
    graph, problems = ui_to_api(TEMPLATES[name], bundled())
    if graph is None and problems and all(any(r in p for r in REFUSALS) for p in problems):
        for problem in problems:  # it names a node the editor sent (or a subgraph of them)
            node_id = problem.split(" ")[1]
            assert node_id in expected or any(n.startswith(node_id + ":") for n in expected)
        return
    assert problems == []
    assert graph is not None
    assert _differences(expected, graph) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_hand_made_case_is_converted_as_the_editor_does(name: str) -> None:
    # tests/ui_format/cases: one rule each (renumbering, nested muted subgraphs, numbers,
    # values in order, dynamic prompts, primitives, bypass), recorded in the editor too.
    graph, problems = ui_to_api(CASES[name], bundled())
    assert problems == []
    assert graph is not None
    assert _differences(RECORDING["cases"][name]["output"], graph) == []


@pytest.mark.parametrize("name", MISSING)
def test_what_the_editor_does_not_know_is_named(name: str) -> None:
    graph, problems = ui_to_api(TEMPLATES[name], bundled())
    assert graph is None
    for class_type in RECORDING["results"][name]["missing"]:
        assert any(f"class {class_type!r} is not among the known node schemas" in p
                   for p in problems), (class_type, problems)  # fmt: skip


def test_conversion_counts() -> None:
    """The figures the README gives (UI format)."""
    identical = refused = 0
    for name in CONVERTED:
        graph, _ = ui_to_api(TEMPLATES[name], bundled())
        identical += graph is not None
        refused += graph is None
    counts = (len(TEMPLATES), len(CONVERTED), identical, refused, len(MISSING))
    assert counts == (644, 530, 523, 7, 114)


def test_every_template_builds_or_names_what_blocks_it() -> None:
    # No template crashes the build: it compiles, or fails with `ui-format` naming the cause.
    from comfygen import build
    from comfygen._diagnostics import BuildError

    folder, _ = templates_folder()
    assert folder is not None
    built = 0
    for name in TEMPLATES:
        try:
            build([folder / name], verify=False)
            built += 1
        except BuildError as error:
            codes = {d.code for d in error.diagnostics if d.severity == "error"}
            assert codes == {"ui-format"}, (name, error.diagnostics)
    assert built == 523


def _new_widgets(class_type: str) -> list[_Widget]:
    return _Converter(bundled())._new_widgets(class_type, class_type, bundled()[class_type], [])


def _layout(widgets: list[_Widget]) -> list[tuple[str, bool, bool]]:
    return [(w.name, w.saved, w.sent) for w in widgets]


def _editor_layout(recorded: list[list[Any]]) -> list[tuple[str, bool, bool]]:
    return [(name, saved, sent) for name, _type, saved, sent, _value in recorded]


def _initial_values(widgets: list[_Widget]) -> dict[str, Any]:
    """The sent widgets' starting values, but not a file list's (the server's own files);
    JavaScript's undefined is recorded as null."""
    return {
        w.name: None if w.value is _UNSET else w.value
        for w in widgets
        if w.sent and not (w.schema is not None and (w.schema.files or w.schema.remote))
    }


@pytest.mark.parametrize("class_type", sorted(RECORDING["classes"]))
def test_new_node_widgets_are_the_editors(class_type: str) -> None:
    """Every class's widgets in order (saved? sent?), starting values and untitled title."""
    recorded = RECORDING["classes"][class_type]
    widgets = _new_widgets(class_type)
    assert _layout(widgets) == _editor_layout(recorded["widgets"])
    editor_values = {w[0]: w[4] for w in recorded["widgets"]}
    assert {n: editor_values[n] for n in _initial_values(widgets)} == _initial_values(widgets)
    untitled = {"id": 1, "type": class_type, "mode": 0, "inputs": [], "outputs": []}
    graph, _ = ui_to_api({"nodes": [untitled], "links": []}, bundled())
    if graph is not None:
        assert graph["1"]["_meta"]["title"] == recorded["title"]
    for combo, options in recorded.get("options", {}).items():
        for option, layout in options.items():
            widgets = _new_widgets(class_type)
            index = next(i for i, w in enumerate(widgets) if w.name == combo)
            _Converter(bundled())._set("", class_type, widgets, index, option, [])
            assert _layout(widgets) == _editor_layout(layout), option


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
    output = {"name": "INT", "type": "INT", "links": [5], "widget": {"name": "seed"}}
    ui["nodes"].append(_node(8, "PrimitiveNode", [42, "increment"], outputs=[output]))
    ui["nodes"][2]["inputs"].append(_slot("seed", "INT", 5, widget=True))
    ui["links"].append([5, 8, 0, 3, 1, "INT"])
    assert _convert(ui)["3"]["inputs"]["seed"] == 42


def test_unknown_class_is_a_problem_naming_class_and_node() -> None:
    ui = _sampler_chain()
    ui["nodes"].append(_node(12, "VHS_VideoCombine", {"frame_rate": 8}))
    (problem,) = _problems(ui)
    assert "node 12" in problem and "'VHS_VideoCombine'" in problem


def test_control_after_generate_comes_from_the_flag_or_the_seed_name() -> None:
    ui = _ui(
        [
            _node(1, "PrimitiveInt", [5, "fixed"]),
            _node(2, "RandomNoise", [9, "randomize"]),
            _node(3, "EmptyLatentImage", [640, 480, 2]),
        ],
        [],
    )
    graph = _convert(ui)  # object_info's control_after_generate: the value after is a control
    assert graph["1"]["inputs"] == {"value": 5} and graph["2"]["inputs"] == {"noise_seed": 9}
    plain = _convert(ui, PLAIN)  # without the flag, only an INT named seed/noise_seed has one
    assert plain["2"]["inputs"] == {"noise_seed": 9}
    assert plain["1"]["inputs"] == {"value": 5}  # "fixed" is then a value left over, ignored
    assert plain["3"]["inputs"] == {"width": 640, "height": 480, "batch_size": 2}


def test_widget_values_saved_as_an_object_are_a_problem() -> None:
    # Custom nodes' own editor code saves them so; the core editor cannot read them.
    values = {"seed": 3, "control_after_generate": "fixed", "steps": 4, "cfg": 2.5}
    (problem,) = _problems(_ui([_node(1, "KSampler", values)], []))
    assert "node 1 (KSampler)" in problem and "saved by name" in problem


def test_saved_values_fill_the_widgets_in_order_as_in_the_editor() -> None:
    # Values left over are ignored, values of another type are sent as they are (the server
    # then rejects them, as it would the editor's prompt), missing ones keep their default.
    surplus = _convert(_ui([_node(1, "EmptyLatentImage", [512, 512, 1, 99])], []))
    assert surplus["1"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1}
    shifted = _convert(_ui([_node(1, "EmptyLatentImage", ["512", 512, 1])], []))
    assert shifted["1"]["inputs"]["width"] == "512"
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
    viewer = _node(1, "Load3D", ["cube.glb", "", "", "", "", 512, 512])
    (problem,) = _problems(_ui([viewer], []))
    assert "node 1 (Load3D)" in problem and "'image' sends a capture of the 3D view" in problem
    # A painter's saved mask (an uploaded file) is what the editor sends.
    painter = _node(1, "Painter", ["m.png [input]", 512, 512, "#000000"])
    assert _convert(_ui([painter], []))["1"]["inputs"]["mask"] == "m.png [input]"


def _definition(
    subgraph_id: str,
    name: str,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A subgraph definition as the editor saves it (its slots have ids, its io nodes boxes)."""
    slots = [
        {**slot, "id": f"{subgraph_id[:-4]}{10 * kind + index:04d}"}
        for kind, group in enumerate((inputs or [], outputs or []), start=1)
        for index, slot in enumerate(group)
    ]
    return {
        "id": subgraph_id,
        "version": 1,
        "state": {"lastGroupId": 0, "lastNodeId": 0, "lastLinkId": 0, "lastRerouteId": 0},
        "revision": 0,
        "config": {},
        "name": name,
        "inputNode": {"id": -10, "bounding": [-400, 0, 120, 100]},
        "outputNode": {"id": -20, "bounding": [400, 0, 120, 100]},
        "inputs": slots[: len(inputs or [])],
        "outputs": slots[len(inputs or []) :],
        "widgets": [],
        "nodes": [],
        "groups": [],
        "links": [],
        "extra": {},
    }


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
    subgraph = _definition(
        "0b5e1a52-0000-4000-8000-000000000001",
        "Sampler",
        inputs=[
            {"name": "model", "type": "MODEL", "linkIds": [11]},
            {"name": "seed", "type": "INT", "linkIds": [12]},
            {"name": "steps", "type": "INT", "linkIds": [13]},
        ],
        outputs=[{"name": "LATENT", "type": "LATENT", "linkIds": [14]}],
    )
    subgraph |= {
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
    # Without saved promoted values the inner widgets' values count; values beyond the
    # promoted widgets are ignored, as in the editor.
    without = copy.deepcopy(ui)
    without["nodes"][1]["widgets_values"] = []
    assert _convert(without)["7:5"]["inputs"]["seed"] == 1
    longer = copy.deepcopy(ui)
    longer["nodes"][1]["widgets_values"] = [1, 2, 3]
    assert {k: _convert(longer)["7:5"]["inputs"][k] for k in ("seed", "steps")} == {
        "seed": 1,
        "steps": 2,
    }


def test_subgraph_nodes_with_taken_ids_are_renumbered_as_the_editor_does() -> None:
    # The subgraph's KSampler has id 5; a root node 5 takes it, so the editor gives the
    # subgraph's node the next id after the file's last_node_id (deduplicateSubgraphNodeIds).
    ui = _subgraph_workflow()
    ui["nodes"].append(_node(5, "EmptyLatentImage", [64, 64, 1]))
    ui["last_node_id"] = 9
    graph = _convert(ui)
    assert set(graph) == {"1", "5", "7:10", "3"}
    assert graph["3"]["inputs"]["samples"] == ["7:10", 0]
    assert graph["7:10"]["class_type"] == "KSampler"


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
@settings(max_examples=examples(300), deadline=None)
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


@settings(max_examples=examples(400), deadline=None)
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


# -- a save built against a live server's nodes (--server URL) ---------------------------------

# A custom node class, and the core EmptyLatentImage as a newer server has it (one more widget
# before batch_size): the save's values line up only with the server's definitions.
SHUFFLE = {
    "input": {
        "required": {
            "image": ["IMAGE", {}],
            "seed": ["INT", {"default": 0, "min": 0, "max": 2**32, "control_after_generate": True}],
            "mode": [["rows", "columns"], {"default": "rows"}],
        },
    },
    "input_order": {"required": ["image", "seed", "mode"]},
    "output": ["IMAGE"],
    "output_is_list": [False],
    "output_name": ["IMAGE"],
    "name": "PixelShuffle",
    "display_name": "Pixel Shuffle",
    "description": "",
    "python_module": "custom_nodes.shuffle",
    "category": "image",
    "output_node": False,
}


def _newer_empty_latent() -> dict[str, Any]:
    from tests.fakes._graph import object_info

    node: dict[str, Any] = copy.deepcopy(object_info()["EmptyLatentImage"])
    required = node["input"]["required"]
    required = {
        "width": required["width"],
        "height": required["height"],
        "multiple": ["INT", {"default": 8, "min": 1, "max": 64}],
        "batch_size": required["batch_size"],
    }
    node["input"]["required"] = required
    node["input_order"]["required"] = list(required)
    return node


def _server_save(folder: Path) -> Path:
    save = _ui(
        [
            _node(1, "LoadImage", ["photo.png", "image"], outputs=[
                {"name": "IMAGE", "type": "IMAGE", "links": [1]},
            ]),
            _node(2, "PixelShuffle", [42, "randomize", "columns"], title="Shuffle, $seed",
                  inputs=[_slot("image", "IMAGE", 1)],
                  outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [2]}]),
            _node(3, "SaveImage", ["shuffled"], inputs=[_slot("images", "IMAGE", 2)],
                  title="$output.image"),
            _node(4, "EmptyLatentImage", [640, 480, 16, 2], title="Latent, $batch_size"),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
    )  # fmt: skip
    folder.mkdir()
    path = folder / "shuffle.json"
    path.write_text(json.dumps(save), encoding="utf-8")
    return path


async def test_server_schemas_convert_a_save_of_that_server(tmp_path: Path) -> None:
    import asyncio
    import importlib.util

    from click.testing import CliRunner

    from comfygen.cli import main
    from tests.fakes import running_fake_comfyui

    _server_save(tmp_path / "workflows")
    out = tmp_path / "gen"
    nodes = {"PixelShuffle": SHUFFLE, "EmptyLatentImage": _newer_empty_latent()}
    runner = CliRunner()
    async with running_fake_comfyui(node_classes=nodes) as server:
        # The command runs its own event loop: a thread keeps the fake (on this loop) serving.
        args = ["build", str(tmp_path / "workflows"), "-o", str(out), "--server", server.base_url]
        built = await asyncio.to_thread(runner.invoke, main, args)
        offline = await asyncio.to_thread(runner.invoke, main, args[:4])
    assert built.exit_code == 0, built.output
    spec = importlib.util.spec_from_file_location("shuffle_module", out / "shuffle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = module._GRAPH
    assert graph["2"] == {
        "inputs": {"seed": 42, "mode": "columns", "image": ["1", 0]},
        "class_type": "PixelShuffle",
        "_meta": {"title": "Shuffle, $seed"},
    }
    assert graph["4"]["inputs"] == {"width": 640, "height": 480, "multiple": 16, "batch_size": 2}
    # Without the server the custom class is unknown, and the build says so.
    assert offline.exit_code == 1
    assert "class 'PixelShuffle' is not among the known node schemas" in offline.output


def test_numbers_are_sent_as_the_editors_json_writes_them() -> None:
    # JavaScript has one number type: 2.0 goes out as 2, and a seed beyond 2**53 as the
    # double the editor holds (JSON.stringify's digits).
    latent = _node(1, "EmptyLatentImage", [512.0, 512, 1])
    noise = _node(2, "RandomNoise", [18446744073709551615, "fixed"])
    graph = _convert(_ui([latent, noise], []))
    assert graph["1"]["inputs"]["width"] == 512 and type(graph["1"]["inputs"]["width"]) is int
    assert graph["2"]["inputs"]["noise_seed"] == 18446744073709552000


def test_dynamic_prompts_as_the_editor_resolves_them() -> None:
    def text(prompt: str) -> Any:
        node = _node(1, "CLIPTextEncode", [prompt], inputs=[_slot("clip", "CLIP")])
        return _ui([node], [])

    assert _convert(text("a {red} cat /* x */ // y"))["1"]["inputs"]["text"] == "a red cat  "
    assert _convert(text(r"keep \{braces\} {same|same}"))["1"]["inputs"]["text"] == (
        "keep {braces} same"
    )
    assert "at random" in _problems(text("a {red|{blue|green}} cat"))[0]


def test_nested_muted_subgraph_still_sends_its_nodes_as_the_editor_does() -> None:
    # SubgraphNode.getInnerNodes looks at the mode of root-level instances only.
    ui = _subgraph_workflow()
    inner = copy.deepcopy(ui["definitions"]["subgraphs"][0])
    outer = _definition("0b5e1a52-0000-4000-8000-000000000002", "Outer")
    outer["nodes"] = [_node(20, inner["id"], [], mode=2)]
    ui["definitions"]["subgraphs"].append(outer)
    ui["nodes"].append(_node(30, outer["id"], []))
    ui["nodes"].append(_node(31, outer["id"], [], mode=2))  # muted at the root: not expanded
    graph = _convert(ui)
    assert "30:20:5" in graph and not any(key.startswith("31:") for key in graph)


async def test_the_fake_serves_the_editor_for_the_recording(tmp_path: Path) -> None:
    # tests/frontend_recording.py runs the real editor against the fake: its static files at
    # /, the user endpoints it asks for at start, and the recorded /object_info.
    import httpx

    from tests.fakes import FakeComfyUI

    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>editor</title>")
    (tmp_path / "assets" / "app.js").write_text("window.app = {}")
    fake = FakeComfyUI(frontend=tmp_path)
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            assert "editor" in (await client.get("/")).text
            assert (await client.get("/assets/app.js")).text == "window.app = {}"
            assert (await client.get("/api/users")).json() == {
                "storage": "server",
                "migrated": True,
            }
            assert (await client.get("/api/settings")).json() == {}
            assert (await client.get("/api/userdata/workflows%2Fa.json")).status_code == 404
            assert "KSampler" in (await client.get("/api/object_info")).json()
            assert (await client.get("/nothing-here")).status_code == 404
    finally:
        await fake.stop()
