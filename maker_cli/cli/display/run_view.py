"""The live dashboard of a long run (terminal) or a plain progress line every few seconds (not).

The runner calls `on_step` once per decided step; that only stores references, so the cost per
step is tiny. Rendering happens on rich's refresh thread (terminal) or at most every few seconds.
`maker runs watch` feeds the same view the totals it reads from the store (`update`), with a note
under it (how long ago the run was last written).
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from maker_cli.cli.display.formats import counted
from maker_cli.cli.display.formats import money as _money
from maker_cli.cli.display.vote_view import shorten
from maker_cli.core.engine import StepResult
from maker_cli.core.events import Event, RoundFinished
from maker_cli.jobs.run_state import RunTotals


class RunView:
    """Progress, votes, rounds, red flags, retries, errors, cost against the estimate, live tally."""

    def __init__(
        self,
        console: Console,
        *,
        title: str,
        steps_total: int | None,
        start_step: int,
        k: int,
        expected_cost: float | None,
        live: bool,
        plain_every_s: float = 5.0,
        from_store: bool = False,
    ) -> None:
        """`from_store`: the totals are a stored run's, read by another process (`maker runs watch`):
        the rate is the run's own, its steps over its stored wall time."""
        self.console = console
        self.title = title
        self.steps_total = steps_total
        self.k = k
        self.expected_cost = expected_cost
        self.totals: RunTotals | None = None
        self.last: StepResult | None = None
        self.current_round: RoundFinished | None = None
        self.note: str | None = None  # a line under the figures (`maker runs watch`: the last write)
        self.note_style = "dim"
        self.last_plain: str | None = None  # the last plain line `update` printed (not on a terminal)
        self._from_store = from_store
        self._start_step = start_step
        self._t0 = time.monotonic()
        self._plain_every = plain_every_s
        self._next_plain = self._t0 + plain_every_s
        self._live_mode = live
        self._live: Live | None = None
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            expand=False,
        )
        self._bar = self._progress.add_task("steps", total=steps_total, completed=start_step, rate="")

    def start_at(self, step: int) -> None:
        """The run starts (or resumes) with `step` steps already done."""
        self._start_step = step
        self._progress.update(self._bar, completed=step)

    # --- listeners ---------------------------------------------------------------------------

    def on_step(self, result: StepResult, totals: RunTotals) -> None:
        self.last = result
        self.update(totals)

    def update(self, totals: RunTotals) -> None:
        """New totals; not on a terminal, a plain line when the last one is a few seconds old."""
        self.totals = totals
        if self._live is None and not self._live_mode:
            now = time.monotonic()
            if now >= self._next_plain:
                self._next_plain = now + self._plain_every
                self.last_plain = self.plain_line()
                self.console.print(self.last_plain, highlight=False, markup=False, soft_wrap=True)

    def on_event(self, event: Event) -> None:
        if isinstance(event, RoundFinished):
            self.current_round = event

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> RunView:
        if self._live_mode:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    # --- rendering ---------------------------------------------------------------------------

    def _rate(self) -> float:
        if self._from_store:
            t = self.totals
            return t.steps_done / t.wall_s if t is not None and t.wall_s > 0 else 0.0
        done = (self.totals.steps_done if self.totals else 0) - self._start_step
        return max(0, done) / max(1e-9, time.monotonic() - self._t0)

    def plain_line(self) -> str:
        t = self.totals
        if t is None:
            return f"{self.title}: starting"
        total = f"/{self.steps_total:,}" if self.steps_total else ""
        pct = f" ({100 * t.steps_done / self.steps_total:.1f}%)" if self.steps_total else ""
        votes = t.valid / max(1, t.steps_done)
        return (
            f"{self.title}: step {t.steps_done:,}{total}{pct}, {self._rate():,.0f} steps/s, "
            f"votes/step {votes:.3f} (max {t.max_votes}), red-flagged {t.red_flagged:,}, "
            f"errors {t.errors}, retries {t.retries}, wrong {t.wrong_steps}, cost {_money(t.cost_usd)}"
            + (f", speculative waste {counted(t.wasted_samples, 'sample')}" if t.wasted_branches else "")
            + (f", adaptive k {t.adaptive_k} (p̂ {t.adaptive_p_hat or 0:.4f})" if t.adaptive_k is not None else "")
        )

    def __rich__(self) -> Group:
        for _ in range(3):  # the runner mutates counters on the main thread while we render
            try:
                return self._render()
            except RuntimeError:
                continue
        return Group(Text(self.plain_line()))

    def _render(self) -> Group:
        t = self.totals or RunTotals()
        done = t.steps_done
        self._progress.update(self._bar, completed=done, rate=f"{self._rate():,.0f} steps/s")
        stats = Table.grid(padding=(0, 2))
        stats.add_column(style="bold")
        stats.add_column()
        stats.add_column(style="bold")
        stats.add_column()
        n = max(1, done)
        rf_rate = t.red_flagged / max(1, t.samples)
        reasons = ", ".join(f"{r} {c:,}" for r, c in sorted(t.red_flag_reasons.items())) or "none"
        est = f" of ~{_money(self.expected_cost)} expected" if self.expected_cost is not None else ""
        stats.add_row("votes/step", f"{t.valid / n:.3f} (max {t.max_votes})", "rounds/step", f"{t.rounds / n:.3f}")
        stats.add_row("samples", f"{t.samples:,}", "red flags", f"{rf_rate:.2%} ({reasons})")
        stats.add_row("retries", f"{t.retries:,}", "errors", f"{t.errors:,}")
        stats.add_row("cost", f"{_money(t.cost_usd)}{est}", "wrong steps", f"{t.wrong_steps:,}")
        stats.add_row("tokens", f"{t.input_tokens:,} in ({t.cached_tokens:,} cached) / {t.output_tokens:,} out", "", "")
        if t.adaptive_k is not None:
            p_hat = f"{t.adaptive_p_hat:.4f}" if t.adaptive_p_hat is not None else "-"
            stats.add_row("adaptive k", f"{t.adaptive_k}", "p̂ (own votes)", p_hat)
        if t.wasted_branches:
            wasted = _money(t.wasted_cost_usd)
            stats.add_row(
                "speculation", f"{t.wasted_samples:,} samples wasted ({t.wasted_samples / max(1, t.samples):.2%})",
                "on", f"{t.wasted_branches:,} discarded branches, {wasted}",
            )  # fmt: skip
        parts: list[RenderableType] = [Text(self.title, style="bold"), self._progress, stats]
        cur = self.current_round
        if cur is not None and cur.tallies:
            ranked = sorted(cur.tallies.items(), key=lambda kv: -kv[1])[:4]
            shown = "  ".join(f"{shorten(key, 36)} ×{v}" for key, v in ranked)
            parts.append(
                Text(f"step {cur.step:,} round {cur.round}: margin {cur.margin}/{cur.k}  {shown}", style="dim")
            )
        if self.note:
            parts.append(Text(self.note, style=self.note_style))
        return Group(*parts)
