"""`maker calibrate` for people: a progress bar on a terminal, then the report; failed calls, an
unknown price and the written file are said; a result without a recommendation still renders."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

import maker_cli.cli.calibrate as calibrate_command
from maker_cli.cli.app import app
from maker_cli.cli.display.calibrate_view import render
from maker_cli.jobs.calibrate import calibrate_labelled
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.judge import AnswerJudge
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def terminal(monkeypatch) -> Console:
    """`maker calibrate` believes it is on a terminal and draws into this recording console."""
    console = Console(file=io.StringIO(), force_terminal=True, width=160, record=True, color_system=None)
    monkeypatch.setattr(calibrate_command, "is_terminal", lambda: True)
    monkeypatch.setattr(calibrate_command, "out_console", lambda: console)
    return console


def test_a_terminal_shows_a_progress_bar_then_the_report(terminal):
    args = ["calibrate", "hanoi", "--disks", "4", "--samples", "200", "--model", "sim:p=0.9,seed=5"]
    r = cli(*args)
    result = json.loads(cli(*args, "--json").stdout)  # the same seeded calibration, as data
    assert r.exit_code == 0, r.output
    text = terminal.export_text()
    bar, report = text.split("maker calibrate hanoi", 1)
    assert "calibrating" in bar and "failed calls" not in bar
    share = result["correct"] / result["valid"]
    assert re.search(rf"calibrating\W+200/200 p ≈ {share:.4f}", bar), bar[-300:]  # the bar's last frame
    assert report.startswith(", 4 disks, model sim:p=0.9,seed=5 (simulated model: no API calls)")
    assert re.search(rf"^p\s+{result['p']:.4f}\s+\[{result['p_ci'][0]:.4f}, {result['p_ci'][1]:.4f}\]", report, re.M)
    assert f"recommended k = {result['recommended_k']} for P(all 15 steps right) >= 0.95" in report
    assert "(simulated); P(all steps right) = " in report
    assert "calibration written" not in report  # no --out, no file


def test_failed_calls_an_unknown_price_and_the_written_file_are_said(terminal, tmp_path, monkeypatch):
    monkeypatch.setenv("MAKER_MAX_ATTEMPTS", "1")  # a 500 fails the call at once
    out = tmp_path / "cal.json"
    with FakeOpenAIServer(responder=sim_responder("sim:p=0.9,seed=1")) as srv:
        srv.inject("500", times=2)
        r = cli(
            "calibrate", "hanoi", "--disks", "3", "--samples", "40", "--model", "openai/fake",
            "--api-base", srv.base_url, "--out", str(out),
        )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "warning: 2 calls failed after their retries; they are not counted as samples" in r.stderr
    text = terminal.export_text()
    assert re.search(r"calibrating\W+38/40 p ≈ \d\.\d{4}, 2 failed calls", text)  # the bar's last frame
    assert "38 samples at temperature 0.1, one on each of 40 random steps" in text
    assert "; 2 failed calls (not samples), 0 retries;" in text
    assert re.search(r"^cost / call\s+unknown\s+mean\s*$", text, re.M)  # no price for this model
    assert "samples in all, cost unknown (give --price-in/--price-out); P(all steps right)" in text
    written = json.loads(out.read_text())
    assert written["samples"] == 38 and 0 < written["p"] <= 1
    assert (
        f"calibration written to {out} (use it with: maker estimate --calibration {out} --steps N; "
        f"maker run ... --calibration {out})" in text
    )


def test_a_result_without_a_recommendation_renders_its_measures_only():
    """`calibrate_labelled` measures responses already drawn: there is no job, so no recommended k."""
    judge = AnswerJudge({"answer": AnswerField(regex=r"(?P<answer>\d+)")})
    result = calibrate_labelled([("41", "41"), ("42", "41"), ("no number", "41"), ("41", "41")], judge)
    assert result.recommendation is None
    console = Console(file=io.StringIO(), width=160, record=True)
    render(result, console, title="labelled [answers]", probe_name="item")
    text = console.export_text()
    assert text.startswith("maker calibrate labelled [answers], model labelled\n")  # markup shown as text
    assert re.search(r"^p\s+0\.6667\s", text, re.M) and "2 correct of 3 valid samples" in text
    assert re.search(r"^red flags\s+1\s+format: answer pattern not found 1\s*$", text, re.M)
    assert "recommend" not in text and "calibration written" not in text
