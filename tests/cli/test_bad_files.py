"""Files given on the command line that cannot be used: one line naming the file and why, exit 2
(the regressions: PermissionError tracebacks, '@dir' said "file not found", /dev/zero read for ever)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
ADDITION = str(ROOT / "examples" / "sequential" / "addition.yaml")


def one_error_line(r, *words: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("value", "why"),
    [("@/dev/zero", "not a regular file"), ("@{dir}", "is a folder"), ("@{dir}/missing.txt", "no such file")],
)
def test_input_files_that_cannot_be_read(tmp_path, value, why):
    r = CliRunner().invoke(
        app,
        [
            "run",
            "task",
            ADDITION,
            "--input",
            "a=" + value.format(dir=tmp_path),
            "--model",
            "sim",
            "--store",
            str(tmp_path / "s.sqlite"),
        ],
    )
    one_error_line(r, "--input a", why)


def test_an_unreadable_input_file(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("123", encoding="utf-8")
    secret.chmod(0)
    if os.access(secret, os.R_OK):  # root reads anything: have the open fail as it would for a user
        import builtins

        real_open = builtins.open

        def refuse(file, *args, **kwargs):
            if str(file) == str(secret):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refuse)
    r = CliRunner().invoke(app, ["run", "task", ADDITION, "--input", f"a=@{secret}", "--model", "sim"])
    one_error_line(r, "--input a", "Permission denied")


@pytest.mark.parametrize(
    "args",
    [
        ["vote", "--task", "/dev/zero", "--model", "sim"],
        ["run", "task", "/dev/zero", "--validate"],
        ["calibrate", "task", "/dev/zero", "--model", "sim"],
    ],
)
def test_a_special_file_as_a_spec(args):
    one_error_line(CliRunner().invoke(app, args), "/dev/zero", "not a regular file")


def test_an_answer_regex_without_its_named_group_is_refused_before_sampling():
    """The regression: accepted, then every sample red-flagged (201 of them) and the vote undecided."""
    r = CliRunner().invoke(app, ["vote", "--prompt", "q", "--answer-regex", r"Answer: (\w+)", "--model", "sim"])
    one_error_line(r, "--answer-regex", "(?P<answer>")
