"""Planning a run (`maker_cli.jobs.run`): the task, its settings, k and the estimate, decided before
any model call; or, for --resume, the stored run's own configuration with what may change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.job import merge_job_settings
from maker_cli.config.paths import default_store_file
from maker_cli.config.settings import Settings, load_settings
from maker_cli.core import maths
from maker_cli.core.adaptive import AdaptiveK
from maker_cli.core.estimate import EstimateInputs, estimate
from maker_cli.core.estimate_report import EstimateReport
from maker_cli.core.race import VotingMethod
from maker_cli.core.status import RunStatus
from maker_cli.errors import UsageError
from maker_cli.jobs.calibration_file import load_calibration
from maker_cli.jobs.run_result import LOG_MODES, RunConfig
from maker_cli.jobs.task_arg import TaskArg, resolve_task
from maker_cli.providers import is_sim
from maker_cli.providers.prices import resolve_prices
from maker_cli.providers.sim import SimParams, parse_sim, sim_params
from maker_cli.secrets import REDACTED, redact
from maker_cli.specs import WorkflowSpec, load_spec
from maker_cli.specs.prompt_file import as_prompt_file, prompt_sha256
from maker_cli.store.rows import RunRecord
from maker_cli.store.run_store import RunStore
from maker_cli.tasks import Hanoi, SequentialTask, task_from_config
from maker_cli.tasks.base import prompt_record_of
from maker_cli.tasks.hanoi_prompt import HanoiPrompt, PromptArg, as_prompt
from maker_cli.workflows.task import WorkflowTask

ASSUMED_OUTPUT_TOKENS = 550  # the paper's typical mean for gpt-4.1-mini; calibrate for your own
# what a resumed run may change; everything else is fixed by the run as it was started
RESUMABLE = ("max_cost", "keep_going", "concurrency", "timeout", "speculate")


@dataclass
class RunPlan:
    """A run decided but not started: the task, its configuration and the estimate."""

    task: SequentialTask | WorkflowTask
    config: RunConfig
    sources: dict[str, str]
    store_file: Path
    resume: str | None = None
    yes: bool = False
    estimate: EstimateReport | None = None


def plan_run(
    task: TaskArg | None,
    *,
    flags: Mapping[str, OptionValue],
    disks: int = 10,
    inputs: Mapping[str, JSONValue] | None = None,
    steps: int | None = None,
    trust_spec_code: bool = False,
    prompt: PromptArg = None,
    steps_of: Mapping[str, int] | None = None,
    p: float | None = None,
    calibration: str | Path | None = None,
    keep_going: bool = False,
    speculate: int | None = None,
    adaptive_k: bool = False,
    k_min_floor: int | None = None,
    log_samples: str | None = None,
    store: Path | None = None,
    resume: str | None = None,
    yes: bool = False,
    config: Path | None = None,
    settings: Settings | None = None,
) -> RunPlan:
    """Decide everything about a run before any model call: task, settings, k, the estimate."""
    settings = settings or load_settings(config, store=store)
    store_file = settings.store if settings.store is not None else default_store_file()
    if k_min_floor is not None and not adaptive_k:
        raise UsageError("--k-min-floor goes with --adaptive-k")
    if resume is not None:
        if adaptive_k:
            raise UsageError("--resume continues a run with the configuration it was started with; drop --adaptive-k")
        return _plan_resume(
            resume,
            store_file,
            flags,
            keep_going,
            trust_spec_code,
            p,
            calibration,
            log_samples,
            task,
            inputs,
            steps,
            yes,
            prompt,
            speculate,
        )
    if task is None:
        raise UsageError("give a task (hanoi, or a spec FILE) or --resume RUN_ID")
    the_task = resolve_task(
        task, disks=disks, inputs=inputs, steps=steps, trust_code=trust_spec_code, prompt=prompt, steps_of=steps_of
    )
    if steps_of and not isinstance(the_task, WorkflowTask):
        raise UsageError("--steps-of goes with a workflow (the length of a sequence node)")
    if not isinstance(the_task, (SequentialTask, WorkflowTask)):
        raise UsageError(
            f"{getattr(the_task, 'source', the_task.name)} is a question spec (no initial_state): "
            "ask it with `maker vote --task FILE`"
        )
    if log_samples is not None and log_samples not in LOG_MODES:
        raise UsageError(f"--log-samples must be one of {', '.join(LOG_MODES)}, got '{log_samples}'")
    cal = load_calibration(calibration) if calibration is not None else None
    cal_layer = {"model": cal.model, "price_in": cal.price_in, "price_out": cal.price_out} if cal else {}
    job = merge_job_settings(settings, flags=flags, spec=the_task.settings(), calibration=cal_layer)
    if job.method is VotingMethod.BORDA:
        raise UsageError(
            f"--method borda needs ranked answers, which only a question spec with answer.ranked gives "
            f"(maker vote --task FILE); a run's steps have one answer each (method set by the {job.source('method')})"
        )
    measured = p if p is not None else (cal.p_ci[0] if cal else None)
    sim = simulated_params(job.model, the_task) if isinstance(the_task, SequentialTask) else None
    if sim is None and is_sim(job.model) and isinstance(the_task, WorkflowTask):
        problem = the_task.simulation_problem()
        if problem is not None:
            raise UsageError(f"the simulated model cannot run {the_task.name!r}: {problem}")
        sim = parse_sim(job.model)
    sim_p = sim.p if sim is not None else None
    k, k_source, k_layer = choose_k(
        job.k, job.source("k"), measured, sim_p, steps=the_task.planning_steps, target=job.target
    )
    floor = 2 if k_min_floor is None else k_min_floor
    if adaptive_k:
        if job.method != VotingMethod.AHEAD_BY_K or job.early_stop() is not None:
            raise UsageError(
                "--adaptive-k chooses k for ahead-by-k voting (the only method whose k carries the guarantee): "
                "drop --method and early stopping, or --adaptive-k"
            )
        k, k_source, k_layer = _adaptive_start(the_task, job.source("k"), speculate, measured, floor, job.target)
    least = floor if adaptive_k else k
    if job.max_samples is not None and job.max_samples < least:
        what = f"the --k-min-floor {floor}" if adaptive_k else f"k = {k}"
        raise UsageError(
            f"--max-samples {job.max_samples} (set by the {job.source('max_samples')}) is below {what}: "
            "no step could ever be decided"
        )
    run_config = RunConfig.of(
        job,
        k=k,
        k_source=k_source,
        keep_going=keep_going,
        speculate=_speculate(speculate),
        adaptive_k=adaptive_k,
        k_min_floor=floor,
        prior_p=measured if adaptive_k else None,
        log_samples=log_samples or "contested",
        p=measured if measured is not None else sim_p,
        valid_rate=cal.valid_rate if cal else (1 - sim.invalid if sim is not None else None),
        input_tokens=cal.mean_input_tokens if cal else None,
        output_tokens=cal.mean_output_tokens if cal else None,
    )
    if isinstance(the_task, SequentialTask):
        _check_simulated(the_task, run_config)
    sources = {**job.sources, "k": k_layer}
    plan = RunPlan(the_task, run_config, sources, store_file, None, yes)
    plan.estimate = job_estimate(plan.task, plan.config, sources, simulated=is_sim(run_config.model))
    return plan


def _adaptive_start(
    task: SequentialTask | WorkflowTask,
    k_source: str,
    speculate: int | None,
    measured: float | None,
    floor: int,
    target: float,
) -> tuple[int, str, str]:
    """--adaptive-k: what it goes with, and the first step's k (k, why in words, "adaptive")."""
    if isinstance(task, WorkflowTask):
        raise UsageError("--adaptive-k runs sequential jobs (Hanoi, sequence specs), not workflows")
    if k_source == "flag":
        raise UsageError("--adaptive-k chooses k itself: drop --k (use --k-min-floor for the smallest k)")
    if speculate:
        raise UsageError("--adaptive-k and --speculate do not go together yet (a speculative step starts before its k)")
    if measured is not None:
        maths.check_p(measured)
    first = AdaptiveK(task.planning_steps, target, floor, measured).next_k()
    start = f"p={measured:g}, measured" if measured is not None else "a uniform prior on p"
    return first, f"adaptive: re-chosen before each step from the run's votes (starting from {start})", "adaptive"


MAX_SPECULATE = 64


def _speculate(depth: int | None) -> int:
    """--speculate D: 0 (off) to MAX_SPECULATE steps ahead."""
    if depth is None:
        return 0
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_SPECULATE:
        raise UsageError(f"--speculate takes a whole number of steps from 0 to {MAX_SPECULATE}, not {depth!r}")
    return depth


def choose_k(
    k: int,
    source: str,
    measured_p: float | None,
    sim_p: float | None,
    *,
    steps: int,
    target: float,
) -> tuple[int, str, str]:
    """(k, why in words, the layer that set it): a flag > k_min from a measured p (--p, a
    calibration) > the spec's or the environment's or the config file's k > k_min from the
    simulated model's own p > the default."""
    if source == "flag":
        return k, "--k", "flag"
    p = measured_p if measured_p is not None else (sim_p if source == "default" else None)
    if p is not None:
        maths.check_p(p)  # p <= 0.5: CannotConverge, whatever k (so no hint to pass one)
        return (
            maths.k_min(p, steps, target),
            f"k_min for p={p:g}, target={target:g} over {steps:,} step{'s' if steps != 1 else ''}",
            "k_min",
        )
    if source == "spec":
        return k, "the spec's voting.k", source
    if source in ("env", "config"):
        return k, f"the {'MAKER_K environment variable' if source == 'env' else 'config file'}", source
    return k, "default (no --p or --calibration given; run `maker calibrate` to choose k)", "default"


def _plan_resume(
    run_id: str,
    store_file: Path,
    flags: Mapping[str, OptionValue],
    keep_going: bool,
    trust_code: bool,
    p: float | None,
    calibration: str | Path | None,
    log_samples: str | None,
    task: TaskArg | None,
    inputs: Mapping[str, JSONValue] | None,
    steps: int | None,
    yes: bool,
    prompt: PromptArg = None,
    speculate: int | None = None,
) -> RunPlan:
    fixed = sorted(name for name, value in flags.items() if value is not None and name not in (*RESUMABLE, "api_base"))
    fixed += [
        name
        for name, value in (("p", p), ("calibration", calibration), ("log_samples", log_samples))
        if value is not None
    ]
    if fixed:
        given = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise UsageError(
            f"--resume continues a run with the configuration it was started with; drop {given} "
            "(only --max-cost, --keep-going, --speculate, --concurrency, --timeout, --store and --json may change)"
        )
    if (task is not None and not (isinstance(task, str) and task == "hanoi")) or inputs or steps is not None:
        raise UsageError(
            "--resume continues a stored run with its own spec and inputs: give no FILE, --input or --steps"
        )
    if not store_file.is_file():
        raise UsageError(f"no run store at {store_file}; pass --store PATH")
    with RunStore(store_file) as store:
        record = store.get_run(run_id)
    stored = record.config or {}
    if "task" not in stored or "job" not in stored:
        raise UsageError(f"run {record.id} has no stored configuration to resume from")
    changes = {name: flags[name] for name in RESUMABLE if flags.get(name) is not None}
    changes["api_base"] = _resumed_api_base(record.id, stored["job"].get("api_base"), flags.get("api_base"))
    if keep_going:
        changes["keep_going"] = True
    if speculate is not None:
        changes["speculate"] = _speculate(speculate)
    config = RunConfig.model_validate({**stored["job"], **changes})
    check_resumable(record, keep_going=config.keep_going)
    task_config = {**stored["task"], "trust_code": trust_code}
    the_task: SequentialTask | WorkflowTask = (
        WorkflowTask.from_config(task_config)
        if task_config.get("kind") == "workflow"
        else task_from_config(task_config)
    )
    if prompt is not None:
        _check_same_prompt(record.id, the_task, prompt)
    sources = dict(stored.get("sources") or {})
    plan = RunPlan(the_task, config, sources, store_file, record.id, yes)
    # the whole job's estimate, from the run's own p (said with the k it was started with)
    plan.estimate = job_estimate(the_task, config, sources, simulated=is_sim(config.model))
    return plan


def _resumed_api_base(run_id: str, stored: object, given: OptionValue) -> str | None:
    """The URL a resumed run calls. Its credentials (user:password, a key in the query) were never
    stored, so a run started with them is given the same --api-base again; any other URL is refused."""
    if given is None:
        if isinstance(stored, str) and REDACTED in stored:
            raise UsageError(
                f"run {run_id} calls {stored}, whose credentials are never stored: "
                "give the same --api-base again to resume it"
            )
        return stored if isinstance(stored, str) else None
    if not isinstance(given, str) or redact(given) != stored:
        raise UsageError(
            f"--resume continues a run with the configuration it was started with; drop --api-base "
            f"(run {run_id} calls {stored}; only the same URL may be given, for its credentials)"
        )
    return given


def check_resumable(record: RunRecord, *, keep_going: bool) -> None:
    """Refuse to resume a solved run, or a failed one without --keep-going (before anything is shown)."""
    if record.status == RunStatus.SOLVED:
        raise UsageError(f"run {record.id} is already solved; nothing to resume")
    if record.status == RunStatus.FAILED and not keep_going:
        raise UsageError(
            f"run {record.id} stopped at a wrong step ({record.first_error_step}); resuming would continue from "
            "the wrong state: add --keep-going to do that deliberately"
        )


def _check_same_prompt(run_id: str, task: SequentialTask | WorkflowTask, prompt: PromptArg) -> None:
    """--resume with --prompt: allowed only when it is the prompt the run was started with."""
    stored = prompt_record_of(task) or {}
    if isinstance(task, Hanoi):
        candidate = as_prompt(prompt)
        given, label = candidate.sha256, candidate.name
    else:
        if isinstance(prompt, HanoiPrompt):
            raise UsageError("a HanoiPrompt goes with Hanoi; for a spec give a prompt file")
        assert prompt is not None  # checked by the caller
        fields = as_prompt_file(prompt)
        base = load_spec(getattr(task, "source", ""))  # the spec's own templates, where the file has none
        if isinstance(base, WorkflowSpec):
            raise UsageError("a workflow has no prompt of its own: give --prompt to its nodes' specs")
        system = fields.system if fields.system is not None else base.system
        user = fields.user if fields.user is not None else base.user
        given, label = prompt_sha256(system, user), fields.label
    if given != stored.get("sha256"):
        raise UsageError(
            f"run {run_id} was started with the prompt {stored.get('name')} "
            f"(sha256 {str(stored.get('sha256'))[:12]}); --resume continues it with that prompt, not {label} "
            f"(sha256 {given[:12]}): drop --prompt, or start a new run"
        )


def simulated_params(model: str, task: SequentialTask) -> SimParams | None:
    """The simulated model's parameters for this task's prompt (its `<!-- sim:... -->` marker
    applies), or None for a real model."""
    if not is_sim(model):
        return None
    if task.simulation_problem() is not None:
        return parse_sim(model)
    state, previous = task.start()
    return sim_params(model, task.prompt(0, state, previous, simulated=True).system)


def _check_simulated(task: SequentialTask, config: RunConfig) -> None:
    """Refuse a simulated run that cannot work: no reference, or replies every sample would fail."""
    if not is_sim(config.model):
        return
    problem = task.simulation_problem()
    if problem is not None:
        raise UsageError(f"the simulated model cannot run {task.name!r}: {problem}")
    state, previous = task.start()
    prompt = task.prompt(0, state, previous, simulated=True)
    reply = prompt.reference.correct if prompt.reference is not None else ""
    sim = sim_params(config.model, prompt.system)
    tokens = sim.out_tokens or len(reply) // 4 + 1  # as the simulated model counts them
    if config.max_output_tokens is not None and tokens > config.max_output_tokens:
        raise UsageError(
            f"the correct reply to step 0 is {tokens:,} simulated tokens, over the {config.max_output_tokens:,}-token "
            "red flag: every sample would be discarded; raise --max-output-tokens (or red_flags.max_output_tokens)"
        )


def job_estimate(
    task: SequentialTask | WorkflowTask, config: RunConfig, sources: dict[str, str], *, simulated: bool
) -> EstimateReport | None:
    """The pre-run estimate (prices from the one resolver), or None when p or the steps are unknown.
    A workflow's steps are its voted steps; its tokens per call those of its first node."""
    if isinstance(task, WorkflowTask):
        if config.p is None:
            return None
        prompt = task.first_prompt(simulated=simulated)
        steps = task.planning_steps
    else:
        if config.p is None or task.steps_total is None:
            return None
        state, previous = task.start()
        prompt = task.prompt(0, state, previous, simulated=simulated)
        steps = task.steps_total
    in_tokens = config.input_tokens or (len(prompt.system) + len(prompt.user)) / 4
    out_tokens = config.output_tokens
    if out_tokens is None:
        out_tokens = len(prompt.reference.correct) / 4 if prompt.reference else ASSUMED_OUTPUT_TOKENS
    given = sources.get("price_in") if config.price_in is not None else sources.get("price_out")
    prices = resolve_prices(
        config.model,
        config.price_in,
        config.price_out,
        simulated=simulated,
        given_source=given if given is not None and given != "flag" else "flags",
    )
    k = config.k
    if config.adaptive_k:  # where adaptive k settles if p is as given (its first steps vote with more)
        k = max(config.k_min_floor, maths.k_min(config.p, steps, config.target or maths.DEFAULT_TARGET))
    report = estimate(
        EstimateInputs(
            steps=steps,
            p=config.p,
            k=k,
            valid_rate=config.valid_rate or 1.0,
            input_tokens=in_tokens,
            output_tokens=out_tokens,
            model=config.model,
            price_in=prices.price_in,
            price_out=prices.price_out,
            price_source=prices.source,
            concurrency=config.concurrency,
            max_samples=config.max_samples,
            max_red_flags=None if sources.get("max_red_flags", "default") == "default" else config.max_red_flags,
        )
    )
    if config.adaptive_k:
        report.warnings.append(
            f"with --adaptive-k this estimate assumes p = {config.p:g} holds, at the k_min = {k} adaptive k settles "
            f"at; the first steps vote with more (k = {config.k} now) until the run's own votes bound p "
            "(docs/commands/run-hanoi.md#adaptive-k)"
        )
    elif config.method != VotingMethod.AHEAD_BY_K or config.early_stop_votes is not None:
        how = [f"--method {config.method}"] if config.method != VotingMethod.AHEAD_BY_K else []
        how += ["early stopping"] if config.early_stop_votes is not None else []
        cisc = "; cisc can need several times the votes" if config.method == VotingMethod.CISC else ""
        report.warnings.append(
            f"this estimate models ahead-by-k at one k; with {' and '.join(how)} the samples and the cost differ "
            f"(docs/voting-methods.md{cisc})"
        )
    return report
