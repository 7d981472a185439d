"""The human view of a calibration: what was sampled, the measures, pairs, the recommendation."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from maker_cli.cli.display.formats import counted
from maker_cli.cli.display.formats import usd as _usd
from maker_cli.jobs.calibration_result import CalibrationProgress, CalibrationResult, Recommendation
from maker_cli.jobs.prompt_compare import PromptComparison


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def render(report: CalibrationResult, console: Console, *, title: str, probe_name: str) -> None:
    """The human view: what was sampled, the table of measures, pairs, the recommendation."""
    rec = report.recommendation
    written = report.calibration_file

    sim = " [dim](simulated model: no API calls)[/]" if report.simulated else ""
    console.print(
        f"[bold]maker calibrate[/] {escape(title)}, model {escape(report.model)}{sim}", highlight=False, soft_wrap=True
    )
    failed = (
        f"{counted(report.call_errors, 'failed call')} (not samples), " if report.call_errors else "0 failed calls, "
    )
    per = "two on each of" if report.pairs is not None else "one on each of"
    console.print(
        f"{counted(report.samples, 'sample')} at temperature {report.temperature:g}, {per} "
        f"{counted(report.probes, f'random {probe_name}')} ({report.distinct_probes:,} distinct, seed {report.seed}); "
        f"{failed}{counted(report.retries, 'retry', 'retries')}; {report.wall_s:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    t = Table(box=None, pad_edge=False, header_style="bold")
    t.add_column("measure", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column(f"{report.confidence:.0%} interval ({report.method})", no_wrap=True)
    t.add_column("counts", overflow="fold")
    t.add_row("p", _pct(report.p), _ci(report.p_ci), f"{report.correct:,} correct of {report.valid:,} valid samples")
    t.add_row(
        "valid rate",
        _pct(report.valid_rate),
        _ci(report.valid_rate_ci),
        f"{report.valid:,} valid of {counted(report.samples, 'sample')}",
    )
    if report.hanoi is not None:
        for name, part in (("p, disk-1 steps", report.hanoi.disk1_steps), ("p, other steps", report.hanoi.other_steps)):
            t.add_row(name, _pct(part.p), _ci(part.p_ci), f"{part.correct:,} of {part.valid:,}")
    t.add_row("red flags", f"{report.red_flagged:,}", "", Text(_counts(report.red_flag_details)))
    wrong = report.valid - report.correct
    if report.hanoi is not None:
        detail = f"wrong move {report.hanoi.wrong_move:,}, right move with wrong state {report.hanoi.right_move_wrong_state:,}"
    else:
        detail = "answers that differ from the expected one"
    t.add_row("wrong answers", f"{wrong:,}", "", detail)
    tin = "-" if report.mean_input_tokens is None else f"{report.mean_input_tokens:,.0f}"
    tout = "-" if report.mean_output_tokens is None else f"{report.mean_output_tokens:,.1f}"
    cached = report.mean_cached_tokens
    share = f"; {cached:,.0f} of the input cached" if cached and report.mean_input_tokens else ""
    t.add_row("tokens in / out", f"{tin} / {tout}", "", f"means per call (input: the prompt, per request){share}")
    spent = "" if report.cost_usd is None else f"; {_usd(report.cost_usd)} spent in all"
    t.add_row("cost / call", _usd(report.cost_per_call_usd), "", ("simulated" if report.simulated else "mean") + spent)
    console.print(t)
    if report.pairs is not None:
        pr = report.pairs
        verdict = "[bold red]correlated[/]" if pr.correlated else "[green]consistent with independent errors[/]"
        console.print(
            f"pairs: {pr.both_valid:,} {probe_name}s with two valid samples, {pr.both_wrong:,} both wrong, "
            f"{pr.collisions:,} collisions (same wrong answer) against {pr.expected_collisions:.3g} expected "
            f"under independence (one-sided p = {pr.p_value:.2g}): {verdict}",
            highlight=False,
            soft_wrap=True,
        )
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False, soft_wrap=True)
    console.print()
    if rec is not None:
        _render_recommendation(report, rec, console)
    if written:
        console.print(
            f"calibration written to {written} (use it with: maker estimate --calibration {written} "
            f"--steps N; maker run ... --calibration {written})",
            highlight=False,
            soft_wrap=True,
        )


def _render_recommendation(report: CalibrationResult, recommendation: Recommendation, console: Console) -> None:
    rec = recommendation.model_dump()
    steps, target = rec["steps"], rec["target"]
    if rec["recommended_k"] is None:
        why = rec["message"] if rec["message"] and report.cannot_converge is None else "see the error below"
        console.print(
            f"[bold]recommendation[/] for {steps:,} steps at target {target:g}: none ({why})",
            highlight=False,
            soft_wrap=True,
        )
        return
    point = rec["k_at_point_estimate"]
    console.print(
        f"[bold]recommended k = {rec['recommended_k']}[/] for P(all {steps:,} steps right) >= {target:g}, "
        f"from the lower bound p = {rec['p_used']:.4f}" + (f" (the point estimate gives k = {point})" if point else ""),
        highlight=False,
        soft_wrap=True,
    )
    cost = _usd(rec["expected_cost_usd"])
    if rec["price_source"] == "simulated":
        cost += " (simulated)"
    elif rec["expected_cost_usd"] is None:
        cost += " (give --price-in/--price-out)"
    console.print(
        f"  expected: {rec['expected_samples_per_step']:.3f} samples/step, {rec['expected_calls']:,.0f} samples "
        f"in all, cost {cost}; P(all steps right) = {rec['p_full']:.4f} at the bound",
        highlight=False,
        soft_wrap=True,
    )


class CalibrationBar:
    """A transient progress bar while a calibration samples (a terminal only)."""

    def __init__(self, console: Console) -> None:
        columns = (
            TextColumn("calibrating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._progress = Progress(*columns, console=console, transient=True)
        self._task = self._progress.add_task("calibrate", total=None, status="")

    def __enter__(self) -> CalibrationBar:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def __call__(self, progress: CalibrationProgress) -> None:
        share = f"p ≈ {progress.correct / progress.valid:.4f}" if progress.valid else ""
        failed = f", {progress.call_errors} failed calls" if progress.call_errors else ""
        self._progress.update(self._task, completed=progress.done, total=progress.total, status=f"{share}{failed}")


def render_comparison(report: PromptComparison, console: Console, *, title: str) -> None:
    """The side-by-side table of a prompt comparison, then the recommendation and the test."""
    sim = " [dim](simulated model: no API calls)[/]" if report.simulated else ""
    console.print(
        f"[bold]maker calibrate[/] {escape(title)}, model {escape(report.model)}, "
        f"{len(report.prompts)} prompts on the same steps (seed {report.seed}){sim}",
        highlight=False,
        soft_wrap=True,
    )
    steps = "- steps" if report.steps is None else counted(report.steps, "step")
    target = "-" if report.target is None else f"{report.target:g}"
    t = Table(box=None, pad_edge=False, header_style="bold")
    t.add_column("prompt", overflow="fold")
    t.add_column("p\n95% interval", no_wrap=True)
    t.add_column("valid rate\n95% interval", no_wrap=True)
    t.add_column("tokens\nin / out", justify="right", no_wrap=True)
    t.add_column(f"k\n(target {target})", justify="right", no_wrap=True)
    t.add_column(f"job cost\n({steps})", justify="right", no_wrap=True)
    t.add_column("p against the\nrecommended", no_wrap=True)
    for row in report.prompts:
        tin = "-" if row.mean_input_tokens is None else f"{row.mean_input_tokens:,.0f}"
        tout = "-" if row.mean_output_tokens is None else f"{row.mean_output_tokens:,.1f}"
        cost = _usd(row.expected_cost_usd) if row.expected_cost_usd is not None else "-"
        if row.expected_tokens is not None:
            cost += f"\n{_tokens(row.expected_tokens)} tok"
        if row.recommended:
            verdict = "recommended"
        elif row.p_value is None:
            verdict = "-"
        else:
            verdict = f"{'significant' if row.significant else 'not significant'}\np-value {row.p_value:.2g}"
        t.add_row(
            Text(row.name, style="bold" if row.recommended else ""),
            f"{_pct(row.p)}\n{_ci(row.p_ci)}",
            f"{_pct(row.valid_rate)}\n{_ci(row.valid_rate_ci)}",
            f"{tin} / {tout}",
            "-" if row.k is None else str(row.k),
            cost,
            verdict,
        )
    console.print(t)
    console.print(Text(f"recommended: {report.why}" if report.recommended else report.why), soft_wrap=True)
    console.print(Text(f"ranked by {report.ranked_by} at the target; test: {report.test}", style="dim"), soft_wrap=True)


def _tokens(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:,.0f}"
