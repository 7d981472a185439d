"""`maker estimate --task workflow.yaml`: a workflow's voted steps, k_min for all of them, its cost,
and the wall time along its critical path.

The voted steps are summed over the nodes (a question node is one, a sequence node its fixed
length, `--steps-of ID=N`, or an assumed 100 with a warning; an `llm` composition one more); k_min
is for all of them at the target, as `maker run task` chooses it. Input tokens per call default to
the first node's prompt (about 4 characters a token). The critical path is the chain of nodes with
the most voted steps: with enough concurrency for the parallel branches, the wall time is that of
the critical path's steps (an approximation: it scales the sequential wall time by the path's
share of the steps).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from maker_cli._types import JSONValue, OptionValue
from maker_cli.config.settings import Settings
from maker_cli.core.estimate import estimate as compute
from maker_cli.core.estimate_report import EstimateReport, WorkflowNodeSteps, WorkflowPart
from maker_cli.errors import UsageError
from maker_cli.specs import WorkflowSpec, load_spec
from maker_cli.specs.question import QuestionSpec
from maker_cli.workflows.task import UNKNOWN_STEPS, WorkflowTask


def estimate_workflow(
    task: str | Path,
    given: Mapping[str, OptionValue],
    settings: Settings,
    *,
    inputs: Mapping[str, JSONValue] | None = None,
    steps_of: Mapping[str, int] | None = None,
) -> EstimateReport:
    from maker_cli.jobs.estimate import resolve_inputs

    if given.get("steps") is not None:
        raise UsageError("--steps and --task: give one (a workflow's steps come from its nodes)")
    spec = load_spec(task)
    if not isinstance(spec, WorkflowSpec):
        raise UsageError(f"{task} is a {spec.kind} spec: --task estimates a workflow; for other specs give --steps")
    flow = WorkflowTask(spec, inputs, steps_of=steps_of)
    values = dict(given)
    values["steps"] = flow.planning_steps
    if values.get("input_tokens") is None and values.get("calibration") is None:
        first = flow.first_prompt(simulated=False)
        values["input_tokens"] = (len(first.system) + len(first.user)) / 4
    report = compute(resolve_inputs(values, settings))
    assumed = set(flow.assumed_lengths())
    path = flow.critical_path()
    on_path = sum(flow.node_steps(n) for n in path) + (1 if spec.composer is not None else 0)
    wall = None
    if report.expected_wall_s is not None and report.steps:
        wall = report.expected_wall_s * on_path / report.steps
    part = WorkflowPart(
        spec=spec.source,
        nodes=[
            WorkflowNodeSteps(
                id=n,
                kind="question" if isinstance(spec.node_spec(n), QuestionSpec) else "sequence",
                steps=flow.node_steps(n),
                assumed=n in assumed,
            )
            for n in flow.node_ids
        ],
        voted_steps=flow.planning_steps,
        critical_path=path,
        critical_path_steps=on_path,
        critical_path_wall_s=wall,
    )
    warnings = list(report.warnings)
    if assumed:
        warnings.append(
            f"the length of {', '.join(sorted(assumed))} is only known when it runs: {UNKNOWN_STEPS} steps each "
            "are assumed; give --steps-of ID=N"
        )
    notes = [
        *report.notes,
        f"workflow {spec.name}: {len(flow.node_ids)} nodes, {flow.planning_steps:,} voted steps; critical path "
        f"{' -> '.join(path)} ({on_path:,} steps)",
    ]
    approximations = [
        *report.approximations,
        "critical_path_wall_s: the sequential wall time scaled by the critical path's share of the steps "
        "(assumes the concurrency covers the parallel branches)",
    ]
    return report.model_copy(
        update={"workflow": part, "warnings": warnings, "notes": notes, "approximations": approximations}
    )
