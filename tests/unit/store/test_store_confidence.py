"""Each step's confidence in the run store: migration 004 adds the column (old rows read null), a
read-only old store reads null, `least_confident` is the ORDER BY confidence query, and the
runner's running summary is carried through the resume point."""

from __future__ import annotations

import sqlite3

import pytest

from maker_cli.jobs.run_state import RunPoint, RunTotals, resume_point, stored_totals
from maker_cli.store import run_store as store_mod
from maker_cli.store.run_store import RunStore, StepRow
from maker_cli.tasks import Hanoi


def step(i: int, confidence: float | None, valid: int = 3) -> StepRow:
    return StepRow(
        idx=i,
        input_state=f"{i};;",
        winner_key=f"k{i}",
        tallies={f"k{i}": valid},
        samples=valid,
        valid=valid,
        rounds=1,
        latency_s=0.1,
        confidence=confidence,
    )


def old_store(path, monkeypatch) -> str:
    """A store as maker wrote it before migration 004, with a run of two steps."""
    before = [m for m in store_mod.MIGRATIONS if m[0] < "004"]
    monkeypatch.setattr(store_mod, "MIGRATIONS", before)
    with RunStore(path) as store:
        rid = store.create_run("hanoi", "old", "sim:p=1", {"disks": 2}, 3, None)
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    with conn:  # the rows as the old code wrote them (its 20 step columns)
        conn.executemany(
            "INSERT INTO steps VALUES (?, ?, ?, ?, NULL, 1, NULL, 3, 3, 0, NULL, 0, 0, 1, 30, 12, 0.001, 0.5, 1, 0)",
            [(rid, i, f"{i};;", f"k{i}") for i in range(2)],
        )
        conn.execute("UPDATE runs SET steps_done = 2, last_step = 1 WHERE id = ?", (rid,))
    columns = {row[1] for row in conn.execute("PRAGMA table_info(steps)")}
    conn.close()
    assert "confidence" not in columns
    return rid


def test_the_migration_adds_the_column_with_null_for_old_rows(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    rid = old_store(path, monkeypatch)
    with RunStore(path) as store:
        assert "004_step_confidence" in store.applied_migrations()
        assert [s.confidence for s in store.get_steps(rid)] == [None, None]
        assert store.least_confident(rid) == []  # nothing old has a confidence
        store.write_batch(rid, [step(2, 0.9986)], (), {})
        assert store.last_step(rid).confidence == 0.9986
        assert [s.idx for s in store.least_confident(rid)] == [2]
    conn = sqlite3.connect(path)
    info = {row[1]: row for row in conn.execute("PRAGMA table_info(steps)")}
    conn.close()
    assert info["confidence"][2] == "REAL" and info["confidence"][3] == 0  # nullable


def test_a_read_only_old_store_reads_null_confidence(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    rid = old_store(path, monkeypatch)
    with RunStore(path, readonly=True) as store:  # no migration in read-only mode
        assert [s.confidence for s in store.get_steps(rid)] == [None, None]
        assert store.last_step(rid).confidence is None
        assert store.least_confident(rid) == []
    conn = sqlite3.connect(path)
    assert "confidence" not in {row[1] for row in conn.execute("PRAGMA table_info(steps)")}
    conn.close()


def test_confidence_round_trips_and_the_least_confident_come_first(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as store:
        rid = store.create_run("hanoi", "new", "sim:p=0.9", {}, 8, None)
        other = store.create_run("hanoi", "other", "sim:p=0.9", {}, 1, None)
        rows = [
            step(0, 0.9986),
            step(1, 0.9),
            step(2, None),
            step(3, 0.9986, valid=7),  # ties with 0 and 5: the longer race first
            step(4, 0.5),
            step(5, 0.9986),
            step(6, 1.0),
        ]
        store.write_batch(rid, rows, (), {})
        store.write_batch(other, [step(0, 0.1)], (), {})
        assert [s.confidence for s in store.get_steps(rid)] == [r.confidence for r in rows]
        assert [s.idx for s in store.least_confident(rid)] == [4, 1, 3, 0, 5]
        assert [s.idx for s in store.least_confident(rid, 2)] == [4, 1]
        assert [s.idx for s in store.least_confident(rid, 100)] == [4, 1, 3, 0, 5, 6]  # never the null one
        assert store.least_confident(rid, 0) == []
        weakest = store.least_confident(rid, 1)[0]
        assert (weakest.tallies, weakest.winner_key, weakest.valid) == ({"k4": 3}, "k4", 3)


def test_the_running_summary_survives_the_resume_point(tmp_path):
    task = Hanoi(disks=3)
    totals = RunTotals(confidence_needed=0.999999)
    for c in (0.99, None, 0.5, 0.9999999, 1.0):
        totals.confide(c)
    assert (totals.confident_steps, totals.min_confidence, totals.low_confidence_steps) == (4, 0.5, 2)
    assert totals.mean_confidence == pytest.approx((0.99 + 0.5 + 0.9999999 + 1.0) / 4, rel=1e-12)
    state, previous = task.start()
    with RunStore(tmp_path / "runs.sqlite") as store:
        rid = store.create_run("hanoi", "r", "sim:p=0.9", {}, 7, None)
        store.update_run(rid, {"last_state": resume_point(task, RunPoint(0, state, previous), totals)})
        again = stored_totals(store.get_run(rid))
        old = {k: v for k, v in resume_point(task, RunPoint(0, state, previous), totals).items() if k != "confidence"}
        store.update_run(rid, {"last_state": old})  # a run stored before confidences: nothing to carry on
        before = stored_totals(store.get_run(rid))
    assert (again.confident_steps, again.min_confidence, again.low_confidence_steps) == (4, 0.5, 2)
    assert again.confidence_needed == 0.999999
    assert again.mean_confidence == pytest.approx(totals.mean_confidence, rel=1e-12)
    assert (before.confident_steps, before.min_confidence, before.low_confidence_steps) == (0, None, 0)
    assert before.mean_confidence is None
