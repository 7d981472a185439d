"""`maker_cli.compare_prompts(...)`: calibrate the same steps with several prompts, side by side.

Every prompt is sampled on the same probes (the same seed draws the same Hanoi steps, sequence
steps or dataset items), one prompt after the other, with the same settings. Each gets its own
calibration (p and the valid rate with Wilson intervals, mean tokens, the k it needs for the
target and the expected cost of the whole job at that k).

- **The recommended prompt** is the one with the lowest expected cost of the whole job at the
  target, not the highest p: a prompt with a higher p that needs twice the tokens can cost more.
  Without prices, the expected tokens of the job decide (input plus output); a prompt with which
  voting cannot reach the target (no k) is never recommended.
- **Is the difference in p real?** Each other prompt's p is tested against the recommended one's
  with Fisher's exact test (two-sided, on correct / valid samples), the p-values adjusted for the
  number of comparisons with Holm's method; significant below 0.05. Fisher's test is exact at any
  sample size and needs no normal approximation near p = 1, where calibrations live. It treats the
  two samples as independent; here they share their steps, which makes the two estimates
  positively correlated and the test conservative (it calls fewer differences significant than a
  paired test would, never more).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.settings import Settings, load_settings
from maker_cli.core.events import Listener, Scope
from maker_cli.core.stats import fisher_exact, holm
from maker_cli.errors import UsageError
from maker_cli.jobs.calibrate import CalibrationPlan, plan_calibration, run_calibration
from maker_cli.jobs.calibration_result import CalibrationProgress, CalibrationResult
from maker_cli.jobs.event_log import EventsArg, event_listeners, new_job_id
from maker_cli.jobs.task_arg import TaskArg
from maker_cli.providers.base import Provider
from maker_cli.providers.factory import provider_for
from maker_cli.tasks import DatasetItem
from maker_cli.tasks.base import prompt_record_of
from maker_cli.tasks.hanoi_prompt import PromptArg

ALPHA = 0.05
MAX_PROMPTS = 8
DEFAULT = "default"  # names the task's own prompt (Hanoi's built-in one, a spec's system/user)
TEST = (
    "Fisher's exact test, two-sided, on correct/valid samples; each prompt against the recommended one; "
    "p-values Holm-adjusted; significant below 0.05"
)


class PromptRow(BaseModel):
    """One prompt's calibration, as the comparison table shows it."""

    name: str
    sha256: str | None
    source: str | None
    p: float | None
    p_ci: tuple[float, float]
    valid_rate: float | None
    valid_rate_ci: tuple[float, float]
    correct: int
    valid: int
    samples: int
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    k: int | None = Field(description="the k this prompt needs for the target (from the lower bound of p)")
    expected_cost_usd: float | None = Field(description="the whole job at that k; null without prices")
    expected_tokens: float | None = Field(description="the whole job's expected input + output tokens at that k")
    p_value: float | None = Field(
        description="Holm-adjusted p-value of the difference in p from the recommended prompt"
    )
    significant: bool | None = Field(description="whether that difference is significant (p_value < 0.05)")
    recommended: bool
    cost_usd: float | None = Field(description="what sampling this prompt cost")


class PromptComparison(BaseModel):
    """`maker calibrate --prompt A --prompt B --json`: every prompt's row and calibration."""

    task: str
    model: str
    simulated: bool
    seed: int
    steps: int | None = Field(description="the steps of the job the k and costs are for")
    target: float | None
    test: str = TEST
    alpha: float = ALPHA
    ranked_by: str = Field(description="expected cost, or expected tokens when a price is unknown")
    recommended: str | None = Field(description="the prompt with the lowest expected job cost at the target")
    why: str
    prompts: list[PromptRow]
    results: list[CalibrationResult] = Field(description="each prompt's full calibration, in the same order")
    warnings: list[str] = Field(default_factory=list)
    cost_usd: float | None = Field(description="what the whole comparison cost; null when a price was unknown")


def compare_prompts(
    task: TaskArg = "hanoi", prompts: Sequence[PromptArg] = (), **options: OptionValue
) -> PromptComparison:
    """Calibrate `task` with each of `prompts` on the same steps (see `acompare_prompts`)."""
    return asyncio.run(acompare_prompts(task, prompts, **options))


async def acompare_prompts(
    task: TaskArg = "hanoi",
    prompts: Sequence[PromptArg] = (),
    *,
    disks: int = 10,
    dataset: str | Path | Sequence[DatasetItem] | None = None,
    inputs: Mapping[str, JSONValue] | None = None,
    trust_spec_code: bool = False,
    samples: int | None = None,
    seed: int = 0,
    steps: int | None = None,
    on_progress: Callable[[str, CalibrationProgress], None] | None = None,
    max_call_errors: int | None = None,
    listeners: Iterable[Listener] = (),
    events: EventsArg = None,
    events_text: bool = False,
    config: Path | None = None,
    settings: Settings | None = None,
    provider_factory: Callable[[], Provider] | None = None,
    **flags: OptionValue,
) -> PromptComparison:
    """Sample the same steps of `task` with each prompt (2 to 8: prompt files, HanoiPrompts, or
    'default' for the task's own) and compare them. `flags` are calibrate's job settings (model,
    temperature, concurrency, max_output_tokens, api_base, router_config, timeout, price_in,
    price_out, target, prompt_cache). `on_progress(prompt_name, progress)` after each call.
    `listeners` and `events` as for `calibrate`: one run_id for the comparison, each prompt's name as
    the events' `node`."""
    if not 2 <= len(prompts) <= MAX_PROMPTS:
        raise UsageError(f"compare 2 to {MAX_PROMPTS} prompts, not {len(prompts)} (one prompt: calibrate with it)")
    unknown = sorted(set(flags) - FLAGS)
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r} (known: {', '.join(sorted(FLAGS))})")
    settings = settings or load_settings(config)
    if flags.get("prompt_cache") is False:  # an unset on/off flag is not given
        flags.pop("prompt_cache")
    plans = [
        plan_calibration(
            task,
            flags=flags,
            settings=settings,
            disks=disks,
            dataset=dataset,
            inputs=inputs,
            trust_spec_code=trust_spec_code,
            prompt=None if isinstance(prompt, str) and prompt == DEFAULT else prompt,
            samples=samples,
            seed=seed,
        )
        for prompt in prompts
    ]
    names = prompt_names(plans)
    results = []
    run_id = new_job_id("calibration")
    with event_listeners(listeners, events, text=events_text) as every_listener:
        for name, plan in zip(names, plans, strict=True):
            progress = _for_prompt(on_progress, name)
            provider = provider_factory() if provider_factory is not None else provider_for(plan.job)
            result = await run_calibration(
                plan,
                provider,
                steps=steps,
                on_progress=progress,
                max_call_errors=max_call_errors,
                listeners=every_listener,
                scope=Scope(run_id, name),
            )
            results.append(result)
    return compare(results, names, seed=seed)


def _for_prompt(
    on_progress: Callable[[str, CalibrationProgress], None] | None, name: str
) -> Callable[[CalibrationProgress], None] | None:
    if on_progress is None:
        return None

    def report(progress: CalibrationProgress) -> None:
        on_progress(name, progress)

    return report


FLAGS = frozenset(
    {
        "model",
        "temperature",
        "concurrency",
        "max_output_tokens",
        "api_base",
        "router_config",
        "timeout",
        "price_in",
        "price_out",
        "target",
        "prompt_cache",
    }
)


def prompt_names(plans: Sequence[CalibrationPlan]) -> list[str]:
    """Each prompt's name, made unique (`a`, `a #2`); the same text twice is a usage error."""
    seen: dict[str, str] = {}
    names: list[str] = []
    for plan in plans:
        record = prompt_record_of(plan.task) or {}
        name = str(record.get("name") or "prompt")
        digest = str(record.get("sha256"))
        if digest in seen:
            raise UsageError(f"the prompts {seen[digest]} and {name} are the same text: compare different prompts")
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name} #{n}", n + 1
        seen[digest] = unique
        names.append(unique)
    return names


def compare(results: Sequence[CalibrationResult], names: Sequence[str], *, seed: int) -> PromptComparison:
    """The comparison of calibrations of the same steps (pure: no model call)."""
    costs = [r.recommendation.expected_cost_usd if r.recommendation is not None else None for r in results]
    priced = all(c is not None for c in costs) and any(c for c in costs)  # free (simulated): tokens decide

    def score(r: CalibrationResult) -> tuple[float, float] | None:
        rec = r.recommendation
        if rec is None or rec.recommended_k is None:
            return None
        tokens = (rec.expected_input_tokens or 0.0) + (rec.expected_output_tokens or 0.0)
        return ((rec.expected_cost_usd or 0.0) if priced else tokens, tokens)

    scores = [score(r) for r in results]
    ranked = sorted(range(len(results)), key=lambda i: (scores[i] is None, scores[i] or (0.0, 0.0)))
    best = ranked[0] if scores[ranked[0]] is not None else None
    others = [i for i in range(len(results)) if i != best]
    raw = (
        [fisher_exact(results[i].correct, results[i].valid, results[best].correct, results[best].valid) for i in others]
        if best is not None
        else []
    )
    adjusted = dict(zip(others, holm(raw), strict=True)) if best is not None else {}
    rows = []
    for i, (r, name) in enumerate(zip(results, names, strict=True)):
        rec = r.recommendation
        record = r.prompt or {}
        p_value = adjusted.get(i)
        tokens = (
            rec.expected_input_tokens + rec.expected_output_tokens
            if rec is not None and rec.expected_input_tokens is not None and rec.expected_output_tokens is not None
            else None
        )
        rows.append(
            PromptRow(
                name=name,
                sha256=record.get("sha256"),
                source=record.get("source"),
                p=r.p,
                p_ci=r.p_ci,
                valid_rate=r.valid_rate,
                valid_rate_ci=r.valid_rate_ci,
                correct=r.correct,
                valid=r.valid,
                samples=r.samples,
                mean_input_tokens=r.mean_input_tokens,
                mean_output_tokens=r.mean_output_tokens,
                k=r.recommended_k,
                expected_cost_usd=rec.expected_cost_usd if rec is not None else None,
                expected_tokens=tokens,
                p_value=p_value,
                significant=None if p_value is None else p_value < ALPHA,
                recommended=i == best,
                cost_usd=r.cost_usd,
            )
        )
    first = results[0]
    rec0 = first.recommendation
    return PromptComparison(
        task=first.task,
        model=first.model,
        simulated=first.simulated,
        seed=seed,
        steps=rec0.steps if rec0 is not None else None,
        target=rec0.target if rec0 is not None else None,
        ranked_by="expected cost" if priced else "expected tokens (no price known, or free)",
        recommended=names[best] if best is not None else None,
        why=_why(rows, best, priced),
        prompts=rows,
        results=list(results),
        warnings=[f"{name}: {w}" for name, r in zip(names, results, strict=True) for w in r.warnings],
        cost_usd=None if any(r.cost_usd is None for r in results) else sum(r.cost_usd or 0.0 for r in results),
    )


def _why(rows: Sequence[PromptRow], best: int | None, priced: bool) -> str:
    if best is None:
        return "no prompt reaches the target: with none of them can voting be promised to converge (see each row)"
    row = rows[best]
    what = (
        f"${row.expected_cost_usd:,.2f}"
        if priced and row.expected_cost_usd is not None
        else f"{row.expected_tokens:,.0f} tokens"
    )
    parts = [f"{row.name}: the lowest expected job cost at the target ({what}, k={row.k})"]
    for other in rows:
        if other is row or other.p_value is None:
            continue
        verdict = "significant" if other.significant else "not significant"
        parts.append(f"its p against {other.name}: {verdict} (adjusted p-value {other.p_value:.2g})")
    return "; ".join(parts)
