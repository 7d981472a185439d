"""maker_calibrate: p and the valid rate from labelled responses (free) or from a model's samples."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Annotated

import anyio.to_thread
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from maker_cli.core.redflags import RedFlagRules
from maker_cli.errors import BudgetExceeded, MakerError
from maker_cli.jobs.calibrate import calibrate_labelled, plan_calibration, run_calibration
from maker_cli.jobs.prompt_compare import DEFAULT, compare, prompt_names
from maker_cli.jobs.recommend import recommend
from maker_cli.mcp import arguments as A
from maker_cli.mcp.schemas import CalibrateOutput, PromptComparisonOut
from maker_cli.mcp.tool_support import SessionTools, answer_judge, check_model, tool_errors
from maker_cli.providers.base import Completion
from maker_cli.providers.factory import provider_for
from maker_cli.providers.metered import MeteredProvider
from maker_cli.providers.prices import resolve_prices
from maker_cli.specs import QuestionSpec
from maker_cli.specs.canonical import CanonicalError, CanonicalStep, canonicalize
from maker_cli.specs.extract import ValueType, typed_expected
from maker_cli.tasks.question import parse_dataset_line


class CalibrateTool(SessionTools):
    """The maker_calibrate tool (`maker_cli.mcp.tools.MakerTools` adds the others)."""

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
        samples: Annotated[
            int | None, Field(description="model mode: samples to draw (default and maximum: mcp_max_samples)", ge=1)
        ] = None,
        pairs: Annotated[bool, Field(description="model mode: two samples per probe (do errors correlate?)")] = False,
        seed: Annotated[int, Field(description="model mode: random seed for the probes")] = 0,
        temperature: A.Temperature = None,
        max_output_tokens: A.MaxOutputTokens = None,
        must_not_match: A.MustNotMatch = [],  # noqa: B006 - never mutated
        steps: Annotated[
            int | None, Field(description="steps of the job to plan: gives the recommended k", ge=1)
        ] = None,
        target: A.Target = None,
        prompts: A.Prompts = None,
    ) -> CalibrateOutput:
        with tool_errors(self.session):
            if responses is not None and task is None:
                if prompts:
                    raise ToolError("prompts go with model mode (task), not with labelled responses")
                # judged in a worker thread: up to 10,000 responses, each matched against the caller's
                # patterns (a bounded time each, the GIL released), while the server answers other calls
                labelled = partial(
                    self._labelled,
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
                return await anyio.to_thread.run_sync(labelled)
            if task is not None and responses is None:
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
                    prompts=prompts or [],
                )
            raise ToolError("give exactly one of responses (labelled, free) or task ('hanoi' or a spec path)")

    def _labelled(
        self,
        responses: list[A.Labelled],
        answer_regex: str | None,
        json_path: str | None,
        json_type: ValueType | None,
        canonical: list[CanonicalStep],
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
        judge = answer_judge(answer_regex, "last", json_path, json_type, canonical, allowed, None)
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
        items: list[dict[str, object]] | None,
        inputs: Mapping[str, object],
        model: str | None,
        samples: int | None,
        pairs: bool,
        seed: int,
        temperature: float | None,
        max_output_tokens: int | None,
        must_not_match: list[str],
        steps: int | None,
        target: float | None,
        prompts: list[str],
    ) -> CalibrateOutput:
        session = self.session
        prompt_files = [None if p.strip() == DEFAULT else session.spec_path(p, "prompt file") for p in prompts]
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
        per = min(count, max(1, cap // max(1, len(prompt_files))))  # every prompt's samples within the cap
        per -= per % 2 if pairs else 0
        plans = [
            plan_calibration(
                spec or "hanoi",
                disks=disks,
                dataset=dataset,
                inputs=dict(inputs) or None,
                samples=per if len(prompt_files) > 1 else count,
                trust_spec_code=session.trust_spec_code,
                prompt=prompt,
                seed=seed,
                pairs=pairs,
                must_not_match=must_not_match,
                settings=session.settings,
                flags=dict(model=model, temperature=temperature, max_output_tokens=max_output_tokens, target=target),
            )
            for prompt in (prompt_files or [None])
        ]
        names = prompt_names(plans)  # the same prompt twice is refused before any spending
        job = plans[0].job
        check_model(job.model)
        chars = max(len(p.system) + len(p.user) for plan in plans for p in plan.probes)
        asked = None if samples is None else samples * len(plans)  # the guard notes a request it lowers
        spend = self._plan(job, requested=asked, prompt_chars=chars, least=2 if pairs else 1, what="samples")
        results = []
        spent, known = 0.0, True
        for plan in plans:
            if spent > 0 and spent >= spend.cap_usd:
                raise ToolError(f"stopped at the cap (${spend.cap_usd:g}) before every prompt was sampled; no report")
            meter = MeteredProvider(provider_for(plan.job), max(0.0, spend.cap_usd - spent))
            try:
                results.append(await run_calibration(plan, meter, steps=steps, listeners=session.listeners))
            except BudgetExceeded as exc:
                raise ToolError(f"{exc}; no report (raise mcp_max_cost_usd or draw fewer samples)") from None
            finally:
                session.spent_usd += meter.spent
                spent += meter.spent
                known = known and meter.spent_usd is not None
        guard = self._guard(spent if known else None, spend, "done")
        if len(results) == 1:
            return CalibrateOutput(**results[0].model_dump(), mode="model", guard=guard)
        report = compare(results, names, seed=seed)
        best = next((i for i, row in enumerate(report.prompts) if row.recommended), 0)
        comparison = PromptComparisonOut(
            test=report.test,
            alpha=report.alpha,
            ranked_by=report.ranked_by,
            recommended=report.recommended,
            why=report.why,
            prompts=report.prompts,
        )
        return CalibrateOutput(**results[best].model_dump(), mode="model", guard=guard, comparison=comparison)


def _expected_key(
    expected: str,
    index: int,
    answer_regex: str | None,
    json_path: str | None,
    json_type: ValueType | None,
    canonical: list[CanonicalStep],
) -> str:
    """The canonical key a correct response parses to, from the expected answer's text."""
    if answer_regex is None and json_path is None:
        return " ".join(expected.split())  # the whole-response judge collapses whitespace
    try:
        return canonicalize(typed_expected(expected, json_type if json_path else None), canonical)
    except (CanonicalError, MakerError) as exc:
        raise ToolError(f"responses[{index}].expected {expected[:40]!r}: {exc}") from None
