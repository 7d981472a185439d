"""The five maker tools: thin layers over the library functions the CLI calls.

Each tool checks its arguments, calls `maker_cli.jobs` (estimate, vote, calibrate) or the spec judge
and red-flag rules a vote uses (validate), and returns a typed result. Anticipated failures become
tool errors with a redacted one-line message; the server keeps serving.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from maker_cli.config.settings import Settings
from maker_cli.core.redflags import EMPTY, REGEX_TIMEOUT, Answer, RedFlagRules
from maker_cli.jobs.estimate import estimate as run_estimate
from maker_cli.jobs.vote import VotePlan, plan_vote, run_vote
from maker_cli.mcp import arguments as A
from maker_cli.mcp.calibrate_tool import CalibrateTool
from maker_cli.mcp.decompose_tool import DecomposeTool
from maker_cli.mcp.schemas import ConfigureOutput, EstimateOutput, RedFlagOut, ValidateOutput, VoteOutput
from maker_cli.mcp.tool_support import STOP_REASONS, answer_judge, check_model, tool_errors
from maker_cli.providers import is_sim
from maker_cli.providers.base import Completion
from maker_cli.providers.factory import provider_for
from maker_cli.specs import QuestionSpec
from maker_cli.untrusted_regex import MATCH_TIMEOUT_S

__all__ = ["STOP_REASONS", "MakerTools", "tool_errors"]


class MakerTools(CalibrateTool, DecomposeTool):
    """The tool functions; `maker_cli.mcp.server.build_server` registers each under its `maker_*` name.

    maker_calibrate comes from `CalibrateTool` (`maker_cli.mcp.calibrate_tool`), maker_decompose from
    `DecomposeTool` (`maker_cli.mcp.decompose_tool`); the session, the
    spending guard and the answer rules the tools share from `maker_cli.mcp.tool_support`.
    """

    # --- maker_estimate -------------------------------------------------------------------------

    def estimate(
        self,
        steps: Annotated[int, Field(ge=1, description="dependent steps in the job (s)")],
        p: Annotated[float, Field(gt=0, le=1, description="P(one valid sample is correct), per step; must be > 0.5")],
        target: A.Target = None,
        m: Annotated[int, Field(ge=1, description="steps per agent (1 = maximal decomposition)")] = 1,
        k: Annotated[int | None, Field(description="evaluate this vote margin instead of k_min", ge=1)] = None,
        valid_rate: Annotated[
            float | None, Field(description="share of samples not red-flagged (default 1)", gt=0, le=1)
        ] = None,
        input_tokens: Annotated[float | None, Field(description="input tokens per one-step call", ge=0)] = None,
        output_tokens: Annotated[float | None, Field(description="output tokens per one-step call", ge=0)] = None,
        cached_share: Annotated[
            float | None,
            Field(
                description="share of input tokens served from the prompt cache (priced at the cache rate)", ge=0, le=1
            ),
        ] = None,
        model: Annotated[
            str | None,
            Field(description="model whose prices to use (default: the session model, if set with maker_configure)"),
        ] = None,
        price_in: A.Price = None,
        price_out: A.Price = None,
        budget_usd: Annotated[
            float | None, Field(description="dollars available: what target they reach", ge=0)
        ] = None,
        max_samples: Annotated[
            int | None, Field(description="per-step sample cap: gives P(a step ends undecided)", ge=1)
        ] = None,
        max_red_flags: A.MaxRedFlags = None,
        latency_s: Annotated[float | None, Field(description="seconds per call, for the wall time", gt=0)] = None,
        concurrency: Annotated[
            int | None, Field(description="calls in flight at once (default: the session's)", ge=1)
        ] = None,
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
                cached_share=cached_share,
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
        prompt: Annotated[str | None, Field(description="the question to answer (a free prompt); or give task")] = None,
        system: Annotated[str | None, Field(description="system message for prompt")] = None,
        answer_regex: A.VoteRegex = None,
        task: A.TaskPath = None,
        inputs: A.Inputs = {},  # noqa: B006 - never mutated
        k: A.K = None,
        p: A.VoteP = None,
        max_samples: A.MaxSamples = None,
        max_red_flags: A.MaxRedFlags = None,
        model: A.ModelArg = None,
        temperature: A.Temperature = None,
        first_temperature: Annotated[
            float | None, Field(description="the first sample's temperature", ge=0, le=2)
        ] = None,
        max_output_tokens: A.MaxOutputTokens = None,
        must_not_match: A.MustNotMatch = [],  # noqa: B006 - never mutated
        red_flags: A.RedFlagsPreset = None,
        method: Annotated[
            Literal["ahead-by-k", "first-to-k", "cisc", "borda"] | None,
            Field(
                description="voting method: ahead-by-k (the paper's, the default, the only one with its guarantee), "
                "first-to-k, cisc (confidence-weighted votes) or borda (ranked answers; the task spec must declare "
                "answer.ranked)"
            ),
        ] = None,
        early_stop_votes: Annotated[
            int | None,
            Field(description="early stopping (with early_stop_confidence): decide after this many valid votes", ge=1),
        ] = None,
        early_stop_confidence: Annotated[
            float | None,
            Field(description="early stopping: the leader's mean sample confidence needed (0-1]", gt=0, le=1),
        ] = None,
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
                p=p,
                flags=dict(
                    model=model,
                    k=k,
                    temperature=temperature,
                    first_temperature=first_temperature,
                    max_output_tokens=max_output_tokens,
                    max_red_flags=max_red_flags,
                    red_flags=red_flags,
                    method=method,
                    early_stop_votes=early_stop_votes,
                    early_stop_confidence=early_stop_confidence,
                ),
            )
            check_model(plan.job.model)
            explicit = plan.job.max_samples if plan.job.source("max_samples") != "default" else None
            prompt_ = plan.task.prompt(simulated=False)
            spend = self._plan(
                plan.job,
                requested=max_samples or explicit,
                prompt_chars=len(prompt_.system) + len(prompt_.user),
                least=plan.job.k,
                matching=plan.matching,
            )
            cost_cap = spend.cap_usd if spend.worst_case_usd is not None else None  # unknown prices: samples only
            job = plan.job.model_copy(update={"max_samples": spend.samples, "max_cost": cost_cap})
            result = await run_vote(VotePlan(plan.task, job, plan.p), provider_for(job), listeners=session.listeners)
            session.spent_usd += result.cost_usd or 0.0
            stop = "done" if result.decided else STOP_REASONS.get(str(result.stopped), "sample_cap")
            guard = self._guard(result.cost_usd, spend, stop)
            return VoteOutput(**result.model_dump(), **guard.model_dump())

    def _question(self, task: str) -> QuestionSpec:
        spec = self.session.read_spec(task)
        if not isinstance(spec, QuestionSpec):
            raise ToolError(f"task spec {task!r} is a {spec.kind} spec: maker_vote asks question specs")
        return spec

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
        require: Annotated[str | None, Field(description="a regular expression the response must contain")] = None,
        must_not_match: A.MustNotMatch = [],  # noqa: B006 - never mutated
        max_output_tokens: A.MaxOutputTokens = None,
        output_tokens: Annotated[
            int | None,
            Field(description="the provider's output-token count for the response (characters are not tokens)", ge=0),
        ] = None,
        finish_reason: Annotated[
            str | None, Field(description="the provider's finish reason; 'length' means it was cut off")
        ] = None,
    ) -> ValidateOutput:
        """The same red-flag rules and judge a vote applies, reporting every problem found."""
        with tool_errors(self.session):
            judge = answer_judge(answer_regex, match, json_path, json_type, canonical, allowed, require)
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
            for flag in flags:
                if flag.reason == REGEX_TIMEOUT:
                    raise ToolError(
                        f"{flag.detail} ran longer than {MATCH_TIMEOUT_S:g} s on this response (it backtracks); "
                        f"a vote would discard the response as {REGEX_TIMEOUT}"
                    )
            return ValidateOutput(
                valid=not flags,
                answer=answer,
                value=value,
                checks=checks,
                notes=notes,
                red_flags=[RedFlagOut(reason=f.reason, detail=f.detail, label=f.label) for f in flags],
            )

    # --- maker_configure ------------------------------------------------------------------------

    def configure(
        self,
        model: A.ModelArg = None,
        k: A.K = None,
        max_samples: Annotated[
            int | None, Field(description="default per-vote sample cap (still limited by mcp_max_samples)", ge=1)
        ] = None,
        first_temperature: Annotated[
            float | None, Field(description="temperature of a vote's first sample", ge=0, le=2)
        ] = None,
        temperature: Annotated[float | None, Field(description="temperature of the other samples", ge=0, le=2)] = None,
        max_output_tokens: Annotated[
            int | None, Field(description="red-flag responses longer than this many output tokens", ge=1)
        ] = None,
        concurrency: Annotated[int | None, Field(description="calls in flight at once", ge=1, le=256)] = None,
        target: A.Target = None,
        price_in: Annotated[
            float | None, Field(description="USD per million input tokens (for a model without a known price)", ge=0)
        ] = None,
        price_out: Annotated[float | None, Field(description="USD per million output tokens", ge=0)] = None,
        mcp_max_samples: Annotated[
            int | None, Field(description="cap on samples per tool call; raise only if the user agrees", ge=1)
        ] = None,
        mcp_max_cost_usd: Annotated[
            float | None, Field(description="cap on dollars per tool call; raise only if the user agrees", ge=0)
        ] = None,
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
                check_model(model)
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
