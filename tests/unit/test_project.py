"""RunningHub ids attached to workflow files: pyproject.toml, comfygen.toml, --runninghub-id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from comfygen._project import ProjectConfigError, load_runninghub_ids
from comfygen.cli import main
from tests.conftest import ROOT, node

GRAPH = {"1": node("PrimitiveString", "$text.value!", value="x"),
         "2": node("PreviewAny", "$output.preview", source=["1", 0])}  # fmt: skip


def _workflow(folder: Path) -> Path:
    path = folder / "workflows" / "wf.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(GRAPH), encoding="utf-8")
    return path


def test_pyproject_table(tmp_path: Path) -> None:
    wf = _workflow(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n[tool.comfygen.runninghub]\n"workflows/wf.json" = "123"\n'
    )
    assert load_runninghub_ids(wf.parent) == {wf.resolve(): "123"}


def test_comfygen_toml_wins_in_its_folder_and_the_nearest_folder_wins(tmp_path: Path) -> None:
    wf = _workflow(tmp_path / "inner")
    (tmp_path / "pyproject.toml").write_text('[tool.comfygen.runninghub]\n"x.json" = "1"\n')
    (tmp_path / "inner" / "comfygen.toml").write_text('[runninghub]\n"workflows/wf.json" = "7"\n')
    assert load_runninghub_ids(wf.parent) == {wf.resolve(): "7"}
    assert load_runninghub_ids(tmp_path) == {(tmp_path / "x.json").resolve(): "1"}


def test_a_pyproject_without_the_table_is_skipped(tmp_path: Path) -> None:
    wf = _workflow(tmp_path / "app")
    (tmp_path / "app" / "pyproject.toml").write_text('[project]\nname = "app"\n')
    (tmp_path / "comfygen.toml").write_text('[runninghub]\n"app/workflows/wf.json" = "9"\n')
    assert load_runninghub_ids(wf.parent) == {wf.resolve(): "9"}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("comfygen.toml", '[runninghub]\n"a.json" = "abc"\n', "[runninghub] 'a.json' = 'abc'"),
        ("comfygen.toml", "runninghub = 3\n", "[runninghub] must map workflow paths to ids"),
        ("pyproject.toml", "[tool.comfygen]\nrunninghub = [1]\n", "[tool.comfygen.runninghub]"),
        ("comfygen.toml", "[runninghub\n", "not valid TOML"),
    ],
)
def test_malformed_settings_say_where(tmp_path: Path, name: str, text: str, expected: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ProjectConfigError) as caught:
        load_runninghub_ids(tmp_path)
    assert str(tmp_path / name) in str(caught.value) and expected in str(caught.value)


def test_build_records_the_ids_of_its_folder(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = _workflow(tmp_path)
    (tmp_path / "comfygen.toml").write_text('[runninghub]\n"workflows/wf.json" = "555"\n')
    monkeypatch.chdir(tmp_path)
    outcome = CliRunner().invoke(main, ["build", "workflows", "-o", "gen"])
    assert outcome.exit_code == 0, outcome.output
    assert 'runninghub_id="555"' in (tmp_path / "gen" / "wf.py").read_text()
    flag = CliRunner().invoke(
        main, ["build", "workflows", "-o", "gen2", "--runninghub-id", f"{wf}=556"]
    )
    assert flag.exit_code == 0 and 'runninghub_id="556"' in (tmp_path / "gen2/wf.py").read_text()
    # Built from a folder outside it, its settings do not apply.
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    elsewhere = CliRunner().invoke(main, ["build", str(wf), "-o", str(tmp_path / "gen3")])
    assert elsewhere.exit_code == 0 and "runninghub_id" not in (tmp_path / "gen3/wf.py").read_text()


def test_the_repository_examples_keep_their_fake_ids_to_themselves(tmp_path: Path) -> None:
    # A newcomer building the examples from the repository root gets no fake RunningHub ids.
    root = ROOT
    assert load_runninghub_ids(root) == {}
    assert set(load_runninghub_ids(root / "examples").values()) == {"1987654321", "1987654322"}
