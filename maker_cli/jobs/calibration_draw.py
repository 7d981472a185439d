"""Sampling for calibration: every probe once (twice with pairs), judged exactly as a vote would be.

Single samples, no voting. Each sample is red-flagged and judged by the task's own rules and
judge, then compared with the probe's known answer by the task's classifier. Failed calls
(ProviderError after retries) are counted apart and never as samples; fatal ones (missing key,
401, ...) stop the calibration with their error. `build_result` turns the tally into a
`CalibrationResult` with Wilson intervals.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from maker_cli.core.events import CallFailed, Event, Listener, Retried, SampleFinished, SampleStarted
from maker_cli.core.redflags import Answer, RedFlag, RedFlagRules
from maker_cli.core.stats import wilson_interval
from maker_cli.core.step import Judge
from maker_cli.errors import ProviderError, UsageError
from maker_cli.jobs.calibration_result import CONFIDENCE, CalibrationProgress, CalibrationResult
from maker_cli.jobs.pairs import pair_stats
from maker_cli.providers.base import CallResult, Completion, Provider, SampleRequest
from maker_cli.tasks.base import Probe
from maker_cli.tasks.hanoi_task import HanoiBreakdown

# classify(answer, probe) -> None when correct, else the kind of error ("wrong", "wrong_move", ...)
Classifier = Callable[[Answer, Probe], "str | None"]
# breakdown(groups, errors) -> a task's own breakdown of the result (Hanoi's, per kind of step, is the only one)
Breakdown = Callable[[dict[str, tuple[int, int]], dict[str, int]], "HanoiBreakdown | None"]


@dataclass(slots=True)
class Tally:
    """Counters over classified samples; `build_result` turns them into a CalibrationResult."""

    samples: int = 0
    valid: int = 0
    correct: int = 0
    requests: int = 0
    in_tokens: int = 0
    in_known: int = 0
    cached_tokens: int = 0
    cached_known: int = 0
    out_tokens: int = 0
    out_known: int = 0
    cost: float = 0.0
    cost_known: bool = True
    call_errors: int = 0
    retries: int = 0
    last_error: str = ""
    flags: Counter[str] = field(default_factory=Counter)
    flag_details: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    groups: dict[str, list[int]] = field(default_factory=dict)  # group -> [correct, valid]
    outcomes: dict[int, list[str | bool | None]] = field(default_factory=dict)  # probe index -> per sample

    def request(self, result: CallResult) -> None:
        self.requests += 1
        self.retries += result.retries

    def add(
        self, index: int, probe: Probe, completion: Completion, rules: RedFlagRules, judge: Judge, classify: Classifier
    ) -> tuple[Answer | RedFlag, bool | None]:
        """Account one completion: red flags, then the judge, then the comparison with the answer.
        Returns the verdict and whether the answer was right (None when red-flagged)."""
        self.samples += 1
        if completion.input_tokens is not None:
            self.in_tokens += completion.input_tokens
            self.in_known += 1
        if completion.cached_tokens is not None:
            self.cached_tokens += completion.cached_tokens
            self.cached_known += 1
        if completion.output_tokens is not None:
            self.out_tokens += completion.output_tokens
            self.out_known += 1
        if completion.cost_usd is None:
            self.cost_known = False
        else:
            self.cost += completion.cost_usd
        flag = rules.check(completion)
        verdict: Answer | RedFlag = flag if flag is not None else judge(completion.text)
        outcome: str | bool | None
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
        return verdict, (None if outcome is False else outcome is None)

    def failed(self, exc: ProviderError) -> None:
        self.call_errors += 1
        self.retries += exc.retries
        self.last_error = str(exc)

    def progress(self, total: int) -> CalibrationProgress:
        return CalibrationProgress(
            done=self.samples, total=total, valid=self.valid, correct=self.correct, call_errors=self.call_errors
        )


# --------------------------------------------------------------------------- sampling


async def draw(
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
    listeners: Sequence[Listener] = (),
) -> Tally:
    """Sample every probe `per_probe` times, at most `concurrency` calls in flight. `listeners` get
    the engine's events (a probe's `item` as their step, no rounds and no decisions)."""
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, got {concurrency}")
    tally = Tally()
    total = len(probes) * per_probe
    limit = max_call_errors if max_call_errors is not None else max(10, total // 10)

    def emit(event: Event) -> None:
        for listener in listeners:
            listener(event)

    together = per_probe if provider.info.supports_n else 1  # samples per request

    async def call(index: int, probe: Probe, n: int) -> None:
        request = SampleRequest(
            system=probe.system,
            user=probe.user,
            temperature=temperature,
            n=n,
            max_output_tokens=rules.max_output_tokens,
            step=probe.item,
            reference=probe.reference,
        )
        if listeners:
            emit(SampleStarted(probe.item, n, temperature))
        try:
            result = await provider.complete(request)
            if len(result.completions) != n:
                raise ProviderError(
                    f"provider returned {len(result.completions)} completions, asked for {n}", kind="malformed"
                )
        except ProviderError as exc:
            if exc.fatal:
                raise
            tally.failed(exc)
            if listeners:
                emit(CallFailed(probe.item, str(exc), exc.retries, exc.kind))
            if tally.call_errors > limit:
                raise ProviderError(
                    f"calibration stopped: {tally.call_errors} calls failed after their retries "
                    f"(more than {limit}); last error: {tally.last_error}",
                    retries=tally.retries,
                    status=exc.status,
                ) from None
        else:
            tally.request(result)
            if listeners and result.retries:
                emit(Retried(probe.item, result.retries))
            for completion in result.completions:
                verdict, correct = tally.add(index, probe, completion, rules, judge, classify)
                if listeners:
                    answer = verdict.key if isinstance(verdict, Answer) else None
                    flag = verdict if isinstance(verdict, RedFlag) else None
                    emit(SampleFinished(probe.item, completion, answer, flag, tally.samples, correct))
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
    except* Exception as failures:  # noqa: BLE001 - the first failure as itself (a MakerError the CLI reports)
        raise failures.exceptions[0] from None
    return tally


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def build_result(
    tally: Tally,
    *,
    task: str,
    model: str,
    simulated: bool,
    temperature: float,
    requested: int,
    probes: Sequence[Probe],
    seed: int | None,
    wall_s: float,
    pairs: bool,
    breakdown: Breakdown | None = None,
    notes: Iterable[str] = (),
    source: str | None = None,
) -> CalibrationResult:
    """The measured figures of a tally (no recommendation yet)."""
    cost = tally.cost if tally.cost_known and tally.samples else None
    all_notes = list(notes)
    if pairs:
        all_notes.append(
            "with pairs, two samples share each step: the intervals treat samples as independent, "
            "which is optimistic when errors correlate"
        )
    groups = {name: (counts[0], counts[1]) for name, counts in tally.groups.items()}
    pair = pair_stats(tally.outcomes.values()) if pairs else None
    return CalibrationResult(
        task=task,
        model=model,
        simulated=simulated,
        temperature=temperature,
        requested=requested,
        samples=tally.samples,
        valid=tally.valid,
        correct=tally.correct,
        red_flagged=tally.samples - tally.valid,
        p=tally.correct / tally.valid if tally.valid else None,
        p_ci=wilson_interval(tally.correct, tally.valid, CONFIDENCE),
        valid_rate=tally.valid / tally.samples if tally.samples else None,
        valid_rate_ci=wilson_interval(tally.valid, tally.samples, CONFIDENCE),
        red_flags=dict(tally.flags.most_common()),
        red_flag_details=dict(tally.flag_details.most_common()),
        errors=dict(tally.errors.most_common()),
        call_errors=tally.call_errors,
        retries=tally.retries,
        mean_input_tokens=_mean(tally.in_tokens, tally.requests if tally.in_known else 0),
        mean_cached_tokens=_mean(tally.cached_tokens, tally.requests if tally.cached_known else 0),
        mean_output_tokens=_mean(tally.out_tokens, tally.out_known),
        cost_usd=cost,
        cost_per_call_usd=None if cost is None else cost / tally.samples,
        probes=len(probes),
        distinct_probes=len({pr.item for pr in probes}),
        seed=seed,
        wall_s=wall_s,
        hanoi=breakdown(groups, dict(tally.errors)) if breakdown is not None else None,
        pairs=pair,
        collisions=pair.collisions if pair else None,
        expected_collisions=pair.expected_collisions if pair else None,
        correlated=pair.correlated if pair else None,
        notes=all_notes,
        source=source or task,
    )
