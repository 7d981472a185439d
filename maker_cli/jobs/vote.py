"""One voted answer: build the job (a free prompt or a task spec with inputs), run it, report it.

Shared by `maker vote` and the MCP server's `maker_vote` tool, so both report the same fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from maker_cli.core.engine import Engine, StepResult, VoteConfig
from maker_cli.errors import UsageError
from maker_cli.core.events import Listener
from maker_cli.providers.base import Provider, Reference
from maker_cli.core.redflags import FORMAT, Answer, RedFlag, RedFlagRules
from maker_cli.core.step import Judge, StepPrompt


@dataclass(frozen=True)
class VoteJob:
    system: str
    user: str
    judge: Judge
    cfg: VoteConfig
    reference: Reference | None = None
    task: str | None = None


def free_text_judge(answer_regex: str | None = None) -> Judge:
    """Judge for a free prompt: the whole response (or the regex's `answer` group, last match),
    whitespace collapsed, compared exactly. No match is a format red flag."""
    if answer_regex is None:

        def whole(text: str) -> Answer | RedFlag:
            key = " ".join(text.split())
            return Answer(key, key) if key else RedFlag(FORMAT, "empty answer")

        return whole
    try:
        pattern = re.compile(answer_regex, re.DOTALL)
    except re.error as exc:
        raise UsageError(f"--answer-regex is not a valid regular expression: {exc}") from None
    group: str | int = "answer" if "answer" in pattern.groupindex else (1 if pattern.groups else 0)

    def extract(text: str) -> Answer | RedFlag:
        last = None
        for last in pattern.finditer(text):
            pass
        if last is None or last.group(group) is None:
            return RedFlag(FORMAT, "answer pattern not found")
        key = " ".join(last.group(group).split())
        return Answer(key, key) if key else RedFlag(FORMAT, "empty answer")

    return extract


def vote_config(settings: Any, *, rules: RedFlagRules | None = None, **flags: Any) -> VoteConfig:
    """A VoteConfig from flags (None = not given) over settings (maker_cli.config.settings.Settings)."""

    def pick(name: str) -> Any:
        value = flags.get(name)
        return value if value is not None else getattr(settings, name)

    return VoteConfig(
        k=pick("k"),
        max_samples=pick("max_samples"),
        eager=pick("eager"),
        first_temperature=pick("first_temperature"),
        temperature=pick("temperature"),
        rules=rules if rules is not None else RedFlagRules(max_output_tokens=settings.max_output_tokens),
        record_samples=bool(flags.get("record_samples", False)),
    )


def spec_job(spec: Any, inputs: dict[str, str], settings: Any, flags: dict[str, Any]) -> VoteJob:
    """A VoteJob from a task spec (maker_cli.specs.question.TaskSpec) and its inputs: flags > spec > settings."""
    system, user = spec.render(inputs)
    voting = spec.voting

    def pick(name: str) -> Any:
        return flags.get(name) if flags.get(name) is not None else getattr(voting, name, None)

    merged = {name: pick(name) for name in ("k", "max_samples", "temperature", "first_temperature")}
    merged["eager"] = flags.get("eager")
    cfg = vote_config(settings, rules=spec.red_flag_rules(settings.max_output_tokens), **merged)
    return VoteJob(system, user, spec.judge(), cfg, reference=spec.reference(inputs), task=spec.name)


async def run_vote(
    job: VoteJob, provider: Provider, *, concurrency: int = 16, listeners: Iterable[Listener] = ()
) -> StepResult:
    engine = Engine(provider, concurrency=concurrency, listeners=listeners)
    try:
        return await engine.vote(StepPrompt(0, job.system, job.user, job.reference), job.judge, job.cfg)
    finally:
        await provider.aclose()


def vote_report(result: StepResult, *, model: str, simulated: bool, k: int) -> dict[str, Any]:
    """The fields `maker vote --json` prints (and the MCP tool returns)."""
    ranked = sorted(result.tallies.items(), key=lambda kv: -kv[1])
    return {
        "winner": result.winner,
        "decided": result.decided,
        "status": result.status,
        "k": k,
        "votes": dict(ranked),
        "samples": result.samples,
        "valid": result.valid,
        "red_flagged": result.red_flagged,
        "red_flag_reasons": dict(result.red_flags),
        "errors": result.errors,
        "retries": result.retries,
        "rounds": result.rounds,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": result.cost_usd,
        "wall_s": round(result.wall_s, 4),
        "model": model,
        "simulated": simulated,
    }
