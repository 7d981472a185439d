"""How a run looks to people before and after: the estimate, the ending, a spec's check."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from maker_cli._types import JSONObject
from maker_cli.cli.display.formats import confidence_basis, counted, low_confidence_line, plural, probability
from maker_cli.cli.output import printable, warn_line
from maker_cli.jobs.run import RunPlan, StartedRun
from maker_cli.jobs.run_result import RunResult
from maker_cli.secrets import redact
from maker_cli.tasks.sequence_path import SpecCheck
from maker_cli.workflows.check import WorkflowCheck
from maker_cli.workflows.task import WorkflowTask

# `maker run COMMAND` of each task kind (a resumed run needs no task argument)
RUN_COMMANDS = {"hanoi": "hanoi"}


def resume_command(kind: str, run_id: str, store_file: Path) -> str:
    return f"maker run {RUN_COMMANDS.get(kind, 'task')} --resume {run_id} --store {store_file}"


def resume_hint(started: StartedRun) -> str:
    command = resume_command(started.plan.task.kind, started.run_id, started.plan.store_file)
    return f"run {started.run_id} is saved up to its last committed step; resume with\n  {command}"


def print_estimate(console: Console, plan: RunPlan, simulated: bool) -> None:
    """What the run will be, before it starts: steps, model, k and the estimate."""
    task, job, est = plan.task, plan.config, plan.estimate
    sim = " \\[simulated model: no API calls]" if simulated else ""
    steps = counted(task.steps_total, "step") if task.steps_total else "open-ended steps"
    if isinstance(task, WorkflowTask):
        steps = f"{counted(len(task.node_ids), 'node')}, {task.planning_steps:,} voted {plural(task.planning_steps, 'step')}"
    console.print(
        f"[bold]{escape(printable(task.name))}[/]: {steps}, model {escape(printable(job.model))}{sim}", highlight=False
    )
    console.print(f"k = {job.k} ({job.k_source})", highlight=False, markup=False)
    if est is None:
        console.print(
            "estimate: p unknown (give --p or --calibration FILE for k_min, cost and P(success))"
            if plan.resume is None
            else "estimate: p unknown (the run was started without --p or --calibration)",
            highlight=False,
        )
        return
    cost = (
        "unknown" if est.expected_cost_usd is None else f"${est.expected_cost_usd:,.2f} (p95 ${est.cost_p95_usd:,.2f})"
    )
    console.print(
        ("estimate" if plan.resume is None else "estimate (the whole job, from its start)")
        + f": P(all steps right) = {probability(est.p_full)}, {est.expected_samples_per_step:.3f} samples/step, "
        f"{est.expected_calls:,.0f} {plural(round(est.expected_calls), 'sample')} in all, cost {cost}, "
        f"{est.expected_rounds_per_step or 0:.2f} rounds/step",
        highlight=False,
        soft_wrap=True,
    )
    for w in est.warnings:
        warn_line(w)


def print_outcome(console: Console, result: RunResult, store_file: Path) -> None:
    """How the run ended, and how to continue it."""
    report = result.model_dump(mode="json")
    status = report["status"]
    style = {"solved": "bold green", "failed": "bold red", "undecided": "bold yellow"}.get(status, "bold yellow")
    cost = "unknown" if report["cost_usd"] is None else f"${report['cost_usd']:,.4f}"
    total = f"/{report['steps_total']:,}" if report["steps_total"] else ""
    console.print(
        f"[{style}]{status}[/]: {report['steps_done']:,}{total} {plural(report['steps_total'] or report['steps_done'], 'step')}, "
        f"{report['errors']} wrong, {counted(report['samples'], 'sample')} ({report['red_flagged']:,} red-flagged), "
        f"{counted(report['call_errors'], 'call error')}, {counted(report['retries'], 'retry', 'retries')}, cost {cost}, {report['wall_s']:.1f} s"
        + (" \\[simulated]" if report["simulated"] else ""),
        highlight=False,
        soft_wrap=True,
    )
    if status not in ("solved", "failed") and report.get("message"):  # why it stopped (failed: the step below)
        console.print(f"why: {printable(redact(report['message']))}", markup=False, highlight=False, soft_wrap=True)
    if report.get("min_confidence") is not None:
        settings = report.get("settings") or {}
        console.print(
            f"confidence ({confidence_basis(settings)}): lowest {probability(report['min_confidence'])}, "
            f"mean {probability(report['mean_confidence'])}; "
            + low_confidence_line(
                report["low_confidence_steps"],
                report.get("confidence_needed"),
                settings.get("target"),
                adaptive=bool(settings.get("adaptive_k")),
            )
            + f" (`maker runs show {report['run_id']}` lists the least confident)",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if report.get("early_stopped_steps"):
        console.print(
            f"early stopping decided {counted(report['early_stopped_steps'], 'step')} before their margin of k "
            "(confident leaders; no guarantee: see the voting methods page)",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    adaptive = report.get("adaptive")
    if adaptive and adaptive.get("p_hat") is not None:
        by_k = ", ".join(f"k={k}: {n:,}" for k, n in adaptive["steps_by_k"].items())
        planned = adaptive.get("planned_success")
        console.print(
            f"adaptive k: p̂ {adaptive['p_hat']:.4f} from the run's own votes (bound {adaptive['p_low']:.4f} at "
            f"{adaptive['level']:.3g}); steps {by_k}"
            + (f"; P(every step right) >= {probability(planned)} at the bound" if planned is not None else ""),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    waste = report.get("speculative_waste")
    if waste and waste.get("branches"):
        spent = "" if waste["cost_usd"] is None else f", ${waste['cost_usd']:,.4f}"
        console.print(
            f"speculation: {counted(waste['samples'], 'sample')} ({(waste['share_of_samples'] or 0):.2%}) on "
            f"{counted(waste['branches'], 'discarded branch', 'discarded branches')}{spent} (counted above; never votes)",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if report.get("nodes"):
        print_nodes(console, report["nodes"])
        if report.get("result") is not None:
            composed = json.dumps(report["result"], ensure_ascii=False)
            console.print(
                Text(printable(f"result: {composed if len(composed) <= 2000 else composed[:1999] + '…'}")),
                highlight=False,
                soft_wrap=True,
            )
    if status == "solved" and report.get("final_state") is not None:
        final = json.dumps(report["final_state"], ensure_ascii=False)
        console.print(
            f"final state: {printable(final if len(final) <= 2000 else final[:1999] + '…')}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if report.get("failed_step"):
        f = report["failed_step"]
        console.print(
            printable(
                f"first wrong step {f['step']}: from state {f['state']} the vote chose {f['decided_action']} → "
                f"{f['decided_state']} (tallies {f['tallies']})"
            ),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    again = resume_command(report["kind"], report["run_id"], store_file)
    if status == "budget_exhausted":
        console.print(f"resume with a higher cap: {again} --max-cost USD", highlight=False, soft_wrap=True)
    elif status in ("interrupted", "undecided"):
        console.print(f"resume with: {again}", highlight=False, soft_wrap=True)
    elif status == "failed" and report["steps_done"] < (report["steps_total"] or 0):
        console.print(f"to continue from the wrong state anyway: {again} --keep-going", highlight=False, soft_wrap=True)


def print_validation(check: SpecCheck, console: Console) -> None:
    """What `maker run task FILE --validate` found, for people."""
    report: JSONObject = check.model_dump(mode="json")
    report = {k: escape(printable(v)) if isinstance(v, str) else v for k, v in report.items()}
    report["inputs"] = {k: escape(printable(str(v))) for k, v in report["inputs"].items()}

    def say(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    say(
        f"[bold green]valid[/]: {report['spec']} — task [bold]{report['name']}[/]"
        + (f": {report['description']}" if report["description"] else "")
    )
    if report["inputs"]:
        say("inputs: " + ", ".join(f"{k}={v}" for k, v in report["inputs"].items()))
    say(f"initial state: {_clip(report['initial_state'])}")
    say("answer: " + "; ".join(f"{k} by {v}" for k, v in report["answer"].items()))
    if report["chunks"] is not None:
        say(f"chunks: {report['chunks']} pieces")
    say(f"ends {report['termination']}")
    total = report["steps_total"]
    if total is None:
        say("steps: not known in advance (no reference solver)")
    else:
        fixed = report["termination"].startswith("after")
        say(f"steps: {total:,}" + ("" if fixed else " (the reference solver's path)"))
    say(
        f"reference: {report['reference'] or 'none'}"
        + (" — imports, and its answers read back through the spec's own judge" if report["simulated"] else "")
    )
    say("first step prompt:")
    if report["first_prompt"]["system"]:
        say(f"  [dim]system:[/] {_clip(report['first_prompt']['system'], 300)}")
    say(f"  [dim]user:[/] {_clip(report['first_prompt']['user'], 300)}")
    for warning in report["warnings"]:
        warn_line(warning)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(printable(text).split())
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def print_workflow_check(check: WorkflowCheck, console: Console) -> None:
    """What `maker run task workflow.yaml --validate` found, for people."""

    def say(text: str) -> None:
        console.print(Text(printable(text)), highlight=False, soft_wrap=True)

    say(f"valid: {check.spec} — workflow {check.name}" + (f": {check.description}" if check.description else ""))
    if check.inputs:
        say("inputs: " + ", ".join(f"{k}={v}" for k, v in check.inputs.items()))
    for node in check.nodes:
        after = f" after {', '.join(node.depends_on)}" if node.depends_on else ""
        uses = f" ({node.uses})" if node.uses else ""
        say(f"  {node.id}: {node.kind}{uses}, {node.steps:,} voted step{'s' if node.steps != 1 else ''}{after}")
    say(f"order: {' -> '.join(check.order)}")
    say(f"critical path: {' -> '.join(check.critical_path)}")
    say(f"result: {check.compose}; {check.voted_steps:,} voted steps in all")
    if check.assumed_lengths:
        warn_line(
            f"the length of {', '.join(check.assumed_lengths)} is not known before it runs: the estimate assumes "
            "100 steps each; give --steps-of ID=N"
        )
    if check.simulation_problem:
        warn_line(f"the simulated model cannot run it: {check.simulation_problem}")


def print_nodes(console: Console, nodes: list[JSONObject]) -> None:
    """A workflow's nodes: status, result, samples and cost (one line each)."""
    for node in nodes:
        cost = "" if node.get("cost_usd") is None else f", ${node['cost_usd']:,.4f}"
        answer = node.get("answer")
        shown = f" = {_clip(str(answer), 120)}" if answer is not None else ""
        why = f" ({node['message']})" if node.get("message") else ""
        text = (
            f"  {node['id']} [{node['kind']}] {node['status']}{shown}; {counted(node['samples'], 'sample')}{cost}{why}"
        )
        console.print(Text(printable(text)), highlight=False, soft_wrap=True)
