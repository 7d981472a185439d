"""`maker_cli.run(...)`: a sequential job to completion — plan, estimate, guard the budget, run,
report — resumable after any crash.

Shared by `maker run hanoi`, `maker run task` and the Python API: one planner
(`maker_cli.jobs.run_plan`), one runner (`maker_cli.jobs.runner`), one `RunResult`. Once a run exists in the store, every ending is a
result (solved, failed, undecided, budget_exhausted, error); only Ctrl-C raises (KeyboardInterrupt,
the run saved as interrupted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.settings import Settings
from maker_cli.core.adaptive import AdaptiveK
from maker_cli.core.engine import Engine, StepResult
from maker_cli.core.events import JobStarted, Listener, announce
from maker_cli.core.maths import DEFAULT_TARGET
from maker_cli.core.status import RunStatus
from maker_cli.errors import BudgetExceeded, MakerError, UsageError
from maker_cli.jobs.event_log import EventsArg, event_listeners, job_scope
from maker_cli.jobs.run_plan import (
    ASSUMED_OUTPUT_TOKENS,
    RESUMABLE,
    RunPlan,
    check_resumable,
    choose_k,
    job_estimate,
    plan_run,
)
from maker_cli.jobs.run_result import AdaptiveReport, FailedStep, RunConfig, RunResult, SpeculativeWaste
from maker_cli.jobs.run_state import RunOutcome, RunPoint, RunTotals, restore
from maker_cli.jobs.runner import Runner
from maker_cli.jobs.task_arg import TaskArg
from maker_cli.providers.base import Provider
from maker_cli.providers.factory import make_provider
from maker_cli.secrets import redact
from maker_cli.store.run_store import RunStore
from maker_cli.tasks.hanoi_prompt import PromptArg
from maker_cli.workflows.task import WorkflowTask

__all__ = [
    "run",
    "arun",
    "execute",
    "start",
    "report",
    "provider_of",
    "StartedRun",
    # planning (maker_cli.jobs.run_plan), importable from here too
    "ASSUMED_OUTPUT_TOKENS",
    "RESUMABLE",
    "RunPlan",
    "plan_run",
    "choose_k",
    "job_estimate",
]


@dataclass
class StartedRun:
    """A run as the store holds it: where it starts and what it has spent."""

    plan: RunPlan
    store: RunStore
    run_id: str
    point: RunPoint
    totals: RunTotals
    resumed: bool


def run(task: TaskArg | None = None, **options: OptionValue) -> RunResult:
    """Run a job to completion (see `arun` for the keywords)."""
    return asyncio.run(arun(task, **options))


async def arun(
    task: TaskArg | None = None,
    *,
    disks: int = 10,
    inputs: Mapping[str, JSONValue] | None = None,
    steps: int | None = None,
    trust_spec_code: bool = False,
    prompt: PromptArg = None,
    model: str | None = None,
    k: int | None = None,
    target: float | None = None,
    p: float | None = None,
    calibration: str | Path | None = None,
    max_samples: int | None = None,
    max_red_flags: int | None = None,
    eager: int | None = None,
    method: str | None = None,
    early_stop_votes: int | None = None,
    early_stop_confidence: float | None = None,
    concurrency: int | None = None,
    api_base: str | None = None,
    router_config: Path | None = None,
    timeout: float | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    first_temperature: float | None = None,
    price_in: float | None = None,
    price_out: float | None = None,
    max_cost: float | None = None,
    prompt_cache: bool = False,
    keep_going: bool = False,
    speculate: int | None = None,
    adaptive_k: bool = False,
    k_min_floor: int | None = None,
    log_samples: str | None = None,
    store: Path | None = None,
    resume: str | None = None,
    yes: bool = False,
    on_start: Callable[[StartedRun], None] | None = None,
    on_step: Callable[[StepResult, RunTotals], None] | None = None,
    listeners: Iterable[Listener] = (),
    events: EventsArg = None,
    events_text: bool = False,
    config: Path | None = None,
    settings: Settings | None = None,
    provider: Provider | None = None,
) -> RunResult:
    """Run `task` (a `Hanoi(disks=...)`, 'hanoi', a sequence spec path or spec) step by step, or
    continue the stored run `resume`. k: `k`, else k_min from `p`/`calibration`, else the spec's
    voting.k, else the settings. `prompt`: a prompt file (or HanoiPrompt) instead of Hanoi's
    built-in prompt or the spec's system/user; a resumed run keeps its own and refuses another. `max_cost` refuses a run expected to cost more (unless `yes`)
    and stops it, resumable, at the cap. `listeners` receive the engine's typed events; `events` writes
    them as JSON lines to a path (appended to) or a text stream, with the samples' text if
    `events_text` (docs/events.md); their run_id is the store's."""
    flags = dict(
        model=model,
        k=k,
        target=target,
        max_samples=max_samples,
        max_red_flags=max_red_flags,
        eager=eager,
        method=method,
        early_stop_votes=early_stop_votes,
        early_stop_confidence=early_stop_confidence,
        concurrency=concurrency,
        api_base=api_base,
        router_config=router_config,
        timeout=timeout,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        first_temperature=first_temperature,
        price_in=price_in,
        price_out=price_out,
        max_cost=max_cost,
        prompt_cache=prompt_cache or None,
    )
    plan = plan_run(
        task,
        disks=disks,
        inputs=inputs,
        steps=steps,
        trust_spec_code=trust_spec_code,
        prompt=prompt,
        flags=flags,
        p=p,
        calibration=calibration,
        keep_going=keep_going,
        speculate=speculate,
        adaptive_k=adaptive_k,
        k_min_floor=k_min_floor,
        log_samples=log_samples,
        store=store,
        resume=resume,
        yes=yes,
        config=config,
        settings=settings,
    )
    with event_listeners(listeners, events, text=events_text) as every_listener:
        return await execute(
            plan, provider or provider_of(plan.config), on_start=on_start, on_step=on_step, listeners=every_listener
        )


def provider_of(config: RunConfig) -> Provider:
    return make_provider(
        config.model,
        api_base=config.api_base,
        router_config=Path(config.router_config) if config.router_config else None,
        timeout=config.timeout,
        max_attempts=config.max_attempts,
        price_in=config.price_in,
        price_out=config.price_out,
        prompt_cache=config.prompt_cache,
    )


# --------------------------------------------------------------------------- running


async def execute(
    plan: RunPlan,
    provider: Provider,
    *,
    on_start: Callable[[StartedRun], None] | None = None,
    on_step: Callable[[StepResult, RunTotals], None] | None = None,
    listeners: Iterable[Listener] = (),
    on_node: Callable[..., None] | None = None,
) -> RunResult:
    """Guard the budget, start or resume the run in the store, run it, report it (provider closed after).
    `on_node(node, totals)`: a workflow's node changed status."""
    try:
        config = plan.config
        simulated = provider.info.simulated
        if config.max_cost is not None and not (simulated or provider.info.prices_known):
            raise UsageError(
                f"--max-cost needs prices, and {config.model} has none in litellm's price map: give --price-in and "
                "--price-out (USD per million tokens)"
            )
        expected = plan.estimate.expected_cost_usd if plan.estimate is not None else None
        if (
            plan.resume is None
            and config.max_cost is not None
            and expected is not None
            and not plan.yes
            and expected > config.max_cost
        ):
            raise BudgetExceeded(
                f"the expected cost ${expected:,.2f} exceeds --max-cost ${config.max_cost:,.2f}; "
                "raise the cap, lower the job, or pass --yes to start anyway (it still stops at the cap)"
            )
        with RunStore(plan.store_file) as store:
            if isinstance(plan.task, WorkflowTask):
                from maker_cli.workflows.run import run_workflow

                return await run_workflow(
                    plan, provider, store, on_start=on_start, on_node=on_node, listeners=listeners
                )
            started = start(plan, store)
            if on_start is not None:
                on_start(started)
            engine = Engine(provider, concurrency=config.concurrency, listeners=listeners)
            adaptive = adaptive_of(started)
            runner = Runner(
                plan.task,
                engine,
                config.vote_config(),
                store,
                started.run_id,
                config.options(plan.task.planning_steps),
                on_step=on_step,
                adaptive=adaptive,
            )
            try:
                with job_scope(started.run_id):  # the events' run_id
                    announce(engine.listeners, job_started(plan, started.totals.steps_done))
                    outcome = await runner.run(started.point, started.totals)
            except MakerError as exc:
                return report(
                    started,
                    RunOutcome(RunStatus.ERROR, started.totals, started.point),
                    simulated,
                    error=redact(str(exc)),
                    adaptive=adaptive,
                )
            message = store.get_run(started.run_id).message
            return report(started, outcome, simulated, message=message, adaptive=adaptive)
    finally:
        await provider.aclose()


def job_started(plan: RunPlan, steps_done: int) -> JobStarted:
    """What a run says of itself as it starts (the metrics' progress gauges); a workflow counts its
    voted steps."""
    task = plan.task
    workflow = isinstance(task, WorkflowTask)
    return JobStarted(
        kind="workflow" if workflow else "run",
        steps_total=task.planning_steps if isinstance(task, WorkflowTask) else task.steps_total,
        steps_done=steps_done,  # a workflow counts its voted steps (nodes, sequence steps, composition)
        k=plan.config.k,
        model=plan.config.model,
        task=task.name,
    )


def start(plan: RunPlan, store: RunStore) -> StartedRun:
    """Create the run in the store (or claim a stored one to resume) and say where it starts."""
    task = plan.task
    assert not isinstance(task, WorkflowTask)  # a workflow starts in maker_cli.workflows.run
    if plan.resume is None:
        state, previous = task.start()
        stored = {"task": task.config(), "job": plan.config.model_dump(mode="json"), "sources": plan.sources}
        run_id = store.create_run(task.kind, task.name, plan.config.model, stored, task.steps_total)
        store.claim(run_id)
        return StartedRun(plan, store, run_id, RunPoint(0, state, previous), RunTotals(), False)
    record = store.get_run(plan.resume)
    check_resumable(record, keep_going=plan.config.keep_going)  # again: another process may have ended it since
    store.claim(record.id, running=True)  # one process per run: refuses while another live process works on it
    record = store.get_run(record.id)  # as of the claim
    point, totals = restore(task, record)
    return StartedRun(plan, store, record.id, point, totals, True)


def adaptive_of(started: StartedRun) -> AdaptiveK | None:
    """--adaptive-k: the estimate (carried on from the stored run when resumed), else None."""
    config, task = started.plan.config, started.plan.task
    if not config.adaptive_k or isinstance(task, WorkflowTask):
        return None
    adaptive = AdaptiveK(task.planning_steps, config.target or DEFAULT_TARGET, config.k_min_floor, config.prior_p)
    if started.resumed:
        saved = (started.store.get_run(started.run_id).last_state or {}).get("adaptive")
        if isinstance(saved, dict):
            adaptive.restore(saved)
    return adaptive


def report(
    started: StartedRun,
    outcome: RunOutcome,
    simulated: bool,
    *,
    error: str | None = None,
    message: str | None = None,
    adaptive: AdaptiveK | None = None,
) -> RunResult:
    """The result of a run as it stands."""
    t = outcome.totals
    task = started.plan.task
    config = started.plan.config
    failed = FailedStep(**outcome.failed_step) if outcome.failed_step is not None else None
    return RunResult(
        run_id=started.run_id,
        status=outcome.status,
        task=task.name,
        kind=task.kind,
        model=config.model,
        simulated=simulated,
        k=config.k,
        steps_total=task.steps_total,
        steps_done=t.steps_done,
        errors=t.wrong_steps,
        first_error_step=t.first_error_step,
        samples=t.samples,
        valid=t.valid,
        red_flagged=t.red_flagged,
        red_flag_reasons=dict(t.red_flag_reasons),
        call_errors=t.errors,
        retries=t.retries,
        rounds=t.rounds,
        votes_per_step=t.valid / t.steps_done if t.steps_done else None,
        max_votes=t.max_votes,
        speculative_waste=None
        if not config.speculate and not t.wasted_branches
        else SpeculativeWaste(
            branches=t.wasted_branches,
            samples=t.wasted_samples,
            input_tokens=t.wasted_input_tokens,
            output_tokens=t.wasted_output_tokens,
            cost_usd=t.wasted_cost_usd,
            share_of_samples=t.wasted_samples / t.samples if t.samples else None,
        ),
        input_tokens=t.input_tokens,
        output_tokens=t.output_tokens,
        cached_tokens=t.cached_tokens,
        cost_usd=t.cost_usd,
        wall_s=round(t.wall_s, 3),
        min_confidence=t.min_confidence,
        mean_confidence=t.mean_confidence,
        low_confidence_steps=t.low_confidence_steps,
        confidence_needed=t.confidence_needed,
        early_stopped_steps=t.early_stopped_steps,
        adaptive=AdaptiveReport.of(adaptive) if adaptive is not None else None,
        resumed=started.resumed,
        failed_step=failed,
        error=error,
        message=error or message,
        settings=config,
        settings_sources=dict(started.plan.sources),
        **(task.report_fields(outcome.point.state) if not isinstance(task, WorkflowTask) else {"spec": task.source}),
    )
