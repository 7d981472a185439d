"""Housekeeping of the run store: delete runs, prune old ones, compact the file.

Rules (`maker runs delete` and `maker runs prune` are thin layers over these functions):

- A run that a live process holds (the store's lease: `RunStore.claim`) is never deleted: `delete`
  refuses the whole request, `prune` skips it. This process's own lease does not count (a finished
  run keeps its owner until the process exits).
- A workflow run's child runs (its sequence nodes' own runs, `last_state["children"]`) go with it,
  and are deleted after it; a child run alone is refused while its workflow run is stored, since
  the workflow would lose the steps of its node.
- Each run is claimed (an atomic check that no live process holds it) and then deleted with its
  steps and samples, one transaction each (`RunStore.delete_run`).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from maker_cli._types import JSONObject
from maker_cli.core.status import RunStatus
from maker_cli.errors import StoreError, StoreWriteError, UsageError
from maker_cli.store.rows import RunRecord
from maker_cli.store.run_store import RunStore, this_process
from maker_cli.store.run_store import _lease_alive as lease_alive  # the store's own rule for a live lease

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(\d{1,12})\s*([smhdw])")


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `45s` or `2w` as a timedelta; anything else is a UsageError."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise UsageError(
            f"--older-than takes a number and a unit (s, m, h, d or w), such as 30d, 12h or 90m; not {text!r}"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise UsageError(f"--older-than {text} is longer than any run can be old") from None


def held_by(run: RunRecord) -> str | None:
    """The live process ("host:pid") other than this one that holds the run, or None."""
    owner = run.owner
    if not owner or owner == this_process():
        return None
    return owner if lease_alive(owner, run.updated_at) else None


def children_of(run: RunRecord) -> dict[str, str]:
    """A workflow run's node -> child run id (its sequence nodes' runs); {} for other runs."""
    state = run.last_state if isinstance(run.last_state, dict) else {}
    children = state.get("children")
    return {str(k): str(v) for k, v in children.items()} if isinstance(children, dict) else {}


def parent_of(run: RunRecord) -> tuple[str, str] | None:
    """(workflow run id, node id) when the run is a workflow node's own run, else None."""
    parent = (run.config or {}).get("parent")
    if isinstance(parent, dict) and parent.get("run"):
        return str(parent["run"]), str(parent.get("node") or "")
    return None


@dataclass(frozen=True, slots=True)
class Doomed:
    """A run to delete: asked for (or matched), or the child run of one (`parent`, `node`)."""

    run: RunRecord
    parent: str | None = None
    node: str | None = None

    def to_dict(self) -> JSONObject:
        r = self.run
        return {
            "id": r.id,
            "kind": r.kind,
            "name": r.name,
            "status": r.status,
            "steps_done": r.steps_done,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "child_of": self.parent,
            "node": self.node,
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """A run prune leaves alone, and why."""

    run: RunRecord
    reason: str

    def to_dict(self) -> JSONObject:
        return {"id": self.run.id, "name": self.run.name, "status": self.run.status, "reason": self.reason}


def _with_children(store: RunStore, run: RunRecord, seen: set[str]) -> list[Doomed]:
    """The run's child runs (and theirs), parents first; children already gone are left out."""
    found: list[Doomed] = []
    for node, child_id in children_of(run).items():
        if child_id in seen:
            continue
        try:
            child = store.get_run(child_id)
        except StoreError:
            continue  # deleted before: nothing to do
        if child.id != child_id:
            continue  # get_run matched a prefix: not this child
        seen.add(child.id)
        found.append(Doomed(child, run.id, node))
        found.extend(_with_children(store, child, seen))
    return found


def _family(store: RunStore, runs: Iterable[RunRecord]) -> list[Doomed]:
    seen: set[str] = set()
    doomed: list[Doomed] = []
    for run in runs:
        if run.id in seen:
            continue
        seen.add(run.id)
        doomed.append(Doomed(run))
        doomed.extend(_with_children(store, run, seen))
    return doomed


def _exists(store: RunStore, run_id: str) -> bool:
    try:
        return store.get_run(run_id).id == run_id
    except StoreError:
        return False


def plan_delete(store: RunStore, run_ids: Sequence[str]) -> list[Doomed]:
    """The runs `delete` would remove for these ids (or unique prefixes): each with its child runs.

    Raises StoreError (exit 2) for an unknown id or a run (or child run) that a live process holds,
    and UsageError for a workflow's child run asked for without its workflow run."""
    if not run_ids:
        raise UsageError("name at least one run id to delete")
    asked = [store.get_run(run_id) for run_id in run_ids]
    doomed = _family(store, asked)
    ids = {d.run.id for d in doomed}
    for d in doomed:
        holder = held_by(d.run)
        if holder is not None:
            what = f"run {d.run.id}" + (f" (child run of {d.parent})" if d.parent else "")
            raise StoreError(
                f"{what} is held by the live process {holder} (last write {d.run.updated_at}); "
                "stop it or wait for it to end, then delete; nothing deleted"
            )
        parent = parent_of(d.run)
        if d.parent is None and parent is not None and parent[0] not in ids and _exists(store, parent[0]):
            raise UsageError(
                f"run {d.run.id} is node {parent[1]!r} of workflow run {parent[0]}: delete {parent[0]} "
                "(its child runs go with it); nothing deleted"
            )
    return doomed


def delete(store: RunStore, doomed: Sequence[Doomed]) -> list[str]:
    """Delete the planned runs (parents before their children) with their steps and samples.

    Each run is first claimed, so a process that took it since the plan stops the deletion there
    (StoreError naming what was deleted already). Returns the ids deleted."""
    done: list[str] = []
    for d in doomed:
        try:
            store.claim(d.run.id)
        except StoreError as exc:
            if not _exists(store, d.run.id):
                continue  # gone meanwhile
            raise StoreError(f"{exc}{_so_far(done)}") from None
        except sqlite3.Error as exc:
            raise StoreWriteError(f"cannot delete run {d.run.id} from {store.path}: {exc}{_so_far(done)}") from None
        try:
            store.delete_run(d.run.id)
        except sqlite3.Error as exc:
            raise StoreWriteError(f"cannot delete run {d.run.id} from {store.path}: {exc}{_so_far(done)}") from None
        done.append(d.run.id)
    return done


def _so_far(done: Sequence[str]) -> str:
    return f"; deleted before it: {', '.join(done)}" if done else "; nothing deleted"


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """What `prune` would delete (`runs`, parents before their children) and leave (`skipped`)."""

    cutoff: datetime
    runs: list[Doomed]
    skipped: list[Skipped]


def _written_at(run: RunRecord) -> datetime | None:
    try:
        when = datetime.fromisoformat(run.updated_at)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def plan_prune(
    store: RunStore, older_than: timedelta, status: str | None = None, *, now: datetime | None = None
) -> PrunePlan:
    """The runs last written more than `older_than` ago (with `status`, else any status but
    running), each with its child runs; never a run a live process holds (skipped, with why).

    A workflow's child run goes with its workflow run, never alone."""
    if status is not None and status not in {s.value for s in RunStatus}:
        raise UsageError(f"--status must be one of {', '.join(s.value for s in RunStatus)}, not {status!r}")
    cutoff = (now or datetime.now(UTC)) - older_than
    matched: list[RunRecord] = []
    skipped: list[Skipped] = []
    for run in store.list_runs(None, status=status):
        if status is None and run.status == RunStatus.RUNNING:
            continue
        when = _written_at(run)
        if when is None:
            skipped.append(Skipped(run, f"its last write time {run.updated_at!r} cannot be read"))
        elif when < cutoff:
            matched.append(run)
    tops = []
    for run in matched:
        parent = parent_of(run)
        if parent is not None and _exists(store, parent[0]):
            continue  # a workflow's child run goes when its workflow run goes, never alone
        tops.append(run)
    doomed: list[Doomed] = []
    taken: set[str] = set()
    for run in reversed(tops):  # oldest first
        if run.id in taken:
            continue
        family = _with_children(store, run, {run.id, *taken})
        holder = next((h for h in (held_by(d.run) for d in [Doomed(run), *family]) if h is not None), None)
        if holder is not None:
            skipped.append(Skipped(run, f"held by the live process {holder}"))
            continue
        taken.update([run.id, *(d.run.id for d in family)])
        doomed.extend([Doomed(run), *family])
    return PrunePlan(cutoff, doomed, skipped)


def vacuum(path: Path) -> tuple[int, int]:
    """Rebuild the store file to give the space of deleted rows back (SQLite's VACUUM); returns the
    file's size in bytes before and after. It waits (up to 30 s) for other writers."""
    before = path.stat().st_size
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreWriteError(f"cannot compact the run store {path}: {exc}") from None
    return before, path.stat().st_size
