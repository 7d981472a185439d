"""maker_decompose: split a task into a workflow of voted questions (each split decided by voting).

The recursive strategy calls a model, so it goes through the spending guard of maker_vote: the
whole call (every decision together) draws at most `mcp_max_samples` samples (or `max_samples`,
if lower), its worst case must fit the call's dollar cap up front, and the engine stops at that cap
while running. The sequential strategy calls no model and is free. The workflow comes back as YAML
text (nothing is written on the server's disk).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from maker_cli._types import OptionValue
from maker_cli.mcp import arguments as A
from maker_cli.mcp.schemas import GuardFields
from maker_cli.mcp.tool_support import STOP_REASONS, SessionTools, check_model, tool_errors
from maker_cli.providers.factory import provider_for
from maker_cli.workflows.decompose import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SUBTASKS,
    MAX_DEPTH_LIMIT,
    MAX_SUBTASKS_LIMIT,
    MAX_TASK_CHARS,
    DecompositionResult,
    adecompose,
    check_shape,
    check_task,
    plan_job,
)
from maker_cli.workflows.decompose_proposal import CONTEXT_CHARS, MAX_PROPOSAL_CHARS, system_prompt, user_prompt

DESCRIPTION = (
    "Split a task into a workflow of small voted questions (MAKER's Algorithm 4) and return the decomposition "
    "tree and the workflow spec as YAML (for `maker run task`). strategy 'recursive': for each task the model "
    "proposes, as JSON, either one minimal question or a split into 2..max_subtasks subtasks with dependencies "
    "and a composition; every such decision is made by first-to-ahead-by-k voting, malformed proposals "
    "discarded; subtasks are decided in turn down to max_depth. SPENDS MONEY: the whole call is capped at "
    "mcp_max_samples samples (or max_samples, if lower) and mcp_max_cost_usd dollars, refused up front when "
    "the worst case exceeds the dollar cap, and the session cap applies; the result reports spent_usd. "
    "strategy 'sequential' is free: the task's numbered or bulleted lines (else its sentences) become a chain. "
    "decided=false (a decision reached a cap) is an outcome, not an error: the tree so far comes back, "
    "without a workflow. model 'sim:p=0.9' is a free simulated model (it answers every task as minimal)."
)


class DecomposeOutput(GuardFields, DecompositionResult):
    """The fields `maker decompose --json` prints, then the spending guard's."""


class DecomposeTool(SessionTools):
    """The maker_decompose tool (`maker_cli.mcp.tools.MakerTools` adds the others)."""

    async def decompose(
        self,
        task: Annotated[str, Field(description="the task to split, in words", min_length=1, max_length=MAX_TASK_CHARS)],
        strategy: Annotated[
            Literal["recursive", "sequential"],
            Field(description="recursive: voted splits by a model; sequential: the task's own steps (free)"),
        ] = "recursive",
        model: A.ModelArg = None,
        k: A.K = None,
        max_depth: Annotated[
            int, Field(description="deepest split; a task this deep is asked as one question", ge=1, le=MAX_DEPTH_LIMIT)
        ] = DEFAULT_MAX_DEPTH,
        max_subtasks: Annotated[
            int, Field(description="most subtasks one split may have", ge=2, le=MAX_SUBTASKS_LIMIT)
        ] = DEFAULT_MAX_SUBTASKS,
        max_samples: Annotated[
            int | None,
            Field(description="sample cap for the whole call (all decisions); never above mcp_max_samples", ge=1),
        ] = None,
        temperature: A.Temperature = None,
        max_output_tokens: A.MaxOutputTokens = None,
        name: Annotated[str | None, Field(description="the workflow's name (default 'decomposition')")] = None,
    ) -> DecomposeOutput:
        with tool_errors(self.session):
            session = self.session
            check_task(task)
            check_shape(max_depth, max_subtasks)
            if strategy == "sequential":
                result = await adecompose(
                    task, strategy="sequential", max_depth=max_depth, max_subtasks=max_subtasks, name=name
                )
                return DecomposeOutput(
                    **result.model_dump(),
                    spent_usd=0.0,
                    session_spent_usd=session.spent_usd,
                    session_remaining_usd=session.remaining_usd,
                    sample_cap=0,
                    cost_cap_usd=0.0,
                    worst_case_usd=0.0,
                    stop_reason="done",
                    guard_notes=["the sequential strategy calls no model: nothing spent"],
                )
            settings = session.settings
            flags: dict[str, OptionValue] = dict(
                model=model, k=k, temperature=temperature, max_output_tokens=max_output_tokens
            )
            job = plan_job(settings, flags)
            check_model(job.model)
            spend = self._plan(
                job,
                requested=max_samples,
                prompt_chars=worst_prompt_chars(task, max_depth, max_subtasks),
                least=job.k,
            )
            cost_cap = spend.cap_usd if spend.worst_case_usd is not None else None  # unknown prices: samples only
            result = await adecompose(
                task,
                max_depth=max_depth,
                max_subtasks=max_subtasks,
                max_total_samples=spend.samples,
                model=model,
                k=k,
                temperature=temperature,
                max_output_tokens=max_output_tokens,
                max_cost=cost_cap,
                name=name,
                settings=settings,
                provider=provider_for(job.model_copy(update={"max_cost": cost_cap})),
                listeners=session.listeners,
            )
            session.spent_usd += result.cost_usd or 0.0
            stop = "done" if result.decided else STOP_REASONS.get(str(result.stopped), "sample_cap")
            guard = self._guard(result.cost_usd, spend, stop)
            return DecomposeOutput(**result.model_dump(), **guard.model_dump())


def worst_prompt_chars(task: str, max_depth: int, max_subtasks: int) -> int:
    """A high estimate of a decision prompt's characters: a subtask's text may be as long as a whole
    proposal, and each enclosing task adds a line of context."""
    longest = max(len(user_prompt(task, [], 0, max_depth)), MAX_PROPOSAL_CHARS)
    return len(system_prompt(max_subtasks)) + longest + max_depth * (2 * CONTEXT_CHARS + 40)
