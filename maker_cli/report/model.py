"""What a run report holds: its figures and tables as plain data of a bounded size (how they are
read from the store is `maker_cli.report.figures`; how they are drawn, `html_page` and `markdown`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from maker_cli._types import JSONObject, JSONValue
from maker_cli.cli.display.formats import money
from maker_cli.store.rows import RunRecord


@dataclass(frozen=True, slots=True)
class StepLine:
    """One step in a table. `where`: the state it started from (a workflow: the node id);
    `winner`: the answer that won (Hanoi: the move); `margin`: winner's votes minus the runner-up's."""

    idx: int
    where: str | None
    winner: str | None
    tallies: list[tuple[str, int]]
    valid: int
    samples: int
    red_flagged: int
    rounds: int
    latency_s: float
    cost_usd: float | None
    confidence: float | None
    correct: bool | None
    margin: int


@dataclass(frozen=True, slots=True)
class VotesFigure:
    """Decided steps by valid votes (bars `bin_width` votes wide, starting at `votes[i]`), with the
    exact probability of each bar for p̂ and k (and for the configured p); `beyond_*` is the exact
    mass past the last bar."""

    method: str
    k: int | None
    p_hat: float | None
    p_config: float | None
    decided: int
    bin_width: int
    votes: list[int]
    steps: list[int]
    exact_p_hat: list[float] | None
    beyond_p_hat: float | None
    exact_p_config: list[float] | None
    beyond_p_config: float | None
    mean_votes: float | None
    expected_mean_p_hat: float | None
    steps_by_k: dict[int, int] | None = None  # --adaptive-k: decided steps by their own k

    @property
    def k_label(self) -> str:
        """'k = 3', or the k the steps were voted with (--adaptive-k), most used first."""
        if self.steps_by_k:
            total = sum(self.steps_by_k.values())
            top = sorted(self.steps_by_k.items(), key=lambda kv: -kv[1])[:4]
            return "k per step (adaptive): " + ", ".join(f"{k} for {n / total:.0%}" for k, n in top)
        return f"k = {self.k if self.k is not None else 'unknown'}"


@dataclass(frozen=True, slots=True)
class ProgressFigure:
    """Steps done, samples and cost at `time_s` (the running sum of the steps' wall times), one
    point every `stride` steps and at the last one; `cost_usd` is None when a step's price is unknown."""

    stride: int
    time_s: list[float]
    steps: list[int]
    samples: list[int]
    cost_usd: list[float] | None
    wall_s: float


@dataclass(frozen=True, slots=True)
class RedFlagFigure:
    """Samples and red-flagged samples by reason per bin of `bin_size` consecutive stored steps."""

    bin_size: int
    first_step: list[int]
    last_step: list[int]
    samples: list[int]
    reasons: dict[str, list[int]]
    totals: dict[str, int]
    red_flagged: int
    all_samples: int


@dataclass(frozen=True, slots=True)
class LatencyFigure:
    """A histogram of latencies (`source` "call" or "step", `why` says which and why): `counts[i]`
    values in [edges[i], edges[i+1]); `above` values past the last edge."""

    source: str
    why: str
    count: int
    edges: list[float]
    counts: list[int]
    above: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class NodeLine:
    """A workflow node: decided (its step row) or a sequence node's own run (`child_run`)."""

    id: str
    status: str
    winner: str | None
    tallies: list[tuple[str, int]]
    samples: int
    rounds: int
    cost_usd: float | None
    confidence: float | None
    child_run: str | None


@dataclass(frozen=True, slots=True)
class StoppedStep:
    """The step a run stopped at without deciding it: the run's status and message, and the tallies
    and red flags of its stored samples (none stored: empty)."""

    idx: int
    status: str
    message: str | None
    samples_stored: int
    tallies: list[tuple[str, int]]
    red_flags: dict[str, int]


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything a report shows about one run (its message, model and name redacted);
    `config_text`: its configuration as JSON, redacted."""

    run: RunRecord
    config_text: str
    steps_stored: int
    votes: VotesFigure | None = None
    progress: ProgressFigure | None = None
    red_flags: RedFlagFigure | None = None
    latency: LatencyFigure | None = None
    slowest: list[StepLine] = field(default_factory=list)
    least_decided: list[StepLine] = field(default_factory=list)
    wrong: list[StepLine] = field(default_factory=list)
    wrong_total: int = 0
    stopped: StoppedStep | None = None
    nodes: list[NodeLine] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        """The figures as JSON (what `--json` prints under `figures`), without the configuration."""
        data = asdict(self)
        run = data.pop("run")
        data.pop("config_text")
        keep = ("id", "kind", "name", "model", "status", "steps_done", "steps_total", "samples", "valid")
        data["run"] = {key: run[key] for key in (*keep, "red_flagged", "wrong_steps", "cost_usd", "wall_s")}
        return {key: _finite(value) for key, value in data.items()}


def _finite(value: JSONValue) -> JSONValue:
    """Strict JSON: NaN and infinities as None, all the way down."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def summary_rows(run: RunRecord, text: Callable[[str], str], status: str) -> list[tuple[str, str]]:
    """The run's summary table (label, value), for either page: `text` escapes what the run holds
    (names, model, message: model-made or user-made text), `status` is the status already marked up."""
    total = f" of {run.steps_total:,}" if run.steps_total else ""
    rows = [
        ("task", f"{text(run.name or run.kind)} ({text(run.kind)})"),
        ("model", text(run.model or "")),
        ("status", status),
        ("steps", f"{run.steps_done:,}{total} done, {run.wrong_steps:,} wrong"),
        ("samples", f"{run.samples:,} ({run.valid:,} valid votes, {run.red_flagged:,} red-flagged)"),
        ("calls", f"{run.errors:,} errors, {run.retries:,} retries"),
        ("tokens", f"{run.input_tokens:,} in ({run.cached_tokens:,} cached), {run.output_tokens:,} out"),
        ("cost", money(run.cost_usd)),
        ("wall time", f"{run.wall_s:,.1f} s"),
        ("created", f"{text(run.created_at)} (last written {text(run.updated_at)})"),
    ]
    if run.message:
        rows.insert(3, ("message", text(run.message)))  # redacted by the report
    return rows
