"""The rows of the run store: runs, decided steps, raw samples; and their SQL encodings."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from maker_cli._types import JSONObject, JSONValue, SQLValue


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class StepRow:
    """One decided (or undecided) step. `tallies`: canonical answer key -> valid votes, first seen first.

    An uncontested step (every valid vote for the winner) is stored without its tallies and read
    back as {winner_key: valid}.
    """

    idx: int
    input_state: str | None  # compact text (e.g. hanoi.encode_state); None to save space
    winner_key: str | None  # None: undecided
    winner_value: str | None = None  # the text the task carries on (often derivable from the key)
    decided: bool = True
    tallies: Mapping[str, int] = field(default_factory=dict)
    samples: int = 0
    valid: int = 0
    red_flagged: int = 0
    red_flag_reasons: Mapping[str, int] = field(default_factory=dict)
    errors: int = 0
    retries: int = 0
    rounds: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None: price unknown
    latency_s: float = 0.0
    correct: bool | None = None  # the verifier's verdict, after the decision; None: not verified
    cached_tokens: int = 0  # the part of input_tokens served from the provider's prompt cache
    # P(the winner is right | tallies, p), worst case (`maker_cli.core.confidence`); None: no p or no decision
    confidence: float | None = None
    k: int | None = None  # the k this step was voted with when it differs by step (--adaptive-k); else None
    p_hat: float | None = None  # --adaptive-k: the run's estimate of p before this step


@dataclass(frozen=True, slots=True)
class SampleRow:
    """One raw sample of step `idx` (only for the steps the logging policy keeps)."""

    idx: int
    seq: int
    temperature: float | None
    text: str | None
    answer_key: str | None  # None when red-flagged
    red_flag: str | None  # the red-flag label, or None for a valid vote
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    latency_s: float | None = None
    # the sample's own confidence (logprobs or the heuristic) when the method read it (cisc, early stop)
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    kind: str
    name: str | None
    model: str | None
    config: JSONObject
    status: str
    message: str | None
    steps_total: int | None
    steps_done: int
    last_step: int | None
    last_state: JSONValue  # the resume point (`maker_cli.jobs.runner.resume_point`); None before any batch
    samples: int
    valid: int
    red_flagged: int
    errors: int
    retries: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    wrong_steps: int
    first_error_step: int | None
    rounds: int
    wall_s: float
    red_flag_reasons: dict[str, int]
    created_at: str
    updated_at: str
    owner: str | None = None  # the process ("host:pid") leasing a running run
    cached_tokens: int = 0  # the part of input_tokens served from the provider's prompt cache

    def to_dict(self) -> JSONObject:
        return asdict(self)


RUN_COLUMNS = tuple(RunRecord.__dataclass_fields__)
STEP_COLUMNS = tuple(StepRow.__dataclass_fields__)
SAMPLE_COLUMNS = tuple(SampleRow.__dataclass_fields__)
INSERT_STEP = (
    f"INSERT INTO steps (run_id, {', '.join(STEP_COLUMNS)}) VALUES ({', '.join('?' * (len(STEP_COLUMNS) + 1))})"
)
INSERT_SAMPLE = (
    f"INSERT OR REPLACE INTO samples (run_id, {', '.join(SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (len(SAMPLE_COLUMNS) + 1))})"
)
# what a store that later migrations have not reached yet (one opened read-only) reads for their columns
_ADDED_COLUMNS = {"owner": "NULL", "cached_tokens": "0", "confidence": "NULL", "k": "NULL", "p_hat": "NULL"}


def select_sql(table: str, columns: Sequence[str], present: Collection[str]) -> str:
    """SELECT the columns from the table, each one the table lacks as its added column's default."""
    parts = [c if c in present else f"{_ADDED_COLUMNS.get(c, 'NULL')} AS {c}" for c in columns]
    return f"SELECT {', '.join(parts)} FROM {table}"


SELECT_RUN = select_sql("runs", RUN_COLUMNS, RUN_COLUMNS)
SELECT_STEP = select_sql("steps", STEP_COLUMNS, STEP_COLUMNS)
SELECT_SAMPLE = select_sql("samples", SAMPLE_COLUMNS, SAMPLE_COLUMNS)


def step_params(run_id: str, s: StepRow, dumps: Callable[[object], str] = dumps) -> tuple[SQLValue, ...]:
    tallies = s.tallies
    # Compact: an uncontested step (every valid vote for the winner) stores NULL tallies.
    if not tallies or (len(tallies) == 1 and s.winner_key is not None and tallies.get(s.winner_key) == s.valid):
        tallies_text = None
    else:
        tallies_text = dumps(tallies)
    return (
        run_id, s.idx, s.input_state, s.winner_key, s.winner_value, 1 if s.decided else 0, tallies_text,
        s.samples, s.valid, s.red_flagged, dumps(s.red_flag_reasons) if s.red_flag_reasons else None,
        s.errors, s.retries, s.rounds, s.input_tokens, s.output_tokens, s.cost_usd, s.latency_s,
        None if s.correct is None else (1 if s.correct else 0), s.cached_tokens, s.confidence, s.k, s.p_hat,
    )  # fmt: skip


def step_from_row(row: Sequence[SQLValue]) -> StepRow:
    (idx, input_state, winner_key, winner_value, decided, tallies, samples, valid, red_flagged, reasons,
     errors, retries, rounds, input_tokens, output_tokens, cost_usd, latency_s, correct, cached_tokens,
     confidence, k, p_hat) = row  # fmt: skip
    if tallies is not None:
        tally_map = json.loads(tallies)
    else:
        tally_map = {winner_key: valid} if winner_key is not None and valid else {}
    return StepRow(
        idx, input_state, winner_key, winner_value, bool(decided), tally_map, samples, valid, red_flagged,
        json.loads(reasons) if reasons else {}, errors, retries, rounds, input_tokens, output_tokens,
        cost_usd, latency_s, None if correct is None else bool(correct), cached_tokens, confidence, k, p_hat,
    )  # fmt: skip


def run_from_row(row: Sequence[SQLValue]) -> RunRecord:
    values = dict(zip(RUN_COLUMNS, row, strict=True))
    values["config"] = json.loads(values["config"]) if values["config"] else {}
    values["last_state"] = json.loads(values["last_state"]) if values["last_state"] is not None else None
    reasons = values["red_flag_reasons"]
    values["red_flag_reasons"] = json.loads(reasons) if reasons else {}
    return RunRecord(**values)
