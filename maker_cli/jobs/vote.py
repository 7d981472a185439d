"""`maker_cli.vote(...)`: one reliable answer by first-to-ahead-by-k voting.

Shared by `maker vote` and the MCP tool maker_vote, so both report the same `VoteResult`. A vote
is capped: at most `max_samples` samples (default `DEFAULT_MAX_SAMPLES`) and, with `max_cost`, at
most that many dollars; reaching a cap ends it undecided (`stopped` says which), never with a
plurality winner.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.job import JobSettings, merge_job_settings
from maker_cli.config.settings import Settings, load_settings
from maker_cli.core.clusters import AnswerMatcher
from maker_cli.core.confidence import decision_confidence
from maker_cli.core.engine import Engine, StepResult, VoteConfig
from maker_cli.core.events import JobStarted, Listener, announce
from maker_cli.core.maths import check_p, default_max_red_flags
from maker_cli.core.race import VotingMethod
from maker_cli.core.status import EarlyStopReason, StepStatus, StopReason
from maker_cli.errors import UsageError
from maker_cli.jobs.event_log import EventsArg, event_listeners, job_scope, new_job_id
from maker_cli.jobs.task_arg import TaskArg, resolve_task
from maker_cli.providers import is_sim
from maker_cli.providers.base import Provider
from maker_cli.providers.factory import provider_for
from maker_cli.providers.sim import parse_sim, sim_params
from maker_cli.specs.matching import EmbeddingMatch, NumberMatch
from maker_cli.tasks import PromptTask, QuestionTask
from maker_cli.workflows.task import WorkflowTask

DEFAULT_MAX_SAMPLES = 1000
"""A vote's sample cap when none is set: one question should never draw without bound."""


class VoteResult(BaseModel):
    """What a vote decided and what it cost; `model_dump(mode="json")` is `maker vote --json`."""

    winner: str | None = Field(description="the decided answer (canonical key); null when undecided")
    decided: bool
    status: StepStatus
    k: int
    votes: dict[str, int] = Field(description="valid votes per answer, most first")
    samples: int = Field(description="completions received, red-flagged ones included")
    valid: int
    red_flagged: int
    red_flag_reasons: dict[str, int] = Field(description="reason -> count (too_long, truncated, format, ...)")
    errors: int = Field(description="calls that failed after retries (never votes)")
    retries: int
    rounds: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int = Field(0, description="the part of input_tokens the provider served from its prompt cache")
    cost_usd: float | None = Field(description="null when a price was unknown")
    wall_s: float
    model: str
    simulated: bool
    task: str | None = Field(None, description="the task spec's name (null for a free prompt)")
    stopped: StopReason | None = Field(None, description="why an undecided vote stopped: sample_cap, red_flags, budget")
    method: str = Field("ahead-by-k", description="the voting method that decided it (or failed to)")
    stopped_early: bool = Field(
        False,
        description="stopped before the race ended on its own: early_stop_reason says why (loss of hope, undecided; "
        "or early stopping on a confident leader, decided)",
    )
    early_stop_reason: EarlyStopReason | None = Field(
        None,
        description="loss_of_hope: no answer could win within the sample cap (undecided); confident: early "
        "stopping decided for the leader (--early-stop-votes/--early-stop-confidence); null otherwise",
    )
    scores: dict[str, float] | None = Field(
        None, description="cisc: each answer's summed vote weights; borda: its points; null for the other methods"
    )
    sample_confidence: float | None = Field(
        None,
        description="mean confidence of the winner's (else the leader's) samples, when the method read them "
        "(cisc, early stopping); null otherwise",
    )
    confidence_source: str | None = Field(
        None,
        description="where the sample confidences came from: logprobs (token log-probabilities), heuristic "
        "(the text: finish reason, length, hedging), or mixed; null when none were read",
    )
    confidence: float | None = Field(
        None,
        description=(
            "P(the winner is right) given the tallies and confidence_p, in the worst case (every wrong sample "
            "agrees): 1 / (1 + ((1-p)/p)^(a-b)), a the winner's votes, b the runner-up's; null when undecided or "
            "without p"
        ),
    )
    confidence_p: float | None = Field(
        None, description="the p the confidence used: --p, else the simulated model's own; null for a real model"
    )
    clusters: dict[str, dict[str, int]] | None = Field(
        None,
        description=(
            "with a matching step (number tolerance, embedding): per answer in `votes` (its cluster's "
            "representative), the canonical answers that voted with it and their votes; null otherwise"
        ),
    )
    matching_calls: int = Field(0, description="embedding calls made to match answers")
    matching_tokens: int = Field(0, description="their input tokens (part of input_tokens)")
    matching_cost_usd: float | None = Field(
        0.0, description="their cost (part of cost_usd); null when the embedding model's price is unknown"
    )
    settings: JobSettings | None = Field(None, description="the settings the vote used")
    settings_sources: dict[str, str] | None = Field(
        None, description="which layer set each setting: flag, calibration, spec, env, config or default"
    )

    @classmethod
    def of(
        cls,
        result: StepResult,
        *,
        job: JobSettings,
        simulated: bool,
        task: str | None,
        confidence_p: float | None = None,
    ) -> VoteResult:
        ranked = sorted(result.tallies.items(), key=lambda kv: -kv[1])
        return cls(
            winner=result.winner,
            decided=result.decided,
            status=result.status,
            k=job.k,
            votes=dict(ranked),
            samples=result.samples,
            valid=result.valid,
            red_flagged=result.red_flagged,
            red_flag_reasons=dict(result.red_flags),
            errors=result.errors,
            retries=result.retries,
            rounds=result.rounds,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cached_tokens=result.cached_tokens,
            cost_usd=result.cost_usd,
            wall_s=round(result.wall_s, 4),
            model=job.model,
            simulated=simulated,
            task=task,
            stopped=result.stopped,
            method=result.method,
            stopped_early=result.stopped_early,
            early_stop_reason=result.early_stop_reason,
            scores={key: round(w, 6) for key, w in sorted(result.scores.items(), key=lambda kv: -kv[1])}
            if result.method.weighted
            else None,
            sample_confidence=round(result.sample_confidence, 6) if result.sample_confidence is not None else None,
            confidence_source=result.confidence_source,
            confidence=decision_confidence(result.tallies, result.winner, confidence_p) if result.decided else None,
            confidence_p=confidence_p,
            clusters=result.clusters,
            matching_calls=result.match_calls,
            matching_tokens=result.match_tokens,
            matching_cost_usd=result.match_cost_usd,
            settings=job,
            settings_sources=dict(job.sources),
        )


def vote(prompt: str | None = None, **options: OptionValue) -> VoteResult:
    """Get one answer by voting (see `avote` for the keywords)."""
    return asyncio.run(avote(prompt, **options))


async def avote(
    prompt: str | None = None,
    *,
    task: TaskArg | None = None,
    inputs: Mapping[str, JSONValue] | None = None,
    system: str | None = None,
    answer_regex: str | None = None,
    model: str | None = None,
    k: int | None = None,
    p: float | None = None,
    max_samples: int | None = None,
    max_red_flags: int | None = None,
    eager: int | None = None,
    method: str | None = None,
    early_stop_votes: int | None = None,
    early_stop_confidence: float | None = None,
    temperature: float | None = None,
    first_temperature: float | None = None,
    max_output_tokens: int | None = None,
    must_not_match: Sequence[str] = (),
    concurrency: int | None = None,
    api_base: str | None = None,
    router_config: Path | None = None,
    timeout: float | None = None,
    price_in: float | None = None,
    price_out: float | None = None,
    max_cost: float | None = None,
    prompt_cache: bool = False,
    listeners: Iterable[Listener] = (),
    events: EventsArg = None,
    events_text: bool = False,
    config: Path | None = None,
    settings: Settings | None = None,
    provider: Provider | None = None,
) -> VoteResult:
    """Sample until one answer leads every other by k; undecided (not an error) at a cap.

    Give `prompt` (with `system`, `answer_regex`) or `task` (a question spec path or spec, with
    `inputs`). Settings: keyword > spec > MAKER_* > config file > defaults. `p` (P(one valid sample
    is correct)) gives the result its `confidence`; the simulated model's own p is used without it.
    `listeners` receive the engine's typed events (maker_cli.core.events); `events` writes them as
    JSON lines to a path (appended to) or a text stream, with the samples' text if `events_text`
    (docs/events.md). Their run_id is an id made for this vote (`vote-...`).
    """
    plan = plan_vote(
        prompt,
        task=task,
        inputs=inputs,
        system=system,
        answer_regex=answer_regex,
        settings=settings,
        config=config,
        must_not_match=must_not_match,
        p=p,
        flags=dict(
            model=model,
            k=k,
            max_samples=max_samples,
            max_red_flags=max_red_flags,
            eager=eager,
            method=method,
            early_stop_votes=early_stop_votes,
            early_stop_confidence=early_stop_confidence,
            temperature=temperature,
            first_temperature=first_temperature,
            max_output_tokens=max_output_tokens,
            concurrency=concurrency,
            api_base=api_base,
            router_config=router_config,
            timeout=timeout,
            price_in=price_in,
            price_out=price_out,
            max_cost=max_cost,
            prompt_cache=prompt_cache or None,
        ),
    )
    with event_listeners(listeners, events, text=events_text) as every_listener:
        return await run_vote(plan, provider or provider_for(plan.job), listeners=every_listener)


class VotePlan:
    """A vote ready to run: the task, its merged settings and the voting config."""

    def __init__(self, task: QuestionTask | PromptTask, job: JobSettings, p: float | None = None) -> None:
        self.task = task
        self.job = job
        self.p = p  # for the decision's confidence (None: the simulated model's own, or none)
        self.config = VoteConfig(
            k=job.k,
            max_samples=job.max_samples,
            eager=job.eager,
            method=job.method,
            early_stop=job.early_stop(),
            ranking_depth=(task.ranking_depth if isinstance(task, QuestionTask) else None) or 3,
            first_temperature=job.first_temperature,
            temperature=job.temperature,
            rules=job.rules(),
            max_red_flags=job.max_red_flags,
        )

    @property
    def matching(self) -> NumberMatch | EmbeddingMatch | None:
        """The question spec's matching step (number tolerance, embedding), if it has one."""
        return self.task.spec.answer_field.matching if isinstance(self.task, QuestionTask) else None

    def matcher(self) -> AnswerMatcher | None:
        """A fresh matcher for one vote (an embedding model imports litellm unless it is `sim`)."""
        rule = self.matching
        if rule is None:
            return None
        from maker_cli.providers.embeddings import make_matcher

        job = self.job
        return make_matcher(rule, api_base=job.api_base, timeout=job.timeout, max_attempts=job.max_attempts)


def plan_vote(
    prompt: str | None,
    *,
    task: TaskArg | None,
    inputs: Mapping[str, JSONValue] | None,
    system: str | None,
    answer_regex: str | None,
    flags: Mapping[str, OptionValue],
    must_not_match: Sequence[str] = (),
    settings: Settings | None = None,
    config: Path | None = None,
    p: float | None = None,
) -> VotePlan:
    """Check the arguments, build the task and merge the settings (no model call yet)."""
    if (prompt is None) == (task is None):
        raise UsageError("give exactly one of --prompt TEXT or --task FILE")
    if prompt is not None and not prompt.strip():
        raise UsageError("the prompt is empty: give the question to answer (--prompt TEXT)")
    if prompt is not None and inputs:
        raise UsageError("--input goes with --task, not with --prompt")
    if task is not None and (system is not None or answer_regex is not None):
        raise UsageError("--system and --answer-regex go with --prompt; a task spec has its own")
    the_task: PromptTask | QuestionTask
    if task is None:
        assert prompt is not None  # exactly one of the two, checked above
        the_task = PromptTask(prompt, system or "", answer_regex)
    else:
        found = resolve_task(task, inputs=inputs)
        if not isinstance(found, QuestionTask):
            what = "a workflow" if isinstance(found, WorkflowTask) else "a sequence spec (it has initial_state)"
            raise UsageError(
                f"{getattr(found, 'source', found.name)} is {what}: run it "
                f"with `maker run task {getattr(found, 'source', '')}`"
            )
        the_task = found
    settings = settings or load_settings(config)
    spec_layer = the_task.settings()
    flags = dict(flags)
    if must_not_match:
        flags["must_not_match"] = (*spec_layer.get("must_not_match", ()), *must_not_match)
    job = merge_job_settings(settings, flags=flags, spec=spec_layer)
    max_samples = job.max_samples
    if max_samples is None:
        if job.k > DEFAULT_MAX_SAMPLES:
            raise UsageError(
                f"k = {job.k} needs more than the default cap of {DEFAULT_MAX_SAMPLES} samples per vote "
                f"(about k/(2p-1) samples are drawn): pass --max-samples N with N >= {job.k} to allow them"
            )
        max_samples = DEFAULT_MAX_SAMPLES
        job = job.model_copy(update={"max_samples": max_samples, "sources": {**job.sources, "max_samples": "default"}})
    if max_samples < job.k:
        raise UsageError(f"--max-samples {max_samples} is below k = {job.k}: no answer could ever win")
    if job.max_red_flags is None:  # report the limit the engine applies (a vote knows no valid rate)
        job = job.model_copy(
            update={
                "max_red_flags": default_max_red_flags(job.k),
                "sources": {**job.sources, "max_red_flags": "default"},
            }
        )
    if p is not None:
        check_p(p)  # the rule everywhere: p in (0.5, 1]
    if is_sim(job.model):
        the_task = _simulated_task(the_task, job, p)
    if job.method is VotingMethod.BORDA and not (isinstance(the_task, QuestionTask) and the_task.ranking_depth):
        raise UsageError(
            f"--method borda needs ranked answers: a question spec with answer.ranked (e.g. `answer: {{ranked: 3, "
            f"regex: ...}}`); {'a free prompt has' if task is None else 'this spec has'} none "
            f"(method set by the {job.source('method')})"
        )
    return VotePlan(the_task, job, p)


def _simulated_task(task: PromptTask | QuestionTask, job: JobSettings, p: float | None) -> PromptTask | QuestionTask:
    """The task as the simulated model plays it (a spec's correct answer may come from its
    `answer=`), refused before any sample when it cannot work: no correct answer, replies the
    spec's rules discard, or (without --p) the model's own p <= 0.5."""
    answer = parse_sim(job.model).answer
    if isinstance(task, QuestionTask):
        if answer is not None:
            if task.has_expected():
                raise UsageError(
                    f"{task.spec.source} gives the correct answer (`expected:`) and so does the simulated "
                    "model's answer=: give it once"
                )
            task = task.with_expected(answer)  # the replies take the spec's format, as with `expected`
        problem = task.simulation_problem()
        if problem is not None:
            raise UsageError(
                f"the simulated model cannot answer {task.spec.source}: {problem}, or answer=VALUE in the "
                "model (e.g. 'sim:p=0.9,answer=VALUE')"
            )
    elif answer is None:
        raise UsageError("the simulated model answers a free prompt with answer=TEXT, e.g. 'sim:p=0.9,answer=42'")
    system = task.prompt(simulated=True).system  # builds the replies: SpecError now if the spec's rules discard them
    if p is None:  # as a simulated run's k_min: the model's own p (its prompt marker's) obeys the rule for p
        check_p(sim_params(job.model, system).p)
    return task


async def run_vote(plan: VotePlan, provider: Provider, *, listeners: Iterable[Listener] = ()) -> VoteResult:
    """Run a planned vote on `provider` (closed afterwards)."""
    job = plan.job
    simulated = provider.info.simulated
    if job.max_cost is not None and not (simulated or provider.info.prices_known):
        await provider.aclose()
        raise UsageError(
            f"--max-cost needs prices, and {job.model} has none in litellm's price map: give --price-in and "
            "--price-out (USD per million tokens)"
        )
    problem = plan.task.simulation_problem() if simulated else None
    try:
        prompt = plan.task.prompt(simulated=simulated and problem is None)
        p = plan.p
        if p is None and simulated and is_sim(job.model):  # the simulated model's own p (its prompt marker's)
            p = sim_params(job.model, prompt.system).p
        engine = Engine(provider, concurrency=job.concurrency, listeners=listeners)
        matcher = plan.matcher()
        with job_scope(new_job_id("vote")):  # the events' run_id: the vote is in no store
            announce(engine.listeners, JobStarted("vote", 1, k=job.k, model=job.model, task=plan.task.name))
            result = await engine.vote(
                prompt, plan.task.judge(), plan.config, spend_limit=_limit(job.max_cost), matcher=matcher
            )
    finally:
        await provider.aclose()
    name = plan.task.name if isinstance(plan.task, QuestionTask) else None
    return VoteResult.of(result, job=job, simulated=simulated, task=name, confidence_p=p)


def _limit(max_cost: float | None) -> float | None:
    return None if max_cost is None or math.isinf(max_cost) else max_cost
