"""The SQLite run store: runs, their decided steps and (some) raw samples, resumable after any crash.

One file (WAL journal, synchronous=NORMAL) holds every run. The schema changes only through named
migrations applied in order, each in its own transaction, and recorded in the `migrations` table.

The runner writes in batches: `write_batch` stores a batch of steps, their chosen samples and the
run's new totals / resume point in ONE transaction, so after a crash (even `kill -9`) the run row's
`steps_done`, `last_step` and `last_state` always describe exactly the steps stored; the crash loses
at most the batch in flight. Steps must be written in order from 0 (the store counts them).

Use one `RunStore` from one thread at a time; other processes may read the file while a run writes.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from maker_cli._types import JSONValue, SQLValue
from maker_cli.core.status import RunStatus
from maker_cli.errors import StoreError, StoreWriteError
from maker_cli.store.rows import (
    INSERT_SAMPLE,
    INSERT_STEP,
    RUN_COLUMNS,
    SAMPLE_COLUMNS,
    SELECT_RUN,
    SELECT_SAMPLE,
    SELECT_STEP,
    STEP_COLUMNS,
    run_from_row,
    select_sql,
    step_from_row,
    step_params,
)
from maker_cli.store.rows import RunRecord as RunRecord  # re-exported, as SampleRow and StepRow
from maker_cli.store.rows import SampleRow as SampleRow
from maker_cli.store.rows import StepRow as StepRow
from maker_cli.store.rows import dumps as _dumps
from maker_cli.store.schema import MIGRATIONS

RUN_STATUSES = tuple(RunStatus)

# A run being worked on is leased to one process ("host:pid"); its batches refresh updated_at.
# Another process may take the run over only when that process is gone (same host) or the lease
# has not been refreshed for LEASE_STALE_S seconds (another host).
LEASE_STALE_S = 60.0

# Run columns a caller may set through write_batch / update_run (steps_done and last_step are the
# store's: it counts the steps it writes). JSON columns are encoded here.
_UPDATABLE = frozenset(
    {
        "status", "name", "model", "config", "message", "steps_total", "last_state",
        "samples", "valid", "red_flagged", "errors", "retries", "input_tokens", "output_tokens", "cached_tokens",
        "cost_usd", "wrong_steps", "first_error_step", "rounds", "wall_s", "red_flag_reasons", "owner",
    }
)  # fmt: skip
_JSON_COLUMNS = frozenset({"config", "last_state", "red_flag_reasons"})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_is_local(holder: str) -> bool:
    """Whether the process named `holder` ("host:pid") runs on this host, where whether it is alive
    is known; elsewhere only the age of its last write tells."""
    host, _, pid = holder.rpartition(":")
    return host == socket.gethostname() and pid.isdigit()


def _lease_alive(holder: str, updated_at: str) -> bool:
    """Whether the process named `holder` ("host:pid") may still be working on a run."""
    pid = holder.rpartition(":")[2]
    if lease_is_local(holder):
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        age = (datetime.now(UTC) - datetime.fromisoformat(updated_at)).total_seconds()
    except ValueError:
        return False
    return age < LEASE_STALE_S


def new_run_id() -> str:
    """A short readable id: r-YYYYMMDD-xxxxxx (UTC date, 6 random base-32 characters)."""
    alphabet = "abcdefghjkmnpqrstvwxyz0123456789"
    return f"r-{time.strftime('%Y%m%d', time.gmtime())}-{''.join(secrets.choice(alphabet) for _ in range(6))}"


class RunStore:
    """The run store in one SQLite file. Open it, use it, close it (or use `with`)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """Open (and create or migrate) the store; `readonly` opens an existing one for reading only,
        which works in a folder maker may not write to."""
        self.path = Path(path).expanduser()
        self.readonly = readonly
        try:
            if readonly:
                conn = _open_readonly(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the run store {self.path}: {exc} (pass --store PATH or set MAKER_STORE)"
            ) from None
        self._conn: sqlite3.Connection | None = conn  # None once closed
        try:
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                _migrate(conn)
            conn.execute("PRAGMA cache_size=-32000")
            conn.execute("SELECT count(*) FROM runs").fetchone()
            self._select_run, self._select_step, self._select_sample = SELECT_RUN, SELECT_STEP, SELECT_SAMPLE
            self._has_confidence = True
            if readonly:  # a store not migrated yet: columns added since read as their defaults
                step_columns = _columns(conn, "steps")
                self._select_run = select_sql("runs", RUN_COLUMNS, _columns(conn, "runs"))
                self._select_step = select_sql("steps", STEP_COLUMNS, step_columns)
                self._select_sample = select_sql("samples", SAMPLE_COLUMNS, _columns(conn, "samples"))
                self._has_confidence = "confidence" in step_columns
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot use {self.path} as a run store: {exc}") from None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        if conn is None:
            raise StoreWriteError("the run store is closed")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def applied_migrations(self) -> list[str]:
        return [name for (name,) in self._rows("SELECT name FROM migrations ORDER BY rowid")]

    # ------------------------------------------------------------------ writes

    def create_run(
        self,
        kind: str,
        name: str | None,
        model: str | None,
        config: Mapping[str, JSONValue],
        steps_total: int | None,
        initial_state: JSONValue = None,
        *,
        run_id: str | None = None,
    ) -> str:
        """Insert a new run (status running, nothing done) and return its id."""
        now = _now()
        for _ in range(5):
            rid = run_id or new_run_id()
            try:
                with self._transaction() as conn:
                    conn.execute(
                        "INSERT INTO runs (id, kind, name, model, config, status, steps_total, last_state,"
                        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                        (rid, kind, name, model, _dumps(dict(config)), steps_total, _dumps(initial_state), now, now),
                    )
                return rid
            except sqlite3.IntegrityError as exc:
                if run_id is not None:
                    raise StoreError(f"a run with id {run_id!r} already exists in {self.path}") from exc
            except sqlite3.Error as exc:
                raise StoreWriteError(f"cannot create a run in {self.path}: {exc}") from exc
        raise StoreWriteError("could not find a free run id")  # pragma: no cover

    def write_batch(
        self,
        run_id: str,
        steps: Sequence[StepRow],
        samples: Sequence[SampleRow] = (),
        run_update: Mapping[str, object] | None = None,
    ) -> int:
        """Store steps + samples + the run's new totals in one transaction; return the new steps_done.

        The store advances `steps_done` by len(steps) and sets `last_step` to the last idx written;
        `run_update` sets any other run column (absolute values: totals, last_state, status, ...).
        Writing a step index twice is an error and stores nothing from the batch.
        """
        assignments, values = self._update_clause(run_update or {})
        n = len(steps)
        if n:
            assignments.append("steps_done = steps_done + ?")
            assignments.append("last_step = ?")
            values += [n, steps[-1].idx]
        try:
            with self._transaction() as conn:
                if n:
                    conn.executemany(INSERT_STEP, [step_params(run_id, s) for s in steps])
                if samples:
                    conn.executemany(
                        INSERT_SAMPLE,
                        [
                            (run_id, s.idx, s.seq, s.temperature, s.text, s.answer_key, s.red_flag,
                             s.input_tokens, s.output_tokens, s.finish_reason, s.latency_s, s.confidence)
                            for s in samples
                        ],
                    )  # fmt: skip
                cur = conn.execute(
                    f"UPDATE runs SET {', '.join(assignments)} WHERE id = ? RETURNING steps_done",
                    (*values, run_id),
                )
                row = cur.fetchone()
                if row is None:
                    raise self._unknown(run_id)
                return int(row[0])
        except sqlite3.IntegrityError as exc:
            raise StoreWriteError(
                f"run {run_id}: a step in this batch is already stored ({exc}); nothing written"
            ) from exc
        except sqlite3.Error as exc:
            raise StoreWriteError(f"run {run_id}: could not write a batch to {self.path}: {exc}") from exc

    def claim(self, run_id: str, owner: str | None = None, *, running: bool = False) -> str:
        """Lease the run to `owner` (default: this process) or raise StoreError if another live
        process holds it. Returns the owner string. The lease ends with `release` (or goes stale).
        `running`: the run is being resumed, so its status is `running` from now on (not its last
        ending's until its first batch), as `maker runs watch` and `runs list` read it."""
        owner = owner or this_process()
        with self._transaction() as conn:
            row = conn.execute("SELECT owner, updated_at FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise self._unknown(run_id)
            holder, updated = row
            if holder and holder != owner and _lease_alive(holder, updated):
                raise StoreError(
                    f"run {run_id} is being worked on by process {holder} (last write {updated}); wait for it "
                    f"to finish or stop it first — a lease from another host goes stale after {LEASE_STALE_S:.0f} s"
                )
            status = ", status = 'running'" if running else ""
            conn.execute(f"UPDATE runs SET owner = ?, updated_at = ?{status} WHERE id = ?", (owner, _now(), run_id))
        return owner

    def renew(self, run_id: str, owner: str | None = None) -> bool:
        """Refresh this process's lease (updated_at) without writing anything else: a step that
        takes longer than LEASE_STALE_S must not look abandoned to another host. False when the
        lease is no longer this process's."""
        owner = owner or this_process()
        with self._transaction() as conn:
            cur = conn.execute("UPDATE runs SET updated_at = ? WHERE id = ? AND owner = ?", (_now(), run_id, owner))
            return cur.rowcount == 1

    def release(self, run_id: str, owner: str | None = None) -> None:
        """End this process's lease on the run (a no-op if another process holds it)."""
        owner = owner or this_process()
        with self._transaction() as conn:
            conn.execute("UPDATE runs SET owner = NULL WHERE id = ? AND owner = ?", (run_id, owner))

    def update_run(self, run_id: str, fields: Mapping[str, object]) -> None:
        """Set run columns outside a batch (e.g. the final status and wall time)."""
        self.write_batch(run_id, (), (), fields)

    def set_status(self, run_id: str, status: str, message: str | None = None) -> None:
        fields: dict[str, object] = {"status": status}
        if message is not None:
            fields["message"] = message
        self.update_run(run_id, fields)

    def delete_run(self, run_id: str) -> None:
        """Remove a run with its steps and samples."""
        self.get_run(run_id)
        with self._transaction() as conn:
            for table in ("samples", "steps"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    @staticmethod
    def _update_clause(fields: Mapping[str, object]) -> tuple[list[str], list[object]]:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable run fields: {', '.join(sorted(unknown))}")
        status = fields.get("status")
        if status is not None and status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}; one of {', '.join(RUN_STATUSES)}")
        assignments = ["updated_at = ?"]
        values: list[object] = [_now()]
        for key, value in fields.items():
            assignments.append(f"{key} = ?")
            if key in _JSON_COLUMNS:
                value = _dumps(value) if (value or key == "last_state") else None
            values.append(value)
        return assignments, values

    # ------------------------------------------------------------------ reads

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[SQLValue, ...]]:
        """Every row of a query; a damaged file is a StoreError, not a crash."""
        if self._conn is None:
            raise StoreWriteError("the run store is closed")
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the run store {self.path}: {exc} (is the file damaged?)") from None

    def _record(self, row: Sequence[SQLValue]) -> RunRecord:
        """A run as it stands: one marked running whose process is gone is shown as interrupted."""
        record = run_from_row(row)
        if record.status == RunStatus.RUNNING and record.owner and not _lease_alive(record.owner, record.updated_at):
            record = replace(
                record,
                status=RunStatus.INTERRUPTED.value,
                message=record.message
                or "the process running it stopped without ending it (killed?); resume it with --resume",
            )
        return record

    def _unknown(self, run_id: str) -> StoreError:
        return StoreError(f"no run {run_id!r} in {self.path}; `maker runs list` shows the stored runs")

    def get_run(self, run_id: str, *, as_stored: bool = False) -> RunRecord:
        """The run with this id (or the only run whose id starts with it), else StoreError.
        `as_stored`: its status as its writer last wrote it, even when that process is gone."""
        found = self._rows(f"{self._select_run} WHERE id = ?", (run_id,))
        row = found[0] if found else None
        if row is None and run_id:
            pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self._rows(f"{self._select_run} WHERE id LIKE ? ESCAPE '\\' LIMIT 6", (pattern,))
            if len(rows) > 1:
                ids = ", ".join(r[0] for r in rows[:5])
                raise StoreError(
                    f"run id {run_id!r} is ambiguous in {self.path}: {ids}{' ...' if len(rows) > 5 else ''}"
                )
            row = rows[0] if rows else None
        if row is None:
            raise self._unknown(run_id)
        return run_from_row(row) if as_stored else self._record(row)

    def list_runs(
        self, limit: int | None = 20, *, status: str | None = None, kind: str | None = None
    ) -> list[RunRecord]:
        """Runs, newest first (`status` as shown: a running run whose process is gone is interrupted)."""
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            stored = (status, RunStatus.RUNNING.value) if status == RunStatus.INTERRUPTED else (status,)
            where.append(f"status IN ({', '.join('?' * len(stored))})")
            params.extend(stored)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        sql = (
            self._select_run
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY created_at DESC, rowid DESC"
        )
        runs = (self._record(r) for r in self._rows(sql, params))
        chosen = [r for r in runs if status is None or r.status == status]
        return chosen if limit is None else chosen[:limit]

    def get_steps(self, run_id: str, start: int = 0, limit: int | None = 1000) -> list[StepRow]:
        """Stored steps with idx >= start, in order (at most `limit`; None: all)."""
        sql = f"{self._select_step} WHERE run_id = ? AND idx >= ? ORDER BY idx LIMIT ?"
        rows = self._rows(sql, (run_id, start, -1 if limit is None else limit))
        return [step_from_row(r) for r in rows]

    def iter_steps(self, run_id: str, start: int = 0, chunk: int = 10_000) -> Iterator[StepRow]:
        """Every stored step from `start` on, read in chunks (for exports and re-verification)."""
        while True:
            rows = self.get_steps(run_id, start, chunk)
            yield from rows
            if len(rows) < chunk:
                return
            start = rows[-1].idx + 1

    def count_steps(self, run_id: str) -> int:
        return int(self._rows("SELECT count(*) FROM steps WHERE run_id = ?", (run_id,))[0][0])

    def last_step(self, run_id: str) -> StepRow | None:
        rows = self._rows(f"{self._select_step} WHERE run_id = ? ORDER BY idx DESC LIMIT 1", (run_id,))
        return step_from_row(rows[0]) if rows else None

    def least_confident(self, run_id: str, limit: int = 5) -> list[StepRow]:
        """The `limit` stored steps with the lowest confidence (`maker_cli.core.confidence`), lowest
        first; among equals the one with more valid votes (a longer race) first, then by index.
        Steps without a confidence (no p, or stored before migration 004) are left out."""
        if not self._has_confidence or limit <= 0:
            return []
        sql = (
            f"{self._select_step} WHERE run_id = ? AND confidence IS NOT NULL "
            "ORDER BY confidence ASC, valid DESC, idx ASC LIMIT ?"
        )
        return [step_from_row(r) for r in self._rows(sql, (run_id, limit))]

    def get_samples(self, run_id: str, idx: int) -> list[SampleRow]:
        sql = f"{self._select_sample} WHERE run_id = ? AND idx = ? ORDER BY seq"
        return [SampleRow(*r) for r in self._rows(sql, (run_id, idx))]

    def sampled_steps(self, run_id: str) -> list[int]:
        """The step indices for which raw samples are stored."""
        sql = "SELECT DISTINCT idx FROM samples WHERE run_id = ? ORDER BY idx"
        return [i for (i,) in self._rows(sql, (run_id,))]

    def count_sampled_steps(self, run_id: str) -> int:
        """How many steps have raw samples stored (the undecided step a run stopped at included)."""
        return int(self._rows("SELECT count(DISTINCT idx) FROM samples WHERE run_id = ?", (run_id,))[0][0])

    def sample_latencies(self, run_id: str) -> list[float]:
        """The latency in seconds of every stored raw sample of the run that has one (one call each)."""
        sql = "SELECT latency_s FROM samples WHERE run_id = ? AND latency_s IS NOT NULL"
        return [float(x) for (x,) in self._rows(sql, (run_id,))]


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the named migrations not applied yet, each in its own transaction."""
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = {name for (name,) in conn.execute("SELECT name FROM migrations")}
    for name, sql in MIGRATIONS:
        if name in applied:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # another process may have applied it while we waited for the lock
            if conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone() is None:
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, _now()))
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The columns a table of this store has."""
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection; in a folder without write access a WAL file cannot get its shared
    memory file, so the file is then read as immutable (nothing else may be writing it)."""
    if not path.is_file():
        raise StoreError(f"no run store at {path}")
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
