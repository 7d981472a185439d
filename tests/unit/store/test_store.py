"""The SQLite run store: migrations, round trips, atomic batches, crash consistency, errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from maker_cli.errors import StoreError
from maker_cli.store import run_store as store_mod
from maker_cli.store.run_store import RunStore, SampleRow, StepRow


def step(i: int, **kw) -> StepRow:
    fields = dict(
        idx=i,
        input_state=f"{i};;",
        winner_key=f"k{i}",
        winner_value=f"v{i}",
        tallies={f"k{i}": 3},
        samples=3,
        valid=3,
        input_tokens=30,
        output_tokens=12,
        cost_usd=0.001,
        latency_s=0.5,
        rounds=1,
    )
    fields.update(kw)
    return StepRow(**fields)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "nested" / "dir" / "runs.sqlite"


def test_open_creates_parents_wal_and_migrations_once(path):
    with RunStore(path) as store:
        assert path.exists()
        assert store.applied_migrations() == [name for name, _ in store_mod.MIGRATIONS]
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rid = store.create_run("hanoi", "demo", "sim:perfect", {"disks": 3}, 7, [[3, 2, 1], [], []])
    with RunStore(path) as store:  # reopening applies nothing twice and keeps the data
        assert store.applied_migrations() == [name for name, _ in store_mod.MIGRATIONS]
        assert store.get_run(rid).name == "demo"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(store_mod.MIGRATIONS)
    conn.close()


def test_new_migrations_are_applied_in_order_on_reopen(path, monkeypatch):
    RunStore(path).close()
    extra = [("900_test_extra", "CREATE TABLE extra (x INTEGER); CREATE INDEX extra_x ON extra (x)")]
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS + extra)
    with RunStore(path) as store:
        assert store.applied_migrations()[-1] == "900_test_extra"
        store._conn.execute("INSERT INTO extra VALUES (1)")
    with RunStore(path) as store:
        assert store.applied_migrations().count("900_test_extra") == 1


def test_a_failing_migration_leaves_nothing_behind(path, monkeypatch):
    RunStore(path).close()
    bad = [("901_bad", "CREATE TABLE half (x INTEGER); THIS IS NOT SQL")]
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS + bad)
    with pytest.raises(StoreError):
        RunStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM migrations WHERE name = '901_bad'").fetchone()[0] == 0
    conn.close()


def test_create_write_read_round_trip(path):
    with RunStore(path) as store:
        config = {"disks": 3, "k": 3, "model": "sim:p=0.9", "nested": {"a": [1, 2]}}
        rid = store.create_run("hanoi", "three", "sim:p=0.9", config, 7, [[3, 2, 1], [], []])
        assert rid.startswith("r-") and len(rid) == len("r-20260101-abcdef")
        run = store.get_run(rid)
        assert (run.kind, run.status, run.steps_done, run.last_step, run.cost_usd) == (
            "hanoi",
            "running",
            0,
            None,
            None,
        )
        assert run.config == config and run.last_state == [[3, 2, 1], [], []]

        contested = step(
            1,
            tallies={"k1": 4, "other": 1, "third": 1},
            samples=8,
            valid=6,
            red_flagged=2,
            red_flag_reasons={"format": 1, "too_long": 1},
            errors=1,
            retries=2,
            rounds=3,
            correct=False,
        )
        undecided = step(2, winner_key=None, winner_value=None, decided=False, tallies={"a": 2, "b": 2}, valid=4,
                         cost_usd=None, correct=None)  # fmt: skip
        samples = [
            SampleRow(1, 0, 0.0, "move = [1, 0, 2]", "k1", None, 30, 12, "stop", 0.4),
            SampleRow(1, 1, 0.1, "garbage", None, "format: no move line", 30, 5, "stop", 0.3),
        ]
        update = {"samples": 19, "valid": 13, "red_flagged": 2, "cost_usd": 0.002, "last_state": [[3], [2], [1]],
                  "red_flag_reasons": {"format": 1, "too_long": 1}, "wrong_steps": 1, "first_error_step": 1}  # fmt: skip
        assert store.write_batch(rid, [step(0, correct=True), contested, undecided], samples, update) == 3

        run = store.get_run(rid)
        assert (run.steps_done, run.last_step, run.samples, run.valid, run.cost_usd) == (3, 2, 19, 13, 0.002)
        assert run.last_state == [[3], [2], [1]] and run.red_flag_reasons == {"format": 1, "too_long": 1}
        assert (run.wrong_steps, run.first_error_step) == (1, 1)
        assert run.updated_at >= run.created_at

        got = store.get_steps(rid)
        assert got == [step(0, correct=True), contested, undecided]
        assert list(got[1].tallies) == ["k1", "other", "third"]  # first seen first
        assert store.get_steps(rid, start=1, limit=1) == [contested]
        assert list(store.iter_steps(rid, chunk=2)) == got
        assert store.count_steps(rid) == 3
        assert store.last_step(rid) == undecided
        assert store.get_samples(rid, 1) == samples
        assert store.get_samples(rid, 0) == []
        assert store.sampled_steps(rid) == [1]

        store.set_status(rid, "solved", "all 7 steps decided")
        run = store.get_run(rid)
        assert (run.status, run.message) == ("solved", "all 7 steps decided")
        assert run.to_dict()["config"] == config


def test_uncontested_tallies_are_stored_compactly(path):
    with RunStore(path) as store:
        rid = store.create_run("hanoi", None, None, {}, 10, None)
        store.write_batch(rid, [step(0)], [], {})
        raw = store._conn.execute("SELECT tallies FROM steps WHERE run_id = ?", (rid,)).fetchone()[0]
        assert raw is None
        assert store.get_steps(rid)[0].tallies == {"k0": 3}


def test_a_failing_batch_stores_nothing(path):
    with RunStore(path) as store:
        rid = store.create_run("hanoi", None, None, {}, 10, "s0")
        store.write_batch(rid, [step(0), step(1)], [], {"last_state": "s2", "samples": 6})
        before = store.get_run(rid)

        # the failure comes after some rows of the batch were inserted: a step stored twice
        with pytest.raises(StoreError, match="already stored"):
            store.write_batch(rid, [step(2), step(3), step(1)], [SampleRow(2, 0, 0.0, "t", "k2", None)],
                              {"last_state": "s4", "samples": 12})  # fmt: skip
        # the failure comes last, in the run update
        with pytest.raises(StoreError):
            store.write_batch(rid, [step(2), step(3)], [SampleRow(2, 0, 0.0, "t", "k2", None)],
                              {"last_state": "s4", "samples": object()})  # fmt: skip

        assert store.count_steps(rid) == 2
        assert store.get_samples(rid, 2) == []
        after = store.get_run(rid)
        assert (after.steps_done, after.last_step, after.last_state, after.samples) == (2, 1, "s2", 6)
        assert after.updated_at == before.updated_at
        # the store is still usable
        assert store.write_batch(rid, [step(2)], [], {"last_state": "s3"}) == 3


def test_bad_updates_are_refused_before_writing(path):
    with RunStore(path) as store:
        rid = store.create_run("hanoi", None, None, {}, 10, None)
        with pytest.raises(ValueError, match="steps_done"):
            store.write_batch(rid, [step(0)], [], {"steps_done": 5})
        with pytest.raises(ValueError, match="status"):
            store.set_status(rid, "finished")
        assert store.count_steps(rid) == 0


def test_unknown_run_ids(path):
    with RunStore(path) as store:
        with pytest.raises(StoreError, match="maker runs list"):
            store.get_run("r-nope")
        with pytest.raises(StoreError, match="maker runs list"):
            store.write_batch("r-nope", [step(0)], [], {})
        assert store.count_steps("r-nope") == 0  # the failed batch left nothing
        with pytest.raises(StoreError, match="maker runs list"):
            store.set_status("r-nope", "failed")


def test_unique_prefixes_resolve_and_ambiguous_ones_do_not(path):
    with RunStore(path) as store:
        a = store.create_run("hanoi", None, None, {}, 1, None, run_id="r-20260101-aaaaaa")
        store.create_run("hanoi", None, None, {}, 1, None, run_id="r-20260101-aaabbb")
        assert store.get_run("r-20260101-aaaa").id == a
        with pytest.raises(StoreError, match="ambiguous"):
            store.get_run("r-20260101-aaa")
        with pytest.raises(StoreError, match="already exists"):
            store.create_run("hanoi", None, None, {}, 1, None, run_id=a)


def test_list_runs_newest_first_with_filters(path):
    with RunStore(path) as store:
        ids = []
        for i in range(5):
            ids.append(store.create_run("hanoi" if i % 2 == 0 else "task", f"run{i}", None, {}, 1, None))
            time.sleep(0.002)
        store.set_status(ids[1], "solved")
        assert [r.id for r in store.list_runs()] == ids[::-1]
        assert [r.id for r in store.list_runs(limit=2)] == ids[:2:-1][:2]
        assert [r.id for r in store.list_runs(kind="hanoi")] == [ids[4], ids[2], ids[0]]
        assert [r.id for r in store.list_runs(status="solved")] == [ids[1]]


def test_delete_run_removes_steps_and_samples(path):
    with RunStore(path) as store:
        rid = store.create_run("hanoi", None, None, {}, 2, None)
        keep = store.create_run("hanoi", None, None, {}, 2, None)
        store.write_batch(rid, [step(0)], [SampleRow(0, 0, 0.0, "t", "k0", None)], {})
        store.write_batch(keep, [step(0)], [], {})
        store.delete_run(rid)
        with pytest.raises(StoreError):
            store.get_run(rid)
        assert store.count_steps(rid) == 0 and store.get_samples(rid, 0) == []
        assert store.count_steps(keep) == 1


def test_a_file_that_is_not_a_store_is_a_store_error(tmp_path):
    bogus = tmp_path / "not.sqlite"
    bogus.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(StoreError, match="not.sqlite"):
        RunStore(bogus)


_WRITER = textwrap.dedent(
    """
    import sys
    from maker_cli.store.run_store import RunStore, StepRow

    store = RunStore(sys.argv[1])
    rid = store.create_run("hanoi", "crash", None, {}, 10**9, {"next": 0})
    print(rid, flush=True)
    i = 0
    while True:
        rows = [StepRow(j, f"{j};;", f"k{j}", None, True, {f"k{j}": 3}, 3, 3, latency_s=0.1)
                for j in range(i, i + 97)]
        i += 97
        store.write_batch(rid, rows, [], {"last_state": {"next": i}, "samples": 3 * i, "valid": 3 * i})
    """
)


def test_sigkill_mid_run_leaves_a_consistent_store(path):
    path.parent.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        rid = proc.stdout.readline().strip()
        assert rid.startswith("r-")
        deadline = time.monotonic() + 20
        with RunStore(path) as reader:
            while reader.get_run(rid).steps_done < 3000 and time.monotonic() < deadline:
                time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    with RunStore(path) as store:
        run = store.get_run(rid)
        assert run.steps_done >= 3000
        assert store.count_steps(rid) == run.steps_done
        assert run.last_step == run.steps_done - 1 == store.last_step(rid).idx
        assert run.last_state == {"next": run.steps_done}
        assert run.samples == 3 * run.steps_done
        # resuming: the next batch continues where the stored steps end
        nxt = run.steps_done
        assert store.write_batch(rid, [step(nxt)], [], {"last_state": {"next": nxt + 1}}) == nxt + 1
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
