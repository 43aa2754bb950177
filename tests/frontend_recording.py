"""The real ComfyUI editor's conversions of the official templates, recorded as test data.

`tests/unit/test_ui_format.py` compares comfygen's UI-format conversion (`comfygen._ui`) with what
the ComfyUI frontend itself sends: every official template (`comfyui-workflow-templates-json`)
loaded into the editor with `app.loadGraphData(...)` on the recorded ComfyUI 0.33.0 schema,
then `(await app.graphToPrompt()).output`. This module finds the templates, reads the recording
and, run as a script, records it again::

    apt-get install -y chromium   # Debian's; Playwright's own browser download is not used
    uv run --group frontend python -m tests.frontend_recording

The script serves the editor (`comfyui-frontend-package`, the version the recorded server ran)
from the fake ComfyUI with the recorded `/object_info`, drives the system chromium headless
through Playwright, and writes `tests/ui_format/frontend-<version>.json.gz`: per template either
the editor's `output`, or the node types the editor does not know (`missing`), or the errors
that stopped it (`errors`); the same for the hand-made editor files of `tests/ui_format/cases`
(`cases`); and per node class the widgets the editor gives a new node of it (`classes`). The
`frontend` dependency group is not installed by default: the test run only reads the recording.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FRONTEND_VERSION = "1.49.6"  # ComfyUI 0.33.0's required_frontend_version
RECORDING = HERE / "ui_format" / f"frontend-{FRONTEND_VERSION}.json.gz"
CASES = HERE / "ui_format" / "cases"  # hand-made editor files, one rule each
TEMPLATE_PACKAGE = "comfyui_workflow_templates_json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Reloading the editor now and then keeps its memory (workflow store, undo history) small.
TEMPLATES_PER_PAGE = 60


def templates_folder() -> tuple[Path | None, str]:
    """The template collection's folder, or None and why there is none."""
    folder = os.environ.get("COMFYGEN_UI_TEMPLATES")
    if folder:
        return Path(folder), ""
    spec = importlib.util.find_spec(TEMPLATE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None, (
            f"the package {TEMPLATE_PACKAGE} (pip: comfyui-workflow-templates-json) is not "
            "importable and COMFYGEN_UI_TEMPLATES is not set"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "templates", ""


def editor_templates() -> dict[str, dict[str, Any]]:
    """The collection's editor (UI-format) workflows by file name, sorted."""
    from comfygen._ui import is_ui_format

    folder, _ = templates_folder()
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if is_ui_format(data):
            found[path.name] = data
    return found


def editor_cases() -> dict[str, dict[str, Any]]:
    """The hand-made editor files by file name, sorted."""
    return {p.name: json.loads(p.read_text("utf-8")) for p in sorted(CASES.glob("*.json"))}


def load_recording() -> dict[str, Any]:
    """The recorded file: `{"frontend", "templates", "results": {name: result}, "cases":
    {name: result}, "classes": {class: widgets}}`."""
    data: dict[str, Any] = json.loads(gzip.decompress(RECORDING.read_bytes()))
    return data


# -- recording (needs the `frontend` dependency group and chromium) ----------------------------

# What `loadGraphData` reports: the missing node types (afterConfigureGraph), or, when the
# workflow does not configure, nothing (it logs the error and returns without that call).
_SETUP = """() => {
  window.__recorder = { configured: false, missing: [], errors: [] };
  app.registerExtension({
    name: 'comfygen.recorder',
    afterConfigureGraph(missing) {
      window.__recorder.configured = true;
      window.__recorder.missing = (missing || []).map((m) => typeof m === 'string' ? m : m.type);
    },
  });
  const error = console.error.bind(console);
  console.error = (...args) => {
    window.__recorder.errors.push(args.map((a) => String((a && a.stack) || a)).join(' '));
    error(...args);
  };
}"""

# A template is opened as the editor opens a file: under its file name (with no name, the
# editor may reopen a workflow it already has instead of loading the new one).
_CONVERT = """async ([name, text]) => {
  const workflow = JSON.parse(text);  // as the editor reads a file
  const recorder = window.__recorder;
  Object.assign(recorder, { configured: false, missing: [], errors: [] });
  const options = { skipAssetScans: true, deferWarnings: true };
  try {
    await app.loadGraphData(workflow, true, true, name, options);
  } catch (error) {  // a file the editor cannot even start to load
    return { errors: [String((error && error.stack) || error)] };
  }
  if (!recorder.configured) return { errors: [...recorder.errors] };
  const missing = [...new Set(recorder.missing)].sort();
  if (missing.length) return { missing };
  const result = {};
  try {
    result.output = (await app.graphToPrompt()).output;
  } catch (error) {
    result.errors = [String((error && error.stack) || error)];
  }
  return result;
}"""


# Every node class as the editor creates it: its title and its widgets in order, each as
# [name, widget type, saved in widgets_values, sent to the server, initial value]; a dynamic
# combo's widgets once for each of its options.
_WIDGETS = """() => {
  const plain = (value) => {
    if (value === undefined) return null;
    try { return JSON.parse(JSON.stringify(value)); } catch (error) { return String(value); }
  };
  const layout = (node) => (node.widgets || []).map((w) => [
    w.name, String(w.type), w.serialize !== false, !(w.options && w.options.serialize === false),
    plain(w.value),
  ]);
  const classes = {};
  for (const [type, ctor] of Object.entries(LiteGraph.registered_node_types)) {
    const data = ctor.nodeData;
    if (!data || !data.python_module) continue;  // the editor's own nodes (notes, reroutes)
    const node = LiteGraph.createNode(type);
    if (!node) continue;
    const entry = { title: node.title, widgets: layout(node) };
    for (const spec of Object.values(data.inputs || {})) {
      if (spec.type !== 'COMFY_DYNAMICCOMBO_V3') continue;
      entry.options = entry.options || {};
      entry.options[spec.name] = {};
      for (const option of spec.options || []) {
        const probe = LiteGraph.createNode(type);
        const combo = probe.widgets.find((w) => w.name === spec.name);
        combo.value = option.key;
        entry.options[spec.name][option.key] = layout(probe);
      }
    }
    classes[type] = entry;
  }
  return classes;
}"""


async def _record(
    templates: dict[str, dict[str, Any]], cases: dict[str, dict[str, Any]], static: Path
) -> dict[str, Any]:
    from playwright.async_api import Page, async_playwright

    from tests.fakes import FakeComfyUI

    results: dict[str, Any] = {}
    recorded_cases: dict[str, Any] = {}
    classes: dict[str, Any] = {}

    async def open_editor(page: Page) -> None:
        await page.goto(fake.base_url + "/")
        await page.wait_for_function(
            "() => window.app && window.app.vueAppReady && window.app.rootGraph", timeout=120_000
        )
        await page.evaluate(_SETUP)

    fake = FakeComfyUI(frontend=static)
    await fake.start()
    try:
        async with async_playwright() as playwright:
            with tempfile.TemporaryDirectory(
                prefix="comfygen-chromium-", ignore_cleanup_errors=True
            ) as profile:
                browser = await playwright.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
                )
                page = browser.pages[0] if browser.pages else await browser.new_page()
                # The editor keeps its open workflows in the browser's storage and restores
                # the last one when it starts, on top of the next template: it starts empty.
                await page.add_init_script("localStorage.clear(); sessionStorage.clear();")
                await open_editor(page)
                classes = await page.evaluate(_WIDGETS)
                workflows = [(results, templates), (recorded_cases, cases)]
                jobs = [(into, n, w) for into, named in workflows for n, w in named.items()]
                for count, (into, name, workflow) in enumerate(jobs):
                    if count % TEMPLATES_PER_PAGE == 0:
                        await open_editor(page)
                    result = await page.evaluate(_CONVERT, [name, json.dumps(workflow)])
                    if not _loaded(workflow, result):
                        raise RuntimeError(f"{name}: the editor sent another workflow")
                    into[name] = result
                    state = "ok" if "output" in result else ", ".join(result)
                    print(f"{count + 1:4}/{len(jobs)} {name} {state}", flush=True)
                await browser.close()
    finally:
        await fake.stop()
    return {"classes": classes, "results": results, "cases": recorded_cases}


def _loaded(template: dict[str, Any], result: dict[str, Any]) -> bool:
    """The editor converted this template, not one it had open before."""
    types = {str(node.get("id")): node.get("type") for node in template.get("nodes", [])}
    text = json.dumps(template)
    if any(json.dumps(missing) not in text for missing in result.get("missing", [])):
        return False
    return all(
        types.get(node_id) == node["class_type"]
        for node_id, node in result.get("output", {}).items()
        if ":" not in node_id
    )


def main() -> int:
    import comfyui_frontend_package

    from tests.fakes import _data

    version = comfyui_frontend_package.__version__
    required = _data.SYSTEM_STATS["system"]["required_frontend_version"]
    if version != FRONTEND_VERSION or required != FRONTEND_VERSION:
        print(f"comfyui-frontend-package {version}; the recording is of {FRONTEND_VERSION}")
        return 2
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    templates = editor_templates()
    folder, why = templates_folder()
    if not templates:
        print(why or f"no editor workflows under {folder}", file=sys.stderr)
        return 2
    from importlib.metadata import version as installed

    static = Path(comfyui_frontend_package.__file__).parent / "static"
    recorded = asyncio.run(_record(templates, editor_cases(), static))
    results = recorded["results"]
    document = {
        "frontend": version,
        "templates": installed("comfyui-workflow-templates-json"),
        "schema": "ComfyUI 0.33.0 /object_info (tests/fakes/data/object_info_full.json.gz)",
        **recorded,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    RECORDING.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    converted = sum("output" in result for result in results.values())
    print(
        f"wrote {RECORDING}: {len(recorded['classes'])} node classes, {len(results)} "
        f"templates, {converted} converted by the editor"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
