"""The one runner for sequential MDAP jobs: vote each step, transfer state, verify apart, persist.

Steps are written to the run store in batches, one transaction each (every `batch_steps` steps
or `batch_seconds` seconds), together with the run's totals and resume point, so a crash loses
at most the uncommitted batch and `--resume` continues from the last committed step.
Nothing is kept in memory per step: memory stays flat over a million steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from maker_cli._types import TaskAction, TaskState
from maker_cli.core.adaptive import AdaptiveK
from maker_cli.core.confidence import decision_confidence
from maker_cli.core.engine import Engine, StepResult, Usage, VoteConfig
from maker_cli.core.events import BranchDiscarded
from maker_cli.core.maths import default_max_red_flags
from maker_cli.core.redflags import Answer
from maker_cli.core.status import RunStatus, StopReason
from maker_cli.jobs.run_state import (
    FailedStepFields,
    RunOutcome,
    RunPoint,
    RunTotals,
    resume_point,
)
from maker_cli.secrets import redact
from maker_cli.store.rows import SampleRow, StepRow
from maker_cli.store.run_store import LEASE_STALE_S, RunStore
from maker_cli.tasks.base import SequentialTask

SOLVED = RunStatus.SOLVED
FAILED = RunStatus.FAILED
BUDGET_EXHAUSTED = RunStatus.BUDGET_EXHAUSTED
INTERRUPTED = RunStatus.INTERRUPTED
UNDECIDED = RunStatus.UNDECIDED
RUNNING = RunStatus.RUNNING
ERROR = RunStatus.ERROR

LOG = logging.getLogger("maker")
LOG_ALL, LOG_CONTESTED, LOG_NONE = "all", "contested", "none"
LEASE_RENEW_S = LEASE_STALE_S / 4  # how often a running job refreshes its lease between batches


@dataclass(eq=False)
class _Branch:
    """A vote of `step` on one input (`key`: encoded state and previous action); `child` is the next
    step's vote started on this one's first valid answer (`candidate`)."""

    step: int
    key: tuple[str, str | None]
    usage: Usage
    task: asyncio.Future[StepResult] = field(init=False)
    candidate: Answer | None = None
    child: _Branch | None = None
    discarded: bool = False


@dataclass(frozen=True)
class RunOptions:
    keep_going: bool = False
    max_cost: float | None = None  # stop cleanly (resumable) once the spent cost reaches this
    log_samples: str = LOG_CONTESTED
    batch_steps: int = 2000
    batch_seconds: float = 2.0
    speculate: int = 0  # steps ahead of the step being decided that may start on its leading candidate
    confidence_p: float | None = None  # p for each decision's confidence (the run's p); None: no confidence
    confidence_needed: float | None = None  # what each step's confidence needs for the target (low steps)


class Runner:
    """Drives one job through the engine and writes it to the store in batches."""

    def __init__(
        self,
        task: SequentialTask,
        engine: Engine,
        cfg: VoteConfig,
        store: RunStore,
        run_id: str,
        options: RunOptions = RunOptions(),
        on_step: Callable[[StepResult, RunTotals], None] | None = None,
        adaptive: AdaptiveK | None = None,
    ) -> None:
        self.task = task
        self.engine = engine
        self.cfg = cfg
        self.store = store
        self.run_id = run_id
        self.options = options
        self.on_step = on_step
        self._steps: list[StepRow] = []
        self._samples: list[SampleRow] = []
        self._last_flush = time.monotonic()
        self._judge = task.judge()
        # a task kind written before `previous` existed verifies from four arguments
        self._verify_previous = "previous" in inspect.signature(task.verify).parameters
        if options.speculate > 0 and not cfg.split_first_round:  # the next step starts on the fastest of k draws
            self.cfg = cfg = dataclasses.replace(cfg, split_first_round=True)
        self._head: _Branch | None = None  # the speculative branch of the step being decided
        self.adaptive = adaptive  # --adaptive-k: k re-chosen before each step (never with speculation)
        self._base_cfg = self.cfg
        self._current = 0

    async def run(self, point: RunPoint, totals: RunTotals) -> RunOutcome:
        """Run from `point` to the end (or a stop), with the lease renewed meanwhile."""
        async with leased(self.store, self.run_id):
            return await self._run(point, totals)

    async def _run(self, point: RunPoint, totals: RunTotals) -> RunOutcome:
        task, opts = self.task, self.options
        judge = task.judge()
        simulated = self.engine.provider.info.simulated
        wall_base = totals.wall_s
        t0 = time.perf_counter()
        if opts.confidence_needed is not None:
            totals.confidence_needed = opts.confidence_needed
        status = RUNNING
        last: StepResult | None = None
        failed: FailedStepFields | None = None
        message: str | None = None
        try:
            while True:
                if task.finished(point.step, point.state, point.previous):
                    status = SOLVED if totals.wrong_steps == 0 else FAILED
                    break
                limit = None
                if opts.max_cost is not None:
                    if totals.cost_usd is None:
                        status, message = BUDGET_EXHAUSTED, UNKNOWN_COST
                        break
                    if totals.cost_usd >= opts.max_cost:
                        status, message = (
                            BUDGET_EXHAUSTED,
                            (
                                f"stopped before step {point.step}: ${totals.cost_usd:,.4f} spent reaches --max-cost "
                                f"${opts.max_cost:,.4g}"
                            ),
                        )
                        break
                    limit = opts.max_cost - totals.cost_usd  # what this step may still spend
                if self.adaptive is not None:
                    self._adapt(totals)
                if opts.speculate > 0:
                    last = await self._speculative(point, totals, limit)
                else:
                    prompt = task.prompt(point.step, point.state, point.previous, simulated=simulated)
                    last = await self.engine.vote(prompt, judge, self.cfg, spend_limit=limit)
                if self.adaptive is not None:
                    self.adaptive.observe(last.tallies)
                if not last.decided:
                    totals.add(last, None, done=False)  # not done, but its spend counts
                    self._buffer_samples(point.step, last)
                    status, message = _undecided(point.step, last, self.cfg)
                    break
                action, next_state = task.advance(last.value)
                correct = (
                    task.verify(point.step, point.state, action, next_state, point.previous)
                    if self._verify_previous
                    else task.verify(point.step, point.state, action, next_state)
                )
                totals.add(last, correct)
                if self.adaptive is not None and self.adaptive.p_low is not None:
                    # worst case at the bound this step's k was chosen with, against what it needed then
                    confidence = decision_confidence(last.tallies, last.winner, self.adaptive.p_low)
                    totals.confide(confidence, self.adaptive.needed)
                else:
                    confidence = decision_confidence(last.tallies, last.winner, opts.confidence_p)
                    totals.confide(confidence)
                self._buffer(point, last, action, next_state, correct, confidence)
                if correct is False and failed is None:
                    failed = {
                        "step": point.step,
                        "state": task.encode_state(point.state),
                        "decided_action": task.encode_action(action),
                        "decided_state": task.encode_state(next_state),
                        "tallies": dict(last.tallies),
                    }
                point = RunPoint(point.step + 1, next_state, action)
                totals.wall_s = wall_base + time.perf_counter() - t0
                if self.on_step is not None:
                    self.on_step(last, totals)
                if correct is False and not opts.keep_going:
                    status = FAILED
                    break
                if len(self._steps) >= opts.batch_steps or time.monotonic() - self._last_flush >= opts.batch_seconds:
                    self._flush(point, totals, RUNNING)
                    await asyncio.sleep(0)  # let signals and displays in
        except asyncio.CancelledError:
            await self._discard_all(totals)
            totals.wall_s = wall_base + time.perf_counter() - t0
            self._flush(point, totals, INTERRUPTED)
            raise
        except Exception as exc:  # a provider or task failure: keep what was decided, resumable
            await self._discard_all(totals)
            totals.wall_s = wall_base + time.perf_counter() - t0
            try:
                self._flush(point, totals, ERROR, f"step {point.step}: {exc}")
            except Exception as store_exc:  # noqa: BLE001 - the store failed too: the original error matters more
                LOG.warning("could not record the error in the run store: %s", redact(str(store_exc)))
            raise
        await self._discard_all(totals)
        totals.wall_s = wall_base + time.perf_counter() - t0
        if failed is not None and message is None:
            message = f"first wrong step: {failed['step']}"
        self._flush(point, totals, status, message)
        return RunOutcome(status, totals, point, failed)

    def _adapt(self, totals: RunTotals) -> None:
        """--adaptive-k: the k for the next step (`maker_cli.core.adaptive`), within the sample cap;
        the red-flag limit grows with k by the default rule (never below the run's)."""
        assert self.adaptive is not None
        base = self._base_cfg
        k = self.adaptive.next_k()
        if base.max_samples is not None and k > base.max_samples:
            k = base.max_samples  # a k above the cap could never decide
        if k != self.cfg.k:
            flags = default_max_red_flags(k)
            self.cfg = dataclasses.replace(
                base, k=k, max_red_flags=max(flags, base.max_red_flags) if base.max_red_flags is not None else flags
            )
        totals.adaptive_k, totals.adaptive_p_hat = k, self.adaptive.p_hat

    # --- speculative step pipelining (--speculate D) ---------------------------------------------

    async def _speculative(self, point: RunPoint, totals: RunTotals, limit: float | None) -> StepResult:
        """Decide step `point.step`, on a branch started earlier on the right input if there is one.

        A branch is a vote of step j started, before step j - 1 was decided, on the next state of
        step j - 1's first valid answer. It is adopted only when that answer's next state and action
        are exactly the decided ones, so every vote it holds was drawn on the step's decided input;
        otherwise it and everything started from it is cancelled and counted as waste."""
        self._current = point.step
        key = self._key(point.state, point.previous)
        head = self._head
        if head is not None and not (head.step == point.step and head.key == key):
            child = head.child if head.step == point.step - 1 else None
            head.child = None
            await self._discard(head if head.step == point.step else None, totals)
            head = child if child is not None and child.step == point.step and child.key == key else None
            if head is None:
                await self._discard(child, totals)
        if head is None:
            head = self._start(point.step, point.state, point.previous, limit)
        self._head = head
        branch: _Branch | None = head
        while branch is not None:  # the pipeline may now reach further than when the candidates came
            self._spawn(branch, limit)
            branch = branch.child
        return await head.task

    def _key(self, state: TaskState, previous: TaskAction) -> tuple[str, str | None]:
        task = self.task
        return task.encode_state(state), (task.encode_action(previous) if previous is not None else None)

    def _start(self, step: int, state: TaskState, previous: TaskAction, limit: float | None) -> _Branch:
        simulated = self.engine.provider.info.simulated
        prompt = self.task.prompt(step, state, previous, simulated=simulated)
        branch = _Branch(step, self._key(state, previous), Usage())

        def on_candidate(answer: Answer) -> None:
            branch.candidate = answer
            self._spawn(branch, limit)

        branch.task = asyncio.ensure_future(
            self.engine.vote(
                prompt, self._judge, self.cfg, spend_limit=limit, on_candidate=on_candidate, usage=branch.usage
            )
        )
        return branch

    def _spawn(self, branch: _Branch, limit: float | None) -> None:
        """Start the step after `branch` on its candidate's next state, if the depth allows."""
        if branch.child is not None or branch.candidate is None or branch.discarded:
            return
        if branch.step + 1 - self._current > self.options.speculate:
            return
        action, next_state = self.task.advance(branch.candidate.value)
        if self.task.finished(branch.step + 1, next_state, action):
            return
        branch.child = self._start(branch.step + 1, next_state, action, limit)

    async def _discard(self, branch: _Branch | None, totals: RunTotals) -> None:
        """Cancel a branch and everything started from it; count what they spent as waste."""
        chain = []
        while branch is not None:
            branch.discarded = True
            chain.append(branch)
            branch = branch.child
        for b in chain:
            b.task.cancel()
        if chain:
            await asyncio.gather(*(b.task for b in chain), return_exceptions=True)
        for b in chain:
            totals.waste(b.usage)
            if self.engine.listeners:
                self.engine.emit(_discarded(b))

    async def _discard_all(self, totals: RunTotals) -> None:
        """At the end of a run: every branch still open is waste (the head was adopted or failed)."""
        head = self._head
        self._head = None
        if head is not None:
            child, head.child = head.child, None
            await self._discard(child, totals)
            if not head.task.done() or head.task.cancelled():  # interrupted while voting: spent, not wasted
                head.task.cancel()
                await asyncio.gather(head.task, return_exceptions=True)
                totals.spend(head.usage)

    def _buffer(
        self,
        point: RunPoint,
        r: StepResult,
        action: TaskAction,
        next_state: TaskState,
        correct: bool | None,
        confidence: float | None = None,
    ) -> None:
        self._steps.append(
            StepRow(
                idx=point.step,
                input_state=self.task.encode_state(point.state),
                winner_key=r.winner,
                winner_value=self.task.value_text(action, next_state),
                decided=True,
                tallies=r.tallies,
                samples=r.samples,
                valid=r.valid,
                red_flagged=r.samples - r.valid,
                red_flag_reasons=r.red_flags,
                errors=r.errors,
                retries=r.retries,
                rounds=r.rounds,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
                latency_s=r.wall_s,
                correct=correct,
                cached_tokens=r.cached_tokens,
                confidence=confidence,
                k=self.cfg.k if self.adaptive is not None else None,
                p_hat=self.adaptive.p_hat if self.adaptive is not None else None,
            )
        )
        self._buffer_samples(point.step, r)

    def _buffer_samples(self, idx: int, r: StepResult) -> None:
        self._samples.extend(sample_rows(idx, r, self.options.log_samples))

    def _flush(self, point: RunPoint, totals: RunTotals, status: RunStatus, message: str | None = None) -> None:
        t = totals
        update: dict[str, object] = {
            "status": status,
            "last_state": resume_point(
                self.task, point, t, self.adaptive.state() if self.adaptive is not None else None
            ),
            "samples": t.samples,
            "valid": t.valid,
            "red_flagged": t.red_flagged,
            "errors": t.errors,
            "retries": t.retries,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "cached_tokens": t.cached_tokens,
            "cost_usd": t.cost_usd,
            "wrong_steps": t.wrong_steps,
            "first_error_step": t.first_error_step,
            "rounds": t.rounds,
            "wall_s": t.wall_s,
            "red_flag_reasons": t.red_flag_reasons,
        }
        if message is not None or status != RUNNING:  # an ending replaces a resumed run's old message
            update["message"] = redact(message) if message is not None else None  # a server may echo a key
        if status != RUNNING:
            update["owner"] = None  # the lease ends with the run's last batch
        self.store.write_batch(self.run_id, self._steps, self._samples, update)
        self._steps = []
        self._samples = []
        self._last_flush = time.monotonic()


@contextlib.asynccontextmanager
async def leased(store: RunStore, run_id: str) -> AsyncIterator[None]:
    """Renew the run's lease every LEASE_RENEW_S while the block runs. Batches refresh it too, but
    a step may take longer than the lease lasts (a slow model, a contested vote), and another host
    must not take a live run for an abandoned one. A store that cannot be written is left to the
    next batch to report."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_S)
            try:
                store.renew(run_id)
            except Exception as exc:  # noqa: BLE001 - the next batch write reports a broken store
                LOG.debug("could not renew the lease of run %s: %s", run_id, redact(str(exc)))

    task = asyncio.ensure_future(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _discarded(branch: _Branch) -> BranchDiscarded:
    """The event of a discarded speculative vote: what it spent, and how it had ended if it had."""
    task, usage = branch.task, branch.usage
    ended = task.done() and not task.cancelled() and task.exception() is None
    return BranchDiscarded(
        branch.step,
        usage.samples,
        usage.cost_usd if usage.cost_known else None,
        task.result().decided if ended else None,
    )


UNKNOWN_COST = (
    "the cost became unknown (the provider reported no usage or no price), so --max-cost cannot be "
    "enforced; give --price-in/--price-out"
)


def _undecided(step: int, r: StepResult, cfg: VoteConfig) -> tuple[RunStatus, str]:
    """The status and message of a run that stopped at an undecided step: which stop ended it."""
    ranked = sorted(r.tallies.items(), key=lambda kv: -kv[1])[:3]
    if r.stopped == StopReason.BUDGET:
        return BUDGET_EXHAUSTED, f"step {step} stopped at the --max-cost limit after {r.samples} samples"
    if r.stopped == StopReason.RED_FLAGS:
        # samples already in flight when the limit is reached still land: the count may pass it
        reasons = ", ".join(f"{k} {n}" for k, n in sorted(r.red_flags.items(), key=lambda kv: -kv[1]))
        return UNDECIDED, (
            f"step {step}: stopped at the red-flag limit: {r.red_flagged} red-flagged samples "
            f"(max_red_flags {cfg.max_red_flags}{'; ' + reasons if reasons else ''}) among {r.samples}"
        )
    if r.stopped_early:
        return UNDECIDED, (
            f"step {step} undecided after {r.samples} samples: no answer could win within the cap "
            f"(max_samples {cfg.max_samples}), so it stopped early (loss of hope); leading answers: {ranked}"
        )
    return UNDECIDED, (
        f"step {step} undecided after {r.samples} samples (the cap, max_samples {cfg.max_samples}); "
        f"leading answers: {ranked}"
    )


def keeps_samples(mode: str, r: StepResult) -> bool:
    """Whether the logging policy keeps a step's raw samples: all, none, or (contested) those of a
    step that took more than one round, had a red flag or was not decided."""
    if mode == LOG_ALL:
        return True
    if mode == LOG_NONE:
        return False
    return r.rounds > 1 or r.samples > r.valid or not r.decided


def sample_rows(idx: int, r: StepResult, mode: str) -> list[SampleRow]:
    """The store rows of step `idx`'s raw samples, as the logging policy `mode` keeps them."""
    if not r.records or not keeps_samples(mode, r):
        return []
    return [
        SampleRow(
            idx=idx,
            seq=rec.seq,
            temperature=rec.temperature,
            text=rec.text,
            answer_key=rec.key,
            red_flag=rec.red_flag,
            input_tokens=rec.input_tokens,
            output_tokens=rec.output_tokens,
            finish_reason=rec.finish_reason,
            latency_s=rec.latency_s,
            confidence=rec.confidence,
        )
        for rec in r.records
    ]
