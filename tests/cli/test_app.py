"""The `maker` command itself: help without importing the commands, one line per usage error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHECK = """
import sys
from maker_cli.cli.app import main
sys.argv = ["maker", "--help"]
try:
    main()
except SystemExit as exit:
    code = exit.code
loaded = sorted(m for m in sys.modules if m.startswith("maker_cli.cli.") or m in ("litellm", "mcp"))
print(code, loaded)
"""


def maker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maker_cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "COLUMNS": "100",
            "PATH": "",
            "HOME": "/nonexistent-home",
            **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
        },
    )


def test_help_lists_every_command_without_importing_them():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    code, loaded = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert code == "0", out.stderr
    assert loaded == "['maker_cli.cli.app', 'maker_cli.cli.output']"  # no command module, no litellm, no mcp
    listing = maker("--help").stdout
    for name in ("estimate", "calibrate", "vote", "run", "runs", "serve-mcp"):
        assert f" {name} " in listing
    verbose = next(line for line in listing.splitlines() if "--verbose" in line)
    assert "-v" in verbose and "<int>" not in verbose, verbose  # a count flag (-v, -vv) takes no value


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["bogus"], "error: No such command 'bogus'. (see maker --help)"),
        (["vote", "--bogus"], "error: No such option: --bogus (see maker vote --help)"),
        (["estimate", "--steps", "x"], "error: Invalid value for '--steps' / '-s'"),
        (["vote", "--prompt", "q", "--k", "0"], "error: Invalid value for '--k' / '-k'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, text):
    out = maker(*args)
    assert out.returncode == 2
    assert out.stderr.startswith(text) and out.stderr.count("\n") == 1, out.stderr
    assert "╭" not in out.stderr and "Traceback" not in out.stderr


def test_a_group_alone_shows_its_help():
    out = maker("run")
    assert out.returncode == 2 and "hanoi" in out.stdout and "error" not in out.stderr


def test_version():
    out = maker("--version")
    assert out.returncode == 0 and out.stdout.startswith("maker 0.")
