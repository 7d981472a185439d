"""The five maker tools: thin layers over the library functions the CLI calls.

Each tool checks its arguments, calls `maker_cli.jobs` (estimate, vote, calibrate) or the spec judge
and red-flag rules a vote uses (validate), and returns a typed result. Anticipated failures become
tool errors with a redacted one-line message; the server keeps serving.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, ValidationError

from maker_cli.config.settings import Settings
from maker_cli.core.redflags import EMPTY, Answer, RedFlagRules
from maker_cli.errors import BudgetExceeded, MakerError
from maker_cli.jobs.calibrate import calibrate_labelled, plan_calibration, run_calibration
from maker_cli.jobs.estimate import estimate as run_estimate
from maker_cli.jobs.recommend import recommend
from maker_cli.jobs.vote import VotePlan, plan_vote, run_vote
from maker_cli.mcp import arguments as A
from maker_cli.mcp.guard import SpendPlan, plan_spend
from maker_cli.mcp.schemas import (
    CalibrateOutput,
    ConfigureOutput,
    EstimateOutput,
    GuardReport,
    RedFlagOut,
    ValidateOutput,
    VoteOutput,
)
from maker_cli.mcp.session import Session
from maker_cli.providers import is_sim
from maker_cli.providers.base import Completion
from maker_cli.providers.factory import provider_for
from maker_cli.providers.metered import MeteredProvider
from maker_cli.providers.prices import resolve_prices
from maker_cli.providers.sim import parse_sim
from maker_cli.specs import QuestionSpec
from maker_cli.specs.canonical import CanonicalError, canonicalize
from maker_cli.specs.extract import typed_expected
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.judge import AnswerJudge
from maker_cli.specs.loader import describe_errors
from maker_cli.tasks import PromptTask
from maker_cli.tasks.question import parse_dataset_line

STOP_REASONS = {"sample_cap": "sample_cap", "red_flags": "red_flags", "budget": "cost_cap"}


@contextmanager
def tool_errors(session: Session) -> Iterator[None]:
    """Anticipated failures become tool errors with a redacted message; the server keeps serving.
    Anything else is a bug: the SDK answers 'Error executing tool X' and logs the traceback (stderr)."""
    try:
        yield
    except (ToolError, MakerError) as exc:
        raise ToolError(session.redact(str(exc))) from None
    except ValidationError as exc:
        raise ToolError(session.redact(describe_errors(exc, "arguments").removeprefix("arguments: "))) from None
    except (ValueError, re.error) as exc:
        raise ToolError(session.redact(str(exc))) from None


class MakerTools:
    """The tool functions; `maker_cli.mcp.server.build_server` registers each under its `maker_*` name."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- maker_estimate -------------------------------------------------------------------------

    def estimate(
        self,
        steps: Annotated[int, Field(ge=1, description="dependent steps in the job (s)")],
        p: Annotated[float, Field(gt=0, le=1, description="P(one valid sample is correct), per step; must be > 0.5")],
        target: A.Target = None,
        m: Annotated[int, Field(ge=1, description="steps per agent (1 = maximal decomposition)")] = 1,
        k: A._opt(int, "evaluate this vote margin instead of k_min", ge=1) = None,
        valid_rate: A._opt(float, "share of samples not red-flagged (default 1)", gt=0, le=1) = None,
        input_tokens: A._opt(float, "input tokens per one-step call", ge=0) = None,
        output_tokens: A._opt(float, "output tokens per one-step call", ge=0) = None,
        model: A._opt(
            str, "model whose prices to use (default: the session model, if set with maker_configure)"
        ) = None,
        price_in: A.Price = None,
        price_out: A.Price = None,
        budget_usd: A._opt(float, "dollars available: what target they reach", ge=0) = None,
        max_samples: A._opt(int, "per-step sample cap: gives P(a step ends undecided)", ge=1) = None,
        max_red_flags: A.MaxRedFlags = None,
        latency_s: A._opt(float, "seconds per call, for the wall time", gt=0) = None,
        concurrency: A._opt(int, "calls in flight at once (default: the session's)", ge=1) = None,
        sweep: Annotated[bool, Field(description="add a table over k around k_min")] = False,
    ) -> EstimateOutput:
        with tool_errors(self.session):
            configured = self.session.overrides.get("model")
            if model is None and configured and not is_sim(configured) and price_in is None and price_out is None:
                model = configured
            return run_estimate(
                steps=steps,
                p=p,
                target=target,
                m=m,
                k=k,
                valid_rate=valid_rate,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                model=model,
                price_in=price_in,
                price_out=price_out,
                latency=latency_s,
                concurrency=concurrency,
                budget=budget_usd,
                max_samples=max_samples,
                max_red_flags=max_red_flags,
                sweep=sweep,
                settings=self.session.settings,
            )

    # --- maker_vote -----------------------------------------------------------------------------

    async def vote(
        self,
        prompt: A._opt(str, "the question to answer (a free prompt); or give task") = None,
        system: A._opt(str, "system message for prompt") = None,
        answer_regex: A.VoteRegex = None,
        task: A.TaskPath = None,
        inputs: A.Inputs = {},  # noqa: B006 - never mutated
        k: A.K = None,
        max_samples: A.MaxSamples = None,
        max_red_flags: A.MaxRedFlags = None,
        model: A.ModelArg = None,
        temperature: A.Temperature = None,
        first_temperature: A._opt(float, "the first sample's temperature", ge=0, le=2) = None,
        max_output_tokens: A.MaxOutputTokens = None,
        must_not_match: A.MustNotMatch = [],  # noqa: B006 - never mutated
    ) -> VoteOutput:
        with tool_errors(self.session):
            if (prompt is None) == (task is None):
                raise ToolError("give exactly one of prompt (a question) or task (a YAML spec path)")
            session = self.session
            settings = session.settings
            spec = self._question(task) if task is not None else None
            plan = plan_vote(
                prompt,
                task=spec,
                inputs={n: str(v) for n, v in inputs.items()} or None,
                system=system,
                answer_regex=answer_regex,
                must_not_match=must_not_match,
                settings=settings,
                flags=dict(
                    model=model,
                    k=k,
                    temperature=temperature,
                    first_temperature=first_temperature,
                    max_output_tokens=max_output_tokens,
                    max_red_flags=max_red_flags,
                ),
            )
            _check_model(plan.job.model)
            explicit = plan.job.max_samples if plan.job.source("max_samples") != "default" else None
            prompt_ = plan.task.prompt(simulated=False)
            spend = self._plan(
                plan.job,
                requested=max_samples or explicit,
                prompt_chars=len(prompt_.system) + len(prompt_.user),
                least=plan.job.k,
            )
            cost_cap = spend.cap_usd if spend.worst_case_usd is not None else None  # unknown prices: samples only
            job = plan.job.model_copy(update={"max_samples": spend.samples, "max_cost": cost_cap})
            result = await run_vote(VotePlan(plan.task, job), provider_for(job))
            session.spent_usd += result.cost_usd or 0.0
            stop = "done" if result.decided else STOP_REASONS.get(str(result.stopped), "sample_cap")
            return VoteOutput(**result.model_dump(), **self._guard(result.cost_usd, spend, stop))

    def _question(self, task: str) -> QuestionSpec:
        spec = self.session.read_spec(task)
        if not isinstance(spec, QuestionSpec):
            raise ToolError(f"task spec {task!r} is a sequence spec: maker_vote asks question specs")
        return spec

    def _plan(self, job: Any, **kwargs: Any) -> SpendPlan:
        session = self.session
        cap, what = session.call_cap()
        return plan_spend(
            job,
            cap_samples=session.settings.mcp_max_samples,
            cap_usd=cap,
            cap_name=what,
            locked=session.lock_caps,
            **kwargs,
        )

    def _guard(self, spent: float | None, plan: SpendPlan, stop: str) -> dict[str, Any]:
        return dict(
            spent_usd=spent,
            session_spent_usd=self.session.spent_usd,
            session_remaining_usd=self.session.remaining_usd,
            sample_cap=plan.samples,
            cost_cap_usd=plan.cap_usd,
            worst_case_usd=plan.worst_case_usd,
            stop_reason=stop,
            guard_notes=list(plan.notes),
        )

    # --- maker_validate -------------------------------------------------------------------------

    def validate(
        self,
        response: Annotated[str, Field(description="the model response to check, verbatim")],
        answer_regex: A.AnswerRegex = None,
        match: Annotated[Literal["last", "first"], Field(description="answer_regex: which match counts")] = "last",
        json_path: A.JsonPath = None,
        json_type: A.JsonType = None,
        canonical: A.Canonical = [],  # noqa: B006 - never mutated
        allowed: A.Allowed = None,
        require: A._opt(str, "a regular expression the response must contain") = None,
        must_not_match: A.MustNotMatch = [],  # noqa: B006 - never mutated
        max_output_tokens: A.MaxOutputTokens = None,
        output_tokens: A._opt(
            int, "the provider's output-token count for the response (characters are not tokens)", ge=0
        ) = None,
        finish_reason: A._opt(str, "the provider's finish reason; 'length' means it was cut off") = None,
    ) -> ValidateOutput:
        """The same red-flag rules and judge a vote applies, reporting every problem found."""
        with tool_errors(self.session):
            judge = _judge(answer_regex, match, json_path, json_type, canonical, allowed, require)
            limit = max_output_tokens or self.session.settings.max_output_tokens
            rules = RedFlagRules(max_output_tokens=limit, must_not_match=tuple(must_not_match))
            flags = rules.check_all(Completion(response, None, output_tokens, finish_reason or "stop", 0.0, None))
            checks = [
                "truncated",
                *([f"too_long (> {limit} tokens)"] if output_tokens is not None else []),
                "empty",
                "must_not_match",
                "format",
            ]
            notes = (
                [] if output_tokens is not None else ["length not checked: give output_tokens (the provider's count)"]
            )
            verdict = judge(response)
            answer = value = None
            if isinstance(verdict, Answer):
                answer, value = verdict.key, verdict.value
            elif not any(flag.reason == EMPTY for flag in flags):
                flags.append(verdict)
            return ValidateOutput(
                valid=not flags,
                answer=answer,
                value=value,
                checks=checks,
                notes=notes,
                red_flags=[RedFlagOut(reason=f.reason, detail=f.detail, label=f.label) for f in flags],
            )

    # --- maker_calibrate ------------------------------------------------------------------------

    async def calibrate(
        self,
        responses: A.Responses = None,
        answer_regex: A.AnswerRegex = None,
        json_path: A.JsonPath = None,
        json_type: A.JsonType = None,
        canonical: A.Canonical = [],  # noqa: B006 - never mutated
        allowed: A.Allowed = None,
        task: A.CalibrationTask = None,
        disks: Annotated[int, Field(ge=1, le=25, description="task 'hanoi': number of disks")] = 10,
        items: A.Items = None,
        inputs: A.SeqInputs = {},  # noqa: B006 - never mutated
        model: A.ModelArg = None,
        samples: A._opt(int, "model mode: samples to draw (default and maximum: mcp_max_samples)", ge=1) = None,
        pairs: Annotated[bool, Field(description="model mode: two samples per probe (do errors correlate?)")] = False,
        seed: Annotated[int, Field(description="model mode: random seed for the probes")] = 0,
        temperature: A.Temperature = None,
        max_output_tokens: A.MaxOutputTokens = None,
        must_not_match: A.MustNotMatch = [],  # noqa: B006 - never mutated
        steps: A._opt(int, "steps of the job to plan: gives the recommended k", ge=1) = None,
        target: A.Target = None,
    ) -> CalibrateOutput:
        with tool_errors(self.session):
            if (responses is None) == (task is None):
                raise ToolError("give exactly one of responses (labelled, free) or task ('hanoi' or a spec path)")
            if responses is not None:
                return self._labelled(
                    responses,
                    answer_regex,
                    json_path,
                    json_type,
                    canonical,
                    allowed,
                    model,
                    max_output_tokens,
                    must_not_match,
                    steps,
                    target,
                )
            return await self._model_calibration(
                task,
                disks=disks,
                items=items,
                inputs=inputs,
                model=model,
                samples=samples,
                pairs=pairs,
                seed=seed,
                temperature=temperature,
                max_output_tokens=max_output_tokens,
                must_not_match=must_not_match,
                steps=steps,
                target=target,
            )

    def _labelled(
        self,
        responses: list[A.Labelled],
        answer_regex: str | None,
        json_path: str | None,
        json_type: str | None,
        canonical: list[str],
        allowed: list[str] | None,
        model: str | None,
        max_output_tokens: int | None,
        must_not_match: list[str],
        steps: int | None,
        target: float | None,
    ) -> CalibrateOutput:
        if not responses:
            raise ToolError("responses is empty: give at least one {response, expected}")
        settings = self.session.settings
        judge = _judge(answer_regex, "last", json_path, json_type, canonical, allowed, None)
        rules = RedFlagRules(max_output_tokens or settings.max_output_tokens, tuple(must_not_match))
        labelled = [
            (
                Completion(r.response, None, r.output_tokens, r.finish_reason or "stop", 0.0, None),
                _expected_key(r.expected, i, answer_regex, json_path, json_type, canonical),
            )
            for i, r in enumerate(responses)
        ]
        result = calibrate_labelled(labelled, judge, rules=rules, model=model or "labelled")
        if steps is not None:
            prices = resolve_prices(model or "labelled", settings.price_in, settings.price_out)
            rec = recommend(result, steps=steps, target=target or settings.target, prices=prices)
            result = result.model_copy(update={"recommendation": rec, "recommended_k": rec.recommended_k})
        return CalibrateOutput(**result.model_dump(), mode="labelled")

    async def _model_calibration(
        self,
        task: str,
        *,
        disks: int,
        items: list[dict[str, Any]] | None,
        inputs: Mapping[str, Any],
        model: str | None,
        samples: int | None,
        pairs: bool,
        seed: int,
        temperature: float | None,
        max_output_tokens: int | None,
        must_not_match: list[str],
        steps: int | None,
        target: float | None,
    ) -> CalibrateOutput:
        session = self.session
        spec = None if task == "hanoi" else session.read_spec(task)
        dataset = None
        if items is not None:
            if spec is None:
                raise ToolError("items go with a question spec, not with task 'hanoi'")
            if not isinstance(spec, QuestionSpec):
                raise ToolError("a sequence spec needs no items: steps are drawn along its reference solver's path")
            dataset = [parse_dataset_line(row, i + 1, spec.inputs) for i, row in enumerate(items)]
        elif isinstance(spec, QuestionSpec):
            raise ToolError("a question spec needs items: dataset rows with the spec's inputs and expected answer")
        cap = session.settings.mcp_max_samples
        natural = len(dataset) * (2 if pairs else 1) if dataset else None  # the CLI's default: each item once
        count = min(samples or natural or cap, cap)
        count -= count % 2 if pairs else 0  # whole pairs, never past the cap
        plan = plan_calibration(
            spec or "hanoi",
            disks=disks,
            dataset=dataset,
            inputs=dict(inputs) or None,
            samples=count,
            trust_spec_code=session.trust_spec_code,
            seed=seed,
            pairs=pairs,
            must_not_match=must_not_match,
            settings=session.settings,
            flags=dict(model=model, temperature=temperature, max_output_tokens=max_output_tokens, target=target),
        )
        _check_model(plan.job.model)
        chars = max(len(p.system) + len(p.user) for p in plan.probes)
        spend = self._plan(plan.job, requested=samples, prompt_chars=chars, least=2 if pairs else 1, what="samples")
        meter = MeteredProvider(provider_for(plan.job), spend.cap_usd)
        try:
            result = await run_calibration(plan, meter, steps=steps)
        except BudgetExceeded as exc:
            raise ToolError(f"{exc}; no report (raise mcp_max_cost_usd or draw fewer samples)") from None
        finally:
            session.spent_usd += meter.spent
        guard = GuardReport(**self._guard(meter.spent_usd, spend, "done"))
        return CalibrateOutput(**result.model_dump(), mode="model", guard=guard)

    # --- maker_configure ------------------------------------------------------------------------

    def configure(
        self,
        model: A.ModelArg = None,
        k: A.K = None,
        max_samples: A._opt(int, "default per-vote sample cap (still limited by mcp_max_samples)", ge=1) = None,
        first_temperature: A._opt(float, "temperature of a vote's first sample", ge=0, le=2) = None,
        temperature: A._opt(float, "temperature of the other samples", ge=0, le=2) = None,
        max_output_tokens: A._opt(int, "red-flag responses longer than this many output tokens", ge=1) = None,
        concurrency: A._opt(int, "calls in flight at once", ge=1, le=256) = None,
        target: A.Target = None,
        price_in: A._opt(float, "USD per million input tokens (for a model without a known price)", ge=0) = None,
        price_out: A._opt(float, "USD per million output tokens", ge=0) = None,
        mcp_max_samples: A._opt(int, "cap on samples per tool call; raise only if the user agrees", ge=1) = None,
        mcp_max_cost_usd: A._opt(float, "cap on dollars per tool call; raise only if the user agrees", ge=0) = None,
        reset: Annotated[bool, Field(description="first drop every session change (back to the settings)")] = False,
    ) -> ConfigureOutput:
        with tool_errors(self.session):
            session = self.session
            given = dict(
                model=model,
                k=k,
                max_samples=max_samples,
                first_temperature=first_temperature,
                temperature=temperature,
                max_output_tokens=max_output_tokens,
                concurrency=concurrency,
                target=target,
                price_in=price_in,
                price_out=price_out,
                mcp_max_samples=mcp_max_samples,
                mcp_max_cost_usd=mcp_max_cost_usd,
            )
            given = {name: value for name, value in given.items() if value is not None}
            locked = {"mcp_max_samples", "mcp_max_cost_usd", "price_in", "price_out"} & given.keys()
            if session.lock_caps and (locked or reset):
                what = ", ".join(sorted(locked)) or "reset"
                raise ToolError(
                    f"the spending caps and prices are locked (the server was started with --lock-caps): "
                    f"{what} cannot change; ask the user"
                )
            if model is not None:
                _check_model(model)
            overrides = ({} if reset else dict(session.overrides)) | given
            Settings.model_validate({**session.base.model_dump(), **overrides})  # the settings' own checks
            session.overrides = overrides
            s = session.settings
            return ConfigureOutput(
                model=s.model,
                k=s.k,
                max_samples=s.max_samples,
                first_temperature=s.first_temperature,
                temperature=s.temperature,
                max_output_tokens=s.max_output_tokens,
                concurrency=s.concurrency,
                target=s.target,
                price_in=s.price_in,
                price_out=s.price_out,
                mcp_max_samples=s.mcp_max_samples,
                mcp_max_cost_usd=s.mcp_max_cost_usd,
                caps_locked=session.lock_caps,
                session_cap_usd=session.session_cap_usd,
                session_spent_usd=session.spent_usd,
                session_remaining_usd=session.remaining_usd,
                changed=sorted(given),
            )


# --------------------------------------------------------------------------- helpers


def _check_model(model: str) -> None:
    if not model.strip():
        raise ToolError("model is empty: give a litellm model string or 'sim:...'")
    if is_sim(model):
        parse_sim(model)  # UsageError for unknown options


def _judge(
    answer_regex: str | None,
    match: str,
    json_path: str | None,
    json_type: str | None,
    canonical: list[str],
    allowed: list[str] | None,
    require: str | None,
) -> Any:
    """The judge a vote would use for these answer rules; without rules, the whole response."""
    if answer_regex is None and json_path is None:
        if json_type is not None or allowed is not None or canonical:
            raise ToolError("json_type, allowed and canonical need answer_regex or json_path")
        whole = PromptTask("").judge()
        return AnswerJudge(whole.fields, require=require) if require else whole
    rules: dict[str, Any] = dict(
        regex=answer_regex, json_path=json_path, type=json_type, allowed=allowed, canonical=canonical
    )
    if answer_regex is not None:
        rules["match"] = match
    field = AnswerField(**{key: value for key, value in rules.items() if value is not None})
    return AnswerJudge({"answer": field}, require=require)


def _expected_key(
    expected: str,
    index: int,
    answer_regex: str | None,
    json_path: str | None,
    json_type: str | None,
    canonical: list[str],
) -> str:
    """The canonical key a correct response parses to, from the expected answer's text."""
    if answer_regex is None and json_path is None:
        return " ".join(expected.split())  # the whole-response judge collapses whitespace
    try:
        return canonicalize(typed_expected(expected, json_type if json_path else None), list(canonical))  # type: ignore[arg-type]
    except (CanonicalError, MakerError) as exc:
        raise ToolError(f"responses[{index}].expected {expected[:40]!r}: {exc}") from None
