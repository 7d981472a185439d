"""From a calibration to a decision: can voting work, which k, at what cost, and the calibration file."""

from __future__ import annotations

from datetime import UTC, datetime

from maker_cli.core import maths
from maker_cli.core.estimate import MAX_K, EstimateInputs, estimate
from maker_cli.errors import CannotConverge
from maker_cli.jobs.calibration_file import Calibration
from maker_cli.jobs.calibration_result import CalibrationResult, Recommendation
from maker_cli.providers.prices import Prices


def cannot_converge_message(result: CalibrationResult) -> str | None:
    """The reason voting cannot work for this model and task, or None when it may."""
    if result.valid == 0:
        return (
            f"every one of the {result.samples} samples was red-flagged, so p is unknown: fix the prompt, "
            "the output format or --max-output-tokens, or use a stronger model"
        )
    high = result.p_ci[1]
    if high <= 0.5:
        return (
            f"voting cannot converge for this model and task: p = {result.p:.4g} and even the upper "
            f"{result.confidence:.0%} bound {high:.4g} is <= 0.5 (a wrong answer wins at least as often "
            "as the right one). Use a stronger model or a finer decomposition of the task"
        )
    return None


def recommend(result: CalibrationResult, *, steps: int, target: float, prices: Prices) -> Recommendation:
    """k for `target` over `steps` from the lower confidence bound of p, and its expected cost."""
    maths.check_steps(steps)
    maths.check_target(target)
    low = result.p_ci[0]
    out = Recommendation(
        steps=steps,
        target=target,
        p_used=low,
        basis=f"lower {result.confidence:.0%} {result.method} bound of p",
        price_in=prices.price_in,
        price_out=prices.price_out,
        price_source=prices.source,
    )
    blocked = cannot_converge_message(result)
    if blocked is not None:
        return out.model_copy(update={"message": blocked})
    point = maths.k_min(result.p, steps, target) if result.p is not None and result.p > 0.5 else None
    out = out.model_copy(update={"k_at_point_estimate": point})
    if low <= 0.5:
        return out.model_copy(
            update={
                "message": (
                    f"the lower bound of p is {low:.4g} <= 0.5: too few samples to promise convergence; "
                    "draw more samples, or use a stronger model"
                )
            }
        )
    k = maths.k_min(low, steps, target)
    if k > MAX_K:
        return out.model_copy(
            update={"message": f"p's lower bound {low:.6g} is so close to 0.5 that k = {k:,}: not practical"}
        )
    est = estimate(
        EstimateInputs(
            steps=steps,
            p=low,
            target=target,
            k=k,
            valid_rate=result.valid_rate or 1.0,
            input_tokens=result.mean_input_tokens,
            output_tokens=result.mean_output_tokens,
            cached_share=(result.mean_cached_tokens or 0.0) / result.mean_input_tokens
            if result.mean_input_tokens
            else 0.0,
            price_cached=prices.price_cached,
            model=result.model,
            price_in=prices.price_in,
            price_out=prices.price_out,
            price_source=prices.source,
        )
    )
    message = (
        None
        if est.expected_cost_usd is not None
        else ("cost unknown: give --price-in and --price-out (USD per million tokens)")
    )
    return out.model_copy(
        update=dict(
            recommended_k=k,
            p_full=est.p_full,
            expected_votes_per_step=est.expected_votes_per_step,
            expected_samples_per_step=est.expected_samples_per_step,
            expected_calls=est.expected_calls,
            expected_cost_usd=est.expected_cost_usd,
            expected_input_tokens=est.expected_input_tokens,
            expected_output_tokens=est.expected_output_tokens,
            cost_per_call_usd=est.cost_per_call_usd,
            message=message,
        )
    )


def to_calibration(
    result: CalibrationResult,
    *,
    price_in: float | None = None,
    price_out: float | None = None,
    created_at: datetime | None = None,
) -> Calibration:
    """The Calibration that `maker estimate --calibration` and `maker run --calibration` read."""
    if result.p is None or result.valid_rate is None:
        raise CannotConverge(cannot_converge_message(result) or "no valid sample: p is unknown")
    return Calibration(
        model=result.model,
        task=result.task,
        temperature=result.temperature,
        p=result.p,
        p_ci=result.p_ci,
        valid_rate=result.valid_rate,
        valid_rate_ci=result.valid_rate_ci,
        mean_input_tokens=result.mean_input_tokens or 0.0,
        mean_cached_tokens=result.mean_cached_tokens if result.mean_input_tokens else None,
        mean_output_tokens=result.mean_output_tokens or 0.0,
        price_in=price_in,
        price_out=price_out,
        samples=result.samples,
        created_at=created_at or datetime.now(UTC).replace(microsecond=0),
        method=result.method,
    )
