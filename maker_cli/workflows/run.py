"""Starting, resuming and reporting a workflow run (`maker run task workflow.yaml`, `maker_cli.run`).

The run's store record counts the workflow's nodes (and an `llm` composition) as its steps; its
totals add up every vote of every node, including the runs of its sequence nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from maker_cli.core.engine import Engine
from maker_cli.core.events import Listener, announce
from maker_cli.core.status import RunStatus
from maker_cli.errors import MakerError, UsageError
from maker_cli.jobs.event_log import job_scope
from maker_cli.jobs.run_state import RunOutcome, RunPoint, RunTotals
from maker_cli.providers.base import Provider
from maker_cli.secrets import redact
from maker_cli.store.run_store import RunStore
from maker_cli.workflows.report import NodeReport
from maker_cli.workflows.runner import NodeState, WorkflowOutcome, WorkflowRunner
from maker_cli.workflows.task import WorkflowTask

if TYPE_CHECKING:
    from maker_cli.jobs.run import StartedRun
    from maker_cli.jobs.run_plan import RunPlan
    from maker_cli.jobs.run_result import RunResult


def node_reports(nodes: dict[str, NodeState]) -> list[NodeReport]:
    return [
        NodeReport(
            id=n.id,
            kind=n.kind,
            status=n.status,
            answer=n.result.answer if n.result is not None else None,
            value=n.result.value if n.result is not None else None,
            samples=n.samples,
            cost_usd=n.cost_usd,
            steps=n.steps,
            child_run=n.child_run,
            message=n.message,
        )
        for n in sorted(nodes.values(), key=lambda n: n.position)
    ]


async def run_workflow(
    plan: RunPlan,
    provider: Provider,
    store: RunStore,
    *,
    on_start: Callable[[StartedRun], None] | None = None,
    on_node: Callable[[NodeState, RunTotals], None] | None = None,
    listeners: Iterable[Listener] = (),
) -> RunResult:
    """Create (or claim, to resume) the run, run the workflow, and report it as a RunResult."""
    from maker_cli.jobs.run import StartedRun, job_started, report  # jobs.run imports this module when it runs one

    assert isinstance(plan.task, WorkflowTask)
    task, config = plan.task, plan.config
    record = None
    if plan.resume is None:
        stored = {"task": task.config(), "job": config.model_dump(mode="json"), "sources": plan.sources}
        run_id = store.create_run(task.kind, task.name, config.model, stored, task.steps_total, {"children": {}})
    else:
        record = store.get_run(plan.resume)
        if record.status == RunStatus.SOLVED:
            raise UsageError(f"run {record.id} is already solved; nothing to resume")
        run_id = record.id
    store.claim(run_id, running=True)  # a resumed run is running again from here
    if record is not None:
        record = store.get_run(run_id)
    engine = Engine(provider, concurrency=config.concurrency, listeners=listeners)
    runner = WorkflowRunner(task, engine, config, plan.sources, store, run_id, on_node=on_node)
    totals = runner.restore(record)
    started = StartedRun(plan, store, run_id, RunPoint(totals.steps_done, None, None), totals, record is not None)
    if on_start is not None:
        on_start(started)
    try:
        with job_scope(run_id):  # the events' run_id (a node's own events say their node)
            announce(engine.listeners, job_started(plan, totals.steps_done))
            outcome: WorkflowOutcome = await runner.run(totals)
    except MakerError as exc:
        result = report(
            started, RunOutcome(RunStatus.ERROR, totals, started.point), provider.info.simulated, error=redact(str(exc))
        )
        return result.model_copy(update={"nodes": node_reports(runner.nodes)})
    final = store.get_run(run_id)
    result = report(
        started,
        RunOutcome(outcome.status, outcome.totals, RunPoint(final.steps_done, None, None)),
        provider.info.simulated,
        message=final.message,
    )
    return result.model_copy(
        update={
            "steps_done": final.steps_done,
            "nodes": node_reports(runner.nodes),
            "result": outcome.result if outcome.composed else None,
            "voted_steps": task.planning_steps,
        }
    )
