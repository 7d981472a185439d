"""Cached prompt tokens in the run store: migration 003 adds them to runs and steps, an old store
migrates with its data intact (zeros for what it never counted), and a read-only old store reads."""

from __future__ import annotations

import sqlite3

from maker_cli.store import run_store as store_mod
from maker_cli.store.run_store import RunStore, StepRow


def step(i: int, cached: int = 0) -> StepRow:
    return StepRow(
        idx=i,
        input_state=f"{i};;",
        winner_key=f"k{i}",
        tallies={f"k{i}": 3},
        samples=3,
        valid=3,
        rounds=1,
        input_tokens=30,
        output_tokens=12,
        cost_usd=0.001,
        latency_s=0.5,
        cached_tokens=cached,
    )


def old_store(path, monkeypatch) -> str:
    """A store as maker wrote it before migration 003, with a run of two steps."""
    before = [m for m in store_mod.MIGRATIONS if m[0] < "003"]
    monkeypatch.setattr(store_mod, "MIGRATIONS", before)
    with RunStore(path) as store:
        rid = store.create_run("hanoi", "old", "sim:p=1", {"disks": 2}, 3, None)
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    with conn:  # the rows as the old code wrote them (its 19 step columns)
        conn.executemany(
            "INSERT INTO steps VALUES (?, ?, ?, ?, NULL, 1, NULL, 3, 3, 0, NULL, 0, 0, 1, 30, 12, 0.001, 0.5, 1)",
            [(rid, i, f"{i};;", f"k{i}") for i in range(2)],
        )
        conn.execute(
            "UPDATE runs SET steps_done = 2, last_step = 1, input_tokens = 60, samples = 6 WHERE id = ?", (rid,)
        )
    columns = {row[1] for row in conn.execute("PRAGMA table_info(steps)")}
    conn.close()
    assert "cached_tokens" not in columns
    return rid


def test_the_migration_adds_the_columns_with_zero_for_old_rows(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    rid = old_store(path, monkeypatch)
    with RunStore(path) as store:
        assert "003_cached_tokens" in store.applied_migrations()
        run = store.get_run(rid)
        assert (run.input_tokens, run.cached_tokens, run.steps_done) == (60, 0, 2)
        assert [(s.input_tokens, s.cached_tokens) for s in store.get_steps(rid)] == [(30, 0), (30, 0)]
        store.write_batch(rid, [step(2, cached=24)], (), {"input_tokens": 90, "cached_tokens": 24})
        assert store.get_run(rid).cached_tokens == 24
        assert store.last_step(rid).cached_tokens == 24
        assert sum(s.cached_tokens for s in store.iter_steps(rid)) == 24
    conn = sqlite3.connect(path)
    for table in ("runs", "steps"):
        info = {row[1]: row for row in conn.execute(f"PRAGMA table_info({table})")}
        assert info["cached_tokens"][2] == "INTEGER" and info["cached_tokens"][3] == 1  # NOT NULL
        assert info["cached_tokens"][4] == "0"  # DEFAULT 0
    conn.close()


def test_a_read_only_old_store_reads_cached_tokens_as_zero(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    rid = old_store(path, monkeypatch)
    with RunStore(path, readonly=True) as store:  # no migration in read-only mode
        assert store.get_run(rid).cached_tokens == 0
        assert [s.cached_tokens for s in store.get_steps(rid)] == [0, 0]
        assert store.list_runs()[0].cached_tokens == 0


def test_cached_tokens_round_trip(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as store:
        rid = store.create_run("hanoi", "new", "sim:p=1", {}, 3, None)
        store.write_batch(rid, [step(0, 10), step(1, 20)], (), {"cached_tokens": 30})
        assert [s.cached_tokens for s in store.get_steps(rid)] == [10, 20]
        assert store.get_run(rid).cached_tokens == 30
