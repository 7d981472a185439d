"""The figures of a run report, read from the run store: pure data of a bounded size, no plotting.

One pass over the run's steps (`RunStore.iter_steps`, in chunks, as `maker runs export` reads
them) fills every figure, so a million-step run is read in one go and gives figures no bigger than
a 100-step one: charts get at most MAX_BINS bins or MAX_POINTS points, tables at most TOP or
MAX_LISTED lines. What each figure is:

- **votes per step**: how many decided steps took n valid votes, next to the exact distribution of
  one race's votes (`maker_cli.core.distributions`, worst case: two answers) for the run's k and
  p̂, and for the run's configured p when it has one (`--p`, a calibration, the simulated model's).
  p̂ = valid votes for the winners / all valid votes of the decided steps: the maximum-likelihood p
  when every winner is right (the stopping rule leaves the likelihood p^a q^b unchanged, see
  `maker_cli.core.confidence`). A wrong winner's votes count as right, so p̂ is a little high when
  steps are wrong; red-flagged samples are not votes.
- **progress**: steps done and the cumulative cost (the cumulative samples when the price is unknown
  or zero) against time. The store keeps no clock time per step, so the time is the running sum
  of the steps' own wall times (`latency_s`); steps of a run run one after another, except under
  `--speculate`, where they overlap and the sum passes the run's wall time. One point every
  ceil(steps / MAX_POINTS) steps (the values at those steps are exact, not averages).
- **red flags**: per bin of ceil(steps / MAX_BINS) consecutive steps, red-flagged samples by reason
  and all samples, so the rate along the run is their ratio.
- **latency**: per call when every stored step kept its raw samples (`--log-samples all`), since
  then every call's latency is stored; otherwise per step (a step's wall time, its rounds of calls
  included), because the samples kept for some steps only (contested ones, by default) would be a
  biased share of the calls. LATENCY_BINS bins up to the 99.5th percentile; the rest is counted.
- **tables**: the TOP slowest steps; the TOP least decided steps (the smallest margin of the winner
  over the runner-up, then more valid votes, then the lower index: the order of their confidence,
  `maker_cli.core.confidence`, for any p > 1/2, so it works for runs without p too); the wrong
  steps (the first MAX_LISTED and how many); the step the run stopped at, undecided (its tallies
  from its stored samples).
- **a workflow**: one line per node (its decided step row, or its sequence node's own run).
"""

from __future__ import annotations

import heapq
import json
import math
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import TypeVar

from maker_cli._types import JSONValue
from maker_cli.core.confidence import margin_votes
from maker_cli.core.distributions import StepDistribution, first_to_k_votes_pmf, votes_pmf
from maker_cli.core.race import VotingMethod
from maker_cli.core.status import RunStatus
from maker_cli.report.model import (
    LatencyFigure,
    NodeLine,
    ProgressFigure,
    RedFlagFigure,
    RunReport,
    StepLine,
    StoppedStep,
    VotesFigure,
)
from maker_cli.secrets import redact
from maker_cli.store.export import HANOI_KIND, WORKFLOW_KIND, hanoi_move
from maker_cli.store.rows import RunRecord, StepRow
from maker_cli.store.run_store import RunStore

MAX_BINS = 60  # bins of steps of the red-flag chart
MAX_POINTS = 1000  # points of the progress chart
MAX_VOTE_BARS = 150  # bars of the votes histogram (wider bars when a step took more votes)
LATENCY_BINS = 60
TOP = 10  # lines of the slowest and least decided tables
MAX_LISTED = 50  # wrong steps listed (all are counted)
TALLIES_SHOWN = 4  # answers shown per step, most votes first
TEXT_SHOWN = 120  # characters of an answer or a state shown
EXACT_LIMIT = 20_000  # votes the exact distribution is computed up to (the mass past it is reported)
VISIBLE = 1e-4  # the exact distribution is drawn until all but this much of it is shown

_Item = TypeVar("_Item", tuple[float, int, StepRow], tuple[int, int, int, StepRow])


# --------------------------------------------------------------------------- reading the run


def build_report(store: RunStore, run_id: str) -> RunReport:
    """The report of run `run_id` (or the only run whose id starts with it): one pass over its steps."""
    run = _redacted(store.get_run(run_id))
    config_text = redact(json.dumps(run.config, indent=2, ensure_ascii=False, default=str))
    n = store.count_steps(run.id)
    if run.kind == WORKFLOW_KIND:
        return RunReport(run, config_text, n, nodes=_nodes(store, run), notes=[_WORKFLOW_NOTE])
    scan = _Scan(run, n)
    for row in store.iter_steps(run.id):
        scan.add(row)
    notes = [*scan.notes(), *_overshoot(run)]
    latency = _latency(store, run, scan)
    return RunReport(
        run,
        config_text,
        n,
        votes=_votes(run, scan.votes, scan.winner_votes, scan.valid_votes, scan.ks),
        progress=scan.progress(),
        red_flags=scan.red_flag_figure(),
        latency=latency,
        slowest=[_line(run, r) for _, _, r in sorted(scan.slowest, key=lambda t: (-t[0], -t[1]))],
        least_decided=[_line(run, r) for *_, r in sorted(scan.least, key=lambda t: (-t[0], -t[1], -t[2]))],
        wrong=[_line(run, r) for r in scan.wrong],
        wrong_total=scan.wrong_total,
        stopped=_stopped(store, run, n),
        notes=notes,
    )


def _redacted(run: RunRecord) -> RunRecord:
    """The run with every key in its message, model and name hidden (its config is redacted as text)."""
    return replace(
        run,
        message=redact(run.message) if run.message else run.message,
        model=redact(run.model) if run.model else run.model,
        name=redact(run.name) if run.name else run.name,
    )


_WORKFLOW_NOTE = "a workflow: one line per node; a sequence node's steps are in its own run (runs report CHILD_RUN)"


class _Scan:
    """What one pass over the steps gathers, in memory bounded by the figures' sizes (plus one
    float per step for the latency percentiles)."""

    def __init__(self, run: RunRecord, n: int) -> None:
        self.bin_size = max(1, math.ceil(n / MAX_BINS))
        self.stride = max(1, math.ceil(n / MAX_POINTS))
        self.n, self.seen, self.wall_s = n, 0, run.wall_s
        self.votes: Counter[int] = Counter()
        self.ks: Counter[int] = Counter()  # decided steps by the k they were voted with (--adaptive-k)
        self.winner_votes = self.valid_votes = 0
        self.time_s, self.samples, self.cost = 0.0, 0, 0.0
        self.cost_known = True
        self.points: list[tuple[float, int, int, float]] = [(0.0, 0, 0, 0.0)]
        self.bins: list[list[int]] = []  # [first idx, last idx, samples]
        self.reasons: dict[str, list[int]] = {}
        self.latencies = array("d")
        self.slowest: list[tuple[float, int, StepRow]] = []
        # (-margin, valid, -idx): the heap's top is the most decided of the least decided kept
        self.least: list[tuple[int, int, int, StepRow]] = []
        self.wrong: list[StepRow] = []
        self.wrong_total = 0

    def add(self, row: StepRow) -> None:
        self.seen += 1
        self.time_s += row.latency_s
        self.samples += row.samples
        if row.cost_usd is None:
            self.cost_known = False
        else:
            self.cost += row.cost_usd
        if self.seen % self.stride == 0 or self.seen == self.n:
            self.points.append((self.time_s, self.seen, self.samples, self.cost))
        self._bin(row)
        self.latencies.append(row.latency_s)
        _keep(self.slowest, (row.latency_s, -row.idx, row))
        if row.decided and row.winner_key is not None:
            self.votes[row.valid] += 1
            if row.k is not None:
                self.ks[row.k] += 1
            a, b = margin_votes(row.tallies, row.winner_key)
            self.winner_votes += a
            self.valid_votes += row.valid
            _keep(self.least, (-(a - b), row.valid, -row.idx, row))
        if row.correct is False:
            self.wrong_total += 1
            if len(self.wrong) < MAX_LISTED:
                self.wrong.append(row)

    def _bin(self, row: StepRow) -> None:
        at = (self.seen - 1) // self.bin_size
        if at == len(self.bins):
            self.bins.append([row.idx, row.idx, 0])
            for counts in self.reasons.values():
                counts.append(0)
        self.bins[at][1] = row.idx
        self.bins[at][2] += row.samples
        for reason, count in row.red_flag_reasons.items():
            self.reasons.setdefault(reason, [0] * len(self.bins))[at] += count

    def progress(self) -> ProgressFigure | None:
        if self.seen == 0:
            return None
        if self.points[-1][1] != self.seen:  # a run still being written grew while it was read
            self.points.append((self.time_s, self.seen, self.samples, self.cost))
        t, steps, samples, cost = (list(col) for col in zip(*self.points, strict=True))
        return ProgressFigure(self.stride, t, steps, samples, cost if self.cost_known else None, self.wall_s)

    def red_flag_figure(self) -> RedFlagFigure | None:
        if not self.bins:
            return None
        totals = {reason: sum(counts) for reason, counts in self.reasons.items()}
        return RedFlagFigure(
            self.bin_size,
            [b[0] for b in self.bins],
            [b[1] for b in self.bins],
            [b[2] for b in self.bins],
            dict(sorted(self.reasons.items(), key=lambda kv: -totals[kv[0]])),
            dict(sorted(totals.items(), key=lambda kv: -kv[1])),
            sum(totals.values()),
            sum(b[2] for b in self.bins),
        )

    def notes(self) -> list[str]:
        notes = []
        if self.bin_size > 1:
            notes.append(f"red flags are drawn per bin of {self.bin_size:,} steps ({len(self.bins)} bins)")
        if self.stride > 1:
            notes.append(f"progress is drawn at every {self.stride:,}th step ({len(self.points) - 1:,} points)")
        return notes


def _keep(heap: list[_Item], item: _Item) -> None:
    """Keep the TOP largest items in a min-heap."""
    if len(heap) < TOP:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


# --------------------------------------------------------------------------- the figures


def _overshoot(run: RunRecord) -> list[str]:
    """A note when the run drew votes past the race's end (the exact distribution does not)."""
    job = _job(run)
    if job.get("eager") or job.get("speculate"):
        return [
            "the run drew extra votes in its rounds (--eager or --speculate), so steps can end past the race's "
            "end and the bars sit to the right of the exact distribution"
        ]
    return []


def _job(run: RunRecord) -> Mapping[str, JSONValue]:
    job = run.config.get("job") if isinstance(run.config, dict) else None
    return job if isinstance(job, dict) else {}


def _probability(value: JSONValue) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0.0 < value <= 1.0 else None


def _exact(method: str, p: float | None, k: int | None, ks: Counter[int] | None = None) -> StepDistribution | None:
    """The exact distribution of one race's valid votes (worst case: two answers), or None without p
    or k; with `ks` (steps by the k they were voted with: --adaptive-k) the steps' mixture."""
    if p is None or (k is None and not ks):
        return None
    if ks:
        total = sum(ks.values())
        parts = [(n / total, _exact(method, p, kk)) for kk, n in ks.items()]
        size = max(len(d.pmf) for _, d in parts if d is not None)
        pmf = [math.fsum(w * d.pmf[i] for w, d in parts if d is not None and i < len(d.pmf)) for i in range(size)]
        undecided = math.fsum(w * d.undecided for w, d in parts if d is not None)
        right = math.fsum(w * d.p_correct for w, d in parts if d is not None)
        return StepDistribution(pmf, undecided, right)
    assert k is not None
    if method == VotingMethod.FIRST_TO_K:
        return first_to_k_votes_pmf(p, k)
    if method != VotingMethod.AHEAD_BY_K:
        return None  # cisc and borda: no closed form of their votes
    return votes_pmf(p, k, limit=EXACT_LIMIT)


def _visible_end(dist: StepDistribution) -> int:
    """The smallest n by which all but VISIBLE of the distribution is decided."""
    total = 0.0
    for n, mass in enumerate(dist.pmf):
        total += mass
        if total >= 1.0 - VISIBLE:
            return n
    return len(dist.pmf) - 1


def _bars(dist: StepDistribution | None, starts: list[int], width: int) -> tuple[list[float] | None, float | None]:
    """The distribution's mass in each bar, and the mass past the last bar (the undecided tail included)."""
    if dist is None:
        return None, None
    pmf = dist.pmf
    bars = [math.fsum(pmf[s : s + width]) for s in starts]
    return bars, math.fsum(pmf[starts[-1] + width :]) + dist.undecided


def _votes(
    run: RunRecord, counts: Counter[int], winner_votes: int, valid_votes: int, ks: Counter[int] | None = None
) -> VotesFigure | None:
    """Decided steps by valid votes, against the exact distribution for p̂ (and the configured p) and
    k (each step's own k when the run chose k per step: the steps' mixture)."""
    if not counts:
        return None
    job = _job(run)
    k_value = job.get("k")
    k = k_value if isinstance(k_value, int) and not isinstance(k_value, bool) and k_value >= 1 else None
    method = str(job.get("method") or VotingMethod.AHEAD_BY_K.value)
    p_hat = winner_votes / valid_votes if valid_votes else None
    p_config = _probability(job.get("p"))
    exact_hat, exact_config = _exact(method, p_hat, k, ks), _exact(method, p_config, k, ks)
    if job.get("early_stop_votes") is not None:  # steps decided before their margin: no exact distribution
        exact_hat = exact_config = None
    lo, hi = min(counts), max(counts)
    if ks:
        lo = min(lo, min(ks))
    elif k is not None:
        lo = min(lo, k)  # no race ends before k votes
    for dist in (exact_hat, exact_config):
        if dist is not None:
            hi = max(hi, _visible_end(dist))
    width = max(1, math.ceil((hi - lo + 1) / MAX_VOTE_BARS))
    starts = list(range(lo, hi + 1, width))
    steps = [sum(counts.get(v, 0) for v in range(s, s + width)) for s in starts]
    bars_hat, beyond_hat = _bars(exact_hat, starts, width)
    bars_config, beyond_config = _bars(exact_config, starts, width)
    decided = sum(counts.values())
    expected = exact_hat.mean if exact_hat is not None and exact_hat.undecided < VISIBLE else None
    return VotesFigure(
        method=method,
        k=k,
        p_hat=p_hat,
        p_config=p_config,
        decided=decided,
        bin_width=width,
        votes=starts,
        steps=steps,
        exact_p_hat=bars_hat,
        beyond_p_hat=beyond_hat,
        exact_p_config=bars_config,
        beyond_p_config=beyond_config,
        mean_votes=sum(v * c for v, c in counts.items()) / decided,
        expected_mean_p_hat=expected,
        steps_by_k=dict(ks) if ks else None,
    )


def _latency(store: RunStore, run: RunRecord, scan: _Scan) -> LatencyFigure | None:
    """Per call when every stored step kept its raw samples, else per step (see the module doc)."""
    if scan.seen == 0:
        return None
    sampled = store.count_sampled_steps(run.id)
    mode = _job(run).get("log_samples") or "contested"
    if sampled >= scan.seen:
        calls = store.sample_latencies(run.id)
        if calls:
            why = f"per call: every step's raw samples are stored (--log-samples {mode}), each with its latency"
            return _histogram("call", why, calls)
    if sampled:
        why = (
            f"per step (a step's wall time, its rounds of calls included): raw samples, which carry each call's "
            f"latency, are stored for {sampled:,} of {scan.seen:,} steps only (--log-samples {mode}), "
            "a biased share of the calls"
        )
    else:
        why = f"per step (a step's wall time, its rounds of calls included): no raw samples are stored (--log-samples {mode})"
    return _histogram("step", why, scan.latencies)


def _histogram(source: str, why: str, values: list[float] | array[float]) -> LatencyFigure:
    ordered = sorted(values)
    n = len(ordered)

    def quantile(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]

    top = quantile(0.995) or ordered[-1] or 1.0
    width = top / LATENCY_BINS
    counts = [0] * LATENCY_BINS
    above = 0
    for value in ordered:
        if value > top:
            above += 1
        else:
            counts[min(LATENCY_BINS - 1, int(value / width))] += 1
    return LatencyFigure(
        source=source,
        why=why,
        count=n,
        edges=[i * width for i in range(LATENCY_BINS + 1)],
        counts=counts,
        above=above,
        mean=math.fsum(ordered) / n,
        p50=quantile(0.5),
        p90=quantile(0.9),
        p99=quantile(0.99),
        max=ordered[-1],
    )


# --------------------------------------------------------------------------- the tables


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= TEXT_SHOWN:
        return text
    return text[: TEXT_SHOWN - 1] + "…"


def _tallies(tallies: Mapping[str, int]) -> list[tuple[str, int]]:
    """The answers with the most votes first, their text shortened."""
    ranked = sorted(tallies.items(), key=lambda kv: -kv[1])[:TALLIES_SHOWN]
    return [(_short(key) or "", int(n)) for key, n in ranked]


def _line(run: RunRecord, row: StepRow) -> StepLine:
    winner = hanoi_move(row.winner_key) if run.kind == HANOI_KIND else row.winner_key
    if row.winner_key is not None:
        a, b = margin_votes(row.tallies, row.winner_key)
    else:
        a, b = 0, max(row.tallies.values(), default=0)
    return StepLine(
        idx=row.idx,
        where=_short(row.input_state),
        winner=_short(winner),
        tallies=_tallies(row.tallies),
        valid=row.valid,
        samples=row.samples,
        red_flagged=row.red_flagged,
        rounds=row.rounds,
        latency_s=row.latency_s,
        cost_usd=row.cost_usd,
        confidence=row.confidence,
        correct=row.correct,
        margin=a - b,
    )


def _stopped(store: RunStore, run: RunRecord, n: int) -> StoppedStep | None:
    """The step after the stored ones, where a run that did not finish stopped (or is working)."""
    if RunStatus(run.status).finished:
        return None
    samples = store.get_samples(run.id, n)
    tallies = Counter(s.answer_key for s in samples if s.answer_key is not None)
    red_flags = Counter(s.red_flag for s in samples if s.red_flag is not None)
    return StoppedStep(
        idx=n,
        status=run.status,
        message=run.message,
        samples_stored=len(samples),
        tallies=_tallies(tallies),
        red_flags=dict(red_flags.most_common()),
    )


def _nodes(store: RunStore, run: RunRecord) -> list[NodeLine]:
    """A workflow's decided nodes (its step rows) and its sequence nodes' own runs."""
    found = run.last_state.get("children") if isinstance(run.last_state, dict) else None
    children: dict[str, object] = found if isinstance(found, dict) else {}
    nodes: list[NodeLine] = []
    for row in store.iter_steps(run.id):
        child = children.get(row.input_state or "")
        nodes.append(
            NodeLine(
                id=row.input_state or f"step {row.idx}",
                status="decided",
                winner=_short(row.winner_key),
                tallies=_tallies(row.tallies),
                samples=row.samples,
                rounds=row.rounds,
                cost_usd=row.cost_usd,
                confidence=row.confidence,
                child_run=None if child is None else str(child),
            )
        )
    decided = {node.id for node in nodes}
    for node_id, child in children.items():
        if node_id not in decided:
            record = store.get_run(str(child))
            nodes.append(
                NodeLine(
                    node_id, record.status, None, [], record.samples, record.rounds, record.cost_usd, None, str(child)
                )
            )
    return nodes
