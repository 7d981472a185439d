"""Calibration: measure a model's p and valid rate on a task, with confidence intervals.

Single samples, no voting: each probe (a Hanoi step drawn at random from the optimal solution, a
dataset item of a task spec, or a step drawn at random from a sequential spec's reference solver
path) is sampled once at the voting temperature (twice with `pairs`), every
sample is red-flagged and judged exactly as a vote would be, then compared with the known answer.

- `p` = correct / valid (conditional on passing the red flags), `valid_rate` = valid / samples;
  each with a 95% Wilson interval. Failed calls (ProviderError after retries) are counted apart and
  never as samples; fatal ones (missing key, 401, ...) stop the calibration with their error.
- `pairs` draws two samples per probe and tests whether wrong answers coincide more often than
  independent errors allow (see `pair_stats`): when they do, voting does worse than the maths says.
- `recommend` turns a report into k for a target over some steps, from the *lower* bound of p, with
  the expected cost from the estimate maths; `to_calibration` into the file `--calibration` reads.

`calibrate_hanoi`, `calibrate_spec`, `calibrate_sequence` and `report_from_labelled` are what the CLI
and the MCP server call. No rich, typer or litellm here.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from maker_cli.tasks import hanoi
from maker_cli.core import maths
from maker_cli.errors import CannotConverge, ProviderError, UsageError
from maker_cli.providers.base import CallResult, Completion, Provider, Reference, SampleRequest
from maker_cli.core.redflags import Answer, RedFlag, RedFlagRules
from maker_cli.core.stats import WILSON, wilson_interval
from maker_cli.core.step import Judge

CONFIDENCE = 0.95
ALPHA = 0.01
"""One-sided significance level of the pair-collision test."""

Interval = tuple[float, float]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Proportion:
    """successes / trials with its Wilson interval (estimate None without trials)."""

    successes: int
    trials: int
    estimate: float | None
    ci: Interval

    @classmethod
    def of(cls, successes: int, trials: int, confidence: float = CONFIDENCE) -> "Proportion":
        return cls(successes, trials, successes / trials if trials else None, wilson_interval(successes, trials, confidence))

    def to_dict(self) -> dict[str, Any]:
        return {"p": self.estimate, "p_ci": list(self.ci), "correct": self.successes, "valid": self.trials}


@dataclass(frozen=True, slots=True)
class PairStats:
    """Two samples per probe: do wrong answers collide more often than independent errors would give?

    The test uses the pairs in which both samples are valid. Given W wrong answers among those
    2N samples, independent errors with the same p at every probe place the wrong answers at random,
    so the number of both-wrong pairs X has an exact distribution (`both_wrong_tail`) with mean
    W(W-1) / (2(2N-1)), about N(1-p)^2. A collision (both wrong AND the same answer) needs both
    wrong, so under independence collisions <= X even in the worst case the maths assumes (every
    wrong answer to a probe is the same one); `expected_collisions` is that worst-case mean.
    `correlated` when collisions exceed it with a one-sided p-value below `alpha`.
    """

    pairs: int  # probes with both samples received
    both_valid: int  # pairs in which both samples passed the red flags
    wrong: int  # wrong answers among the 2 * both_valid samples
    both_wrong: int
    collisions: int  # both wrong with the same answer
    expected_collisions: float
    p_value: float
    alpha: float
    correlated: bool

    @property
    def ratio(self) -> float | None:
        return self.collisions / self.expected_collisions if self.expected_collisions > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass(frozen=True, slots=True)
class HanoiBreakdown:
    disks: int
    steps_total: int
    wrong_move: int  # valid answers whose move is not the optimal one
    right_move_wrong_state: int  # right move, wrong next_state
    disk1: Proportion  # p on the steps that move disk 1 (every other step)
    other: Proportion  # p on the other steps

    def to_dict(self) -> dict[str, Any]:
        return {
            "disks": self.disks, "steps_total": self.steps_total, "wrong_move": self.wrong_move,
            "right_move_wrong_state": self.right_move_wrong_state,
            "disk1_steps": self.disk1.to_dict(), "other_steps": self.other.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """What a calibration measured. `to_dict()` is the JSON the CLI prints (before the recommendation)."""

    task: str
    model: str
    simulated: bool
    temperature: float
    requested: int  # samples asked for
    samples: int  # completions received (red-flagged ones included; failed calls never)
    valid: int
    correct: int
    p: float | None  # correct / valid; None when no sample was valid
    p_ci: Interval
    valid_rate: float | None
    valid_rate_ci: Interval
    red_flags: dict[str, int]  # reason -> count
    red_flag_details: dict[str, int]  # reason with detail -> count
    errors: dict[str, int]  # kind of wrong answer -> count
    call_errors: int  # calls that failed after their retries (never samples)
    retries: int
    mean_input_tokens: float | None  # per request (the prompt; billed once per request)
    mean_output_tokens: float | None  # per sample
    cost_usd: float | None  # everything the calibration spent; None when a price was unknown
    cost_per_call_usd: float | None  # cost_usd / samples
    probes: int  # steps or dataset items sampled
    distinct_probes: int
    seed: int | None
    wall_s: float
    hanoi: HanoiBreakdown | None = None
    pairs: PairStats | None = None
    method: str = WILSON
    confidence: float = CONFIDENCE
    notes: tuple[str, ...] = ()

    @property
    def red_flagged(self) -> int:
        return self.samples - self.valid

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "model": self.model, "simulated": self.simulated, "temperature": self.temperature,
            "method": self.method, "confidence": self.confidence,
            "requested": self.requested, "samples": self.samples, "valid": self.valid, "correct": self.correct,
            "red_flagged": self.red_flagged,
            "p": self.p, "p_ci": list(self.p_ci), "valid_rate": self.valid_rate,
            "valid_rate_ci": list(self.valid_rate_ci),
            "red_flags": dict(self.red_flags), "red_flag_details": dict(self.red_flag_details),
            "errors": dict(self.errors), "call_errors": self.call_errors, "retries": self.retries,
            "mean_input_tokens": self.mean_input_tokens, "mean_output_tokens": self.mean_output_tokens,
            "cost_usd": self.cost_usd, "cost_per_call_usd": self.cost_per_call_usd,
            "probes": self.probes, "distinct_probes": self.distinct_probes, "seed": self.seed,
            "wall_s": self.wall_s,
            "hanoi": self.hanoi.to_dict() if self.hanoi else None,
            "pairs": self.pairs.to_dict() if self.pairs else None,
            "collisions": self.pairs.collisions if self.pairs else None,
            "expected_collisions": self.pairs.expected_collisions if self.pairs else None,
            "correlated": self.pairs.correlated if self.pairs else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class CalibrationProgress:
    """Passed to `on_progress` after each call: counts so far."""

    done: int  # samples received
    total: int  # samples requested
    valid: int
    correct: int
    call_errors: int


# --------------------------------------------------------------------------- probes and the tally


@dataclass(frozen=True, slots=True)
class Probe:
    """One prompt to sample, with what a correct answer is (never shown to the model)."""

    item: int  # Hanoi step index or dataset row; the simulated model's hard steps key on it
    system: str
    user: str
    expected_key: str
    reference: Reference | None = None
    group: str | None = None  # Hanoi: "disk1" or "other"


# classify(answer, probe) -> None when correct, else the kind of error ("wrong", "wrong_move", ...)
Classifier = Callable[[Answer, Probe], "str | None"]


def key_classifier(answer: Answer, probe: Probe) -> str | None:
    return None if answer.key == probe.expected_key else "wrong"


@dataclass(slots=True)
class _Tally:
    """Counters over classified samples; `report` turns them into a CalibrationReport."""

    samples: int = 0
    valid: int = 0
    correct: int = 0
    requests: int = 0
    in_tokens: int = 0
    in_known: int = 0
    out_tokens: int = 0
    out_known: int = 0
    cost: float = 0.0
    cost_known: bool = True
    call_errors: int = 0
    retries: int = 0
    last_error: str = ""
    flags: Counter = field(default_factory=Counter)
    flag_details: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    groups: dict[str, list[int]] = field(default_factory=dict)  # group -> [correct, valid]
    outcomes: dict[int, list[str | None | bool]] = field(default_factory=dict)  # probe index -> per sample

    def request(self, result: CallResult) -> None:
        self.requests += 1
        self.retries += result.retries

    def add(self, index: int, probe: Probe, completion: Completion, rules: RedFlagRules, judge: Judge,
            classify: Classifier) -> None:
        """Account one completion: red flags, then the judge, then the comparison with the answer."""
        self.samples += 1
        if completion.input_tokens is not None:
            self.in_tokens += completion.input_tokens
            self.in_known += 1
        if completion.output_tokens is not None:
            self.out_tokens += completion.output_tokens
            self.out_known += 1
        if completion.cost_usd is None:
            self.cost_known = False
        else:
            self.cost += completion.cost_usd
        flag = rules.check(completion)
        verdict: Answer | RedFlag = flag if flag is not None else judge(completion.text)
        outcome: str | None | bool
        if isinstance(verdict, RedFlag):
            self.flags[verdict.reason] += 1
            self.flag_details[verdict.label] += 1
            outcome = False  # red-flagged: not a vote
        else:
            self.valid += 1
            kind = classify(verdict, probe)
            if probe.group is not None:
                counts = self.groups.setdefault(probe.group, [0, 0])
                counts[1] += 1
                counts[0] += kind is None
            if kind is None:
                self.correct += 1
                outcome = None  # correct
            else:
                self.errors[kind] += 1
                outcome = verdict.key  # wrong: which answer
        self.outcomes.setdefault(index, []).append(outcome)

    def failed(self, exc: ProviderError) -> None:
        self.call_errors += 1
        self.retries += exc.retries
        self.last_error = str(exc)

    def progress(self, total: int) -> CalibrationProgress:
        return CalibrationProgress(self.samples, total, self.valid, self.correct, self.call_errors)


# --------------------------------------------------------------------------- sampling


async def _draw(
    provider: Provider,
    probes: Sequence[Probe],
    *,
    per_probe: int,
    temperature: float,
    concurrency: int,
    rules: RedFlagRules,
    judge: Judge,
    classify: Classifier,
    on_progress: Callable[[CalibrationProgress], None] | None,
    max_call_errors: int | None,
) -> _Tally:
    """Sample every probe `per_probe` times, at most `concurrency` calls in flight."""
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, got {concurrency}")
    tally = _Tally()
    total = len(probes) * per_probe
    limit = max_call_errors if max_call_errors is not None else max(10, total // 10)
    together = per_probe if provider.info.supports_n else 1  # samples per request

    async def call(index: int, probe: Probe, n: int) -> None:
        request = SampleRequest(
            system=probe.system, user=probe.user, temperature=temperature, n=n,
            max_output_tokens=rules.max_output_tokens, step=probe.item, reference=probe.reference,
        )
        try:
            result = await provider.complete(request)
            if len(result.completions) != n:
                raise ProviderError(f"provider returned {len(result.completions)} completions, asked for {n}")
        except ProviderError as exc:
            if exc.fatal:
                raise
            tally.failed(exc)
            if tally.call_errors > limit:
                raise ProviderError(
                    f"calibration stopped: {tally.call_errors} calls failed after their retries "
                    f"(more than {limit}); last error: {tally.last_error}",
                    retries=tally.retries, status=exc.status,
                ) from None
        else:
            tally.request(result)
            for completion in result.completions:
                tally.add(index, probe, completion, rules, judge, classify)
        if on_progress is not None:
            on_progress(tally.progress(total))

    calls = [(i, probe, together) for i, probe in enumerate(probes) for _ in range(per_probe // together)]
    if provider.info.inline:  # the simulated model at zero latency: no I/O to overlap
        for index, probe, n in calls:
            await call(index, probe, n)
        return tally
    sem = asyncio.Semaphore(concurrency)

    async def bounded(index: int, probe: Probe, n: int) -> None:
        try:
            await call(index, probe, n)
        finally:
            sem.release()

    try:
        async with asyncio.TaskGroup() as group:
            for index, probe, n in calls:
                await sem.acquire()  # at most `concurrency` tasks exist at once
                group.create_task(bounded(index, probe, n))
    except* Exception as failures:  # the first failure as itself (a MakerError the CLI reports)
        raise failures.exceptions[0] from None
    return tally


# --------------------------------------------------------------------------- the report


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def _report(
    tally: _Tally, *, task: str, model: str, simulated: bool, temperature: float, requested: int,
    probes: Sequence[Probe], seed: int | None, wall_s: float, pairs: bool,
    hanoi_disks: int | None = None, notes: Iterable[str] = (),
) -> CalibrationReport:
    p = Proportion.of(tally.correct, tally.valid)
    v = Proportion.of(tally.valid, tally.samples)
    breakdown = None
    if hanoi_disks is not None:
        d1 = tally.groups.get("disk1", [0, 0])
        other = tally.groups.get("other", [0, 0])
        breakdown = HanoiBreakdown(
            disks=hanoi_disks, steps_total=hanoi.steps_total(hanoi_disks),
            wrong_move=tally.errors.get("wrong_move", 0),
            right_move_wrong_state=tally.errors.get("right_move_wrong_state", 0),
            disk1=Proportion.of(*d1), other=Proportion.of(*other),
        )
    cost = tally.cost if tally.cost_known and tally.samples else None
    all_notes = list(notes)
    if pairs:
        all_notes.append(
            "with pairs, two samples share each step: the intervals treat samples as independent, "
            "which is optimistic when errors correlate"
        )
    return CalibrationReport(
        task=task, model=model, simulated=simulated, temperature=temperature, requested=requested,
        samples=tally.samples, valid=tally.valid, correct=tally.correct,
        p=p.estimate, p_ci=p.ci, valid_rate=v.estimate, valid_rate_ci=v.ci,
        red_flags=dict(tally.flags.most_common()), red_flag_details=dict(tally.flag_details.most_common()),
        errors=dict(tally.errors.most_common()), call_errors=tally.call_errors, retries=tally.retries,
        mean_input_tokens=_mean(tally.in_tokens, tally.requests if tally.in_known else 0),
        mean_output_tokens=_mean(tally.out_tokens, tally.out_known),
        cost_usd=cost, cost_per_call_usd=None if cost is None else cost / tally.samples,
        probes=len(probes), distinct_probes=len({pr.item for pr in probes}), seed=seed, wall_s=wall_s,
        hanoi=breakdown, pairs=pair_stats(tally.outcomes.values()) if pairs else None, notes=tuple(all_notes),
    )


def pair_stats(outcomes: Iterable[Sequence[str | None | bool]], alpha: float = ALPHA) -> PairStats:
    """Collision statistics over probes sampled twice.

    Each outcome list holds, per sample: None (correct), False (red-flagged) or the wrong answer's
    key. Probes with fewer than two samples (a failed call) are skipped.
    """
    pairs = both_valid = wrong = both_wrong = collisions = 0
    for got in outcomes:
        if len(got) < 2:
            continue
        pairs += 1
        a, b = got[0], got[1]
        if a is False or b is False:
            continue
        both_valid += 1
        wrong += (a is not None) + (b is not None)
        if a is not None and b is not None:
            both_wrong += 1
            collisions += a == b
    expected = wrong * (wrong - 1) / (2 * (2 * both_valid - 1)) if both_valid else 0.0
    p_value = both_wrong_tail(both_valid, wrong, collisions)
    return PairStats(
        pairs=pairs, both_valid=both_valid, wrong=wrong, both_wrong=both_wrong, collisions=collisions,
        expected_collisions=expected, p_value=p_value, alpha=alpha,
        correlated=collisions > expected and p_value < alpha,
    )


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def both_wrong_tail(pairs: int, wrong: int, at_least: int) -> float:
    """P(X >= at_least): X = pairs with both samples wrong when `wrong` wrong samples fall at random
    among the 2 * `pairs` samples (independent errors, the same p for every pair).

    P(X = x) = C(N, x) C(N - x, W - 2x) 2^(W - 2x) / C(2N, W): x pairs fully wrong, W - 2x pairs
    with one wrong sample of their two.
    """
    n, w = pairs, wrong
    if at_least <= 0:
        return 1.0
    lo, hi = max(0, w - n), min(w // 2, n)
    if at_least > hi:
        return 0.0
    log_total = _log_comb(2 * n, w)
    tail = sum(
        math.exp(_log_comb(n, x) + _log_comb(n - x, w - 2 * x) + (w - 2 * x) * math.log(2) - log_total)
        for x in range(max(at_least, lo), hi + 1)
    )
    return min(1.0, tail)


# --------------------------------------------------------------------------- Hanoi


def hanoi_probes(disks: int, count: int, *, seed: int | None, simulated: bool) -> list[Probe]:
    """`count` steps drawn uniformly (with replacement, seeded) from the optimal solution."""
    total = hanoi.steps_total(disks)
    rng = random.Random(seed)
    system = hanoi.system_prompt(disks)
    probes = []
    for _ in range(count):
        i = rng.randrange(total)
        state = hanoi.optimal_state(disks, i)
        prev = hanoi.optimal_move(disks, i - 1) if i > 0 else None
        move = hanoi.optimal_move(disks, i)
        probes.append(
            Probe(
                item=i, system=system, user=hanoi.user_prompt(disks, state, prev),
                expected_key=hanoi.answer_key(move, hanoi.optimal_state(disks, i + 1)),
                reference=hanoi.reference(disks, state, prev) if simulated else None,
                group="disk1" if move[0] == 1 else "other",
            )
        )
    return probes


def hanoi_classifier(disks: int) -> Classifier:
    """Right when the parsed move and next_state equal the optimal ones; else which part is wrong."""

    def classify(answer: Answer, probe: Probe) -> str | None:
        move, state = answer.value
        if move != hanoi.optimal_move(disks, probe.item):
            return "wrong_move"
        if tuple(map(tuple, state)) != hanoi.optimal_state(disks, probe.item + 1):
            return "right_move_wrong_state"
        return None

    return classify


async def calibrate_hanoi(
    provider: Provider,
    *,
    disks: int,
    samples: int = 1000,
    temperature: float = 0.1,
    concurrency: int = 16,
    pairs: bool = False,
    seed: int | None = 0,
    rules: RedFlagRules | None = None,
    on_progress: Callable[[CalibrationProgress], None] | None = None,
    max_call_errors: int | None = None,
) -> CalibrationReport:
    """Sample random steps of the optimal n-disk solution once (twice with `pairs`) and measure."""
    hanoi.check_disks(disks)
    _check_samples(samples)
    per = 2 if pairs else 1
    probes = hanoi_probes(disks, -(-samples // per), seed=seed, simulated=provider.info.simulated)
    return await _measure(
        provider, probes, task="hanoi", per=per, temperature=temperature, concurrency=concurrency, seed=seed,
        rules=rules or RedFlagRules(), judge=hanoi.make_judge(disks), classify=hanoi_classifier(disks),
        on_progress=on_progress, max_call_errors=max_call_errors, hanoi_disks=disks,
    )


async def _measure(
    provider: Provider, probes: Sequence[Probe], *, task: str, per: int, temperature: float, concurrency: int,
    seed: int | None, rules: RedFlagRules, judge: Judge, classify: Classifier,
    on_progress: Callable[[CalibrationProgress], None] | None, max_call_errors: int | None,
    hanoi_disks: int | None = None, notes: Iterable[str] = (),
) -> CalibrationReport:
    """Draw `per` samples of every probe, then build the report: the tail every calibration shares."""
    t0 = time.perf_counter()
    tally = await _draw(
        provider, probes, per_probe=per, temperature=temperature, concurrency=concurrency, rules=rules,
        judge=judge, classify=classify, on_progress=on_progress, max_call_errors=max_call_errors,
    )
    return _report(
        tally, task=task, model=provider.info.name, simulated=provider.info.simulated,
        temperature=temperature, requested=len(probes) * per, probes=probes, seed=seed,
        wall_s=time.perf_counter() - t0, pairs=per == 2, hanoi_disks=hanoi_disks, notes=notes,
    )


# --------------------------------------------------------------------------- task specs and datasets


@dataclass(frozen=True, slots=True)
class DatasetItem:
    """One dataset line: the spec's inputs and the expected answer (None: the spec's template)."""

    inputs: dict[str, str]
    expected: str | None
    line: int


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def parse_dataset_line(data: Any, line: int, input_names: Iterable[str]) -> DatasetItem:
    """`{"inputs": {...}, "expected": ...}`, or flat `{"a": ..., "b": ..., "expected": ...}`.

    Flat: every key is an input, except `expected` when the spec declares no input of that name.
    Either way, the expected answer also reaches a declared `expected` input that was not given
    (that is how the simulated model and the spec's `expected` template see it).
    """
    if not isinstance(data, dict):
        raise UsageError(f"dataset line {line}: each line is a JSON object, got {type(data).__name__}")
    names = set(input_names)
    expected = data.get("expected")
    if "inputs" in data and "inputs" not in names:
        if not isinstance(data["inputs"], dict):
            raise UsageError(f"dataset line {line}: 'inputs' must be an object")
        extra = sorted(set(data) - {"inputs", "expected"})
        if extra:
            raise UsageError(f"dataset line {line}: unknown key {extra[0]!r} (next to 'inputs' only 'expected')")
        inputs = {str(k): _text(v) for k, v in data["inputs"].items()}
    else:
        inputs = {str(k): _text(v) for k, v in data.items() if k != "expected" or "expected" in names}
    if expected is not None and "expected" in names and "expected" not in inputs:
        inputs["expected"] = _text(expected)
    return DatasetItem(inputs, None if expected is None else _text(expected), line)


def load_dataset(path: str | Path, input_names: Iterable[str] = ()) -> list[DatasetItem]:
    """Read a JSONL dataset (blank lines and lines starting with // or # are skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read dataset ({exc.strerror or exc})") from None
    names = list(input_names)
    items = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("//", "#")):
            continue
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: line {number}: not JSON ({exc.msg})") from None
        items.append(parse_dataset_line(data, number, names))
    if not items:
        raise UsageError(f"{path}: the dataset has no items")
    return items


def spec_probes(spec: Any, items: Sequence[DatasetItem], count: int, *, seed: int | None,
                simulated: bool) -> list[Probe]:
    """`count` probes cycling through the items in a seeded random order."""
    from maker_cli.specs.canonical import CanonicalError, canonicalize
    from maker_cli.specs.extract import typed_expected

    prepared: list[Probe] = []
    for index, item in enumerate(items):
        system, user = spec.render(item.inputs)
        if item.expected is not None:
            value = typed_expected(item.expected, spec.answer.type if spec.answer.json_path else None)
            try:
                key = canonicalize(value, spec.canonical)
            except CanonicalError as exc:
                raise UsageError(f"dataset line {item.line}: expected answer {item.expected[:40]!r}: {exc}") from None
        else:
            key = spec.expected_key(item.inputs)
        if key is None:
            raise UsageError(
                f"dataset line {item.line}: no expected answer (add an \"expected\" key, or give the spec "
                "an `expected` template its inputs fill)"
            )
        ref = spec.reference(item.inputs) if simulated else None
        prepared.append(Probe(item=index, system=system, user=user, expected_key=key, reference=ref))
    order = list(range(len(prepared)))
    random.Random(seed).shuffle(order)
    return [prepared[order[j % len(order)]] for j in range(count)]


async def calibrate_spec(
    provider: Provider,
    spec: Any,
    items: Sequence[DatasetItem],
    *,
    samples: int | None = None,
    temperature: float = 0.1,
    concurrency: int = 16,
    pairs: bool = False,
    seed: int | None = 0,
    rules: RedFlagRules | None = None,
    on_progress: Callable[[CalibrationProgress], None] | None = None,
    max_call_errors: int | None = None,
) -> CalibrationReport:
    """Sample a task spec over dataset items (one sample each by default; cycling when more)."""
    if not items:
        raise UsageError("the dataset has no items")
    count = samples if samples is not None else len(items) * (2 if pairs else 1)
    _check_samples(count)
    per = 2 if pairs else 1
    probes = spec_probes(spec, items, -(-count // per), seed=seed, simulated=provider.info.simulated)
    return await _measure(
        provider, probes, task=spec.name, per=per, temperature=temperature, concurrency=concurrency, seed=seed,
        rules=rules or spec.red_flag_rules(), judge=spec.judge(), classify=key_classifier,
        on_progress=on_progress, max_call_errors=max_call_errors,
    )


# --------------------------------------------------------------------------- sequential specs

WALK_CAP = 1_000_000
"""At most this many steps of a reference path are walked; longer paths are sampled on their start."""


@dataclass(frozen=True, slots=True)
class ReferencePath:
    """How far a sequential spec's reference solver path was walked (`reference_path`)."""

    steps: int  # steps walked: the whole path unless capped
    capped: bool  # the path goes on past `cap` steps
    terminated: bool  # it ends by the spec's termination (False: capped, or stopped at max_steps)
    planning_steps: int  # steps to recommend k for: the path length, or the spec's bound when capped
    cap: int


def _require_solver(task: Any) -> None:
    if getattr(task.spec, "reference", None) is None:
        raise UsageError(
            f"{task.source}: calibrating a sequential spec needs a reference solver (`reference: module:function`), "
            "which gives the correct answer to every step; this spec names none"
        )


def reference_path(task: Any, cap: int = WALK_CAP) -> ReferencePath:
    """Walk a SpecTask's reference path (at most `cap` steps) and say how long it is."""
    _require_solver(task)
    if not isinstance(cap, int) or cap < 1:
        raise UsageError(f"the walk cap must be a whole number >= 1, got {cap}")
    state, previous = task.start()
    steps = 0
    for step, _state, _previous, values in task.walk(cap):
        previous, state = task.advance(values)
        steps = step + 1
    if steps == 0:
        raise UsageError(f"{task.source}: the reference path has no steps (the task is finished at its start)")
    capped = steps >= cap and not task.finished(steps, state, previous)
    if capped:
        terminated = False
    elif task.spec.termination.steps is not None or steps < task.max_steps:
        terminated = True  # a fixed number of steps, or stopped by the termination before the bound
    else:  # stopped exactly at the bound: ended there, or ran out of steps (walks it once more)
        terminated = task.steps_total is not None
    planning = max(task.max_steps, steps) if capped else steps
    return ReferencePath(steps=steps, capped=capped, terminated=terminated, planning_steps=planning, cap=cap)


def sequence_probes(task: Any, count: int, *, seed: int | None, simulated: bool,
                    path: ReferencePath | None = None, cap: int = WALK_CAP) -> list[Probe]:
    """`count` steps drawn uniformly (seeded, with replacement) from a SpecTask's reference path.

    Each probe holds the step's prompt, built from its state exactly as the runner builds it
    (`task.prompt(step, state, previous, simulated=...)`), and the canonical key of the solver's
    answer (`StepJudge.key`), which a sample's judged answer must equal to be correct. The path is
    walked twice (once to measure it, once to collect the drawn steps), so memory stays small.
    """
    _check_samples(count)
    path = path or reference_path(task, cap)
    problem = getattr(task, "sim_problem", None)
    if simulated and problem is not None:
        raise UsageError(f"the simulated model cannot answer {task.name!r}: {problem}")
    rng = random.Random(seed)
    drawn = [rng.randrange(path.steps) for _ in range(count)]
    wanted = set(drawn)
    judge = task.judge()
    prepared: dict[int, Probe] = {}
    for step, state, previous, values in task.walk(max(wanted) + 1):
        if step in wanted:
            prompt = task.prompt(step, state, previous, simulated=simulated)
            prepared[step] = Probe(item=step, system=prompt.system, user=prompt.user,
                                   expected_key=judge.key(values), reference=prompt.reference)
    missing = wanted - set(prepared)
    if missing:
        raise UsageError(
            f"{task.source}: the reference path changed between two walks (step {min(missing)} is gone): "
            "the reference solver must be deterministic"
        )
    return [prepared[i] for i in drawn]


async def calibrate_sequence(
    provider: Provider,
    task: Any,
    *,
    samples: int = 1000,
    temperature: float = 0.1,
    concurrency: int = 16,
    pairs: bool = False,
    seed: int | None = 0,
    rules: RedFlagRules | None = None,
    on_progress: Callable[[CalibrationProgress], None] | None = None,
    max_call_errors: int | None = None,
    path: ReferencePath | None = None,
    cap: int = WALK_CAP,
) -> CalibrationReport:
    """Sample random steps of a sequential spec's reference path once each (twice with `pairs`).

    `task` is a SpecTask with a reference solver; a sample is correct when its judged answer's
    canonical key equals the solver's. Red flags default to the spec's own (`job_defaults`).
    """
    _check_samples(samples)
    per = 2 if pairs else 1
    path = path or reference_path(task, cap)
    probes = sequence_probes(task, -(-samples // per), seed=seed, simulated=provider.info.simulated, path=path)
    if rules is None:
        defaults = task.job_defaults()
        limit = defaults.get("max_output_tokens")
        rules = RedFlagRules(max_output_tokens=limit if limit is not None else RedFlagRules().max_output_tokens,
                             must_not_match=tuple(defaults.get("must_not_match") or ()))
    notes = []
    if path.capped:
        notes.append(
            f"the reference path is longer than {path.cap:,} steps: steps were drawn from its first "
            f"{path.cap:,} only"
        )
    elif not path.terminated:
        notes.append(
            f"the reference path stops at the spec's bound of {path.steps:,} steps without meeting its "
            "termination rule: a run of this spec would fail there"
        )
    return await _measure(
        provider, probes, task=task.name, per=per, temperature=temperature, concurrency=concurrency, seed=seed,
        rules=rules, judge=task.judge(), classify=key_classifier,
        on_progress=on_progress, max_call_errors=max_call_errors, notes=notes,
    )


def report_from_labelled(
    labelled: Sequence[tuple[str | Completion, str]],
    judge: Judge,
    *,
    rules: RedFlagRules | None = None,
    model: str = "labelled",
    task: str = "labelled",
    temperature: float = 0.0,
) -> CalibrationReport:
    """A report from responses already drawn: (response text or Completion, expected answer key).

    The expected answer is the canonical key a correct response parses to (e.g.
    `spec.expected_key(inputs)`). Red flags apply to Completions (length) and to every text
    (`rules.check`, then the judge). No model call.
    """
    rules = rules or RedFlagRules(max_output_tokens=None)
    tally = _Tally()
    probes = []
    for index, (response, expected) in enumerate(labelled):
        completion = response if isinstance(response, Completion) else Completion(response, None, None, "stop", 0.0, None)
        probe = Probe(item=index, system="", user="", expected_key=expected)
        probes.append(probe)
        tally.requests += 1
        tally.add(index, probe, completion, rules, judge, key_classifier)
    _check_samples(tally.samples)
    return _report(
        tally, task=task, model=model, simulated=False, temperature=temperature, requested=len(probes),
        probes=probes, seed=None, wall_s=0.0, pairs=False,
    )


def _check_samples(samples: int) -> None:
    if not isinstance(samples, int) or samples < 1:
        raise UsageError(f"samples must be a whole number >= 1, got {samples}")


# --------------------------------------------------------------------------- recommendation and file


def cannot_converge_message(report: CalibrationReport) -> str | None:
    """The reason voting cannot work for this model and task, or None when it may."""
    if report.valid == 0:
        return (
            f"every one of the {report.samples} samples was red-flagged, so p is unknown: fix the prompt, "
            "the output format or --max-output-tokens, or use a stronger model"
        )
    high = report.p_ci[1]
    if high <= 0.5:
        return (
            f"voting cannot converge for this model and task: p = {report.p:.4g} and even the upper "
            f"{report.confidence:.0%} bound {high:.4g} is <= 0.5 (a wrong answer wins at least as often "
            "as the right one). Use a stronger model or a finer decomposition of the task"
        )
    return None


def resolve_prices(model: str, price_in: float | None, price_out: float | None, *,
                   simulated: bool) -> tuple[float | None, float | None, str | None]:
    """(price_in, price_out, source): the flags, else litellm's price map, else 0 for the simulator."""
    if price_in is not None and price_out is not None:
        return price_in, price_out, "flags"
    from maker_cli.providers.prices import model_prices

    found = None if simulated else model_prices(model)
    if found is not None:
        return (price_in if price_in is not None else found[0], price_out if price_out is not None else found[1],
                "litellm" if price_in is None and price_out is None else "flags+litellm")
    if simulated:
        return price_in or 0.0, price_out or 0.0, "simulated"
    if price_in is not None or price_out is not None:
        return price_in, price_out, "flags"
    return None, None, None


def recommend(
    report: CalibrationReport,
    *,
    steps: int,
    target: float = 0.95,
    price_in: float | None = None,
    price_out: float | None = None,
) -> dict[str, Any]:
    """k for `target` over `steps` from the lower confidence bound of p, and its expected cost.

    Keys: steps, target, p_used, basis, recommended_k, k_at_point_estimate, p_full,
    expected_votes_per_step, expected_samples_per_step, expected_calls, expected_cost_usd,
    cost_per_call_usd, price_in, price_out, price_source, message.
    """
    from maker_cli.core.estimate import MAX_K, EstimateInputs, estimate

    maths.check_steps(steps)
    maths.check_target(target)
    low = report.p_ci[0]
    prices = resolve_prices(report.model, price_in, price_out, simulated=report.simulated)
    out: dict[str, Any] = {
        "steps": steps, "target": target, "p_used": low,
        "basis": f"lower {report.confidence:.0%} {report.method} bound of p",
        "recommended_k": None, "k_at_point_estimate": None, "p_full": None,
        "expected_votes_per_step": None, "expected_samples_per_step": None, "expected_calls": None,
        "expected_cost_usd": None, "cost_per_call_usd": None,
        "price_in": prices[0], "price_out": prices[1], "price_source": prices[2], "message": None,
    }
    blocked = cannot_converge_message(report)
    if blocked is not None:
        out["message"] = blocked
        return out
    if report.p is not None and report.p > 0.5:
        out["k_at_point_estimate"] = maths.k_min(report.p, steps, target)
    if low <= 0.5:
        out["message"] = (
            f"the lower bound of p is {low:.4g} <= 0.5: too few samples to promise convergence; "
            "draw more samples, or use a stronger model"
        )
        return out
    k = maths.k_min(low, steps, target)
    if k > MAX_K:
        out["message"] = f"p's lower bound {low:.6g} is so close to 0.5 that k = {k:,}: not practical"
        return out
    est = estimate(
        EstimateInputs(
            steps=steps, p=low, target=target, k=k, valid_rate=report.valid_rate or 1.0,
            input_tokens=report.mean_input_tokens, output_tokens=report.mean_output_tokens,
            model=report.model, price_in=prices[0], price_out=prices[1], price_source=prices[2],
        )
    )
    out.update(
        recommended_k=k, p_full=est.p_full, expected_votes_per_step=est.expected_votes_per_step,
        expected_samples_per_step=est.expected_samples_per_step, expected_calls=est.expected_calls,
        expected_cost_usd=est.expected_cost_usd, cost_per_call_usd=est.cost_per_call_usd,
    )
    if est.expected_cost_usd is None:
        out["message"] = "cost unknown: give --price-in and --price-out (USD per million tokens)"
    return out


def to_calibration(
    report: CalibrationReport,
    *,
    price_in: float | None = None,
    price_out: float | None = None,
    created_at: datetime | None = None,
) -> Any:
    """The Calibration that `maker estimate --calibration` and `maker run --calibration` read."""
    from maker_cli.jobs.calibration_file import Calibration

    if report.p is None or report.valid_rate is None:
        raise CannotConverge(cannot_converge_message(report) or "no valid sample: p is unknown")
    return Calibration(
        model=report.model, task=report.task, temperature=report.temperature,
        p=report.p, p_ci=report.p_ci, valid_rate=report.valid_rate, valid_rate_ci=report.valid_rate_ci,
        mean_input_tokens=report.mean_input_tokens or 0.0, mean_output_tokens=report.mean_output_tokens or 0.0,
        price_in=price_in, price_out=price_out, samples=report.samples,
        created_at=created_at or datetime.now(timezone.utc).replace(microsecond=0), method=report.method,
    )


__all__ = [
    "CalibrationReport", "CalibrationProgress", "PairStats", "HanoiBreakdown", "Proportion", "DatasetItem",
    "Probe", "calibrate_hanoi", "calibrate_spec", "report_from_labelled", "recommend", "to_calibration",
    "pair_stats", "both_wrong_tail", "load_dataset", "parse_dataset_line", "cannot_converge_message",
    "resolve_prices", "hanoi_probes", "spec_probes", "calibrate_sequence", "sequence_probes", "reference_path",
    "ReferencePath", "WALK_CAP",
]
