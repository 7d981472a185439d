"""Reference solvers a spec can name: maker's own, those installed by packages (entry points in
`maker_cli.solvers`), and a trusted file next to the spec; every failure one line naming the spec."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import SpecError
from maker_cli.tasks import solvers
from maker_cli.tasks.solvers import ENTRY_POINT_GROUP, available, resolve

ROOT = Path(__file__).resolve().parents[3]
ADDITION = ROOT / "examples" / "sequential" / "addition.yaml"


@pytest.fixture
def installed(monkeypatch):
    """Packages that registered solvers: a working one, one whose module is gone, one that is not a function."""
    points = [
        EntryPoint("column_addition", "maker_cli.tasks.solvers.addition:solve", ENTRY_POINT_GROUP),
        EntryPoint("broken", "maker_plugin_that_is_not_installed.solve:solve", ENTRY_POINT_GROUP),
        EntryPoint("constant", "maker_cli.tasks.solvers:ENTRY_POINT_GROUP", ENTRY_POINT_GROUP),
        EntryPoint("addition", "someone_else:solve", ENTRY_POINT_GROUP),  # cannot shadow maker's own
        EntryPoint("unrelated", "x:y", "console_scripts"),
    ]

    def entry_points(*, group: str):
        return [point for point in points if point.group == group]

    monkeypatch.setattr(solvers, "entry_points", entry_points)


def spec_naming(folder: Path, reference: str) -> Path:
    data = yaml.safe_load(ADDITION.read_text(encoding="utf-8"))
    data["reference"] = reference
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_an_installed_solver_is_listed_and_runs_a_spec(installed, tmp_path):
    names = available()
    assert names["column_addition"] == "maker_cli.tasks.solvers.addition:solve"
    assert names["addition"] == "maker" and "unrelated" not in names
    spec = spec_naming(tmp_path, "column_addition")
    r = CliRunner().invoke(app, ["run", "task", str(spec), "--validate", "--input", "a=99", "--input", "b=1"])
    assert r.exit_code == 0, r.output
    assert "steps: 3 (the reference solver's path)" in r.output  # 99 + 1: three columns, walked by the plugin
    assert "reference: column_addition — imports" in r.output


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            "broken",
            "spec.yaml: reference: solver 'broken' (maker_plugin_that_is_not_installed.solve:solve) cannot be "
            "loaded: ModuleNotFoundError: No module named 'maker_plugin_that_is_not_installed'",
        ),
        ("constant", "spec.yaml: reference: constant is not a function"),
        (
            "nothing_by_this_name",
            "spec.yaml: reference: no solver named 'nothing_by_this_name' (registered: addition, broken, "
            "bubble_sort, column_addition, constant, count_word)",
        ),
    ],
)
def test_an_installed_solver_that_cannot_be_used_is_one_line(installed, reference, message):
    with pytest.raises(SpecError) as error:
        resolve(reference, spec_dir=None, trust_code=False, source="spec.yaml")
    assert str(error.value).startswith(message)


def test_maker_s_own_solvers_answer_to_their_old_module_paths_too():
    from maker_cli.tasks.solvers import addition

    for reference in ("addition", "maker_cli.solvers.addition:solve", "maker_cli.tasks.solvers.addition:solve"):
        assert resolve(reference, spec_dir=None, trust_code=False) is addition.solve


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("../outside.py:solve", None, "reference: ../outside.py is outside the spec's folder"),
        ("absent.py:solve", None, "reference: no file absent.py next to the spec"),
        ("raises.py:solve", "1 / 0\n", "reference: cannot import raises.py (ZeroDivisionError: division by zero)"),
        ("syntax.py:solve", "def solve(:\n", "reference: cannot import syntax.py (SyntaxError: "),
        ("empty.py:solve", "", "reference: empty.py:solve is not a function"),
    ],
)
def test_a_trusted_solver_file_that_cannot_be_used_is_one_line(tmp_path, file, content, message):
    folder = tmp_path / "specs"
    folder.mkdir()
    (tmp_path / "outside.py").write_text("def solve(state, step, inputs):\n    return 0, state\n", encoding="utf-8")
    if content is not None:
        (folder / file.split(":")[0]).write_text(content, encoding="utf-8")
    before = set(sys.modules)
    with pytest.raises(SpecError) as error:
        resolve(file, spec_dir=folder, trust_code=True, source="spec.yaml")
    assert str(error.value).startswith(f"spec.yaml: {message}"), str(error.value)
    if "cannot import" in message:  # a file that fails half-way leaves no module behind
        assert not any(name.startswith("maker_spec_solver_") for name in set(sys.modules) - before)


def test_a_solver_file_that_links_to_something_python_cannot_load_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("def solve(state, step, inputs):\n    return 0, state\n", encoding="utf-8")
    (tmp_path / "linked.py").symlink_to(tmp_path / "notes.txt")
    with pytest.raises(
        SpecError, match=r"^spec\.yaml: reference: cannot import linked\.py \(ImportError: cannot load "
    ):
        resolve("linked.py:solve", spec_dir=tmp_path, trust_code=True, source="spec.yaml")
