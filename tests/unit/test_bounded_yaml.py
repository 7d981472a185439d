"""YAML nobody vouched for is bounded: size, depth, aliases; each refusal is one line naming the limit."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from maker_cli.bounded_yaml import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_NODES, parse_yaml
from maker_cli.cli.app import app
from maker_cli.errors import SpecError


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(width))}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(
        SpecError, match=f"more than ({MAX_NODES:,} values once aliases are expanded|{MAX_ALIASES} aliases)"
    ):
        parse_yaml(bomb(), "bomb.yaml")
    assert time.perf_counter() - start < 1.0


def test_a_few_aliases_still_work():
    assert parse_yaml("base: &b {k: 3}\nother: *b\n", "ok.yaml") == {"base": {"k": 3}, "other": {"k": 3}}


def test_an_alias_that_contains_itself_is_refused():
    with pytest.raises(SpecError, match="contains it"):
        parse_yaml("a: &x [1, *x]\n", "loop.yaml")


def test_deep_nesting_is_refused_before_recursion_fails():
    text = "x: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(SpecError, match=f"nested more than {MAX_DEPTH} levels"):
        parse_yaml(text, "deep.yaml")
    parse_yaml("x: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n", "ok.yaml")


def test_a_huge_file_is_refused_without_parsing(tmp_path):
    from maker_cli.bounded_yaml import read_yaml_file

    path = tmp_path / "big.yaml"
    path.write_text("x: " + "a" * (MAX_BYTES + 10) + "\n", encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(SpecError, match="over the 4,194,304-byte limit"):
        read_yaml_file(path)
    assert time.perf_counter() - start < 1.0


def test_special_files_and_folders_are_refused(tmp_path):
    from maker_cli.bounded_yaml import read_yaml_file

    with pytest.raises(SpecError, match="not a regular file"):
        read_yaml_file("/dev/zero")
    with pytest.raises(SpecError, match="is a folder"):
        read_yaml_file(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (bomb(), "refused"),
        ("name: x\ninitial_state: " + "[" * 200 + "]" * 200 + "\n", "nested more than"),
        ("name: a\nname: b\n", "duplicate key 'name'"),
    ],
)
def test_spec_files_over_the_limits_exit_2_in_one_line(tmp_path, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    for args in (["run", "task", str(path), "--validate"], ["vote", "--task", str(path), "--model", "sim:answer=1"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2 and message in r.output and r.output.count("\n") == 1, r.output


def test_a_config_file_that_is_a_list_or_a_bomb_is_one_line(tmp_path, monkeypatch):
    for text, message in (("- a\n- b\n", "a config file is a mapping"), (bomb(), "refused")):
        path = tmp_path / "maker.yaml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("MAKER_CONFIG", str(path))
        r = CliRunner().invoke(app, ["estimate", "--steps", "10", "--p", "0.9"])
        assert r.exit_code == 2 and message in r.output and r.output.count("\n") == 1, r.output
