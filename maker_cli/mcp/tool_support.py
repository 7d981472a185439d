"""What the MCP tools share: failures as tool errors, the spending guard's plumbing, the answer rules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from maker_cli.config.job import JobSettings
from maker_cli.errors import MakerError
from maker_cli.mcp.guard import SpendPlan, plan_spend
from maker_cli.mcp.schemas import GuardReport, StopReason
from maker_cli.mcp.session import Session
from maker_cli.providers import is_sim
from maker_cli.providers.sim import parse_sim
from maker_cli.specs.canonical import CanonicalStep
from maker_cli.specs.extract import ValueType
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.judge import AnswerJudge
from maker_cli.specs.loader import describe_errors
from maker_cli.specs.matching import MatchRule
from maker_cli.tasks import PromptTask
from maker_cli.untrusted_regex import PatternTimeout

STOP_REASONS: dict[str, StopReason] = {"sample_cap": "sample_cap", "red_flags": "red_flags", "budget": "cost_cap"}


@contextmanager
def tool_errors(session: Session) -> Iterator[None]:
    """Anticipated failures become tool errors with a redacted message; the server keeps serving.
    A pattern from the caller that runs past its time bound (`PatternTimeout`) is a tool error too.
    Anything else is a bug: the SDK answers 'Error executing tool X' and logs the traceback (stderr)."""
    try:
        yield
    except (ToolError, MakerError) as exc:
        raise ToolError(session.redact(str(exc))) from None
    except ValidationError as exc:
        raise ToolError(session.redact(describe_errors(exc, "arguments").removeprefix("arguments: "))) from None
    except (ValueError, PatternTimeout) as exc:
        raise ToolError(session.redact(str(exc))) from None


class SessionTools:
    """The tools' session, and the spending guard each tool that calls a model goes through."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _plan(
        self,
        job: JobSettings,
        *,
        requested: int | None,
        prompt_chars: int,
        least: int,
        what: str = "max_samples",
        matching: MatchRule | None = None,
    ) -> SpendPlan:
        """This call's caps (`maker_cli.mcp.guard.plan_spend`) under the session's limits; with an
        embedding step, each sample's worst case includes embedding its answer."""
        session = self.session
        cap, cap_name = session.call_cap()
        return plan_spend(
            job,
            cap_samples=session.settings.mcp_max_samples,
            cap_usd=cap,
            cap_name=cap_name,
            locked=session.lock_caps,
            requested=requested,
            prompt_chars=prompt_chars,
            least=least,
            what=what,
            matching=matching,
        )

    def _guard(self, spent: float | None, plan: SpendPlan, stop: StopReason) -> GuardReport:
        return GuardReport(
            spent_usd=spent,
            session_spent_usd=self.session.spent_usd,
            session_remaining_usd=self.session.remaining_usd,
            sample_cap=plan.samples,
            cost_cap_usd=plan.cap_usd,
            worst_case_usd=plan.worst_case_usd,
            stop_reason=stop,
            guard_notes=list(plan.notes),
        )


def check_model(model: str) -> None:
    if not model.strip():
        raise ToolError("model is empty: give a litellm model string or 'sim:...'")
    if is_sim(model):
        parse_sim(model)  # UsageError for unknown options


def answer_judge(
    answer_regex: str | None,
    match: Literal["last", "first"],
    json_path: str | None,
    json_type: ValueType | None,
    canonical: list[CanonicalStep],
    allowed: list[str] | None,
    require: str | None,
) -> AnswerJudge:
    """The judge a vote would use for these answer rules; without rules, the whole response."""
    if answer_regex is None and json_path is None:
        if json_type is not None or allowed is not None or canonical:
            raise ToolError("json_type, allowed and canonical need answer_regex or json_path")
        whole = PromptTask("").judge()
        return AnswerJudge(whole.fields, require=require) if require else whole
    rules: dict[str, object] = dict(
        regex=answer_regex, json_path=json_path, type=json_type, allowed=allowed, canonical=canonical
    )
    if answer_regex is not None:
        rules["match"] = match
    field = AnswerField.model_validate({key: value for key, value in rules.items() if value is not None})
    return AnswerJudge({"answer": field}, require=require)
