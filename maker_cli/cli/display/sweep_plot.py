"""`maker estimate --plot`: the sweep over k as a chart, expected cost (or calls) and P(success)
against k with k_min marked, so the knee shows at a glance.

In the terminal it is text drawn by plotext (coloured on a terminal, plain text elsewhere); into a
file (`--plot-file`) it is that text (`.txt`) or an interactive page drawn by plotly (`.html`, the
whole of plotly.js inside, so it opens offline). plotext and plotly are imported only here, when a
chart is asked for, so `maker estimate` starts as fast as before.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.text import Text

from maker_cli.cli.display.formats import counted
from maker_cli.core.estimate_report import EstimateReport
from maker_cli.errors import UsageError

SUFFIXES = (".html", ".txt")
FILE_SIZE = (100, 25)  # a .txt chart's width and height, in characters


@dataclass(frozen=True)
class SweepSeries:
    """The two series of the chart, one value per k of the sweep."""

    ks: list[int]
    cost: list[float]
    cost_label: str  # what `cost` holds: USD, or calls when the job has no price
    success: list[float]
    success_label: str
    k_min: int
    title: str


def sweep_series(report: EstimateReport) -> SweepSeries:
    """The sweep's expected cost (calls when a row has no cost) and P(success) (P(all steps correct)
    where a row has no P(success): a k too large for the stops' maths)."""
    rows = report.sweep or []
    priced = bool(rows) and all(r.expected_cost_usd is not None for r in rows)
    cost = [(r.expected_cost_usd if priced else r.expected_calls) or 0.0 for r in rows]
    stops = any(r.p_success is not None for r in rows) and (report.max_samples is not None or report.valid_rate < 1)
    per = f"{counted(report.agents, 'agent')} of {report.m} steps" if report.m > 1 else counted(report.steps, "step")
    return SweepSeries(
        ks=[r.k for r in rows],
        cost=cost,
        cost_label="expected cost (USD)" if priced else "expected calls (no price)",
        success=[r.p_success if r.p_success is not None else r.p_full for r in rows],
        success_label="P(success)" if stops else "P(all steps correct)",
        k_min=report.k_min,
        title=f"sweep over k: {per}, p = {report.p:g}, target {report.target:g}; k_min = {report.k_min}",
    )


def check_plot_file(path: Path) -> None:
    """A UsageError (exit 2) for a chart file maker cannot write, before anything is computed."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(
            f"--plot-file writes an .html page (plotly) or a .txt chart (text), not {path.name!r}: "
            "give a file name ending in .html or .txt"
        )
    if suffix == ".html":
        _plotly()


def text_chart(series: SweepSeries, width: int, height: int, *, color: bool) -> str:
    """The chart drawn with plotext: cost on the left axis, P(success) on the right, a vertical
    line at k_min."""
    try:
        import plotext as plt  # a dependency; about 40 ms, so only when a chart is asked for
    except ImportError:
        raise UsageError("--plot draws with plotext, which is not installed: pip install plotext") from None
    plt.clear_figure()
    try:
        plt.plotsize(width, height)
        # two kinds of line, so that they differ without colour too
        plt.plot(series.ks, series.cost, label=series.cost_label, marker="hd")
        plt.plot(series.ks, series.success, label=series.success_label, marker="braille", yside="right")
        plt.scatter(series.ks, series.cost, marker="dot")
        plt.scatter(series.ks, series.success, marker="dot", yside="right")
        plt.vline(series.k_min, "red")
        plt.xticks(series.ks)
        plt.title(f"sweep over k: k_min = {series.k_min} (the vertical line)")  # a longer one is cut
        plt.xlabel("k (vote margin)")
        plt.ylabel(series.cost_label, yside="left")
        plt.ylabel(series.success_label, yside="right")
        plt.theme("clear")  # no background: the terminal's own
        chart = str(plt.build())
    finally:
        plt.clear_figure()  # plotext keeps one global figure
    return chart if color else str(plt.uncolorize(chart))


def print_chart(series: SweepSeries, console: Console) -> None:
    """The text chart under the tables: coloured on a terminal, at most 120 columns wide (100
    where the width is unknown: a pipe without COLUMNS)."""
    terminal = console.is_terminal
    width = min(console.width, 120) if terminal or os.environ.get("COLUMNS") else 100
    chart = text_chart(series, max(width, 60), 24, color=terminal and not console.no_color)
    console.print()
    console.print(Text.from_ansi(chart) if terminal else chart, highlight=False, markup=False, soft_wrap=True)


def html_chart(series: SweepSeries) -> str:
    """The chart as one self-contained HTML page drawn with plotly (plotly.js inside it)."""
    go = importlib.import_module("plotly.graph_objects")
    subplots = _plotly()
    fig = subplots.make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=series.ks, y=series.cost, name=series.cost_label, mode="lines+markers"))
    fig.add_trace(
        go.Scatter(x=series.ks, y=series.success, name=series.success_label, mode="lines+markers"), secondary_y=True
    )
    fig.add_vline(x=series.k_min, line_dash="dash", line_color="red", annotation_text=f"k_min = {series.k_min}")
    fig.update_xaxes(title_text="k (vote margin)", tickmode="array", tickvals=series.ks)
    fig.update_yaxes(title_text=series.cost_label, rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text=series.success_label, range=[0, 1.02], secondary_y=True)
    fig.update_layout(title_text=series.title, hovermode="x unified")
    return str(fig.to_html(include_plotlyjs=True, full_html=True))


def write_chart(series: SweepSeries, path: Path) -> None:
    """Write the chart to `path`: .html through plotly, .txt as plain text (check_plot_file first)."""
    if path.suffix.lower() == ".html":
        text = html_chart(series)
    else:
        text = text_chart(series, *FILE_SIZE, color=False) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _plotly() -> ModuleType:
    """plotly's subplots module, imported when an .html chart is asked for (through importlib: no
    stubs needed), or a UsageError saying how to install it."""
    try:
        return importlib.import_module("plotly.subplots")
    except ImportError:
        raise UsageError("an .html chart needs plotly, which is not installed: pip install plotly") from None


__all__ = [
    "SUFFIXES",
    "SweepSeries",
    "check_plot_file",
    "html_chart",
    "print_chart",
    "sweep_series",
    "text_chart",
    "write_chart",
]
