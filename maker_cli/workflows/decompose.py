"""`maker decompose`: split a task into a workflow of small voted questions.

Strategy `recursive` (Algorithm 4 of the MAKER paper, as the design documents describe it): for a
task, the model proposes — as strict JSON — either that it is minimal (one action a small model can
do in one short answer: the question to ask) or a split into 2 to `max_subtasks` subtasks with
their dependencies and a composition (`maker_cli.workflows.decompose_proposal`). **Each decision is
made by first-to-ahead-by-k voting** (`Engine.vote`) over the canonical proposals, malformed ones
red-flagged, never repaired. Every subtask of a split is decided in turn, depth first, down to
`max_depth` (a task at that depth is asked as one question unasked, and a note says so). The decided
tree becomes a workflow spec (`maker_cli.workflows.decompose_tree`): one inline question node per
minimal task, dependencies translated, the root decision's composition.

Strategy `sequential` needs no model: numbered or bulleted lines (else sentences) become a chain of
questions (`maker_cli.workflows.decompose_sequential`).

A decision that ends undecided (its sample cap, too many red flags) or at the dollar cap stops the
decomposition: the result says so, holds the tree so far, and has no workflow. The decomposition's
own samples, tokens and cost are reported. `maker_cli.workflows.decompose_sim` scripts the
simulated model as a decomposer (tests, demos).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.job import JobSettings, merge_job_settings
from maker_cli.config.settings import Settings, load_settings
from maker_cli.core.engine import Engine, StepResult, VoteConfig
from maker_cli.core.events import JobStarted, Listener, announce
from maker_cli.core.race import VotingMethod
from maker_cli.core.status import StepStatus, StopReason
from maker_cli.core.step import StepPrompt
from maker_cli.errors import UsageError
from maker_cli.jobs.event_log import job_scope, new_job_id
from maker_cli.providers import is_sim
from maker_cli.providers.base import Provider
from maker_cli.providers.factory import provider_for
from maker_cli.workflows.decompose_proposal import Proposal, ProposalJudge, collapse, system_prompt, user_prompt
from maker_cli.workflows.decompose_sequential import sequential_tree
from maker_cli.workflows.decompose_sim import DecompositionScript
from maker_cli.workflows.decompose_tree import TreeNode, WorkflowBuilder

Strategy = Literal["recursive", "sequential"]
Status = Literal["decided", "undecided", "budget_exhausted"]

DEFAULT_MAX_DEPTH = 4
DEFAULT_MAX_SUBTASKS = 5
DEFAULT_DECISION_SAMPLES = 100
"""A decision's sample cap when none is set."""
MAX_DEPTH_LIMIT = 10
MAX_SUBTASKS_LIMIT = 20
MAX_DECISIONS = 500
"""Decisions one decomposition may make; tasks past it are asked as one question (noted)."""
MAX_TASK_CHARS = 100_000


class DecisionRecord(BaseModel):
    """One voted decision: what was decided for which task, the votes, and what it cost."""

    index: int
    path: str = Field(description="the task's place in the tree, e.g. 'root > s2'")
    task: str
    depth: int
    status: StepStatus
    decided: bool
    winner: str | None = Field(description="the winning proposal's canonical JSON (null when undecided)")
    summary: str | None = Field(description="the winner in words: minimal, or split into N composed by F")
    votes: dict[str, int] = Field(description="valid votes per canonical proposal, most first")
    samples: int
    valid: int
    red_flagged: int
    red_flag_reasons: dict[str, int]
    errors: int
    retries: int
    rounds: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None = Field(description="null when a price was unknown")
    wall_s: float
    stopped: StopReason | None = Field(None, description="why an undecided decision stopped")

    @classmethod
    def of(cls, index: int, node: TreeNode, result: StepResult) -> DecisionRecord:
        proposal = result.value if isinstance(result.value, Proposal) else None
        return cls(
            index=index,
            path=node.path,
            task=node.task,
            depth=node.depth,
            status=result.status,
            decided=result.decided,
            winner=result.winner,
            summary=proposal.summary() if proposal is not None and result.decided else None,
            votes=dict(sorted(result.tallies.items(), key=lambda kv: -kv[1])),
            samples=result.samples,
            valid=result.valid,
            red_flagged=result.red_flagged,
            red_flag_reasons=dict(result.red_flags),
            errors=result.errors,
            retries=result.retries,
            rounds=result.rounds,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost_usd=result.cost_usd,
            wall_s=round(result.wall_s, 4),
            stopped=result.stopped,
        )


class DecompositionResult(BaseModel):
    """What `maker decompose` decided and wrote; `model_dump(mode="json")` is its `--json`."""

    status: Status = Field(description="decided; undecided (a decision reached a cap); budget_exhausted")
    decided: bool
    strategy: Strategy
    task: str
    model: str | None = Field(description="the decomposer model (null for the sequential strategy)")
    simulated: bool
    k: int | None
    max_depth: int
    max_subtasks: int
    tree: TreeNode
    decisions: list[DecisionRecord]
    nodes: int = Field(description="question nodes in the workflow (0 without one)")
    samples: int = Field(description="the decomposition's own samples, red-flagged ones included")
    valid: int
    red_flagged: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None = Field(description="the decomposition's cost; null when a price was unknown")
    wall_s: float
    stopped: StopReason | None = Field(None, description="why an undecided decomposition stopped")
    workflow_yaml: str | None = Field(description="the workflow spec (null when not every decision was made)")
    file: str | None = Field(None, description="the file the workflow was written to (null: not written)")
    notes: list[str] = Field(default_factory=list)
    settings: JobSettings | None = Field(None, description="the settings the decisions used (recursive)")
    settings_sources: dict[str, str] | None = None


def decompose(task: str, **options: OptionValue) -> DecompositionResult:
    """Split `task` into a workflow (see `adecompose` for the keywords)."""
    return asyncio.run(adecompose(task, **options))


async def adecompose(
    task: str,
    *,
    strategy: Strategy = "recursive",
    model: str | None = None,
    k: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_subtasks: int = DEFAULT_MAX_SUBTASKS,
    max_samples: int | None = None,
    max_total_samples: int | None = None,
    max_red_flags: int | None = None,
    temperature: float | None = None,
    first_temperature: float | None = None,
    max_output_tokens: int | None = None,
    concurrency: int | None = None,
    api_base: str | None = None,
    router_config: Path | None = None,
    timeout: float | None = None,
    price_in: float | None = None,
    price_out: float | None = None,
    max_cost: float | None = None,
    script: str | Path | Mapping[str, JSONValue] | DecompositionScript | None = None,
    name: str | None = None,
    on_decision: Callable[[DecisionRecord], None] | None = None,
    config: Path | None = None,
    settings: Settings | None = None,
    provider: Provider | None = None,
    listeners: Iterable[Listener] = (),
) -> DecompositionResult:
    """Split `task` into a workflow of voted questions; the result holds the tree, every decision
    with its votes, the decomposition's samples, tokens and cost, and the workflow's YAML.

    `max_samples` caps each decision (default 100); `max_total_samples` and `max_cost` (USD) the
    whole decomposition. `script` (simulated models only) scripts the decomposer: a JSON file, a
    mapping or a `DecompositionScript` (`maker_cli.workflows.decompose_sim`). `name` is the
    workflow's name. `listeners` hear the engine's events of every decision (an event log, metrics).
    Settings: keyword > MAKER_* > config file > defaults.
    """
    check_task(task)
    check_shape(max_depth, max_subtasks)
    if strategy == "sequential":
        return sequential_result(task, max_depth=max_depth, max_subtasks=max_subtasks, name=name)
    if strategy != "recursive":
        raise UsageError(f"--strategy must be recursive or sequential, not {strategy!r}")
    job = plan_job(
        settings or load_settings(config),
        dict(
            model=model,
            k=k,
            max_samples=max_samples,
            max_red_flags=max_red_flags,
            temperature=temperature,
            first_temperature=first_temperature,
            max_output_tokens=max_output_tokens,
            concurrency=concurrency,
            api_base=api_base,
            router_config=router_config,
            timeout=timeout,
            price_in=price_in,
            price_out=price_out,
            max_cost=max_cost,
        ),
    )
    if max_total_samples is not None and max_total_samples < 1:
        raise UsageError("max_total_samples must be at least 1")
    the_script = load_script(script, job.model)
    provider = provider or provider_for(job)
    try:
        if job.max_cost is not None and not (provider.info.simulated or provider.info.prices_known):
            raise UsageError(
                f"--max-cost needs prices, and {job.model} has none in litellm's price map: give --price-in and "
                "--price-out (USD per million tokens)"
            )
        run = _Decomposition(
            task,
            job=job,
            provider=provider,
            max_depth=max_depth,
            max_subtasks=max_subtasks,
            max_total_samples=max_total_samples,
            script=the_script,
            on_decision=on_decision,
            listeners=listeners,
        )
        with job_scope(new_job_id("decompose")):  # the events' run_id: a decomposition is in no store
            announce(run.engine.listeners, JobStarted("decomposition", None, k=job.k, model=job.model, task=name))
            return await run.result(name=name)
    finally:
        await provider.aclose()


def check_task(task: str) -> None:
    if not isinstance(task, str) or not task.strip():
        raise UsageError("the task is empty: give the text of a task to decompose")
    if len(task) > MAX_TASK_CHARS:
        raise UsageError(f"the task has {len(task):,} characters, over the limit of {MAX_TASK_CHARS:,}")


def check_shape(max_depth: int, max_subtasks: int) -> None:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or not 1 <= max_depth <= MAX_DEPTH_LIMIT:
        raise UsageError(f"--max-depth must be between 1 and {MAX_DEPTH_LIMIT}, not {max_depth!r}")
    if (
        isinstance(max_subtasks, bool)
        or not isinstance(max_subtasks, int)
        or not 2 <= max_subtasks <= MAX_SUBTASKS_LIMIT
    ):
        raise UsageError(f"--max-subtasks must be between 2 and {MAX_SUBTASKS_LIMIT}, not {max_subtasks!r}")


def plan_job(settings: Settings, flags: Mapping[str, OptionValue]) -> JobSettings:
    """The merged settings of the decisions, with the per-decision sample cap filled in."""
    job = merge_job_settings(settings, flags=flags)
    if job.max_samples is None:
        job = job.model_copy(
            update={
                "max_samples": max(DEFAULT_DECISION_SAMPLES, job.k),
                "sources": {**job.sources, "max_samples": "default"},
            }
        )
    assert job.max_samples is not None
    if job.method == VotingMethod.BORDA:
        raise UsageError("decompose votes over whole proposals, not ranked lists: --method borda does not apply")
    if job.max_samples < job.k:
        raise UsageError(f"--max-samples {job.max_samples} is below k = {job.k}: no proposal could ever win")
    return job


def load_script(
    script: str | Path | Mapping[str, JSONValue] | DecompositionScript | None, model: str
) -> DecompositionScript:
    """The decomposition script (empty when none is given); only a simulated model takes one."""
    if script is not None and not is_sim(model):
        raise UsageError(f"--script scripts the simulated model; {model} is not simulated (use sim:...)")
    if script is None:
        return DecompositionScript()
    if isinstance(script, DecompositionScript):
        return script
    if isinstance(script, Mapping):
        return DecompositionScript.parse(dict(script))
    return DecompositionScript.load(script)


def sequential_result(task: str, *, max_depth: int, max_subtasks: int, name: str | None) -> DecompositionResult:
    started = time.perf_counter()
    tree = sequential_tree(task)
    workflow, nodes, notes = build(tree, name=name, header="strategy sequential: the task's own steps, in order")
    return DecompositionResult(
        status="decided",
        decided=True,
        strategy="sequential",
        task=task,
        model=None,
        simulated=False,
        k=None,
        max_depth=max_depth,
        max_subtasks=max_subtasks,
        tree=tree,
        decisions=[],
        nodes=nodes,
        samples=0,
        valid=0,
        red_flagged=0,
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
        wall_s=round(time.perf_counter() - started, 4),
        workflow_yaml=workflow,
        notes=notes,
    )


def build(tree: TreeNode, *, name: str | None, header: str) -> tuple[str, int, list[str]]:
    """The workflow YAML of a decided tree, its node count and the builder's notes."""
    builder = WorkflowBuilder(tree)
    text, spec = builder.build(
        name=(name or "").strip() or "decomposition",
        description=collapse(tree.task),
        header=[
            f"Written by maker decompose ({header}).",
            "Each node's comment says where it came from: the path of decisions from the root task.",
        ],
    )
    return text, len(spec.nodes), builder.notes


class _Decomposition:
    """One recursive decomposition: decisions depth first, each by voting, within the caps."""

    def __init__(
        self,
        task: str,
        *,
        job: JobSettings,
        provider: Provider,
        max_depth: int,
        max_subtasks: int,
        max_total_samples: int | None,
        script: DecompositionScript,
        on_decision: Callable[[DecisionRecord], None] | None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.task = task
        self.job = job
        self.provider = provider
        self.simulated = provider.info.simulated
        self.max_depth = max_depth
        self.max_subtasks = max_subtasks
        self.max_total_samples = max_total_samples
        self.script = script
        self.on_decision = on_decision
        self.engine = Engine(provider, concurrency=job.concurrency, listeners=listeners)
        self.judge = ProposalJudge(max_subtasks)
        self.system = system_prompt(max_subtasks)
        self.decisions: list[DecisionRecord] = []
        self.notes: list[str] = []
        self.status: Status = "decided"
        self.stopped: StopReason | None = None
        self.samples = 0
        self.spent = 0.0
        self.cost_known = True

    async def result(self, *, name: str | None) -> DecompositionResult:
        started = time.perf_counter()
        root = TreeNode(id="root", path="root", task=self.task.strip(), depth=0, shape="pending", why="not_reached")
        await self._decide(root, [])
        workflow, nodes = None, 0
        if self.status == "decided":
            header = f"strategy recursive, k = {self.job.k}: every split was decided by first-to-ahead-by-k voting"
            workflow, nodes, notes = build(root, name=name, header=header)
            self.notes += notes
        if self.script.entries:
            self.notes.append(f"the simulated model was scripted ({len(self.script)} tasks)")
        records = self.decisions
        return DecompositionResult(
            status=self.status,
            decided=self.status == "decided",
            strategy="recursive",
            task=self.task,
            model=self.job.model,
            simulated=self.simulated,
            k=self.job.k,
            max_depth=self.max_depth,
            max_subtasks=self.max_subtasks,
            tree=root,
            decisions=records,
            nodes=nodes,
            samples=sum(r.samples for r in records),
            valid=sum(r.valid for r in records),
            red_flagged=sum(r.red_flagged for r in records),
            input_tokens=sum(r.input_tokens for r in records),
            output_tokens=sum(r.output_tokens for r in records),
            cost_usd=self.spent if self.cost_known else None,
            wall_s=round(time.perf_counter() - started, 4),
            stopped=self.stopped,
            workflow_yaml=workflow,
            notes=self.notes,
            settings=self.job,
            settings_sources=dict(self.job.sources),
        )

    async def _decide(self, node: TreeNode, ancestors: list[str]) -> None:
        """Decide `node` (and below it) in place; stops everything at the first undecided decision."""
        if self.status != "decided":
            return
        if node.depth >= self.max_depth:
            self._leaf(node, "max_depth")
            self.notes.append(f"{node.path}: max depth {self.max_depth} reached: asked as one question")
            return
        if len(self.decisions) >= MAX_DECISIONS:
            self._leaf(node, "decision_cap")
            self.notes.append(f"{node.path}: the limit of {MAX_DECISIONS} decisions was reached: asked as one question")
            return
        cfg = self._config()
        if cfg is None:
            return
        index = len(self.decisions)
        reference = self.script.reference(node.task) if self.simulated else None
        prompt = StepPrompt(
            index, self.system, user_prompt(node.task, ancestors, node.depth, self.max_depth), reference
        )
        result = await self.engine.vote(prompt, self.judge, cfg, spend_limit=self._spend_limit())
        record = DecisionRecord.of(index, node, result)
        self._account(record)
        node.decision = index
        if self.on_decision is not None:
            self.on_decision(record)
        if not result.decided or not isinstance(result.value, Proposal):
            node.shape, node.why = "undecided", "voted"
            self.status = "budget_exhausted" if result.stopped == StopReason.BUDGET else "undecided"
            self.stopped = result.stopped
            return
        proposal = result.value
        node.why = "voted"
        if proposal.minimal:
            node.shape, node.question = "question", proposal.question
            node.expected = self.script.expected(node.task) if self.simulated else None
            return
        node.shape, node.compose = "split", proposal.compose
        node.children = [
            TreeNode(
                id=sub.id,
                path=f"{node.path} > {sub.id}",
                task=sub.task,
                depth=node.depth + 1,
                shape="pending",
                why="not_reached",
                depends_on=list(sub.depends_on),
            )
            for sub in proposal.subtasks
        ]
        for child in node.children:
            await self._decide(child, [*ancestors, node.task])

    def _leaf(self, node: TreeNode, why: Literal["max_depth", "decision_cap"]) -> None:
        node.shape, node.why = "question", why
        node.expected = self.script.expected(node.task) if self.simulated else None

    def _config(self) -> VoteConfig | None:
        """The next decision's voting config within the caps; None (status set) when a cap is reached."""
        job = self.job
        cap = job.max_samples or DEFAULT_DECISION_SAMPLES
        if self.max_total_samples is not None:
            left = self.max_total_samples - self.samples
            if left < job.k:
                self.status, self.stopped = "undecided", StopReason.SAMPLE_CAP
                self.notes.append(
                    f"stopped: {left} of the {self.max_total_samples} samples allowed are left, fewer than k = {job.k}"
                )
                return None
            cap = min(cap, left)
        limit = self._spend_limit()
        if limit is not None and limit <= 0:
            self.status, self.stopped = "budget_exhausted", StopReason.BUDGET
            self.notes.append(f"stopped: the dollar cap (${job.max_cost:g}) was reached")
            return None
        return VoteConfig(
            k=job.k,
            max_samples=cap,
            first_temperature=job.first_temperature,
            temperature=job.temperature,
            rules=job.rules(),
            max_red_flags=job.max_red_flags,
            method=job.method,  # MAKER_METHOD and the config file's too (a workflow's own voting)
            early_stop=job.early_stop(),
        )

    def _spend_limit(self) -> float | None:
        cap = self.job.max_cost
        if cap is None or math.isinf(cap):
            return None
        return cap - self.spent

    def _account(self, record: DecisionRecord) -> None:
        self.decisions.append(record)
        self.samples += record.samples
        if record.cost_usd is None:
            self.cost_known = False
        else:
            self.spent += record.cost_usd


# --------------------------------------------------------------------------- writing the file


def check_out(path: Path, *, force: bool) -> None:
    """Refuse, before anything is spent, a file that exists (without `force`) or cannot be written."""
    if path.is_dir():
        raise UsageError(f"-o {path}: is a folder; give a file name")
    if path.exists() and not force:
        raise UsageError(f"-o {path}: exists; give --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"-o {path}: the folder {path.parent} does not exist")


def write_workflow(result: DecompositionResult, path: Path, *, force: bool) -> DecompositionResult:
    """Write the result's workflow to `path` (new, or replaced with `force`); the result with `file` set."""
    if result.workflow_yaml is None:
        raise UsageError("nothing to write: the decomposition was not decided")
    check_out(path, force=force)
    data = result.workflow_yaml.encode("utf-8")
    try:
        if force:
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            try:
                partial.write_bytes(data)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
        else:
            with open(path, "xb") as handle:  # never replaces a file that appeared meanwhile
                handle.write(data)
    except FileExistsError:
        raise UsageError(f"-o {path}: exists; give --force to overwrite it") from None
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write ({exc.strerror or exc})") from None
    return result.model_copy(update={"file": str(path)})
