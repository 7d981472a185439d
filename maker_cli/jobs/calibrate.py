"""`maker_cli.calibrate(...)`: measure a model's p and valid rate on a task, and recommend k.

Each probe — a Hanoi step drawn at random from the optimal solution, a dataset item of a question
spec, or a step drawn at random from a sequence spec's reference path — is sampled once at the
voting temperature (twice with `pairs`); every sample is red-flagged and judged exactly as a vote
would be, then compared with the known answer.

- `p` = correct / valid (conditional on passing the red flags), `valid_rate` = valid / samples,
  each with a 95% Wilson interval.
- `pairs` tests whether wrong answers coincide more often than independent errors allow
  (`maker_cli.jobs.pairs`): when they do, voting does worse than the maths says.
- The recommendation is k for the target over the job's steps from the *lower* bound of p, with
  the expected cost (`maker_cli.jobs.recommend`); `out=` writes the file `--calibration` reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.job import JobSettings, merge_job_settings
from maker_cli.config.settings import Settings, load_settings
from maker_cli.core.events import JobStarted, Listener, Scope, announce
from maker_cli.core.redflags import RedFlagRules
from maker_cli.core.step import Judge
from maker_cli.errors import UsageError
from maker_cli.jobs.calibration_draw import Tally, build_result, draw
from maker_cli.jobs.calibration_file import save_calibration
from maker_cli.jobs.calibration_result import CalibrationProgress, CalibrationResult
from maker_cli.jobs.event_log import EventsArg, event_listeners, job_scope, new_job_id
from maker_cli.jobs.recommend import cannot_converge_message, recommend, to_calibration
from maker_cli.jobs.task_arg import TaskArg, resolve_task
from maker_cli.providers import is_sim
from maker_cli.providers.base import Completion, Provider
from maker_cli.providers.factory import provider_for
from maker_cli.providers.prices import resolve_prices
from maker_cli.tasks import DatasetItem, Probe, Task, key_classifier
from maker_cli.tasks.base import prompt_record_of
from maker_cli.tasks.hanoi_prompt import PromptArg
from maker_cli.workflows.task import WorkflowTask

DEFAULT_SAMPLES = 1000  # Hanoi and sequence specs: one sample per random step


def calibrate(task: TaskArg = "hanoi", **options: OptionValue) -> CalibrationResult:
    """Measure p and the valid rate of a model on a task (see `acalibrate` for the keywords)."""
    return asyncio.run(acalibrate(task, **options))


async def acalibrate(
    task: TaskArg = "hanoi",
    *,
    disks: int = 10,
    dataset: str | Path | Sequence[DatasetItem] | None = None,
    inputs: Mapping[str, JSONValue] | None = None,
    trust_spec_code: bool = False,
    prompt: PromptArg = None,
    model: str | None = None,
    samples: int | None = None,
    temperature: float | None = None,
    concurrency: int | None = None,
    seed: int = 0,
    pairs: bool = False,
    target: float | None = None,
    steps: int | None = None,
    max_output_tokens: int | None = None,
    must_not_match: Sequence[str] = (),
    api_base: str | None = None,
    router_config: Path | None = None,
    timeout: float | None = None,
    price_in: float | None = None,
    price_out: float | None = None,
    prompt_cache: bool = False,
    out: str | Path | None = None,
    on_progress: Callable[[CalibrationProgress], None] | None = None,
    max_call_errors: int | None = None,
    listeners: Iterable[Listener] = (),
    events: EventsArg = None,
    events_text: bool = False,
    config: Path | None = None,
    settings: Settings | None = None,
    provider: Provider | None = None,
) -> CalibrationResult:
    """Measure p and the valid rate of `model` on `task` and recommend k for `target` over `steps`.

    `task` is 'hanoi' (with `disks`), a spec path or loaded spec (a question spec needs `dataset`,
    a JSONL file or DatasetItems; a sequence spec its `inputs`), or a task object. The result says
    `cannot_converge` (and recommends nothing) when voting cannot work. Writes `out` when given.
    `prompt`: a prompt file used instead of Hanoi's built-in prompt or the spec's system/user
    (`compare_prompts` samples several side by side). `listeners` receive the typed events of every
    sample (maker_cli.core.events; a probe's item as the step); `events` writes them as JSON lines to
    a path (appended to) or a text stream, with the samples' text if `events_text` (docs/events.md);
    their run_id is an id made for this calibration (`calibration-...`).
    """
    plan = plan_calibration(
        task,
        disks=disks,
        dataset=dataset,
        inputs=inputs,
        trust_spec_code=trust_spec_code,
        prompt=prompt,
        samples=samples,
        seed=seed,
        pairs=pairs,
        must_not_match=must_not_match,
        settings=settings or load_settings(config),
        flags=dict(
            model=model,
            temperature=temperature,
            concurrency=concurrency,
            max_output_tokens=max_output_tokens,
            api_base=api_base,
            router_config=router_config,
            timeout=timeout,
            price_in=price_in,
            price_out=price_out,
            target=target,
            prompt_cache=prompt_cache or None,
        ),
    )
    with event_listeners(listeners, events, text=events_text) as every_listener:
        return await run_calibration(
            plan,
            provider or provider_for(plan.job),
            steps=steps,
            out=out,
            on_progress=on_progress,
            max_call_errors=max_call_errors,
            listeners=every_listener,
        )


@dataclass
class CalibrationPlan:
    """A calibration decided but not started: the task, its settings, the probes."""

    task: Task
    job: JobSettings
    probes: list[Probe]
    per: int
    seed: int
    simulated: bool


def plan_calibration(
    task: TaskArg,
    *,
    flags: Mapping[str, OptionValue],
    settings: Settings,
    disks: int = 10,
    dataset: str | Path | Sequence[DatasetItem] | None = None,
    inputs: Mapping[str, JSONValue] | None = None,
    trust_spec_code: bool = False,
    prompt: PromptArg = None,
    samples: int | None = None,
    seed: int = 0,
    pairs: bool = False,
    must_not_match: Sequence[str] = (),
) -> CalibrationPlan:
    """Build the task, merge the settings and draw the probes (no model call yet)."""
    the_task = resolve_task(
        task, disks=disks, inputs=inputs, dataset=dataset, trust_code=trust_spec_code, prompt=prompt
    )
    if isinstance(the_task, WorkflowTask):
        raise UsageError(
            f"{the_task.source} is a workflow: calibrate the specs of its nodes (each node is a question or "
            "a sequence spec), then run the workflow with --p or --calibration"
        )
    spec_layer = the_task.settings()
    flags = dict(flags)
    if must_not_match:
        flags["must_not_match"] = (*spec_layer.get("must_not_match", ()), *must_not_match)
    job = merge_job_settings(settings, flags=flags, spec=spec_layer)
    simulated = is_sim(job.model)
    per = 2 if pairs else 1
    size = the_task.calibration_size
    count = samples if samples is not None else (size * per if size else DEFAULT_SAMPLES)
    if not isinstance(count, int) or count < 1:
        raise UsageError(f"samples must be a whole number >= 1, got {count}")
    probes = the_task.probes(-(-count // per), seed=seed, simulated=simulated)
    return CalibrationPlan(the_task, job, probes, per, seed, simulated)


async def run_calibration(
    plan: CalibrationPlan,
    provider: Provider,
    *,
    steps: int | None = None,
    out: str | Path | None = None,
    on_progress: Callable[[CalibrationProgress], None] | None = None,
    max_call_errors: int | None = None,
    listeners: Iterable[Listener] = (),
    scope: Scope | None = None,
) -> CalibrationResult:
    """Sample the plan's probes on `provider` (closed afterwards) and finish the result. The events'
    `scope`: by default an id made for this calibration."""
    where = scope if scope is not None else Scope(new_job_id("calibration"))
    try:
        with job_scope(where.run_id, where.node):
            listeners = list(listeners)
            size = len(plan.probes) * plan.per
            announce(listeners, JobStarted("calibration", size, model=plan.job.model, task=plan.task.name))
            result = await measure(
                provider,
                plan.probes,
                task=plan.task,
                per=plan.per,
                job=plan.job,
                seed=plan.seed,
                on_progress=on_progress,
                max_call_errors=max_call_errors,
                listeners=listeners,
            )
    finally:
        await provider.aclose()
    return finish(result, plan.task, plan.job, simulated=provider.info.simulated, steps=steps, out=out)


async def measure(
    provider: Provider,
    probes: Sequence[Probe],
    *,
    task: Task,
    per: int,
    job: JobSettings,
    seed: int | None,
    on_progress: Callable[[CalibrationProgress], None] | None = None,
    max_call_errors: int | None = None,
    listeners: Iterable[Listener] = (),
) -> CalibrationResult:
    """Draw `per` samples of every probe and build the result (no recommendation yet)."""
    t0 = time.perf_counter()
    tally = await draw(
        provider,
        probes,
        per_probe=per,
        temperature=job.temperature,
        concurrency=job.concurrency,
        rules=job.rules(),
        judge=task.judge(),
        classify=task.classify,
        on_progress=on_progress,
        max_call_errors=max_call_errors,
        listeners=list(listeners),
    )
    return build_result(
        tally,
        task=task.name,
        model=provider.info.name,
        simulated=provider.info.simulated,
        temperature=job.temperature,
        requested=len(probes) * per,
        probes=probes,
        seed=seed,
        wall_s=time.perf_counter() - t0,
        pairs=per == 2,
        breakdown=task.breakdown,
        notes=task.calibration_notes(),
        source=task.calibration_source(),
    )


def finish(
    result: CalibrationResult,
    task: Task,
    job: JobSettings,
    *,
    simulated: bool,
    steps: int | None,
    out: str | Path | None,
) -> CalibrationResult:
    """Add the recommendation, warnings and settings; write the calibration file when asked."""
    prices = resolve_prices(
        job.model,
        job.price_in,
        job.price_out,
        simulated=simulated,
        given_source=job.source("price_in") if job.price_in is not None else job.source("price_out"),
    )
    rec = recommend(result, steps=steps or task.planning_steps, target=job.target, prices=prices)
    hopeless = cannot_converge_message(result)
    warnings = _warnings(result, rec.message if rec.recommended_k is None and hopeless is None else None)
    written = None
    if out is not None:
        if result.p is None:
            warnings.append(f"no calibration file written to {out}: p is unknown (no valid sample)")
        else:
            saved = (
                (job.price_in, job.price_out) if prices.source == "simulated" else (prices.price_in, prices.price_out)
            )
            save_calibration(to_calibration(result, price_in=saved[0], price_out=saved[1]), out)
            written = str(out)
    return result.model_copy(
        update=dict(
            recommendation=rec,
            recommended_k=rec.recommended_k,
            cannot_converge=hopeless,
            calibration_file=written,
            warnings=warnings,
            settings=job.report(),
            settings_sources=dict(job.sources),
            prompt=prompt_record_of(task),
        )
    )


def _warnings(result: CalibrationResult, no_k: str | None) -> list[str]:
    out = []
    pairs = result.pairs
    if pairs is not None and pairs.correlated:
        out.append(
            f"errors are correlated: {pairs.collisions} pairs gave the same wrong answer twice, against "
            f"{pairs.expected_collisions:.3g} expected if errors were independent (one-sided p = {pairs.p_value:.2g}). "
            "Some steps are much harder than others, so voting will do worse than the maths says; "
            "use a larger k than recommended, improve the prompt, or decompose the task further"
        )
    if result.call_errors:
        out.append(f"{result.call_errors} calls failed after their retries; they are not counted as samples")
    if no_k:
        out.append(no_k)
    return out


def calibrate_labelled(
    labelled: Sequence[tuple[str | Completion, str]],
    judge: Judge,
    *,
    rules: RedFlagRules | None = None,
    model: str = "labelled",
    task: str = "labelled",
    temperature: float = 0.0,
) -> CalibrationResult:
    """A result from responses already drawn: (response text or Completion, expected answer key).

    The expected answer is the canonical key a correct response parses to. Red flags apply to
    Completions (length) and to every text (`rules.check`, then the judge). No model call.
    """
    rules = rules or RedFlagRules(max_output_tokens=None)
    tally = Tally()
    probes = []
    for index, (response, expected) in enumerate(labelled):
        completion = (
            response if isinstance(response, Completion) else Completion(response, None, None, "stop", 0.0, None)
        )
        probe = Probe(item=index, system="", user="", expected_key=expected)
        probes.append(probe)
        tally.requests += 1
        tally.add(index, probe, completion, rules, judge, key_classifier)
    if not tally.samples:
        raise UsageError("samples must be a whole number >= 1, got 0")
    return build_result(
        tally,
        task=task,
        model=model,
        simulated=False,
        temperature=temperature,
        requested=len(probes),
        probes=probes,
        seed=None,
        wall_s=0.0,
        pairs=False,
    )
