"""A run report as one self-contained HTML page: plotly charts and plain tables, nothing fetched.

plotly (imported by this module, which `maker runs report` imports when it writes a page, so that
no other command pays for it) draws the
figures of `maker_cli.report.figures`; plotly.js itself is embedded once, with the first chart
(`include_plotlyjs=True`), and the other charts use it, so the page opens offline and from an
e-mail attachment. A Content-Security-Policy in the page forbids any request to the network.

Every text from the store (answers, states, node ids, red-flag reasons, the run's message and
configuration) is escaped with `html.escape`: in tables, and in the charts too, whose labels plotly
would otherwise read as its own HTML-like markup. The configuration and message are redacted
(`maker_cli.secrets.redact`) before they get here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import plotly.graph_objects as go
import plotly.io as pio

from maker_cli import __version__
from maker_cli._types import PlotlyFigure
from maker_cli.cli.display.formats import money, number, probability
from maker_cli.report.model import (
    LatencyFigure,
    NodeLine,
    ProgressFigure,
    RedFlagFigure,
    RunReport,
    StepLine,
    VotesFigure,
    summary_rows,
)

# no network: scripts and styles only from the page itself, images only from data: and blob: URLs
# (plotly's "download as PNG"); the browser test checks that the charts draw under it
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'"
)
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
HEIGHT = 380  # px, as .chart in STYLE

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
 padding:1.5em;color:#1f2328}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:bold}.solved{color:#1a7f37}.failed,.error,.undecided,.budget_exhausted{color:#cf222e}
.note{color:#57606a;font-size:.9em}pre{background:#f6f8fa;padding:1em;overflow:auto;font-size:.85em}
code{font-size:.9em}nav a{margin-right:1em}.chart{min-height:380px}
"""


def esc(text: object) -> str:
    """Text for HTML (and for plotly's labels): &, <, >, and quotes escaped."""
    return html.escape(str(text), quote=True)


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the page: an anchor, a heading, HTML before the chart, a chart (a plotly figure
    or None) and HTML after it."""

    id: str
    title: str
    intro: str
    figure: PlotlyFigure | None = None
    after: str = ""


def render_html(report: RunReport, *, generated_at: datetime | None = None) -> str:
    """The whole page, with plotly.js embedded once."""
    sections = list(_sections(report))
    body: list[str] = []
    plotly_js = True  # the first chart carries plotly.js, the others use it
    for section in sections:
        chart = ""
        if section.figure is not None:
            chart = pio.to_html(
                section.figure,
                full_html=False,
                include_plotlyjs=plotly_js,
                div_id=f"fig-{section.id}",
                config=PLOTLY_CONFIG,
                default_height=f"{HEIGHT}px",
                default_width="100%",
            )
            chart = f'<div class="chart">{chart}</div>'
            plotly_js = False
        body.append(
            f'<section id="{section.id}"><h2>{esc(section.title)}</h2>{section.intro}{chart}{section.after}</section>'
        )
    nav = " ".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    run = report.run
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>maker run report: {esc(run.id)}</title><style>{STYLE}</style></head><body>"
        f"<header>{_header(report)}</header><nav>{nav}</nav>{''.join(body)}"
        f'<footer class="note"><p>Written by maker {esc(__version__)} on {when} from the run store; '
        "plotly.js is embedded, so this file needs no network.</p></footer></body></html>\n"
    )


# --------------------------------------------------------------------------- the parts


def _header(report: RunReport) -> str:
    run = report.run
    rows = summary_rows(run, esc, f'<span class="status {esc(run.status)}">{esc(run.status)}</span>')
    if report.votes is not None:
        votes = report.votes
        rows.append(("voting", f"{esc(votes.method)}, {esc(votes.k_label)}"))
        rows.append(("p", _p_text(votes)))
    cells = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<h1>Run {esc(run.id)}</h1><table>{cells}</table>"


def _p_text(votes: VotesFigure) -> str:
    hat = probability(votes.p_hat)
    configured = probability(votes.p_config) if votes.p_config is not None else "none"
    return (
        f"p̂ = {hat} (the share of the decided steps' valid votes that went to the winner); configured p = {configured}"
    )


def _sections(report: RunReport) -> Iterable[Section]:
    """The page's sections in order; those without data are left out."""
    if report.nodes is not None:
        yield _nodes_section(report.nodes)
    if report.votes is not None:
        yield _votes_section(report.votes)
    if report.progress is not None:
        yield _progress_section(report.progress)
    if report.red_flags is not None:
        yield _red_flag_section(report.red_flags)
    if report.latency is not None:
        yield _latency_section(report.latency)
    if report.slowest:
        yield Section("slowest", "Slowest steps", "<p>By the step's wall time.</p>", after=_steps_table(report.slowest))
    if report.least_decided:
        intro = (
            "<p>The smallest margin of the winner over the runner-up first (then more valid votes): the order of "
            "their confidence for any p above 1/2. The confidence column is the stored one (worst case, the run's p; "
            "- when the run had no p).</p>"
        )
        yield Section("least-decided", "Least decided steps", intro, after=_steps_table(report.least_decided))
    yield _trouble_section(report)
    notes = "".join(f"<li>{esc(n)}</li>" for n in report.notes)
    yield Section(
        "configuration",
        "Configuration",
        (f'<ul class="note">{notes}</ul>' if notes else "")
        + "<p>As the run stored it, keys redacted.</p>"
        + f"<details><summary>configuration (JSON)</summary><pre>{esc(report.config_text)}</pre></details>",
    )


def _figure(traces: Sequence[PlotlyFigure], **layout: object) -> PlotlyFigure:
    figure = go.Figure(data=list(traces))
    figure.update_layout(
        template="plotly_white",
        margin={"l": 60, "r": 60, "t": 30, "b": 50},
        legend={"orientation": "h", "y": 1.12},
        **layout,
    )
    return figure


def _votes_section(v: VotesFigure) -> Section:
    centre = [s + (v.bin_width - 1) / 2 for s in v.votes]
    traces = [go.Bar(x=centre, y=v.steps, width=v.bin_width * 0.9, name="decided steps")]
    for label, bars, p in (("p̂", v.exact_p_hat, v.p_hat), ("configured p", v.exact_p_config, v.p_config)):
        if bars is None or p is None:
            continue
        shown = [(x, b * v.decided) for x, b in zip(centre, bars, strict=True) if b > 0]
        traces.append(
            go.Scatter(
                x=[x for x, _ in shown],
                y=[y for _, y in shown],
                mode="lines+markers",
                name=f"exact, {label} = {probability(p)}",
            )
        )
    width = "" if v.bin_width == 1 else f" (bars of {v.bin_width} votes)"
    figure = _figure(traces, xaxis_title=f"valid votes per step{width}", yaxis_title="steps")
    expected = "" if v.expected_mean_p_hat is None else f", {v.expected_mean_p_hat:.3g} expected for p̂"
    intro = (
        f"<p>{v.decided:,} decided steps by their valid votes (mean {v.mean_votes:.3g}{expected}), and the exact "
        f"distribution of one race's votes ({esc(v.method)}, {esc(v.k_label)}; worst case: every wrong vote for the same "
        "answer) times the number of steps. p̂ is the share of the valid votes that went to the winner: the "
        "maximum-likelihood p when every winner is right.</p>"
        if v.k is not None
        else f"<p>{v.decided:,} decided steps by their valid votes (the run stored no k: no exact distribution).</p>"
    )
    return Section("votes", "Votes per step", intro, figure)


def _progress_section(p: ProgressFigure) -> Section:
    right = ("cost (USD)", p.cost_usd) if p.cost_usd is not None and p.cost_usd[-1] > 0 else ("samples", p.samples)
    traces = [
        go.Scatter(x=p.time_s, y=p.steps, mode="lines", name="steps done"),
        go.Scatter(x=p.time_s, y=right[1], mode="lines", name=f"cumulative {right[0]}", yaxis="y2"),
    ]
    figure = _figure(
        traces,
        xaxis_title="time in steps (s)",
        yaxis_title="steps done",
        yaxis2={"title": {"text": f"cumulative {right[0]}"}, "overlaying": "y", "side": "right", "showgrid": False},
    )
    why = "" if right[0].startswith("cost") else " (samples, not cost: the price is unknown or zero)"
    intro = (
        "<p>Steps done and the cumulative "
        f"{esc(right[0])}{why} against the running sum of the steps' own wall times (the store keeps no clock time "
        f"per step; steps overlap only under --speculate). The run's wall time: {p.wall_s:,.1f} s.</p>"
    )
    return Section("progress", "Cost and steps over time", intro, figure)


def _red_flag_section(r: RedFlagFigure) -> Section:
    rate = r.red_flagged / r.all_samples if r.all_samples else 0.0
    intro = (
        f"<p>{r.red_flagged:,} of the stored steps' {r.all_samples:,} samples red-flagged ({rate:.2%}), "
        + (", ".join(f"{esc(k)} {n:,}" for k, n in r.totals.items()) or "none")
        + f"; the rate per bin of {r.bin_size:,} step{'s' if r.bin_size > 1 else ''}, by reason.</p>"
    )
    if not r.red_flagged:
        return Section("red-flags", "Red flags", intro)
    x = r.first_step
    traces = [
        go.Bar(x=x, y=[c / s if s else 0.0 for c, s in zip(counts, r.samples, strict=True)], name=esc(reason))
        for reason, counts in r.reasons.items()
    ]
    figure = _figure(traces, barmode="stack", xaxis_title="step", yaxis_title="red-flagged share of samples")
    figure.update_yaxes(tickformat=".1%")
    return Section("red-flags", "Red flags", intro, figure)


def _latency_section(lat: LatencyFigure) -> Section:
    centres = [(a + b) / 2 for a, b in zip(lat.edges, lat.edges[1:], strict=False)]
    unit = "calls" if lat.source == "call" else "steps"
    bar = go.Bar(x=centres, y=lat.counts, width=lat.edges[1] - lat.edges[0], name=unit)
    figure = _figure([bar], xaxis_title=f"latency per {lat.source} (s)", yaxis_title=unit, showlegend=False)
    for name, value in (("p50", lat.p50), ("p99", lat.p99)):
        if value <= lat.edges[-1]:
            figure.add_vline(x=value, line_dash="dot", annotation_text=name)
    above = f" {lat.above:,} {unit} above {lat.edges[-1]:.3g} s are not drawn." if lat.above else ""
    intro = f"<p>{esc(lat.why)}.{above}</p>"
    cells = "".join(f"<td class=n>{v:.4g} s</td>" for v in (lat.mean, lat.p50, lat.p90, lat.p99, lat.max))
    after = (
        "<table><tr><th>"
        + unit
        + "</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>"
        + f"<tr><td class=n>{lat.count:,}</td>{cells}</tr></table>"
    )
    return Section("latency", f"Latency per {lat.source}", intro, figure, after)


def _nodes_section(nodes: list[NodeLine]) -> Section:
    names = [esc(n.id) for n in nodes]
    bar = go.Bar(x=names, y=[n.samples for n in nodes], name="samples")
    figure = None
    if nodes:  # a workflow that has decided nothing yet has no chart
        figure = _figure([bar], xaxis_title="node", xaxis_type="category", yaxis_title="samples", showlegend=False)
    head = "<tr><th>node</th><th>status</th><th>winner</th><th>votes</th><th>samples</th><th>rounds</th><th>cost</th><th>confidence</th><th>its run</th></tr>"
    rows = "".join(
        f"<tr><td>{esc(n.id)}</td><td>{esc(n.status)}</td><td>{_code(n.winner)}</td><td>{_tallies(n.tallies)}</td>"
        f"<td class=n>{n.samples:,}</td><td class=n>{n.rounds:,}</td><td class=n>{money(n.cost_usd)}</td>"
        f"<td class=n>{probability(n.confidence)}</td><td>{esc(n.child_run or '')}</td></tr>"
        for n in nodes
    )
    intro = (
        "<p>A workflow: one line per node. A sequence node's steps are in its own run "
        "(<code>maker runs report CHILD_RUN</code>).</p>"
    )
    return Section("nodes", "Nodes", intro, figure, f"<table>{head}{rows}</table>")


def _trouble_section(report: RunReport) -> Section:
    parts = []
    stopped = report.stopped
    if stopped is not None:
        verb = "is working on" if stopped.status == "running" else "stopped at"
        parts.append(
            f"<p>The run ({esc(stopped.status)}) {verb} step {stopped.idx:,}"
            + (f": {esc(stopped.message)}" if stopped.message else "")
            + f". Its stored samples: {stopped.samples_stored:,}"
            + (f", votes {_tallies(stopped.tallies)}" if stopped.tallies else "")
            + (
                ", red flags " + ", ".join(f"{esc(k)} {n:,}" for k, n in stopped.red_flags.items())
                if stopped.red_flags
                else ""
            )
            + ".</p>"
        )
    if report.wrong_total:
        shown = "" if report.wrong_total <= len(report.wrong) else f" (the first {len(report.wrong)})"
        parts.append(f"<p>{report.wrong_total:,} wrong steps{shown}:</p>{_steps_table(report.wrong)}")
    if not parts:
        parts.append("<p>None: every stored step was decided and none was found wrong.</p>")
    return Section("trouble", "Undecided and wrong steps", "".join(parts))


def _code(text: str | None) -> str:
    return "" if text is None else f"<code>{esc(text)}</code>"


def _tallies(tallies: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{_code(key)}: {n:,}" for key, n in tallies)


def _steps_table(lines: Sequence[StepLine]) -> str:
    head = (
        "<tr><th>step</th><th>state</th><th>winner</th><th>votes</th><th>margin</th><th>samples</th>"
        "<th>red flags</th><th>rounds</th><th>wall</th><th>cost</th><th>confidence</th><th>correct</th></tr>"
    )
    rows = "".join(
        f"<tr><td class=n>{s.idx:,}</td><td>{_code(s.where)}</td><td>{_code(s.winner)}</td><td>{_tallies(s.tallies)}</td>"
        f"<td class=n>{s.margin:,}</td><td class=n>{s.samples:,}</td><td class=n>{s.red_flagged:,}</td>"
        f"<td class=n>{s.rounds:,}</td><td class=n>{number(s.latency_s)} s</td><td class=n>{money(s.cost_usd)}</td>"
        f"<td class=n>{probability(s.confidence)}</td><td>{'-' if s.correct is None else s.correct}</td></tr>"
        for s in lines
    )
    return f"<table>{head}{rows}</table>"
