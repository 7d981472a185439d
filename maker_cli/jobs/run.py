"""Start or resume a sequential job: choose k, estimate it, guard the budget, run it, report it.

Shared by `maker run hanoi` and `maker run task` (and usable from the MCP server): one runner,
one report shape. No rich or typer here; the CLI renders what this returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from maker_cli.core import maths
from maker_cli.core.engine import Engine, StepResult, VoteConfig
from maker_cli.errors import BudgetExceeded, UsageError
from maker_cli.core.events import Listener
from maker_cli.core.redflags import RedFlagRules
from maker_cli.jobs.runner import RunOptions, RunOutcome, RunPoint, Runner, RunTotals, restore
from maker_cli.tasks.base import SequentialTask

ASSUMED_OUTPUT_TOKENS = 550  # the paper's typical mean for gpt-4.1-mini; calibrate for your own


@dataclass
class JobConfig:
    """Everything that defines a job's voting and spending; stored with the run for --resume."""

    model: str
    k: int
    max_samples: int | None = None
    eager: int = 0
    first_temperature: float = 0.0
    temperature: float = 0.1
    max_output_tokens: int | None = 750
    must_not_match: tuple[str, ...] = ()
    api_base: str | None = None
    router_config: str | None = None
    timeout: float = 60.0
    max_attempts: int = 6
    price_in: float | None = None
    price_out: float | None = None
    concurrency: int = 16
    keep_going: bool = False
    log_samples: str = "contested"
    max_cost: float | None = None
    k_source: str = "--k"
    p: float | None = None
    valid_rate: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    task: dict[str, Any] = field(default_factory=dict)

    def vote_config(self) -> VoteConfig:
        return VoteConfig(
            k=self.k,
            max_samples=self.max_samples,
            eager=self.eager,
            first_temperature=self.first_temperature,
            temperature=self.temperature,
            rules=RedFlagRules(max_output_tokens=self.max_output_tokens, must_not_match=self.must_not_match),
            record_samples=self.log_samples != "none",
        )

    def options(self) -> RunOptions:
        return RunOptions(keep_going=self.keep_going, max_cost=self.max_cost, log_samples=self.log_samples)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["must_not_match"] = list(self.must_not_match)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["must_not_match"] = tuple(known.get("must_not_match") or ())
        return cls(**known)


def choose_k(
    *, k: int | None, p: float | None, target: float, steps: int | None, default_k: int
) -> tuple[int, str]:
    """k from --k; else k_min from p and the target; else the configured default."""
    if k is not None:
        return k, "--k"
    if p is not None and steps is not None:
        return maths.k_min(p, steps, target), f"k_min for p={p:g}, target={target:g} over {steps:,} steps"
    return default_k, "default (no --p or --calibration given; run `maker calibrate` to choose k)"


def job_estimate(task: SequentialTask, job: JobConfig, *, simulated: bool) -> Any:
    """The pre-run estimate for this job (an EstimateReport), or None when p is unknown."""
    if job.p is None or task.steps_total is None:
        return None
    from maker_cli.core.estimate import EstimateInputs, estimate

    state, previous = task.start()
    prompt = task.prompt(0, state, previous, simulated=simulated)
    in_tokens = job.input_tokens or (len(prompt.system) + len(prompt.user)) / 4
    out_tokens = job.output_tokens
    if out_tokens is None:
        out_tokens = len(prompt.reference.correct) / 4 if prompt.reference else ASSUMED_OUTPUT_TOKENS
    prices = (job.price_in, job.price_out)
    if simulated:
        prices = (job.price_in or 0.0, job.price_out or 0.0)
    elif None in prices:
        from maker_cli.providers.prices import model_prices

        found = model_prices(job.model)
        if found is not None:
            prices = (job.price_in if job.price_in is not None else found[0],
                      job.price_out if job.price_out is not None else found[1])
    return estimate(
        EstimateInputs(
            steps=task.steps_total,
            p=job.p,
            k=job.k,
            valid_rate=job.valid_rate or 1.0,
            input_tokens=in_tokens,
            output_tokens=out_tokens,
            model=job.model,
            price_in=prices[0],
            price_out=prices[1],
            concurrency=job.concurrency,
            max_samples=job.max_samples,
        )
    )


def check_budget(expected_cost: float | None, max_cost: float | None, *, yes: bool) -> None:
    if max_cost is None or expected_cost is None or yes:
        return
    if expected_cost > max_cost:
        raise BudgetExceeded(
            f"the expected cost ${expected_cost:,.2f} exceeds --max-cost ${max_cost:,.2f}; "
            "raise the cap, lower the job, or pass --yes to start anyway (it still stops at the cap)"
        )


@dataclass
class PreparedJob:
    task: SequentialTask
    job: JobConfig
    store: Any  # RunStore
    run_id: str
    point: RunPoint
    totals: RunTotals
    resumed: bool


def prepare(task: SequentialTask, job: JobConfig, store: Any, *, resume: str | None = None) -> PreparedJob:
    """Create a run in the store (or load one to resume) and return where it starts."""
    if resume is None:
        state, previous = task.start()
        run_id = store.create_run(
            task.kind, task.name, job.model, {"task": task.config(), "job": job.to_dict()}, task.steps_total,
        )
        store.claim(run_id)
        return PreparedJob(task, job, store, run_id, RunPoint(0, state, previous), RunTotals(), False)
    record = store.get_run(resume)
    if record.status == "solved":
        raise UsageError(f"run {record.id} is already solved; nothing to resume")
    if record.status == "failed" and not job.keep_going:
        raise UsageError(
            f"run {record.id} stopped at a wrong step ({record.first_error_step}); resuming would continue from "
            "the wrong state: add --keep-going to do that deliberately"
        )
    store.claim(record.id)  # one process per run: refuses while another live process works on it
    record = store.get_run(record.id)  # as of the claim
    point, totals = restore(task, record)
    return PreparedJob(task, job, store, record.id, point, totals, True)


def job_from_record(record: Any) -> tuple[dict[str, Any], JobConfig]:
    """(task config, job config) stored with a run, for --resume."""
    config = record.config or {}
    if "task" not in config or "job" not in config:
        raise UsageError(f"run {record.id} has no stored configuration to resume from")
    return config["task"], JobConfig.from_dict(config["job"])


async def execute(
    prepared: PreparedJob,
    provider: Any,
    *,
    on_step: Callable[[StepResult, RunTotals], None] | None = None,
    listeners: list[Listener] | None = None,
) -> RunOutcome:
    engine = Engine(provider, concurrency=prepared.job.concurrency, listeners=listeners or [])
    runner = Runner(
        prepared.task, engine, prepared.job.vote_config(), prepared.store, prepared.run_id,
        prepared.job.options(), on_step=on_step,
    )
    try:
        return await runner.run(prepared.point, prepared.totals)
    finally:
        await provider.aclose()


def run_report(prepared: PreparedJob, outcome: RunOutcome, *, simulated: bool) -> dict[str, Any]:
    """The JSON object a run prints at the end."""
    t = outcome.totals
    task = prepared.task
    report: dict[str, Any] = {
        "run_id": prepared.run_id,
        "status": outcome.status,
        "task": task.name,
        "kind": task.kind,
        "model": prepared.job.model,
        "simulated": simulated,
        "k": prepared.job.k,
        "steps_total": task.steps_total,
        "steps_done": t.steps_done,
        "errors": t.wrong_steps,
        "first_error_step": t.first_error_step,
        "samples": t.samples,
        "valid": t.valid,
        "red_flagged": t.red_flagged,
        "red_flag_reasons": t.red_flag_reasons,
        "call_errors": t.errors,
        "retries": t.retries,
        "rounds": t.rounds,
        "votes_per_step": t.valid / t.steps_done if t.steps_done else None,
        "max_votes": t.max_votes,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cost_usd": t.cost_usd,
        "wall_s": round(t.wall_s, 3),
        "resumed": prepared.resumed,
    }
    if task.kind == "hanoi":
        report["disks"] = task.config().get("disks")
    if task.kind == "task":  # a YAML spec: where it came from, and what the run produced
        report["spec"] = task.config().get("spec")
        report["final_state"] = outcome.point.state
    if outcome.failed_step is not None:
        report["failed_step"] = outcome.failed_step
    return report


def store_path(explicit: Path | None) -> Path:
    from maker_cli.config.paths import default_store_file

    return explicit if explicit is not None else default_store_file()
