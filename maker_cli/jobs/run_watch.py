"""Following a run that another process executes, from the run store alone (`maker runs watch`).

The store is opened read-only for every read, so a watcher never takes a lock a writer waits for,
sees every committed batch, and works from a folder it may not write to. The writer commits a
batch every couple of seconds while steps are decided, so a run that stays `running` with no new
step and no new sample for `NO_PROGRESS_S` seconds has made no progress: its writer is slow (a
long step) or gone. (The writer also renews its lease, `updated_at`, every 15 s while it lives:
that is not progress, and it is what tells a live writer on another host from a dead one.) A writer on this host that is gone is known at once (the
store shows the run `interrupted`, and the watch ends); one on another host is only known by its
silence, so the watch goes on and says how long it has been quiet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from maker_cli._types import JSONObject
from maker_cli.core.status import RunStatus
from maker_cli.jobs.run_state import RunTotals, stored_totals
from maker_cli.secrets import redact
from maker_cli.store.rows import RunRecord
from maker_cli.store.run_store import RunStore, lease_is_local

NO_PROGRESS_S = 10.0
"""A running run without a store write for this long is shown as making no progress (the writer
writes at least every 2 s while steps are decided: `RunOptions.batch_seconds`)."""


@dataclass(frozen=True)
class RunSnapshot:
    """A run as one read of the store found it."""

    record: RunRecord
    quiet_s: float  # seconds since the run's stored row last changed (as this process saw it)
    remote_stale: bool = False  # its writer is on another host and silent past the lease (see the module doc)

    @property
    def running(self) -> bool:
        return self.record.status == RunStatus.RUNNING

    @property
    def stalled(self) -> bool:
        """Still running, but nothing was written for NO_PROGRESS_S seconds or more."""
        return self.running and self.quiet_s >= NO_PROGRESS_S

    def totals(self) -> RunTotals:
        return stored_totals(self.record)

    def to_json(self) -> JSONObject:
        """One line of `maker runs watch --json`."""
        r = self.record
        return {
            "run_id": r.id,
            "kind": r.kind,
            "status": r.status,
            "steps_done": r.steps_done,
            "steps_total": r.steps_total,
            "samples": r.samples,
            "cost_usd": r.cost_usd,
            "wrong_steps": r.wrong_steps,
            "errors": r.errors,
            "wall_s": r.wall_s,
            "quiet_s": round(self.quiet_s, 1),
            "no_progress": self.stalled,
            "message": redact(r.message) if r.message else None,
            "final": not self.running,
        }


def read_run(path: Path, run_id: str) -> tuple[RunRecord, bool]:
    """The run as the store shows it, and whether it is running on another host whose lease went
    stale (then the record is as its writer left it: `running`, not the store's `interrupted`)."""
    with RunStore(path, readonly=True) as store:
        record = store.get_run(run_id)
        if record.status == RunStatus.INTERRUPTED and record.owner is not None and not lease_is_local(record.owner):
            return store.get_run(record.id, as_stored=True), True
    return record, False


def watch_run(
    path: Path,
    run_id: str,
    interval: float,
    *,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Iterator[RunSnapshot]:
    """The run read every `interval` seconds: one snapshot a read, until (and with) the first one in
    which it is no longer running. An unknown run (or store) is a StoreError at the first read.

    How long the run has been quiet is measured on this process's clock from the moment a read
    first saw its row change (the writer's clock, on another machine, may be off), and before that
    from the row's own `updated_at`. `clock` and `sleep`: time.monotonic and time.sleep by default."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    last_seen: tuple[int, int, str] | None = None
    changed_at = clock()
    while True:
        record, remote_stale = read_run(path, run_id)
        run_id = record.id  # a prefix is resolved once
        now = clock()
        seen = (record.steps_done, record.samples, record.status)  # progress, not lease renewals
        if seen != last_seen:
            changed_at = now - (_age(record.updated_at) if last_seen is None else 0.0)
            last_seen = seen
        snapshot = RunSnapshot(record, max(0.0, now - changed_at), remote_stale)
        yield snapshot
        if not snapshot.running:
            return
        sleep(interval)


def _age(stamp: str) -> float:
    """Seconds since a stored UTC time (0 when it cannot be read or lies in the future)."""
    try:
        return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds())
    except (ValueError, TypeError):  # not a time, or one without its zone
        return 0.0


__all__ = ["NO_PROGRESS_S", "RunSnapshot", "read_run", "watch_run"]
