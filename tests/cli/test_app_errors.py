"""How `maker` ends when a command fails: one red line and the documented exit code, a traceback
only with MAKER_DEBUG=1, nothing at all when the reader of a pipe leaves."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

import maker_cli.cli.estimate as estimate_command
from maker_cli.cli.app import app, main
from maker_cli.errors import BudgetExceeded, SpecError

ESTIMATE = ["maker", "estimate", "--steps", "10", "--p", "0.99"]


def failing(exc: BaseException):
    def run_estimate(*args, **kwargs):
        raise exc

    return run_estimate


def run_main(monkeypatch, capsys, argv=ESTIMATE) -> tuple[int | str | None, str, str]:
    """`maker ARGS` in-process, as the console script runs it: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as ended:
        main()
    out = capsys.readouterr()
    return ended.value.code, out.out, out.err


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (SpecError("task.yaml: answer.regex: bad"), 2, "error: task.yaml: answer.regex: bad"),
        (BudgetExceeded("expected $12.00 is over --max-cost $10.00"), 1, "error: expected $12.00 is over --max-cost"),
        (KeyboardInterrupt(), 130, "error: interrupted"),
        (
            ZeroDivisionError("float division by zero"),
            1,
            "error: internal error: ZeroDivisionError: float division by zero (set MAKER_DEBUG=1 for the traceback)",
        ),
    ],
)
def test_a_failing_command_ends_with_one_line_and_its_exit_code(monkeypatch, capsys, exc, code, line):
    monkeypatch.setattr(estimate_command, "run_estimate", failing(exc))
    status, out, err = run_main(monkeypatch, capsys)
    assert status == code and out == ""
    assert err.startswith(line) and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_an_abort_ends_with_exit_130_and_a_broken_pipe_with_exit_0_in_silence(monkeypatch, capsys):
    """typer.Abort is how a prompt answered with Ctrl-D ends; a BrokenPipeError while stdout is not a
    file descriptor (maker embedded, stdout replaced) still ends quietly."""
    monkeypatch.setattr(estimate_command, "run_estimate", failing(typer.Abort()))
    assert run_main(monkeypatch, capsys) == (130, "", "")
    monkeypatch.setattr(estimate_command, "run_estimate", failing(BrokenPipeError(32, "Broken pipe")))
    assert run_main(monkeypatch, capsys) == (0, "", "")


def test_called_as_a_library_a_failure_returns_its_exit_code(capsys):
    """`standalone_mode=False`: no sys.exit; the command's value (None) or the exit code comes back."""
    command = typer.main.get_command(app)
    assert command.main(["estimate", "--steps", "10", "--p", "0.99", "--json"], standalone_mode=False) is None
    assert capsys.readouterr().out.startswith("{")
    assert command.main(["estimate", "--steps", "x"], standalone_mode=False) == 2
    assert capsys.readouterr().err.startswith("error: Invalid value for '--steps'")


def test_with_typer_s_rich_output_off_maker_alone_prints_the_plain_help():
    """TYPER_USE_RICH=0: the help comes as plain text (through the no-arguments error), exit 2."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MAKER_")}, "TYPER_USE_RICH": "0"}
    out = subprocess.run([sys.executable, "-m", "maker_cli"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and out.stderr == ""
    assert out.stdout.startswith("Usage: maker [OPTIONS] COMMAND [ARGS]...")
    assert all(f"  {name} " in out.stdout for name in ("estimate", "calibrate", "vote", "run", "runs", "serve-mcp"))


def test_a_bug_never_prints_a_secret_it_carries(monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key-1234567")
    monkeypatch.setattr(estimate_command, "run_estimate", failing(RuntimeError("bad key not-a-real-key-1234567")))
    status, _, err = run_main(monkeypatch, capsys)
    assert status == 1 and "not-a-real-key-1234567" not in err and "[redacted]" in err


@pytest.mark.parametrize("exc", [ZeroDivisionError("float division by zero"), SpecError("task.yaml: bad")])
def test_maker_debug_lets_the_exception_through_for_its_traceback(monkeypatch, capsys, exc):
    monkeypatch.setenv("MAKER_DEBUG", "1")
    monkeypatch.setattr(estimate_command, "run_estimate", failing(exc))
    monkeypatch.setattr(sys, "argv", ESTIMATE)
    with pytest.raises(type(exc)):
        main()
    assert "error:" not in capsys.readouterr().err


def test_an_interrupt_under_maker_debug_still_exits_130(monkeypatch, capsys):
    monkeypatch.setenv("MAKER_DEBUG", "1")
    monkeypatch.setattr(estimate_command, "run_estimate", failing(KeyboardInterrupt()))
    status, _, err = run_main(monkeypatch, capsys)
    assert status == 130 and "error:" not in err


def test_an_interrupt_before_any_command_runs_exits_130(monkeypatch, capsys):
    import maker_cli.cli.app as app_module

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(app_module, "app", interrupted)
    status, out, err = run_main(monkeypatch, capsys)
    assert status == 130 and out == err == ""


def test_a_reader_that_leaves_the_pipe_early_ends_maker_quietly():
    """`maker estimate ... --json | head -c0`: the write fails with a broken pipe; maker exits 0
    with nothing on stderr (no 'Exception ignored ... BrokenPipeError')."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAKER_")},
        "COLUMNS": "100",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "maker_cli", "estimate", "--steps", "1000", "--p", "0.99", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # the reader leaves before maker writes anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == ""
