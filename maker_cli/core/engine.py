"""The shared voting engine: one step decided by first-to-ahead-by-k over concurrent samples.

Zero-waste parallel rounds: with leader margin d no answer can win before k - d more valid votes
arrive, so each round launches exactly k - d samples at once (k in the first round), plus
`eager` extra ones if asked. A red-flagged sample or a failed call is replaced at once. The race
is judged only at round boundaries, so the order of arrivals inside a round never matters.

With a matcher (`maker_cli.core.clusters`: a number tolerance, embeddings), a round's valid answers
are matched into clusters at the end of the round, and the race counts votes per cluster: the
order of arrivals inside a round still never matters. The matcher's cost (embedding calls) is
counted in the step's tokens and cost, so budgets and spend limits see it.

The core imports no rich, typer, sqlite or litellm: providers plug in, listeners subscribe.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from maker_cli._types import AnswerValue
from maker_cli.core.clusters import AnswerMatcher, shown
from maker_cli.core.events import (
    CallFailed,
    Event,
    Listener,
    Retried,
    RoundFinished,
    SampleFinished,
    SampleStarted,
    StepDecided,
)
from maker_cli.core.race import VoteRace
from maker_cli.core.redflags import Answer, RedFlag
from maker_cli.core.sample_confidence import sample_confidence
from maker_cli.core.status import EarlyStopReason, StepStatus, StopReason
from maker_cli.core.step import Judge, StepPrompt
from maker_cli.core.vote_types import EarlyStop, SampleRecord, StepResult, Usage, VoteConfig
from maker_cli.errors import ProviderError
from maker_cli.providers.base import CallResult, Completion, Provider, SampleRequest

DECIDED = StepStatus.DECIDED
UNDECIDED = StepStatus.UNDECIDED
STOP_CAP = StopReason.SAMPLE_CAP
STOP_RED_FLAGS = StopReason.RED_FLAGS
STOP_BUDGET = StopReason.BUDGET


class _Tally:
    """Mutable per-step counters (kept apart from the race, which only counts votes)."""

    __slots__ = (
        "cached_tokens",
        "conf_n",
        "conf_sum",
        "cost",
        "cost_known",
        "errors",
        "in_tokens",
        "last_error",
        "match_calls",
        "match_cost",
        "match_cost_known",
        "match_tokens",
        "matcher",
        "on_candidate",
        "out_tokens",
        "pending",
        "records",
        "red_flags",
        "retries",
        "samples",
        "sources",
        "spend_limit",
        "stopped",
        "usage",
        "values",
    )

    def __init__(self, record: bool) -> None:
        self.samples = 0
        self.red_flags: dict[str, int] = {}
        self.errors = 0
        self.retries = 0
        self.in_tokens = 0
        self.cached_tokens = 0
        self.out_tokens = 0
        self.cost = 0.0
        self.cost_known = True
        self.records: list[SampleRecord] | None = [] if record else None
        self.values: dict[str, AnswerValue] = {}
        self.last_error = ""
        self.spend_limit: float | None = None
        self.stopped: StopReason | None = None
        self.on_candidate: Callable[[Answer], None] | None = None
        self.usage: Usage | None = None
        self.matcher: AnswerMatcher | None = None
        # this round's valid votes (key, weight, ranking), matched at the end of the round
        self.pending: list[tuple[str, float, Sequence[str]]] = []
        self.match_calls = 0
        self.match_tokens = 0
        self.match_cost = 0.0
        self.match_cost_known = True
        self.conf_sum: dict[str, float] = {}  # key -> summed sample confidence of its votes
        self.conf_n: dict[str, int] = {}
        self.sources: dict[str, int] = {}  # confidence source -> samples

    def mean_confidence(self, key: str | None) -> float | None:
        n = self.conf_n.get(key, 0) if key is not None else 0
        return self.conf_sum[key] / n if key is not None and n else None

    def source(self) -> str | None:
        if not self.sources:
            return None
        return next(iter(self.sources)) if len(self.sources) == 1 else "mixed"

    def red_flags_reached(self, cfg: VoteConfig) -> bool:
        return cfg.max_red_flags is not None and sum(self.red_flags.values()) >= cfg.max_red_flags

    def may_continue(self, cfg: VoteConfig) -> bool:
        """False (and why, in `stopped`) once the step must stop launching samples."""
        if self.stopped is not None:
            return False
        if self.red_flags_reached(cfg):
            self.stopped = STOP_RED_FLAGS
        elif self.spend_limit is not None and (not self.cost_known or self.cost >= self.spend_limit):
            self.stopped = STOP_BUDGET  # an unknown cost cannot be held to a limit
        return self.stopped is None


def confident_leader(race: VoteRace, tally: _Tally, rule: EarlyStop) -> str | None:
    """The leader, when early stopping may decide for it now (see `EarlyStop`), else None."""
    if race.votes < rule.min_votes:
        return None
    leader, margin = race.standing()
    if leader is None or margin <= 0:
        return None
    mean = tally.mean_confidence(leader)
    return leader if mean is not None and mean >= rule.min_confidence else None


class Engine:
    """Decides steps by voting. One engine (and so one concurrency limit) serves all steps."""

    def __init__(self, provider: Provider, *, concurrency: int = 16, listeners: Iterable[Listener] = ()) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.provider = provider
        self.concurrency = concurrency
        self.listeners: list[Listener] = list(listeners)
        self._sem: asyncio.Semaphore | None = None
        self._inline = provider.info.inline

    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def emit(self, event: Event) -> None:
        """Hand an event to the listeners (the runner reports discarded speculative votes here)."""
        self._emit(event)

    async def vote(
        self,
        prompt: StepPrompt,
        judge: Judge,
        cfg: VoteConfig,
        *,
        spend_limit: float | None = None,
        on_candidate: Callable[[Answer], None] | None = None,
        usage: Usage | None = None,
        matcher: AnswerMatcher | None = None,
    ) -> StepResult:
        """Run one race to a decision, or until it must stop undecided: the sample cap, too many red
        flags, or `spend_limit` (USD this step may spend) reached. Never returns a plurality.

        `on_candidate` is called once, with the step's first valid answer (the runner speculates on
        it); `usage` is kept up to date with every completion counted. `matcher` makes close answers
        vote together (see the module doc); the result then shows each cluster by its representative."""
        t0 = time.perf_counter()
        race = VoteRace(cfg.k, cfg.method, depth=cfg.ranking_depth)
        tally = _Tally(cfg.record_samples)
        tally.spend_limit = spend_limit
        tally.on_candidate = on_candidate
        tally.usage = usage
        tally.matcher = matcher
        rounds = 0
        status = UNDECIDED
        early: EarlyStopReason | None = None
        winner: str | None = None
        while True:
            need = race.needed() + cfg.eager
            if cfg.max_samples is not None:
                left = cfg.max_samples - tally.samples
                if left > 0 and race.hopeless(left) and tally.stopped is None:
                    tally.stopped = STOP_CAP  # loss of hope: the cap would end it undecided
                    early = EarlyStopReason.LOSS_OF_HOPE
                    break
                need = min(need, left)
                if need <= 0:
                    if tally.stopped is None:  # red flags that reached their limit did so first (or with the cap)
                        tally.stopped = STOP_RED_FLAGS if tally.red_flags_reached(cfg) else STOP_CAP
                    break
            if tally.stopped is not None:
                break
            rounds += 1
            await self._round(prompt, judge, cfg, race, tally, need, first=rounds == 1)
            if matcher is not None:
                await self._match(prompt, race, tally, matcher)
            winner = race.winner()
            if winner is None and cfg.early_stop is not None:
                winner = confident_leader(race, tally, cfg.early_stop)
                early = EarlyStopReason.CONFIDENT if winner is not None else None
            if self.listeners:
                leader, margin = race.standing()
                counts = race.counts
                if matcher is not None:
                    counts = shown(counts, matcher)
                    leader = matcher.representative(leader) if leader is not None else None
                lead = round(margin, 3) if cfg.method.weighted else margin
                self._emit(RoundFinished(prompt.step, rounds, counts, leader, lead, cfg.k))
            if winner is not None:
                status = DECIDED
                break
        leading = winner if winner is not None else race.standing()[0]  # the race's key, before clusters are shown
        tallies, values, clusters = race.counts, tally.values, None
        if matcher is not None:  # each cluster by its representative (a member, so it has a value)
            winner = matcher.representative(winner) if winner is not None else None
            tallies = shown(race.counts, matcher)
            values = {key: tally.values[key] for key in tallies}
            clusters = {matcher.representative(c): matcher.members(c) for c in race.counts}
        result = StepResult(
            step=prompt.step,
            status=status,
            winner=winner,
            value=values.get(winner) if winner is not None else None,
            tallies=tallies,
            samples=tally.samples,
            valid=race.votes,
            red_flags=tally.red_flags,
            errors=tally.errors,
            retries=tally.retries,
            rounds=rounds,
            input_tokens=tally.in_tokens,
            cached_tokens=tally.cached_tokens,
            output_tokens=tally.out_tokens,
            cost_usd=tally.cost if tally.cost_known else None,
            wall_s=time.perf_counter() - t0,
            records=tally.records,
            values=values,
            stopped=None if status == DECIDED else tally.stopped,
            method=cfg.method,
            clusters=clusters,
            match_calls=tally.match_calls,
            match_tokens=tally.match_tokens,
            match_cost_usd=tally.match_cost if tally.match_cost_known else None,
            stopped_early=early is not None,
            early_stop_reason=early,
            scores=dict(race.weights),
            sample_confidence=tally.mean_confidence(leading),
            confidence_source=tally.source(),
        )
        if self.listeners:
            self._emit(StepDecided(result))
        return result

    async def _round(
        self,
        prompt: StepPrompt,
        judge: Judge,
        cfg: VoteConfig,
        race: VoteRace,
        tally: _Tally,
        need: int,
        *,
        first: bool,
    ) -> None:
        """Collect `need` valid votes (replacing red flags and failures at once) or hit the cap."""
        cap = cfg.max_samples
        inflight = 0  # samples requested and not yet received
        wanted = need  # valid votes this round still needs
        queue: deque[tuple[float, int]] = deque()
        pending: dict[asyncio.Future[CallResult], tuple[float, int]] = {}

        def launch(temperature: float, n: int, split: bool = False) -> None:
            nonlocal inflight
            if cap is not None:
                n = min(n, cap - tally.samples - inflight)
            if n <= 0 or not tally.may_continue(cfg):
                return
            inflight += n
            # read at every launch: a provider may find out mid-run that its server ignores `n`
            supports_n = self.provider.info.supports_n and not split
            calls = [(temperature, n)] if supports_n or n == 1 else [(temperature, 1)] * n
            for t, m in calls:
                if self._inline:
                    queue.append((t, m))
                else:
                    pending[asyncio.ensure_future(self._call(prompt, cfg, t, m))] = (t, m)

        def settle(result: CallResult | BaseException, temperature: float, n: int) -> None:
            nonlocal inflight, wanted
            if isinstance(result, BaseException):
                inflight -= n
                self._failed(prompt, cfg, tally, result)
                launch(cfg.temperature, min(n, wanted - inflight))
                return
            if result.retries:
                tally.retries += result.retries
                if self.listeners:
                    self._emit(Retried(prompt.step, result.retries))
            for completion in result.completions:
                inflight -= 1  # one at a time, so a replacement sees the cap as it stands
                if self._count(prompt, judge, cfg, race, tally, completion, temperature):
                    wanted -= 1
                else:
                    launch(cfg.temperature, 1)

        if first:
            launch(cfg.first_temperature, 1)
            launch(cfg.temperature, need - 1, split=cfg.split_first_round)
        else:
            launch(cfg.temperature, need)
        try:
            while queue or pending:
                if queue:
                    t, m = queue.popleft()
                    try:
                        res: CallResult | BaseException = await self._call(prompt, cfg, t, m)
                    except ProviderError as exc:
                        res = exc
                    settle(res, t, m)
                    continue
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    t, m = pending.pop(task)
                    failure = task.exception()
                    if failure is not None and not isinstance(failure, ProviderError):
                        raise failure
                    settle(failure if failure is not None else task.result(), t, m)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _call(self, prompt: StepPrompt, cfg: VoteConfig, temperature: float, n: int) -> CallResult:
        request = SampleRequest(
            system=prompt.system,
            user=prompt.user,
            temperature=temperature,
            n=n,
            max_output_tokens=cfg.rules.max_output_tokens,
            step=prompt.step,
            reference=prompt.reference,
            logprobs=cfg._scores,
        )
        if self.listeners:
            self._emit(SampleStarted(prompt.step, n, temperature))
        if self._inline:
            result = await self.provider.complete(request)
        else:
            if self._sem is None:
                self._sem = asyncio.Semaphore(self.concurrency)
            async with self._sem:
                result = await self.provider.complete(request)
        if len(result.completions) != n:
            raise ProviderError(
                f"provider returned {len(result.completions)} completions, asked for {n}", kind="malformed"
            )
        return result

    def _count(
        self,
        prompt: StepPrompt,
        judge: Judge,
        cfg: VoteConfig,
        race: VoteRace,
        tally: _Tally,
        completion: Completion,
        temperature: float,
    ) -> bool:
        """Account one completion; True when it is a valid vote, False when red-flagged."""
        tally.samples += 1
        if completion.input_tokens:
            tally.in_tokens += completion.input_tokens
        if completion.cached_tokens:
            tally.cached_tokens += completion.cached_tokens
        if completion.output_tokens:
            tally.out_tokens += completion.output_tokens
        if completion.cost_usd is None:
            tally.cost_known = False
        else:
            tally.cost += completion.cost_usd
        if tally.usage is not None:
            tally.usage.add(completion)
        flag = cfg.rules.check(completion)
        verdict: Answer | RedFlag = flag if flag is not None else judge(completion.text)
        confidence: float | None = None
        if isinstance(verdict, Answer):
            key = verdict.key
            if cfg._scores:
                scored = sample_confidence(completion, cfg.rules.max_output_tokens)
                confidence = scored.value
                tally.conf_sum[key] = tally.conf_sum.get(key, 0.0) + confidence
                tally.conf_n[key] = tally.conf_n.get(key, 0) + 1
                tally.sources[scored.source] = tally.sources.get(scored.source, 0) + 1
            weight = 1.0 if confidence is None else confidence
            ranking = [k for k, _ in verdict.ranking] if verdict.ranking else ()
            if tally.matcher is not None:
                tally.pending.append((key, weight, ranking))  # matched at the end of the round
            else:
                race.add(key, weight, ranking)
            if key not in tally.values:
                tally.values[key] = verdict.value
            if verdict.ranking:
                for other, value in verdict.ranking:
                    tally.values.setdefault(other, value)
            flag = None
            if tally.on_candidate is not None:
                candidate, tally.on_candidate = tally.on_candidate, None  # the first valid answer only
                candidate(verdict)
        else:
            key = None
            flag = verdict
            tally.red_flags[flag.reason] = tally.red_flags.get(flag.reason, 0) + 1
        if tally.records is not None:
            tally.records.append(
                SampleRecord(
                    seq=tally.samples,
                    temperature=temperature,
                    text=completion.text,
                    key=key,
                    red_flag=flag.label if flag is not None else None,
                    input_tokens=completion.input_tokens,
                    output_tokens=completion.output_tokens,
                    finish_reason=completion.finish_reason,
                    latency_s=completion.latency_s,
                    confidence=confidence,
                )
            )
        if self.listeners:
            self._emit(SampleFinished(prompt.step, completion, key, flag, tally.samples, confidence=confidence))
        return key is not None

    async def _match(self, prompt: StepPrompt, race: VoteRace, tally: _Tally, matcher: AnswerMatcher) -> None:
        """Match the round's valid keys into clusters, count them, and account what matching cost."""
        votes, tally.pending = tally.pending, []
        if not votes:
            return
        usage = matcher.usage
        calls, tokens, cost, retries = usage.calls, usage.input_tokens, usage.cost_usd, usage.retries
        clusters = await matcher.assign([key for key, _, _ in votes])
        for cluster, (_, weight, _) in zip(clusters, votes, strict=True):
            race.add(cluster, weight)  # a ranking (borda) never goes with a matching step (specs refuse it)
        tally.match_calls += usage.calls - calls
        tally.match_tokens += usage.input_tokens - tokens
        tally.in_tokens += usage.input_tokens - tokens
        tally.retries += usage.retries - retries
        if usage.retries > retries and self.listeners:
            self._emit(Retried(prompt.step, usage.retries - retries))
        tally.match_cost += usage.cost_usd - cost
        tally.cost += usage.cost_usd - cost
        if usage.calls > calls and not usage.cost_known:
            tally.match_cost_known = tally.cost_known = False

    def _failed(self, prompt: StepPrompt, cfg: VoteConfig, tally: _Tally, exc: BaseException) -> None:
        assert isinstance(exc, ProviderError)
        if exc.fatal:
            raise exc
        tally.errors += 1
        tally.retries += exc.retries
        tally.last_error = str(exc)
        if self.listeners:
            self._emit(CallFailed(prompt.step, str(exc), exc.retries, exc.kind))
        if tally.errors >= cfg.max_call_errors:
            raise ProviderError(
                f"step {prompt.step}: {tally.errors} calls failed after retries; last error: {exc}",
                retries=tally.retries,
                status=exc.status,
            )


__all__ = [
    "EarlyStop",
    "Engine",
    "SampleRecord",
    "StepResult",
    "Usage",
    "VoteConfig",
    "confident_leader",
]
