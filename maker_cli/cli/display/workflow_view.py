"""The live view of a workflow run: every node's status, nodes done / running / waiting, the cost.

On a terminal it is a table redrawn as nodes change; elsewhere (a pipe, CI) one line per node as it
ends, so a log shows the order in which nodes were decided.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from maker_cli.cli.display.formats import counted
from maker_cli.cli.output import printable
from maker_cli.jobs.run_state import RunTotals
from maker_cli.workflows.runner import DONE, RUNNING, WAITING, NodeState

STYLES = {DONE: "green", RUNNING: "cyan", WAITING: "dim", "blocked": "yellow"}


class WorkflowView:
    def __init__(self, console: Console, *, title: str, node_ids: list[str], live: bool) -> None:
        self.console = console
        self.title = title
        self.nodes: dict[str, NodeState] = {}
        self.order = node_ids
        self.totals = RunTotals()
        self.live = Live(console=console, refresh_per_second=8, transient=False) if live else None

    def __enter__(self) -> WorkflowView:
        if self.live is not None:
            self.live.__enter__()
            self.live.update(self.render())
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(kind, exc, tb)

    def on_node(self, node: NodeState, totals: RunTotals) -> None:
        self.nodes[node.id] = node
        self.totals = totals
        if self.live is not None:
            self.live.update(self.render())
        elif node.status not in (RUNNING, WAITING):
            answer = f" = {node.result.answer[:120]}" if node.result is not None else ""
            why = f" ({node.message})" if node.message else ""
            self.console.print(
                Text(printable(f"node {node.id}: {node.status}{answer}; {counted(node.samples, 'sample')}{why}")),
                highlight=False,
                soft_wrap=True,
            )

    def render(self) -> Group:
        counts = {DONE: 0, RUNNING: 0, WAITING: 0}
        for node_id in self.order:
            status = self.nodes[node_id].status if node_id in self.nodes else WAITING
            counts[status if status in counts else WAITING] += 1
        cost = "unknown" if self.totals.cost_usd is None else f"${self.totals.cost_usd:,.4f}"
        head = Text(
            f"{self.title}: {counts[DONE]} done, {counts[RUNNING]} running, {counts[WAITING]} waiting · "
            f"{counted(self.totals.samples, 'sample')} · {cost}",
            style="bold",
        )
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for name in ("node", "status", "result", "samples"):
            table.add_column(name, overflow="fold" if name == "result" else "ellipsis")
        for node_id in self.order:
            node = self.nodes.get(node_id)
            status = node.status if node is not None else WAITING
            answer = node.result.answer[:80] if node is not None and node.result is not None else ""
            table.add_row(
                Text(node_id),
                Text(status, style=STYLES.get(status, "red")),
                Text(printable(answer)),
                f"{node.samples:,}" if node is not None else "",
            )
        return Group(head, table)
