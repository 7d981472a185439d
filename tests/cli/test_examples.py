"""`maker examples`: every shipped spec is listed, copies byte for byte without overwriting, and
runs as its own header says on the simulated model, from any folder."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.examples import list_examples

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.joinpath("examples").rglob("*.yaml"), *ROOT.joinpath("configs").rglob("*.yaml")])


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def header_commands(path: Path) -> list[list[str]]:
    """The simulated-model commands in a spec's header comment (continuation lines joined)."""
    header = "\n".join(line[1:] for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    joined = re.sub(r"\\\n\s*", " ", header)
    return [
        shlex.split(line.strip())[1:]
        for line in joined.splitlines()
        if line.strip().startswith("maker ") and "sim:" in line
    ]


def test_every_shipped_file_is_listed_once_with_its_kind():
    r = cli("examples", "list", "--json")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)["examples"]
    assert sorted(e["file"] for e in listed) == sorted(p.relative_to(ROOT).as_posix() for p in SHIPPED)
    names = [e["name"] for e in listed]
    assert len(names) == len(set(names)), names
    kinds = {e["name"]: e["kind"] for e in listed}
    assert kinds["arithmetic"] == "question" and kinds["addition"] == "sequence"
    assert kinds["task_template"] == "template"
    assert all(e["description"] for e in listed)
    table = cli("examples", "list")
    assert all(name in table.stdout for name in names) and "maker examples copy NAME" in table.stdout


def test_copy_writes_the_file_and_never_overwrites_without_force(tmp_path):
    r = cli("examples", "copy", "addition", str(tmp_path / "new" / "folder"))
    target = tmp_path / "new" / "folder" / "addition.yaml"
    assert r.exit_code == 0 and str(target) in r.stdout
    assert target.read_bytes() == (ROOT / "examples" / "sequential" / "addition.yaml").read_bytes()
    target.write_text("my changes", encoding="utf-8")
    again = cli("examples", "copy", "addition.yaml", str(target.parent))
    assert again.exit_code == 2 and "--force" in again.stderr and target.read_text(encoding="utf-8") == "my changes"
    forced = cli("examples", "copy", "addition", str(target.parent), "--force", "--json")
    assert forced.exit_code == 0 and json.loads(forced.stdout) == {
        "name": "addition",
        "kind": "sequence",
        "file": str(target),
    }
    assert target.read_bytes() == (ROOT / "examples" / "sequential" / "addition.yaml").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["examples", "copy", "nope"], "no example named 'nope' (known: "),
        (["examples", "copy", "arithmetic", "/dev/null/x"], "cannot write /dev/null/x/arithmetic.yaml"),
    ],
)
def test_bad_copies_are_one_line_and_exit_2(args, message):
    r = cli(*args)
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.parent.name != "configs"], ids=lambda p: p.stem)
def test_each_example_runs_as_its_header_says_once_copied(path, tmp_path, monkeypatch):
    commands = header_commands(path)
    assert commands, f"{path.name}: its header shows no simulated-model command"
    monkeypatch.chdir(tmp_path)
    assert cli("examples", "copy", path.stem).exit_code == 0
    for words in commands:
        store = ["--store", str(tmp_path / "runs.sqlite")] if words[0] == "run" else []
        r = CliRunner().invoke(app, [*words, *store, "--json"])
        assert r.exit_code == 0, (words, r.output)


def test_the_template_loads_as_a_question_spec(tmp_path):
    copied = tmp_path / "task_template.yaml"
    assert cli("examples", "copy", "task_template", str(tmp_path)).exit_code == 0
    assert maker_cli.load_spec(copied).kind == "question"


def test_example_path_finds_the_bundled_file():
    assert maker_cli.example_path("count_word") == ROOT / "examples" / "sequential" / "count_word.yaml"
    assert [e.name for e in list_examples()][:3] == ["arithmetic", "classify_sentiment", "extract_date"]
