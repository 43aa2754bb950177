"""Package boundaries: explicit, sorted, complete exports; a light `import comfygen`; the
compiler uses only the runtime's public names."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from types import ModuleType

import comfygen_runtime
import pytest

import comfygen
from tests.conftest import ROOT

COMPILER_MODULES = sorted(path.stem for path in (ROOT / "comfygen").glob("*.py"))


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions and variables.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name


@pytest.mark.parametrize("package", [comfygen, comfygen_runtime], ids=lambda p: p.__name__)
def test_package_exports_are_sorted_and_complete(package: ModuleType) -> None:
    exported = list(package.__all__)
    assert exported == sorted(exported, key=_isort_key)
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(exported) == public


@pytest.mark.parametrize("name", COMPILER_MODULES)
def test_every_compiler_module_declares_its_exports(name: str) -> None:
    module = importlib.import_module(f"comfygen.{name}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"comfygen/{name}.py has no __all__"
    assert exported == sorted(exported, key=_isort_key)
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == []


@pytest.mark.parametrize("name", COMPILER_MODULES)
def test_the_compiler_imports_no_private_runtime_name(name: str) -> None:
    tree = ast.parse((ROOT / "comfygen" / f"{name}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("comfygen_runtime"):
            assert node.module == "comfygen_runtime", f"{name}: from {node.module} import ..."
            assert all(not alias.name.startswith("_") for alias in node.names)
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("comfygen_runtime."), f"{name}: {alias.name}"


def test_the_dynamic_api_imports_nothing_only_the_compiler_needs() -> None:
    # A fresh interpreter: `from comfygen import ComfyKit` must not load the template
    # engine nor the rendering and CLI modules (issue 13: it took 2 s with them).
    code = (
        "import sys, comfygen\n"
        "from comfygen import ComfyKit\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "comfygen._dynamic" in loaded and "comfygen_runtime" in loaded
    heavy = {"jinja2", "markupsafe", "libcst", "comfygen._render", "comfygen._layout",
             "comfygen._literals", "comfygen.cli", "comfygen._ui"}  # fmt: skip
    assert loaded & heavy == set()
