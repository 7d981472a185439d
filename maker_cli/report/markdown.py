"""A run report as Markdown: the HTML page's figures as numbers and tables, no charts.

Long series are shortened for reading: the votes table keeps the vote counts that some step took
or that the exact distribution expects at least MIN_EXPECTED steps at; progress is shown at about
CHECKPOINTS points; the red-flag rate along the run in about PARTS parts. Text from the store is
escaped (HTML characters and Markdown's own), so a model's answer cannot add markup or links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from maker_cli.cli.display.formats import money, number, probability
from maker_cli.cli.output import printable
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

CHECKPOINTS = 10
PARTS = 10
MIN_EXPECTED = 0.05

_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_AUTOLINK = re.compile(r"(?i)(\b(?:https?|ftp)|\bwww)([:.])|(\S)(@)")


def cell(text: object) -> str:
    """Text for a Markdown table cell or line: terminal control sequences removed (the page is also
    printed to a terminal), HTML and Markdown characters escaped, bare URLs and addresses kept from
    becoming links (GitHub links `http://`, `www.` and `a@b`; an escaped `:`, `.` or `@` breaks
    them), one line."""
    escaped = _MARKDOWN.sub(r"\\\1", html.escape(printable(str(text)), quote=False))
    escaped = _AUTOLINK.sub(lambda m: (m.group(1) or m.group(3)) + "\\" + (m.group(2) or m.group(4)), escaped)
    return " ".join(escaped.splitlines())


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: RunReport) -> str:
    """The whole summary, one Markdown document."""
    parts = [_header(report)]
    if report.nodes is not None:
        parts.append(_nodes(report.nodes))
    if report.votes is not None:
        parts.append(_votes(report.votes))
    if report.progress is not None:
        parts.append(_progress(report.progress))
    if report.red_flags is not None:
        parts.append(_red_flags(report.red_flags))
    if report.latency is not None:
        parts.append(_latency(report.latency))
    if report.slowest:
        parts.append("## Slowest steps\n\nBy the step's wall time.\n\n" + _steps(report.slowest))
    if report.least_decided:
        parts.append(
            "## Least decided steps\n\nThe smallest margin of the winner over the runner-up first (then more "
            "valid votes): the order of their confidence for any p above 1/2.\n\n" + _steps(report.least_decided)
        )
    parts.append(_trouble(report))
    parts.append(_configuration(report))
    return "\n\n".join(parts) + "\n"


def _header(report: RunReport) -> str:
    run = report.run
    rows = summary_rows(run, cell, f"**{cell(run.status)}**")
    return f"# Run {cell(run.id)}\n\n" + table(["", ""], rows)


def _votes(v: VotesFigure) -> str:
    exact = [(f"exact, p̂ = {probability(v.p_hat)}", v.exact_p_hat, v.beyond_p_hat)]
    exact.append((f"exact, configured p = {probability(v.p_config)}", v.exact_p_config, v.beyond_p_config))
    shown = [(name, bars, beyond) for name, bars, beyond in exact if bars is not None]
    rows = []
    for i, start in enumerate(v.votes):
        expected = [bars[i] * v.decided for _, bars, _ in shown if bars is not None]
        if v.steps[i] or any(e >= MIN_EXPECTED for e in expected):
            label = str(start) if v.bin_width == 1 else f"{start}–{start + v.bin_width - 1}"
            rows.append([label, f"{v.steps[i]:,}", *(f"{e:.3g}" for e in expected)])
    tail = [(beyond or 0.0) * v.decided for _, _, beyond in shown]
    if any(t >= MIN_EXPECTED for t in tail):
        rows.append(["more", "0", *(f"{t:.3g}" for t in tail)])
    text = (
        f"## Votes per step\n\n{v.decided:,} decided steps; {cell(v.method)}, {cell(v.k_label)}; mean valid votes "
        f"{v.mean_votes:.3g}"
        + (f" ({v.expected_mean_p_hat:.3g} expected for p̂)" if v.expected_mean_p_hat is not None else "")
        + f". p̂ = {probability(v.p_hat)}: the share of the decided steps' valid votes that went to the winner "
        "(the maximum-likelihood p when every winner is right); configured p = "
        + (probability(v.p_config) if v.p_config is not None else "none")
        + ". Exact columns: the expected number of steps (worst case: every wrong vote for the same answer).\n\n"
    )
    return text + table(["valid votes", "steps", *(name for name, _, _ in shown)], rows)


def _progress(p: ProgressFigure) -> str:
    count = len(p.time_s)
    picks = sorted({round(i * (count - 1) / CHECKPOINTS) for i in range(CHECKPOINTS + 1)})
    rows = [
        [
            f"{p.time_s[i]:.3g}",
            f"{p.steps[i]:,}",
            f"{p.samples[i]:,}",
            money(p.cost_usd[i]) if p.cost_usd else "unknown",
        ]
        for i in picks
    ]
    return (
        "## Cost and steps over time\n\nTime: the running sum of the steps' own wall times (the store keeps no "
        f"clock time per step). The run's wall time: {p.wall_s:,.1f} s.\n\n"
        + table(["time in steps (s)", "steps done", "samples", "cost"], rows)
    )


def _red_flags(r: RedFlagFigure) -> str:
    rate = r.red_flagged / r.all_samples if r.all_samples else 0.0
    text = f"## Red flags\n\n{r.red_flagged:,} of the stored steps' {r.all_samples:,} samples red-flagged ({rate:.2%})."
    if not r.red_flagged:
        return text
    reasons = table(["reason", "samples"], [[cell(k), f"{n:,}"] for k, n in r.totals.items()])
    size = max(1, -(-len(r.samples) // PARTS))
    rows = []
    for at in range(0, len(r.samples), size):
        samples = sum(r.samples[at : at + size])
        flagged = sum(sum(counts[at : at + size]) for counts in r.reasons.values())
        share = flagged / samples if samples else 0.0
        steps = f"{r.first_step[at]:,}–{r.last_step[min(at + size, len(r.samples)) - 1]:,}"
        rows.append([steps, f"{samples:,}", f"{flagged:,}", f"{share:.2%}"])
    along = table(["steps", "samples", "red-flagged", "rate"], rows)
    return f"{text}\n\n{reasons}\n\nAlong the run:\n\n{along}"


def _latency(lat: LatencyFigure) -> str:
    unit = "calls" if lat.source == "call" else "steps"
    row = [f"{lat.count:,}", *(f"{v:.4g} s" for v in (lat.mean, lat.p50, lat.p90, lat.p99, lat.max))]
    return f"## Latency per {lat.source}\n\n{cell(lat.why)}.\n\n" + table(
        [unit, "mean", "p50", "p90", "p99", "max"], [row]
    )


def _tallies(tallies: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{cell(key)}: {n:,}" for key, n in tallies)


def _steps(lines: Sequence[StepLine]) -> str:
    head = ["step", "state", "winner", "votes", "margin", "samples", "red flags", "rounds", "wall", "cost"]
    rows = [
        [
            f"{s.idx:,}",
            cell(s.where or ""),
            cell(s.winner or ""),
            _tallies(s.tallies),
            f"{s.margin:,}",
            f"{s.samples:,}",
            f"{s.red_flagged:,}",
            f"{s.rounds:,}",
            f"{number(s.latency_s)} s",
            money(s.cost_usd),
            probability(s.confidence),
            "-" if s.correct is None else str(s.correct),
        ]
        for s in lines
    ]
    return table([*head, "confidence", "correct"], rows)


def _nodes(nodes: Sequence[NodeLine]) -> str:
    head = ["node", "status", "winner", "votes", "samples", "rounds", "cost", "confidence", "its run"]
    rows = [
        [
            cell(n.id),
            cell(n.status),
            cell(n.winner or ""),
            _tallies(n.tallies),
            f"{n.samples:,}",
            f"{n.rounds:,}",
            money(n.cost_usd),
            probability(n.confidence),
            cell(n.child_run or ""),
        ]
        for n in nodes
    ]
    return (
        "## Nodes\n\nA workflow: one line per node. A sequence node's steps are in its own run "
        "(`maker runs report CHILD_RUN`).\n\n" + table(head, rows)
    )


def _trouble(report: RunReport) -> str:
    parts = ["## Undecided and wrong steps"]
    stopped = report.stopped
    if stopped is not None:
        verb = "is working on" if stopped.status == "running" else "stopped at"
        line = f"The run ({cell(stopped.status)}) {verb} step {stopped.idx:,}"
        line += f": {cell(stopped.message)}" if stopped.message else ""
        line += f". Its stored samples: {stopped.samples_stored:,}"
        line += f", votes {_tallies(stopped.tallies)}" if stopped.tallies else ""
        if stopped.red_flags:
            line += ", red flags " + ", ".join(f"{cell(k)} {n:,}" for k, n in stopped.red_flags.items())
        parts.append(line + ".")
    if report.wrong_total:
        shown = "" if report.wrong_total <= len(report.wrong) else f" (the first {len(report.wrong)})"
        parts.append(f"{report.wrong_total:,} wrong steps{shown}:\n\n{_steps(report.wrong)}")
    if len(parts) == 1:
        parts.append("None: every stored step was decided and none was found wrong.")
    return "\n\n".join(parts)


def _configuration(report: RunReport) -> str:
    notes = "".join(f"- {cell(n)}\n" for n in report.notes)
    longest = max((len(m) for m in re.findall(r"`+", report.config_text)), default=0)
    fence = "`" * max(3, longest + 1)
    return (
        "## Configuration\n\n"
        + (notes + "\n" if notes else "")
        + f"As the run stored it, keys redacted.\n\n{fence}json\n{report.config_text}\n{fence}"
    )
