"""More of what a YAML or text file may not be: too large as text, too many aliases, not UTF-8,
characters YAML refuses, unreadable paths, files that grow past the limit while read; and the
YAML features that stay allowed (merge keys)."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from maker_cli.bounded_yaml import MAX_ALIASES, MAX_BYTES, parse_yaml, read_text_file, read_yaml_file
from maker_cli.cli.app import app
from maker_cli.errors import SpecError


def refusal(text: str) -> str:
    with pytest.raises(SpecError) as error:
        parse_yaml(text, "x.yaml")
    return str(error.value)


def test_text_over_the_size_limit_is_refused_before_parsing():
    assert refusal("x: " + "é" * (MAX_BYTES // 2)) == "x.yaml: larger than 4 MiB (the limit for YAML files)"


def test_more_aliases_than_the_limit_are_refused():
    many = ", ".join(["*v"] * (MAX_ALIASES + 1))
    assert refusal(f"v: &v 1\nall: [{many}]\n").startswith(
        f"x.yaml: refused at line 2, column {len('all: [') + 1 + 4 * MAX_ALIASES}: more than {MAX_ALIASES} aliases"
    )


def test_a_character_yaml_does_not_accept_is_one_line(tmp_path, monkeypatch):
    """The regression: a control character in a spec or config file was 'internal error: ReaderError', exit 1."""
    message = "YAML error: unacceptable character #x0007: special characters are not allowed"
    assert refusal("name: bell\x07\n") == f"x.yaml: {message}"
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: bell\x07\n", encoding="utf-8")
    config = tmp_path / "maker.yaml"
    config.write_text("k: 3\x07\n", encoding="utf-8")
    for args, path in (
        (["vote", "--task", str(spec), "--model", "sim:p=0.9"], spec),
        (["--config", str(config), "estimate", "--steps", "10", "--p", "0.9"], config),
    ):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2 and r.stderr == f"error: {path}: {message}\n", r.output


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("note: 2021-02-30\n", "day is out of range for month"),
        ("note: 2021-13-01\n", "month must be in 1..12"),
        ('k: !!int "three"\n', "invalid literal for int() with base 10: 'three'"),
    ],
)
def test_a_value_yaml_reads_as_a_date_or_number_but_cannot_build_is_one_line(tmp_path, text, problem):
    """The regression: `2021-02-30` in a config or spec file was 'internal error: ValueError', exit 1."""
    assert refusal(text) == f"x.yaml: YAML value error: {problem} (quote the value to keep it as text)"
    config = tmp_path / "maker.yaml"
    config.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(app, ["--config", str(config), "estimate", "--steps", "10", "--p", "0.9"])
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {config}: YAML value error: "), r.output


def test_a_key_that_is_a_list_is_a_syntax_error_not_a_crash():
    assert refusal("? [1, 2]\n: v\n").startswith("x.yaml: YAML syntax error at line 1, column 3: found unhashable key")


def test_merge_keys_still_work():
    assert parse_yaml("base: &b {k: 3, j: 1}\nother:\n  <<: *b\n  j: 2\n", "ok.yaml")["other"] == {"k": 3, "j": 2}


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(SpecError, match=f"^{path}: not UTF-8 text$"):
        read_yaml_file(path)


def test_a_path_the_system_refuses_is_one_line(tmp_path):
    path = tmp_path / ("x" * 300) / "spec.yaml"
    with pytest.raises(SpecError, match=r"^.*spec\.yaml: cannot read spec \(File name too long\)$"):
        read_text_file(path, "spec")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_a_file_larger_than_its_reported_size_is_still_bounded():
    """/proc files report a size of 0 and then hold more: the read itself stops at the limit."""
    with pytest.raises(SpecError, match=r"^/proc/self/status: over the 10-byte limit for a status file$"):
        read_text_file("/proc/self/status", "status file", limit=10)
