"""`maker estimate --plot` / `--plot-file FILE`: the sweep over k as a chart (expected cost or
calls, and P(success), against k, k_min marked), in the terminal or into a .txt or .html file;
any other file, a missing plotting library or --plot with --json is one line, exit 2."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from maker_cli.cli import estimate as estimate_command
from maker_cli.cli.app import app
from maker_cli.cli.display.sweep_plot import sweep_series, text_chart
from maker_cli.jobs.estimate import estimate

JOB = ("--steps", "1023", "--p", "0.85")
PRICED = ("--model", "gpt-4.1-mini", "--output-tokens", "500", "--input-tokens", "300")


def run(*args: str):
    return CliRunner().invoke(app, ["estimate", *args], env={"COLUMNS": "100", "NO_COLOR": "1"})


def axis(chart: str) -> list[int]:
    """The k values under the chart's x axis (the line after the axis' corner └)."""
    lines = chart.splitlines()
    below = next(i for i, line in enumerate(lines) if "└" in line) + 1
    return [int(x) for x in re.findall(r"\d+", lines[below])]


def test_plot_draws_the_sweep_in_plain_text_where_no_terminal_is(tmp_path):
    r = run(*JOB, "--plot")
    assert r.exit_code == 0, r.output
    data = json.loads(run(*JOB, "--sweep", "--json").stdout)
    ks = [row["k"] for row in data["sweep"]]
    assert "sweep over k" in r.stdout.split("sweep over k: k_min")[0]  # the table: --plot implies --sweep
    chart = r.stdout[r.stdout.index("sweep over k: k_min") :]
    assert f"sweep over k: k_min = {data['k_min']} (the vertical line)" in chart
    assert axis(chart) == ks
    assert "expected calls (no price)" in chart and "P(all steps correct)" in chart
    assert "\x1b" not in r.stdout
    assert max(len(line) for line in chart.splitlines()) <= 100


def test_a_priced_job_plots_its_cost_and_p_success_with_the_stops():
    r = run(*JOB, *PRICED, "--max-samples", "40", "--plot")
    assert r.exit_code == 0, r.output
    assert "expected cost (USD)" in r.stdout and "P(success)" in r.stdout


def test_plot_file_txt_holds_the_chart(tmp_path):
    path = tmp_path / "sweep.txt"
    r = run(*JOB, "--plot-file", str(path))
    assert r.exit_code == 0, r.output
    assert r.stdout.rstrip().endswith(f"wrote the chart of the sweep to {path}")
    chart = path.read_text(encoding="utf-8")
    assert "k_min = 6" in chart and axis(chart) == [3, 4, 5, 6, 7, 8, 9, 10] and "\x1b" not in chart
    assert "sweep over k: k_min" not in r.stdout  # the chart went to the file


def test_plot_file_with_json_keeps_stdout_one_object(tmp_path):
    path = tmp_path / "sweep.TXT"
    r = run(*JOB, *PRICED, "--plot-file", str(path), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sweep"] and "expected cost (USD)" in path.read_text(encoding="utf-8")


def test_plot_file_html_is_a_plotly_page(tmp_path):
    pytest.importorskip("plotly")
    path = tmp_path / "sweep.html"
    r = run(*JOB, *PRICED, "--plot-file", str(path))
    assert r.exit_code == 0, r.output
    page = path.read_text(encoding="utf-8")
    assert "<html>" in page[:100] and "plotly" in page and "k_min = 6" in page
    assert "expected cost (USD)" in page and "P(all steps correct)" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--plot-file", "sweep.png"),
            "--plot-file writes an .html page (plotly) or a .txt chart (text), not 'sweep.png'",
        ),
        (("--plot-file", "sweep"), "not 'sweep'"),
        (("--plot", "--json"), "--plot draws in the terminal, and --json keeps stdout for the JSON"),
        (("--plot-file", "no/such/folder/sweep.txt"), "cannot write no/such/folder/sweep.txt"),
    ],
)
def test_bad_plot_requests_are_one_line_and_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*JOB, *args)
    assert r.exit_code == 2 and message in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_a_missing_plotting_library_is_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly.subplots", None)  # as if plotly were not installed
    r = run(*JOB, "--plot-file", str(tmp_path / "sweep.html"))
    assert r.exit_code == 2 and "an .html chart needs plotly, which is not installed: pip install plotly" in r.stderr
    assert r.stdout == "" and not (tmp_path / "sweep.html").exists()
    monkeypatch.setitem(sys.modules, "plotext", None)
    r = run(*JOB, "--plot")
    assert r.exit_code == 2 and "pip install plotext" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_on_a_terminal_the_chart_is_coloured(monkeypatch):
    screen = Console(file=io.StringIO(), force_terminal=True, width=90, color_system="256")
    monkeypatch.setattr(estimate_command, "out_console", lambda: screen)
    r = CliRunner().invoke(app, ["estimate", *JOB, "--plot"])
    assert r.exit_code == 0, r.output
    out = screen.file.getvalue()
    assert "\x1b[" in out and "sweep over k: k_min = 6" in out
    assert max(len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in out.splitlines()) <= 90


def test_series_fall_back_to_p_all_correct_where_a_row_has_no_p_success():
    report = estimate(steps=1023, p=0.85, sweep=True, max_samples=40)
    assert sweep_series(report).success_label == "P(success)"
    rows = [row.model_copy(update={"p_success": None}) for row in report.sweep or []]
    series = sweep_series(report.model_copy(update={"sweep": rows}))
    assert series.success == [row.p_full for row in rows] and series.success_label == "P(all steps correct)"
    coloured = text_chart(series, 80, 20, color=True)
    assert "\x1b[" in coloured and "\x1b[" not in text_chart(series, 80, 20, color=False)
