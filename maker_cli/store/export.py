"""Export a stored run's decided steps as JSON Lines or CSV, and a Hanoi run's moves as a plain list.

The export streams: steps are read from the store in chunks (`RunStore.iter_steps`) and written one
line at a time, so a million-step run exports in constant memory. Exported files carry the data as
stored (model text is not altered; only what is printed to a terminal is cleaned).

Columns are the stored step's fields in the store's order (`StepRow`; a field added to the store
later is exported too), with two kinds of run shaped for their readers:

- Hanoi (`kind` hanoi): a `move` column after `winner_key` (`disk,from,to`: the winner key is
  `disk,from,to|next state`), and `write_moves` writes only the moves, one `disk,from,to` a line,
  for a checker that replays them from the start state with the rules of the game.
- Workflow (`kind` workflow): a decided node is stored as a step whose `input_state` is the node
  id, so the column is called `node`, followed by `child_run`: the run of a sequence node's own
  steps (its `last_state["children"]`), empty for a question node.

In JSON Lines a step is one object (tallies and red-flag reasons as objects, unknowns as null); in
CSV mappings are compact JSON text, booleans `true`/`false` and unknowns empty cells.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TextIO

from maker_cli._types import JSONObject
from maker_cli.errors import UsageError
from maker_cli.store.rows import RunRecord, StepRow
from maker_cli.store.run_store import RunStore

FORMATS = ("jsonl", "csv")
HANOI_KIND = "hanoi"  # maker_cli.tasks.hanoi_task.Hanoi.kind (the store layer does not import tasks)
WORKFLOW_KIND = "workflow"  # maker_cli.workflows.task.WorkflowTask.kind

STEP_FIELDS = tuple(f.name for f in fields(StepRow))


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote: the run, the format (`jsonl`, `csv` or `moves`) and how many lines of data."""

    run_id: str
    kind: str
    format: str
    rows: int
    run_status: str

    def to_dict(self) -> JSONObject:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "format": self.format,
            "rows": self.rows,
            "run_status": self.run_status,
        }


def columns(kind: str) -> tuple[str, ...]:
    """The export's columns for a run of this kind, in order."""
    cols = list(STEP_FIELDS)
    if kind == HANOI_KIND:
        cols.insert(cols.index("winner_key") + 1, "move")
    elif kind == WORKFLOW_KIND:
        at = cols.index("input_state")
        cols[at : at + 1] = ["node", "child_run"]
    return tuple(cols)


def hanoi_move(winner_key: str | None) -> str | None:
    """The move `disk,from,to` of a Hanoi winner key `disk,from,to|pegs` (None when undecided)."""
    if winner_key is None:
        return None
    return winner_key.partition("|")[0]


def _children(run: RunRecord) -> Mapping[str, object]:
    state = run.last_state if isinstance(run.last_state, dict) else {}
    children = state.get("children")
    return children if isinstance(children, dict) else {}


_SCALARS = (str, int, float, type(None))


def step_record(
    run: RunRecord,
    row: StepRow,
    children: Mapping[str, object] | None = None,
    cols: tuple[str, ...] | None = None,
) -> JSONObject:
    """One exported step as a JSON object with `columns(run.kind)` as its keys, in order.

    `children` is the workflow's node -> child run map and `cols` the columns (both read from the
    run when not given; an export passes them once for all its steps)."""
    values: JSONObject = {}
    for name in STEP_FIELDS:
        value = getattr(row, name)
        if isinstance(value, float):
            if not math.isfinite(value):
                value = None  # strict JSON has no NaN
        elif not isinstance(value, _SCALARS) and isinstance(value, Mapping):
            value = dict(value)
        values[name] = value
    if run.kind == HANOI_KIND:
        values["move"] = hanoi_move(row.winner_key)
    elif run.kind == WORKFLOW_KIND:
        kids = _children(run) if children is None else children
        values["node"] = row.input_state
        child = kids.get(row.input_state or "")
        values["child_run"] = None if child is None else str(child)
    else:
        return values  # the store's columns, in order
    return {name: values[name] for name in (cols or columns(run.kind))}


def iter_records(store: RunStore, run: RunRecord) -> Iterator[JSONObject]:
    """Every stored step of the run as an export record, read from the store in chunks."""
    children, cols = _children(run), columns(run.kind)
    for row in store.iter_steps(run.id):
        yield step_record(run, row, children, cols)


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def write_jsonl(store: RunStore, run: RunRecord, out: TextIO) -> int:
    """Write every stored step of the run as one JSON object a line; return how many."""
    n = 0
    for record in iter_records(store, run):
        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        n += 1
    return n


def write_csv(store: RunStore, run: RunRecord, out: TextIO) -> int:
    """Write a header line and every stored step of the run as one CSV row; return how many steps."""
    cols = columns(run.kind)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(cols)
    n = 0
    for record in iter_records(store, run):
        writer.writerow([_csv_cell(record[c]) for c in cols])
        n += 1
    return n


def write_moves(store: RunStore, run: RunRecord, out: TextIO) -> int:
    """Write a Hanoi run's decided moves, one `disk,from,to` a line in step order; return how many.

    A checker replays them from the start state (every disk on peg 0, largest at the bottom) with
    the rules of the game; the run's number of disks is in its configuration (`config.task.disks`)."""
    if run.kind != HANOI_KIND:
        raise UsageError(f"--moves is for Hanoi runs; run {run.id} is a {run.kind} run")
    n = 0
    for row in store.iter_steps(run.id):
        move = hanoi_move(row.winner_key) if row.decided else None
        if move is None:
            break  # an undecided step ends the moves the run made
        out.write(move + "\n")
        n += 1
    return n


def export_run(store: RunStore, run_id: str, out: TextIO, fmt: str = "jsonl", *, moves: bool = False) -> ExportSummary:
    """Export run `run_id` (or a unique prefix of it) to `out`: its steps as `fmt` (jsonl or csv),
    or with `moves` a Hanoi run's move list. A run still being written is exported as stored so far."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    run = store.get_run(run_id)
    if moves:
        return ExportSummary(run.id, run.kind, "moves", write_moves(store, run, out), run.status)
    write = write_jsonl if fmt == "jsonl" else write_csv
    return ExportSummary(run.id, run.kind, fmt, write(store, run, out), run.status)
