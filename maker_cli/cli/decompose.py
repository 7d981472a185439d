"""`maker decompose "TASK" -o workflow.yaml`: split a task into a workflow of voted questions.

Every split is decided by first-to-ahead-by-k voting over the model's proposals (strategy
`recursive`), or the task's own numbered lines or sentences become a chain (strategy `sequential`,
no model). Exit codes: 0 written (or decided, with --dry-run), 3 a decision ended undecided, 4 the
dollar cap was reached, 1 error, 2 usage.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from maker_cli._types import OptionValue
from maker_cli.bounded_yaml import read_text_file
from maker_cli.cli import options
from maker_cli.cli.app import config_path
from maker_cli.cli.display.formats import counted
from maker_cli.cli.output import EXIT_UNDECIDED, err_console, out_console, print_json, printable
from maker_cli.config.settings import load_settings
from maker_cli.errors import SpecError, UsageError
from maker_cli.workflows.decompose import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SUBTASKS,
    DecisionRecord,
    DecompositionResult,
    Strategy,
    adecompose,
    check_out,
    write_workflow,
)
from maker_cli.workflows.decompose_tree import TreeNode

if TYPE_CHECKING:
    from maker_cli.jobs.metrics import MetricsEndpoint

EXIT_BUDGET = 4

app = typer.Typer(add_completion=False)

MaxCost = Annotated[
    float | None,
    typer.Option("--max-cost", min=0, help="USD cap on the whole decomposition: stop (nothing written) once reached."),
]
MaxSamples = Annotated[
    int | None,
    typer.Option("--max-samples", min=1, help="Sample cap per decision (default 100; reaching it = undecided)."),
]
TABLE: dict[str, tuple[object, object]] = {"max_cost": (MaxCost, None), "max_samples": (MaxSamples, None)}


@app.command("decompose")
@options.shared(
    "model",
    "k",
    "max_samples",
    "max_red_flags",
    "concurrency",
    "api_base",
    "router_config",
    "timeout",
    "max_output_tokens",
    "temperature",
    "first_temperature",
    "price_in",
    "price_out",
    "max_cost",
    "json_out",
    "events",
    "events_text",
    *options.METRICS_OPTIONS,
    table=TABLE,
)
def decompose(
    ctx: typer.Context,
    task: Annotated[
        str, typer.Argument(metavar="TASK", help="The task to split (@FILE reads it from a file).", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, help="Write the workflow spec here (needed unless --dry-run)."),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="recursive: the model proposes splits, each decided by voting; sequential: the task's own "
            "numbered lines or sentences, in order (no model).",
        ),
    ] = "recursive",
    max_depth: Annotated[
        int,
        typer.Option("--max-depth", min=1, max=10, help="Deepest split; a task this deep is asked as one question."),
    ] = DEFAULT_MAX_DEPTH,
    max_subtasks: Annotated[
        int, typer.Option("--max-subtasks", min=2, max=20, help="Most subtasks one split may have.")
    ] = DEFAULT_MAX_SUBTASKS,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decompose and show the tree; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --out file if it exists.")] = False,
    script: Annotated[
        Path | None,
        typer.Option(
            "--script",
            dir_okay=False,
            help="Simulated model only: a JSON file of the right proposal per task (see docs/commands/decompose.md).",
        ),
    ] = None,
    **opts: OptionValue,
) -> None:
    """Split a task into a workflow of small voted questions; every split is decided by voting.

    Exit codes: 0 done, 3 a decision ended undecided, 4 the dollar cap was reached, 1 error, 2 usage.
    """
    if strategy not in ("recursive", "sequential"):
        raise UsageError(f"--strategy must be recursive or sequential, not {strategy!r}")
    the_strategy: Strategy = "recursive" if strategy == "recursive" else "sequential"
    if out is None and not dry_run:
        raise UsageError("give -o/--out FILE for the workflow spec (or --dry-run to write nothing)")
    if out is not None and not dry_run:
        check_out(out, force=force)  # before anything is spent
    text = task_text(task)
    json_out = bool(opts["json_out"])
    settings = load_settings(config_path(ctx))
    with options.event_log(opts) as log, options.metrics_endpoint(opts) as metrics:
        # --events -: stdout holds the events, people read stderr
        console = err_console() if log is not None and log.to_stdout else out_console()

        def shown(record: DecisionRecord) -> None:
            console.print(decision_line(record))

        result = asyncio.run(
            adecompose(
                text,
                strategy=the_strategy,
                max_depth=max_depth,
                max_subtasks=max_subtasks,
                script=script,
                name=out.stem if out is not None else None,
                on_decision=None if json_out else shown,
                settings=settings,
                listeners=options.listeners(log, metrics.listener if metrics is not None else None),
                **options.job_flags(opts),
            )
        )
        _report(result, console, out, dry_run=dry_run, force=force, json_out=json_out, metrics=metrics)


def _report(
    result: DecompositionResult,
    console: Console,
    out: Path | None,
    *,
    dry_run: bool,
    force: bool,
    json_out: bool,
    metrics: MetricsEndpoint | None,
) -> None:
    """Write the workflow (unless --dry-run), print the result, exit with the status's code."""
    if result.simulated and not json_out:
        console.print(Text("simulated model: no API calls, no cost", style="dim"))
    if out is not None and not dry_run and result.workflow_yaml is not None:
        result = write_workflow(result, out, force=force)
    if json_out:
        print_json(options.with_metrics(result.model_dump(mode="json"), metrics))
    else:
        print_result(result, console, dry_run=dry_run)
    if result.status == "budget_exhausted":
        raise typer.Exit(EXIT_BUDGET)
    if result.status != "decided":
        raise typer.Exit(EXIT_UNDECIDED)


def task_text(given: str) -> str:
    """The task: the argument, or with @FILE the file's text."""
    if given.startswith("@"):
        try:
            return read_text_file(given[1:], "task file")
        except SpecError as exc:
            raise UsageError(f"TASK {given}: {exc}") from None
    return given


# --------------------------------------------------------------------------- human output


def one_line(text: str, width: int = 80) -> str:
    """Untrusted text as one printable line of at most `width` characters."""
    line = " ".join(printable(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def decision_line(record: DecisionRecord) -> Text:
    line = Text()
    line.append(f"decision {record.index + 1} ", style="bold")
    line.append(f"({record.path}): ")
    if record.decided:
        line.append(one_line(record.summary or "decided"), style="green")
    else:
        line.append(f"undecided ({record.stopped or 'stopped'})", style="red")
    votes = ":".join(str(n) for n in record.votes.values()) or "0"
    line.append(f"  votes {votes}, {counted(record.samples, 'sample')}", style="dim")
    if record.red_flagged:
        line.append(f", {record.red_flagged} red-flagged", style="dim")
    return line


def tree_label(node: TreeNode) -> Text:
    label = Text()
    label.append(node.id, style="bold")
    if node.node is not None:
        label.append(f" [{node.node}]", style="cyan")
    label.append(" ")
    if node.shape == "split" and node.compose is not None:
        label.append(f"split ({node.compose.label()}) ", style="magenta")
    elif node.shape == "question":
        extra = {"max_depth": " (max depth)", "decision_cap": " (decision limit)"}.get(node.why, "")
        label.append(f"question{extra} ", style="green")
    else:
        label.append(f"{node.shape} ", style="red" if node.shape == "undecided" else "dim")
    if node.depends_on:
        label.append(f"after {', '.join(node.depends_on)} ", style="dim")
    label.append(one_line(node.task))
    if node.shape == "question" and node.question is not None and node.question.user != node.task:
        label.append(f"\n  asks: {one_line(node.question.user)}", style="dim")
    return label


def add_tree(parent: Tree, node: TreeNode) -> None:
    branch = parent.add(tree_label(node))
    for child in node.children:
        add_tree(branch, child)


def print_result(result: DecompositionResult, console: Console, *, dry_run: bool) -> None:
    tree = Tree(tree_label(result.tree), guide_style="dim")
    for child in result.tree.children:
        add_tree(tree, child)
    console.print(tree)
    for note in result.notes:
        console.print(Text(f"note: {one_line(note, 200)}", style="yellow"))
    cost = "unknown" if result.cost_usd is None else f"${result.cost_usd:.4f}"
    if result.strategy == "recursive":
        console.print(
            Text(
                f"{counted(len(result.decisions), 'decision')}, {counted(result.samples, 'sample')} "
                f"({result.red_flagged:,} red-flagged), "
                f"{result.input_tokens:,} input + {result.output_tokens:,} output tokens, cost {cost}"
                + (" (simulated)" if result.simulated else "")
            )
        )
    if result.status != "decided":
        why = "the dollar cap was reached" if result.status == "budget_exhausted" else "a decision ended undecided"
        console.print(Text(f"not decomposed: {why}; nothing written", style="bold red"))
        return
    if dry_run:
        assert result.workflow_yaml is not None
        console.print(
            Text(f"dry run: nothing written; the workflow ({counted(result.nodes, 'node')}) would be:", style="bold")
        )
        console.print(Text(printable(result.workflow_yaml)))
        return
    console.print(Text(f"wrote {result.file} ({counted(result.nodes, 'node')})", style="bold green"))
    console.print(Text(f"check it: maker run task {result.file} --validate"))
