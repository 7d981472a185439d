"""`maker run task workflow.yaml --validate`: what a workflow is, checked, without running it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from maker_cli.specs.question import QuestionSpec
from maker_cli.workflows.task import WorkflowTask


class NodeCheck(BaseModel):
    id: str
    kind: str = Field(description="question or sequence")
    depends_on: list[str]
    uses: str | None
    steps: int = Field(description="voted steps (a sequence node's fixed length, --steps-of, or assumed)")


class WorkflowCheck(BaseModel):
    """A workflow's shape: its nodes in dependency order, the critical path, the composition."""

    valid: bool = True
    spec: str
    name: str
    description: str
    kind: str = "workflow"
    inputs: dict[str, str]
    nodes: list[NodeCheck]
    order: list[str] = Field(description="a dependency order (each node after what it depends on)")
    critical_path: list[str] = Field(description="the chain with the most voted steps: the wall-time floor")
    compose: str = Field(description="the composition, e.g. 'reduce sum of total, count_a'")
    voted_steps: int
    assumed_lengths: list[str] = Field(description="sequence nodes whose length is assumed: give --steps-of ID=N")
    simulation_problem: str | None = Field(description="why the simulated model cannot run it, or null")
    mermaid: str = Field(description="the DAG as a mermaid flowchart")


def check_workflow(task: WorkflowTask) -> WorkflowCheck:
    spec = task.spec
    nodes = [
        NodeCheck(
            id=node.id,
            kind="question" if isinstance(spec.node_spec(node.id), QuestionSpec) else "sequence",
            depends_on=list(node.depends_on),
            uses=node.uses,
            steps=task.node_steps(node.id),
        )
        for node in spec.nodes
    ]
    c = spec.compose
    what = c.function + (f" {c.operation}" if c.operation else "")
    return WorkflowCheck(
        spec=spec.source,
        name=spec.name,
        description=spec.description,
        inputs={k: str(v) for k, v in task.values.items()},
        nodes=nodes,
        order=spec.order,
        critical_path=task.critical_path(),
        compose=f"{what} of {', '.join(spec.result_nodes())}",
        voted_steps=task.planning_steps,
        assumed_lengths=task.assumed_lengths(),
        simulation_problem=task.simulation_problem(),
        mermaid=mermaid(task),
    )


def mermaid(task: WorkflowTask) -> str:
    """`flowchart LR` of the nodes, their dependencies and the composition."""
    spec = task.spec
    lines = ["flowchart LR"]
    for node in spec.nodes:
        shape = f'{node.id}["{node.id}"]' if node.uses is None else f'{node.id}[["{node.id}: {node.uses}"]]'
        lines.append(f"  {shape}")
    for node in spec.nodes:
        for dep in node.depends_on:
            lines.append(f"  {dep} --> {node.id}")
    c = spec.compose
    label = c.function + (f" {c.operation}" if c.operation else "")
    lines.append(f'  result(("{label}"))')
    for node_id in spec.result_nodes():
        lines.append(f"  {node_id} --> result")
    return "\n".join(lines)
