"""The one `--json` rule (docs/concepts.md, "Machine-readable output"): a command that reached a
result prints it as one JSON object whatever its exit code; a command that failed before it had a
result prints nothing on stdout and one `error:` line on stderr."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app


def cli(*args: str):
    return CliRunner().invoke(app, [*args, "--json"])


def store(tmp_path) -> list[str]:
    return ["--store", str(tmp_path / "s.sqlite")]


@pytest.mark.parametrize(
    ("args", "code", "field", "value"),
    [
        (
            [
                "vote",
                "--prompt",
                "q",
                "--model",
                "sim:p=0.51,answer=x,errors=spread,seed=1",
                "--k",
                "4",
                "--max-samples",
                "4",
            ],
            3,
            "stopped",
            "sample_cap",
        ),
        (["run", "hanoi", "--disks", "4", "--model", "sim:p=0.7,seed=3", "--k", "1"], 1, "status", "failed"),
        (
            ["run", "hanoi", "--disks", "4", "--model", "sim:p=0.6,seed=3", "--k", "5", "--max-samples", "6"],
            3,
            "status",
            "undecided",
        ),
        (
            [
                "run",
                "hanoi",
                "--disks",
                "4",
                "--model",
                "sim:p=0.9,seed=3",
                "--price-in",
                "1000",
                "--price-out",
                "1000",
                "--max-cost",
                "0.5",
                "--yes",
            ],
            4,
            "status",
            "budget_exhausted",
        ),
        (["calibrate", "hanoi", "--model", "sim:p=0.4,seed=1", "--disks", "3", "--samples", "200"], 1, "p", None),
    ],
)
def test_a_result_is_printed_whatever_the_exit_code(tmp_path, args, code, field, value):
    r = cli(*args, *(store(tmp_path) if args[0] == "run" else []))
    assert r.exit_code == code, r.output
    out = json.loads(r.stdout)
    if value is None:
        assert out["cannot_converge"] and "cannot converge" in r.stderr
    else:
        assert out[field] == value


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "--steps", "10", "--p", "0.4"],
        ["estimate", "--steps", "10", "--p", "0.9", "--bogus"],
        ["vote", "--prompt", "q", "--model", "sim:p=2"],
        ["vote", "--task", "/nonexistent.yaml", "--model", "sim"],
        ["run", "hanoi", "--disks", "99", "--model", "sim"],
        ["run", "hanoi", "--resume", "r-nope", "--model", "sim"],
        ["calibrate", "hanoi", "--model", "sim", "--samples", "0"],
        ["runs", "show", "r-nope"],
    ],
)
def test_an_error_before_a_result_leaves_stdout_empty(tmp_path, args):
    r = cli(*args, *(store(tmp_path) if args[0] in ("run", "runs") else []))
    assert r.exit_code in (1, 2) and r.stdout == "", r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr


def test_run_json_says_the_run_id_on_stderr_as_it_starts(tmp_path):
    r = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.99,seed=1", *store(tmp_path))
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and r.stderr.startswith(f"started run {out['run_id']} at step 0 (store: ")
