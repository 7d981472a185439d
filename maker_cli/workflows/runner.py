"""Running a workflow: nodes in dependency order, independent ones at once, every node voted.

- A node starts as soon as every node it depends on is decided; all nodes share the run's one
  engine, so `--concurrency` is one global limit on calls in flight.
- A **question node** is one voted step. Its decision is written to the run store at once (a
  step row whose index is the node's position in the file and whose `input_state` is its id), so
  a crash loses at most the votes in flight and `--resume` skips every decided node.
- A **sequence node** is a run of its own in the same store (kind `sequence`, linked to the
  workflow's run in its configuration), driven by the ordinary sequential runner: it is batched,
  verified and resumable like `maker run task`. The workflow's run remembers the child's id (in
  its `last_state`) before the child starts; when the child is solved, the node's step row holds
  its final state.
- A node that ends undecided, failed (a wrong verified step), out of budget or in error stops its
  dependants; the nodes that do not depend on it still run; the run ends with that status and can
  be resumed. Ctrl-C stops everything in flight; decided nodes stay decided.
- When every result node is decided the results are composed (`maker_cli.workflows.compose`; an
  `llm` composition is one more voted question).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from maker_cli._types import JSONValue
from maker_cli.core.confidence import decision_confidence
from maker_cli.core.engine import EarlyStop, Engine, StepResult, VoteConfig
from maker_cli.core.redflags import RedFlagRules
from maker_cli.core.status import RunStatus
from maker_cli.errors import MakerError
from maker_cli.jobs.event_log import job_scope
from maker_cli.jobs.run_result import RunConfig
from maker_cli.jobs.run_state import RunOutcome, RunPoint, RunTotals, confidence_state, restore, stored_totals
from maker_cli.jobs.runner import Runner, RunOptions, leased, sample_rows
from maker_cli.secrets import redact
from maker_cli.specs.question import QuestionSpec
from maker_cli.store.rows import RunRecord, StepRow
from maker_cli.store.run_store import RunStore
from maker_cli.strict_json import dump_json, load_json
from maker_cli.tasks.sequence import SequenceTask
from maker_cli.workflows.compose import NodeKind, NodeResult, compose
from maker_cli.workflows.task import WorkflowTask

# the order in which a run's status reports its worst node
SEVERITY = [
    RunStatus.ERROR,
    RunStatus.BUDGET_EXHAUSTED,
    RunStatus.FAILED,
    RunStatus.UNDECIDED,
    RunStatus.INTERRUPTED,
]
COMPOSE_ID = "compose"

# node statuses (what `runs show` and the dashboard print)
DONE, RUNNING, WAITING, BLOCKED = "decided", "running", "waiting", "blocked"


@dataclass
class NodeState:
    """A node as the run sees it: status, result and what it cost."""

    id: str
    position: int
    kind: NodeKind
    status: str = WAITING
    result: NodeResult | None = None
    message: str | None = None
    samples: int = 0
    cost_usd: float | None = 0.0
    steps: int = 0
    child_run: str | None = None


@dataclass
class WorkflowOutcome:
    status: RunStatus
    totals: RunTotals
    nodes: dict[str, NodeState]
    result: JSONValue = None
    composed: bool = False
    message: str | None = None


@dataclass
class WorkflowRunner:
    """Drives one workflow run through one engine, writing each decision to the store."""

    task: WorkflowTask
    engine: Engine
    config: RunConfig
    sources: Mapping[str, str]
    store: RunStore
    run_id: str
    on_node: Callable[[NodeState, RunTotals], None] | None = None
    nodes: dict[str, NodeState] = field(default_factory=dict)
    children: dict[str, str] = field(default_factory=dict)

    # --- set-up and resume ----------------------------------------------------------------------

    def restore(self, record: RunRecord | None) -> RunTotals:
        """The nodes decided before (a resumed run) and the run's totals so far."""
        spec = self.task.spec
        for position, declared in enumerate(spec.nodes):
            kind = NodeKind.QUESTION if isinstance(spec.node_spec(declared.id), QuestionSpec) else NodeKind.SEQUENCE
            self.nodes[declared.id] = NodeState(declared.id, position, kind)
        if record is None:
            return RunTotals()
        state = record.last_state if isinstance(record.last_state, dict) else {}
        self.children = {str(k): str(v) for k, v in (state.get("children") or {}).items()}
        for row in self.store.iter_steps(self.run_id):
            node_id = row.input_state or ""
            if node_id not in self.nodes or not row.decided:
                continue
            node = self.nodes[node_id]
            value = load_json(row.winner_value) if row.winner_value is not None else row.winner_key
            node.result = NodeResult(node_id, node.kind, _answer_text(node.kind, row.winner_key, value), value)
            node.status, node.samples, node.cost_usd = DONE, row.samples, row.cost_usd
            node.steps = 1 if node.kind == NodeKind.QUESTION else int(state.get("child_steps", {}).get(node_id, 0))
        for node_id, child in self.children.items():
            if node_id in self.nodes:
                self.nodes[node_id].child_run = child
        return stored_totals(record)

    # --- the run ----------------------------------------------------------------------------------

    async def run(self, totals: RunTotals) -> WorkflowOutcome:
        """Run the nodes in dependency order, with the run's lease renewed meanwhile."""
        async with leased(self.store, self.run_id):
            return await self._run(totals)

    async def _run(self, totals: RunTotals) -> WorkflowOutcome:
        spec = self.task.spec
        wall_base = totals.wall_s
        t0 = time.perf_counter()
        stops: list[tuple[RunStatus, str]] = []
        running: dict[str, asyncio.Task[None]] = {}
        self._totals = totals
        totals.confidence_needed = self.config.confidence_needed(self.task.planning_steps)
        self._child_steps: dict[str, int] = {}

        deps = {node.id: node.depends_on for node in spec.nodes}
        waiting = [node_id for node_id in spec.order if self.nodes[node_id].status == WAITING]

        def ready(node_id: str) -> bool:
            return self.nodes[node_id].status == WAITING and all(self.nodes[d].status == DONE for d in deps[node_id])

        try:
            while True:
                for node_id in waiting:
                    if ready(node_id) and not self._over_budget():
                        self.nodes[node_id].status = RUNNING
                        self._emit(self.nodes[node_id])
                        running[node_id] = asyncio.create_task(self._run_node(node_id), name=node_id)
                waiting = [node_id for node_id in waiting if self.nodes[node_id].status == WAITING]
                if not running:
                    break
                done, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    node_id = task.get_name()
                    running.pop(node_id)
                    node = self.nodes[node_id]
                    exc = task.exception()
                    if exc is not None:
                        if not isinstance(exc, MakerError):
                            raise exc
                        node.status, node.message = RunStatus.ERROR.value, redact(str(exc))
                        stops.append((RunStatus.ERROR, f"node {node_id}: {node.message}"))
                    elif node.status != DONE:
                        stops.append((RunStatus(node.status), f"node {node_id}: {node.message}"))
                    self._emit(node)
                totals.wall_s = wall_base + time.perf_counter() - t0  # each node wrote its own row and totals
        except asyncio.CancelledError:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)
            totals.wall_s = wall_base + time.perf_counter() - t0
            self._flush(RunStatus.INTERRUPTED, "interrupted")
            raise
        except Exception as exc:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)
            totals.wall_s = wall_base + time.perf_counter() - t0
            self._flush(RunStatus.ERROR, redact(str(exc)))
            raise
        self._block_dependants()
        if self._over_budget() and any(n.status == WAITING for n in self.nodes.values()):
            stops.append((RunStatus.BUDGET_EXHAUSTED, f"stopped: ${totals.cost_usd:,.4f} spent reaches --max-cost"))
        outcome = WorkflowOutcome(RunStatus.SOLVED, totals, self.nodes)
        if stops:
            worst = min(stops, key=lambda s: SEVERITY.index(s[0]) if s[0] in SEVERITY else len(SEVERITY))
            outcome.status, outcome.message = worst[0], "; ".join(m for _, m in stops)
        else:
            await self._compose(outcome)
        totals.wall_s = wall_base + time.perf_counter() - t0
        state_message = outcome.message
        self._flush(outcome.status, state_message, result=outcome.result if outcome.composed else None)
        return outcome

    async def _run_node(self, node_id: str) -> None:
        node = self.nodes[node_id]
        results = {n: s.result for n, s in self.nodes.items() if s.result is not None}
        sub = self.task.node_task(node_id, results)
        if isinstance(sub, SequenceTask):
            await self._run_sequence(node, sub)
            return
        r = await self._vote(sub.prompt(simulated=self.engine.provider.info.simulated), sub, node_id)
        node.samples, node.cost_usd = r.samples, r.cost_usd
        self._totals.add(r, None, done=r.decided)
        if not r.decided:
            node.status = RunStatus.UNDECIDED.value if r.stopped != "budget" else RunStatus.BUDGET_EXHAUSTED.value
            node.message = f"undecided ({r.stopped or 'sample cap'}; votes {dict(r.tallies)})"
            self._write(node, r, None)
            return
        value = r.value
        node.result = NodeResult(node_id, NodeKind.QUESTION, _answer_text(NodeKind.QUESTION, r.winner, value), value)
        node.status, node.steps = DONE, 1
        self._write(node, r, value)

    async def _vote(self, prompt: object, sub: object, node_id: str) -> StepResult:
        from maker_cli.core.step import StepPrompt
        from maker_cli.tasks.question import QuestionTask

        assert isinstance(prompt, StepPrompt) and isinstance(sub, QuestionTask)
        prompt = StepPrompt(
            self.nodes[node_id].position if node_id in self.nodes else 0, prompt.system, prompt.user, prompt.reference
        )
        cfg = self.vote_config(sub.spec)
        limit = None
        if self.config.max_cost is not None and self._totals.cost_usd is not None:
            limit = max(0.0, self.config.max_cost - self._totals.cost_usd)
        with job_scope(self.run_id, node_id):  # the events' run and node
            return await self.engine.vote(prompt, sub.judge(), cfg, spend_limit=limit)

    def vote_config(self, spec: QuestionSpec) -> VoteConfig:
        """The run's vote settings with the node's own voting and red flags (a flag still wins)."""
        base = self.config.vote_config()
        flagged = {name for name, source in self.sources.items() if source == "flag"}
        voting = spec.voting
        changes: dict[str, object] = {}
        for name in ("k", "max_samples", "first_temperature", "temperature", "method"):
            value = getattr(voting, name)
            if value is not None and name not in flagged:
                changes[name] = value
        if voting.early_stop is not None and "early_stop_votes" not in flagged:
            changes["early_stop"] = EarlyStop(voting.early_stop.min_votes, voting.early_stop.min_confidence)
        if spec.answer.ranked is not None:
            changes["ranking_depth"] = spec.answer.ranked
        run, flags = self.config, spec.red_flags
        own = flags.checks()
        changes["rules"] = RedFlagRules.preset(
            run.red_flags if "red_flags" in flagged or flags.preset is None else flags.preset,
            max_output_tokens=run.max_output_tokens
            if "max_output_tokens" in flagged or flags.max_output_tokens is None
            else flags.max_output_tokens,
            must_not_match=(*run.must_not_match, *flags.must_not_match),
            checks=own.over(run.red_flag_checks) if run.red_flag_checks is not None else own,
        )
        if "k" in changes and "max_red_flags" not in flagged:
            changes["max_red_flags"] = None  # the default rule for the node's own k
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # VoteConfig's own fields

    async def _run_sequence(self, node: NodeState, sub: SequenceTask) -> None:
        store = self.store
        child = self.children.get(node.id)
        if child is None:
            state, previous = sub.start()
            stored = {
                "task": sub.config(),
                "job": self.config.model_dump(mode="json"),
                "sources": dict(self.sources),
                "parent": {"run": self.run_id, "node": node.id},
            }
            child = store.create_run(
                sub.kind, f"{self.task.name}.{node.id}", self.config.model, stored, sub.steps_total
            )
            self.children[node.id] = child
            node.child_run = child
            self._flush(RunStatus.RUNNING)  # the parent knows its child before the child spends anything
            point, before = RunPoint(0, state, previous), RunTotals()
        else:
            record = store.get_run(child)
            if record.status == RunStatus.SOLVED:
                point, before = restore(sub, record)
                self._finish_sequence(node, sub, record, point)
                return
            point, before = restore(sub, record)
        store.claim(child, running=True)
        start = _copy(before)
        remaining = None
        if self.config.max_cost is not None and self._totals.cost_usd is not None:
            remaining = (before.cost_usd or 0.0) + max(0.0, self.config.max_cost - self._totals.cost_usd)
        options = RunOptions(
            keep_going=self.config.keep_going,
            max_cost=remaining,
            log_samples=self.config.log_samples,
            speculate=self.config.speculate,
            confidence_p=self.config.p,
            confidence_needed=self._totals.confidence_needed,  # the workflow's: over all its voted steps
        )
        runner = Runner(sub, self.engine, self.config.vote_config(), store, child, options)
        with job_scope(child, node.id):  # the events' run (the node's own) and node
            outcome: RunOutcome = await runner.run(point, before)
        self._add_delta(start, outcome.totals)
        record = store.get_run(child)
        if outcome.status != RunStatus.SOLVED:
            node.status = outcome.status.value
            node.message = f"its run {child} ended {outcome.status.value}" + (
                f": {record.message}" if record.message else ""
            )
            node.samples, node.cost_usd = record.samples, record.cost_usd
            return
        self._finish_sequence(node, sub, record, outcome.point)

    def _finish_sequence(self, node: NodeState, sub: SequenceTask, record: RunRecord, point: RunPoint) -> None:
        value = point.state
        node.result = NodeResult(node.id, NodeKind.SEQUENCE, dump_json(value), value)
        node.status, node.samples, node.cost_usd = DONE, record.samples, record.cost_usd
        node.steps = record.steps_done
        self._child_steps[node.id] = record.steps_done
        row = StepRow(
            idx=node.position,
            input_state=node.id,
            winner_key=dump_json(value)[:200],
            winner_value=dump_json(value),
            decided=True,
            samples=record.samples,
            valid=record.valid,
            red_flagged=record.red_flagged,
            rounds=record.rounds,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cost_usd=record.cost_usd,
            latency_s=record.wall_s,
            cached_tokens=record.cached_tokens,
        )
        self.store.write_batch(self.run_id, [row], (), self._update(RunStatus.RUNNING))

    def _add_delta(self, before: RunTotals, after: RunTotals) -> None:
        t = self._totals
        for name in (
            "samples",
            "valid",
            "red_flagged",
            "errors",
            "retries",
            "rounds",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "wrong_steps",
        ):
            setattr(t, name, getattr(t, name) + getattr(after, name) - getattr(before, name))
        if t.cost_usd is None or after.cost_usd is None or before.cost_usd is None:
            t.cost_usd = None
        else:
            t.cost_usd += after.cost_usd - before.cost_usd
        for reason, n in after.red_flag_reasons.items():
            t.red_flag_reasons[reason] = t.red_flag_reasons.get(reason, 0) + n - before.red_flag_reasons.get(reason, 0)
        # the confidence of the sequence's steps counts in the workflow's (its lowest over the whole child run)
        t.confident_steps += after.confident_steps - before.confident_steps
        t.low_confidence_steps += after.low_confidence_steps - before.low_confidence_steps
        t.doubt_sum += after.doubt_sum - before.doubt_sum
        t.early_stopped_steps += after.early_stopped_steps - before.early_stopped_steps
        t.contested_steps += after.contested_steps - before.contested_steps
        t.max_votes = max(t.max_votes, after.max_votes)
        if after.min_confidence is not None and (t.min_confidence is None or after.min_confidence < t.min_confidence):
            t.min_confidence = after.min_confidence

    async def _compose(self, outcome: WorkflowOutcome) -> None:
        spec = self.task.spec
        results = {n: s.result for n, s in self.nodes.items() if s.result is not None}
        if spec.compose.function == "llm":
            sub = self.task.composer_task(results)
            prompt = sub.prompt(simulated=self.engine.provider.info.simulated)
            r = await self._vote(prompt, sub, COMPOSE_ID)
            self._totals.add(r, None, done=r.decided)
            position = len(spec.nodes)
            state = NodeState(COMPOSE_ID, position, NodeKind.QUESTION, samples=r.samples, cost_usd=r.cost_usd)
            if not r.decided:
                state.status = RunStatus.UNDECIDED.value
                state.message = f"undecided ({r.stopped or 'sample cap'}; votes {dict(r.tallies)})"
                self._write(state, r, None)
                outcome.status = RunStatus.UNDECIDED if r.stopped != "budget" else RunStatus.BUDGET_EXHAUSTED
                outcome.message = f"the llm composition: {state.message}"
                return
            state.status = DONE
            self._write(state, r, r.value)
            outcome.result, outcome.composed = r.value, True
            return
        ordered = [results[n] for n in spec.result_nodes()]
        outcome.result = compose(
            spec.compose.function,
            ordered,
            operation=spec.compose.operation,
            separator=spec.compose.separator if spec.compose.separator is not None else "\n",
        )
        outcome.composed = True

    # --- the store ------------------------------------------------------------------------------

    def _write(self, node: NodeState, r: StepResult, value: JSONValue) -> None:
        """A decided node: its step row and kept samples, with the run's totals, in one transaction.
        An undecided node writes only the totals (its spend): a resumed run votes it again."""
        if not r.decided:
            self._flush(RunStatus.RUNNING)
            return
        confidence = decision_confidence(r.tallies, r.winner, self.config.p)
        self._totals.confide(confidence)
        samples = sample_rows(node.position, r, self.config.log_samples)
        row = StepRow(
            idx=node.position,
            input_state=node.id,
            winner_key=r.winner,
            winner_value=dump_json(value),
            decided=True,
            tallies=dict(r.tallies),
            samples=r.samples,
            valid=r.valid,
            red_flagged=r.red_flagged,
            red_flag_reasons=dict(r.red_flags),
            errors=r.errors,
            retries=r.retries,
            rounds=r.rounds,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            cost_usd=r.cost_usd,
            latency_s=r.wall_s,
            cached_tokens=r.cached_tokens,
            confidence=confidence,
        )
        self.store.write_batch(self.run_id, [row], samples, self._update(RunStatus.RUNNING))

    def _update(self, status: RunStatus, message: str | None = None, result: JSONValue = None) -> dict[str, object]:
        t = self._totals
        state: dict[str, object] = {
            "children": dict(self.children),
            "child_steps": dict(self._child_steps),
            "max_votes": t.max_votes,
            "contested_steps": t.contested_steps,
            **confidence_state(t),
        }
        if result is not None:
            state["result"] = result
        update: dict[str, object] = {
            "status": status,
            "last_state": state,
            "samples": t.samples,
            "valid": t.valid,
            "red_flagged": t.red_flagged,
            "errors": t.errors,
            "retries": t.retries,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "cached_tokens": t.cached_tokens,
            "cost_usd": t.cost_usd,
            "wrong_steps": t.wrong_steps,
            "rounds": t.rounds,
            "wall_s": t.wall_s,
            "red_flag_reasons": t.red_flag_reasons,
        }
        if message is not None:
            update["message"] = redact(message)
        if status != RunStatus.RUNNING:
            update["owner"] = None
        return update

    def _flush(self, status: RunStatus, message: str | None = None, result: JSONValue = None) -> None:
        self.store.write_batch(self.run_id, [], [], self._update(status, message, result))

    # --- helpers --------------------------------------------------------------------------------

    def _over_budget(self) -> bool:
        cap = self.config.max_cost
        spent = self._totals.cost_usd if hasattr(self, "_totals") else 0.0
        return cap is not None and (spent is None or spent >= cap)

    def _block_dependants(self) -> None:
        spec = self.task.spec
        for node_id in spec.order:
            node = self.nodes[node_id]
            if node.status == WAITING and any(
                self.nodes[d].status not in (DONE, WAITING) for d in spec.node(node_id).depends_on
            ):
                node.status = BLOCKED
                stopped = [d for d in spec.node(node_id).depends_on if self.nodes[d].status != DONE]
                node.message = f"waits for {', '.join(stopped)}"

    def _emit(self, node: NodeState) -> None:
        if self.on_node is not None:
            self.on_node(node, self._totals)


def _answer_text(kind: NodeKind, key: str | None, value: JSONValue) -> str:
    if kind == NodeKind.SEQUENCE:
        return dump_json(value)
    if isinstance(value, str):
        return value
    return key if key is not None else json.dumps(value)


def _copy(t: RunTotals) -> RunTotals:
    return RunTotals(**{**t.__dict__, "red_flag_reasons": dict(t.red_flag_reasons)})
