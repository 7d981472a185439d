"""`maker_cli.estimate(...)`: what a job will need before it runs. Free: no model call.

Inputs layer as everywhere (`maker_cli.config.job`): an explicit keyword > the calibration file >
`MAKER_*` > the config file > defaults. Prices come from the one resolver
(`maker_cli.providers.prices.resolve_prices`): a price given wins per side, else litellm's map for
the model (`model=`, else the calibration's), else unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.settings import Settings, load_settings
from maker_cli.core.estimate import EstimateInputs
from maker_cli.core.estimate import estimate as compute
from maker_cli.core.estimate_report import EstimateReport
from maker_cli.errors import UsageError
from maker_cli.jobs.calibration_file import Calibration, load_calibration
from maker_cli.providers import is_sim
from maker_cli.providers.prices import Prices, resolve_prices


def estimate(
    *,
    steps: int | None = None,
    p: float | None = None,
    target: float | None = None,
    m: int = 1,
    k: int | None = None,
    valid_rate: float | None = None,
    input_tokens: float | None = None,
    output_tokens: float | None = None,
    cached_share: float | None = None,
    model: str | None = None,
    price_in: float | None = None,
    price_out: float | None = None,
    latency: float | None = None,
    latency_p95: float | None = None,
    latency_sd: float | None = None,
    speculate: int = 0,
    concurrency: int | None = None,
    budget: float | None = None,
    max_samples: int | None = None,
    max_red_flags: int | None = None,
    calibration: str | Path | None = None,
    sweep: bool = False,
    task: str | Path | None = None,
    inputs: Mapping[str, JSONValue] | None = None,
    steps_of: Mapping[str, int] | None = None,
    config: Path | None = None,
    settings: Settings | None = None,
) -> EstimateReport:
    """Estimate a MAKER job: k (k_min for the target unless `k` is given), P(all steps correct),
    votes, calls with percentiles, tokens, cost, rounds, wall time, and what the stops do: P(a step
    ends undecided at `max_samples` samples or `max_red_flags` red flags) and P(success).

    `task` (a workflow spec, with its `inputs` and `steps_of` ID -> N for sequence nodes whose
    length is only known when they run) estimates the workflow: its voted steps summed over the
    nodes, k_min for all of them, and the wall time along its critical path.

    `p` is the probability that one valid sample is correct, in (0.5, 1] (or give `calibration`, a
    file from `maker calibrate`, whose lower 95% bound of p is used). `max_red_flags` defaults to the
    engine's rule for k and the valid rate. `cached_share` (0..1, default: what the calibration
    measured, else 0) is the share of input tokens served from the provider's prompt cache, priced at
    the model's cache-read rate; the report gives the cost with and without it. Raises UsageError for
    bad inputs and CannotConverge when p <= 0.5.
    """
    given = {
        name: value
        for name, value in locals().items()
        if name not in ("config", "settings", "task", "inputs", "steps_of")
    }
    if task is not None:
        from maker_cli.workflows.estimate import estimate_workflow  # loads specs: only for --task

        return estimate_workflow(task, given, settings or load_settings(config), inputs=inputs, steps_of=steps_of)
    return compute(resolve_inputs(given, settings or load_settings(config)))


T = TypeVar("T")


def _first(*values: T | None, default: T) -> T:
    """The first value that is not None, else `default`."""
    return next((v for v in values if v is not None), default)


def resolve_inputs(given: Mapping[str, OptionValue], settings: Settings) -> EstimateInputs:
    """The estimate's inputs: the keywords of `estimate` (`given`, by name: its locals) over the
    calibration file over the settings."""
    steps, p, model = given.get("steps"), given.get("p"), given.get("model")
    calibration = given.get("calibration")
    cal = load_calibration(calibration) if calibration is not None else None
    if steps is None:
        raise UsageError("--steps is required: the number of dependent steps in the job")
    notes: list[str] = []
    if p is None:
        if cal is None:
            raise UsageError("give --p (probability that one valid sample is correct) or --calibration FILE")
        p = cal.p_ci[0]  # the lower bound, as run uses
        notes.append(
            f"p = {p:.6g}: the lower end of the calibration's 95% interval "
            f"(point estimate {cal.p:.6g}), as `maker run` uses it"
        )
    prices = _prices(model, given.get("price_in"), given.get("price_out"), cal, settings, notes)
    return EstimateInputs(
        steps=steps,
        p=p,
        target=_first(given.get("target"), default=settings.target),
        m=_first(given.get("m"), default=1),
        k=given.get("k"),
        valid_rate=_first(given.get("valid_rate"), cal.valid_rate if cal else None, default=1.0),
        input_tokens=_first(given.get("input_tokens"), cal.mean_input_tokens if cal else None, default=None),
        output_tokens=_first(given.get("output_tokens"), cal.mean_output_tokens if cal else None, default=None),
        cached_share=_first(given.get("cached_share"), cal.cached_share if cal else None, default=0.0),
        price_cached=prices.price_cached,
        model=model or (cal.model if cal else None),
        price_in=prices.price_in,
        price_out=prices.price_out,
        price_source=prices.source,
        latency_s=given.get("latency"),
        latency_p95_s=given.get("latency_p95"),
        latency_sd_s=given.get("latency_sd"),
        speculate=_first(given.get("speculate"), default=0),
        concurrency=_first(given.get("concurrency"), default=settings.concurrency),
        budget_usd=given.get("budget"),
        max_samples=_first(given.get("max_samples"), default=settings.max_samples),
        max_red_flags=_first(given.get("max_red_flags"), default=settings.max_red_flags),
        sweep=bool(given.get("sweep")),
        calibration_file=str(calibration) if calibration is not None else None,
        notes=tuple(notes),
    )


def _prices(
    model: str | None,
    price_in: float | None,
    price_out: float | None,
    cal: Calibration | None,
    settings: Settings,
    notes: list[str],
) -> Prices:
    """Given prices per side (keyword > calibration > settings), the rest from the model's map entry."""
    given_in = _first(price_in, cal.price_in if cal else None, default=settings.price_in)
    given_out = _first(price_out, cal.price_out if cal else None, default=settings.price_out)
    source = (
        "flags"
        if price_in is not None or price_out is not None
        else (
            "calibration" if cal is not None and (cal.price_in is not None or cal.price_out is not None) else "config"
        )
    )
    the_model = model or (cal.model if cal else None)
    if the_model is None:
        return Prices(given_in, given_out, source if given_in is not None or given_out is not None else None)
    found = resolve_prices(
        the_model,
        given_in,
        given_out,
        given_source=source,
        simulated=is_sim(the_model),
    )
    if not found.known and model is not None and given_in is None and given_out is None:
        raise UsageError(
            f"unknown model '{model}': litellm's price map has no prices for it; "
            "give --price-in and --price-out (USD per million tokens)"
        )
    if not found.known and model is None:
        notes.append(f"no prices for '{the_model}' in litellm's price map: give --price-in/--price-out for cost")
    return found
