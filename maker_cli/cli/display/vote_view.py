"""The live tally of one vote: candidates with bars, how far the leader is towards the method's rule
(its margin, its votes or its weighted lead against k), red flags."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from maker_cli.cli.display.formats import counted, plural, probability
from maker_cli.cli.output import printable
from maker_cli.core.events import CallFailed, Event, Retried, RoundFinished, SampleFinished, StepDecided
from maker_cli.core.maths import p_text
from maker_cli.jobs.vote import VoteResult


def shorten(text: str, width: int = 48) -> str:
    """One line of at most `width` characters, control characters removed (model text is untrusted)."""
    one = " ".join(printable(text).split())
    return one if len(one) <= width else one[: width - 1] + "…"


class VoteStats:
    """Counters for one race, fed by engine events (shared by the live and the plain views)."""

    def __init__(self, k: int, method: str = "ahead-by-k") -> None:
        self.k = k
        self.method = method
        self.lead = 0.0  # cisc and borda: the leader's weighted lead after the last round (the engine's)
        self.tallies: dict[str, int] = {}
        self.samples = 0
        self.red_flags: dict[str, int] = {}
        self.errors = 0
        self.retries = 0
        self.rounds = 0
        self.in_tokens = 0
        self.out_tokens = 0
        self.cost = 0.0
        self.cost_known = True

    def feed(self, event: Event) -> None:
        if isinstance(event, SampleFinished):
            c = event.completion
            self.samples += 1
            self.in_tokens += c.input_tokens or 0
            self.out_tokens += c.output_tokens or 0
            if c.cost_usd is None:
                self.cost_known = False
            else:
                self.cost += c.cost_usd
            if event.key is not None:
                self.tallies[event.key] = self.tallies.get(event.key, 0) + 1
            elif event.red_flag is not None:
                reason = event.red_flag.reason
                self.red_flags[reason] = self.red_flags.get(reason, 0) + 1
        elif isinstance(event, RoundFinished):
            self.rounds = event.round
            self.tallies = dict(event.tallies)  # the race's own (by cluster, when answers are matched)
            self.lead = float(event.margin)
        elif isinstance(event, Retried):
            self.retries += event.retries
        elif isinstance(event, CallFailed):
            self.errors += 1

    def margin(self) -> tuple[str | None, int]:
        ranked = sorted(self.tallies.items(), key=lambda kv: -kv[1])
        if not ranked:
            return None, 0
        second = ranked[1][1] if len(ranked) > 1 else 0
        return ranked[0][0], ranked[0][1] - second

    def progress(self) -> str:
        """How far the leader is towards what the method needs, against k: `margin 2/3` (ahead-by-k),
        `votes 3/3` (first-to-k), `weighted lead 2.41/3` (cisc) or `lead 2.50/3 points` (borda)."""
        if self.method == "first-to-k":
            return f"votes {max(self.tallies.values(), default=0)}/{self.k}"
        if self.method == "cisc":
            return f"weighted lead {self.lead:.2f}/{self.k}"
        if self.method == "borda":
            return f"lead {self.lead:.2f}/{self.k} points"
        return f"margin {self.margin()[1]}/{self.k}"

    def cost_text(self) -> str:
        return f"${self.cost:.4f}" if self.cost_known else "unknown"


def tally_table(stats: VoteStats, *, title: str | None = None, limit: int = 8) -> Table:
    table = Table(title=title, show_edge=False, expand=False, pad_edge=False)
    table.add_column("candidate answer", overflow="ellipsis", max_width=48)
    table.add_column("votes", justify="right")
    table.add_column("", min_width=12)
    top = max(stats.tallies.values(), default=1)
    ranked = sorted(stats.tallies.items(), key=lambda kv: -kv[1])
    for key, n in ranked[:limit]:
        bar = "█" * max(1, round(12 * n / top))
        table.add_row(Text(shorten(key)), str(n), Text(bar, style="green" if key == ranked[0][0] else "grey50"))
    if len(ranked) > limit:
        table.add_row(f"… {len(ranked) - limit} more", "", "")
    return table


def summary_line(stats: VoteStats) -> Text:
    flags = ", ".join(f"{r} {n}" for r, n in sorted(stats.red_flags.items())) or "none"
    return Text(
        f"{stats.progress()}  ·  samples {stats.samples}  ·  rounds {stats.rounds}  ·  "
        f"red flags {sum(stats.red_flags.values())} ({flags})  ·  errors {stats.errors}  ·  "
        f"retries {stats.retries}  ·  tokens {stats.in_tokens:,} in / {stats.out_tokens:,} out  ·  "
        f"cost {stats.cost_text()}"
    )


RULES = {
    "ahead-by-k": "first answer ahead by {k} wins",
    "first-to-k": "first answer to {k} {votes} wins",
    "cisc": "first answer ahead by {k} in confidence-weighted votes wins",
    "borda": "first answer ahead by {k} Borda points wins",
}


class LiveVoteView:
    """A rich Live tally on a terminal; plain lines (one per round) when not on one."""

    def __init__(self, console: Console, k: int, *, model: str, live: bool, method: str = "ahead-by-k") -> None:
        self.console = console
        self.stats = VoteStats(k, method)
        self.model = model
        self.rule = RULES.get(method, "first answer ahead by {k} wins").format(k=k, votes=plural(k, "vote"))
        self._live: Live | None = None
        self._use_live = live

    def __enter__(self) -> LiveVoteView:
        if self._use_live:
            self._live = Live(self._render(), console=self.console, refresh_per_second=10, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(exc_type, exc, tb)

    def __call__(self, event: Event) -> None:
        self.stats.feed(event)
        if self._live is not None:
            if isinstance(event, (SampleFinished, RoundFinished, StepDecided)):
                self._live.update(self._render())
        elif isinstance(event, RoundFinished):
            leader = event.leader if self.stats.method in ("cisc", "borda") else self.stats.margin()[0]
            shown = f"'{shorten(leader, 40)}'" if leader is not None else "none"
            self.console.print(
                f"round {event.round}: leader {shown} with {self.stats.progress()}; "
                f"{counted(self.stats.samples, 'sample')}, {sum(self.stats.red_flags.values())} red-flagged",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )

    def _render(self) -> Group:
        head = Text(f"voting · {self.rule} · {shorten(self.model, 60)}", style="bold")
        return Group(head, tally_table(self.stats), summary_line(self.stats))


def print_vote(result: VoteResult, console: Console) -> None:
    """The end of a vote for people: the decision (or why there is none) and what it took."""
    cost = (
        "unknown (no price for this model; pass --price-in/--price-out)"
        if result.cost_usd is None
        else (f"${result.cost_usd:.6f}")
    )
    rule = f"k={result.k}" if result.method == "ahead-by-k" else f"{result.method}, k={result.k}"
    if result.decided:
        console.print(f"[bold green]decided[/] ({rule}): {escape(printable(result.winner or ''))}", highlight=False)
        if result.early_stop_reason == "confident":
            console.print(
                f"stopped early after {result.valid} valid votes: the leader's samples were confident enough "
                f"(mean {result.sample_confidence or 0:.3f}, {result.confidence_source}; early stopping, no margin "
                f"of {result.k} needed)",
                highlight=False,
            )
    else:
        goal = {
            "ahead-by-k": f"a lead of {result.k}",
            "cisc": f"a weighted lead of {result.k}",
            "borda": f"a lead of {result.k} points",
        }.get(result.method, counted(result.k, "vote"))
        capped = f"no answer reached {goal} within {counted(result.samples, 'sample')} (the cap)"
        if result.stopped_early:
            capped = (
                f"no answer could reach {goal} within the sample cap: stopped early after {counted(result.samples, 'sample')} "
                "(loss of hope; the cap would have ended it undecided too)"
            )
        why = {
            "red_flags": "too many samples were red-flagged",
            "budget": "the --max-cost limit was reached",
        }.get(str(result.stopped), capped)
        console.print(f"[bold yellow]undecided[/]: {why}; tallies above", highlight=False)
    flags = ", ".join(f"{r} {n}" for r, n in result.red_flag_reasons.items()) or "none"
    console.print(
        f"samples {result.samples} ({result.red_flagged} red-flagged: {flags}), rounds {result.rounds}, "
        f"errors {result.errors}, retries {result.retries}, tokens {result.input_tokens:,} in"
        + (f" ({result.cached_tokens:,} cached)" if result.cached_tokens else "")
        + f" / {result.output_tokens:,} out, cost {cost}"
        + (" \\[simulated]" if result.simulated else ""),
        highlight=False,
        soft_wrap=True,
        markup=True,
    )
    if result.clusters is not None:
        console.print(matching_line(result), highlight=False, soft_wrap=True, markup=False)
    if result.decided:
        console.print(confidence_line(result), highlight=False, soft_wrap=True, markup=False)


def matching_line(result: VoteResult) -> str:
    """How many distinct answers voted together, and what matching them cost."""
    clusters = result.clusters or {}
    texts = sum(len(members) for members in clusters.values())
    line = f"matched: {texts} distinct answer{'s' if texts != 1 else ''} into {len(clusters)}"
    if result.matching_calls:
        cost = "unknown" if result.matching_cost_usd is None else f"${result.matching_cost_usd:.6f}"
        calls = f"{result.matching_calls} embedding call{'s' if result.matching_calls != 1 else ''}"
        line += f" ({calls}, {result.matching_tokens:,} tokens, {cost}; counted above)"
    if result.winner is not None and len(clusters.get(result.winner, {})) > 1:
        others = [shorten(m, 30) for m in clusters[result.winner] if m != result.winner]
        line += f"; the winner also counts {', '.join(repr(m) for m in others[:3])}"
        line += f" and {len(others) - 3} more" if len(others) > 3 else ""
    return line


def confidence_line(result: VoteResult) -> str:
    """The decision's confidence for people, or why there is none."""
    if result.confidence is None or result.confidence_p is None:
        return "confidence: unknown without p (give --p, e.g. the p that `maker calibrate` measured)"
    return (
        f"confidence {probability(result.confidence)} that the winner is right "
        f"(worst case, every wrong sample agreeing; p = {p_text(result.confidence_p)})"
    )
