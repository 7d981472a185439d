"""One process per run (leases: live, stale, from other hosts), and a store that is closed, read-only,
missing or damaged answering with a StoreError instead of a crash."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from maker_cli.errors import StoreError, StoreWriteError
from maker_cli.store import run_store as store_mod
from maker_cli.store.run_store import LEASE_STALE_S, RunStore, StepRow


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.sqlite") as opened:
        yield opened


def step(i: int) -> StepRow:
    return StepRow(i, f"{i};;" * 20, f"k{i}", None, True, {f"k{i}": 3}, 3, 3)


def age_lease(path, run_id: str, seconds: float) -> None:
    """As if the lease holder last wrote `seconds` ago."""
    when = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (when, run_id))


def test_a_run_leased_by_a_process_on_another_host_is_refused_until_its_lease_goes_stale(store):
    rid = store.create_run("hanoi", None, None, {}, 7)
    store.claim(rid, "other-host:4242")
    with pytest.raises(StoreError, match=r"is being worked on by process other-host:4242 .* goes stale after 60 s"):
        store.claim(rid)
    assert store.get_run(rid).status == "running"  # still working, as far as we can tell
    age_lease(store.path, rid, LEASE_STALE_S + 5)
    assert store.get_run(rid).status == "interrupted"  # shown as what it is now
    assert [r.id for r in store.list_runs(status="interrupted")] == [rid]
    assert store.claim(rid) == store_mod.this_process()  # taken over


def test_a_lease_with_an_unreadable_time_is_not_alive(store):
    rid = store.create_run("hanoi", None, None, {}, 7)
    store.claim(rid, "other-host:1")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET updated_at = 'yesterday-ish' WHERE id = ?", (rid,))
    assert store.claim(rid) == store_mod.this_process()


def test_a_local_holder_is_alive_while_its_process_runs_even_one_we_may_not_signal(store, monkeypatch):
    rid = store.create_run("hanoi", None, None, {}, 7)
    holder = f"{store_mod.socket.gethostname()}:{os.getppid()}"  # pytest's parent: alive
    store.claim(rid, holder)
    with pytest.raises(StoreError, match="is being worked on"):
        store.claim(rid)

    def not_permitted(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(store_mod.os, "kill", not_permitted)  # another user's process
    with pytest.raises(StoreError, match="is being worked on"):
        store.claim(rid)


def test_releasing_frees_the_run_and_only_its_holder_can_release(store):
    rid = store.create_run("hanoi", None, None, {}, 7)
    store.claim(rid, "other-host:4242")
    store.release(rid)  # not ours: nothing changes
    with pytest.raises(StoreError, match="is being worked on"):
        store.claim(rid)
    store.release(rid, "other-host:4242")
    assert store.get_run(rid).owner is None and store.claim(rid)
    with pytest.raises(StoreError, match=r"^no run 'r-nope' in .*`maker runs list`"):
        store.claim("r-nope")


def test_a_random_run_id_that_is_taken_is_drawn_again(store, monkeypatch):
    ids = iter(["r-20260101-aaaaaa", "r-20260101-aaaaaa", "r-20260101-bbbbbb"])
    monkeypatch.setattr(store_mod, "new_run_id", lambda: next(ids))
    assert store.create_run("hanoi", None, None, {}, 1) == "r-20260101-aaaaaa"
    assert store.create_run("hanoi", None, None, {}, 1) == "r-20260101-bbbbbb"


def test_a_closed_store_says_so(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.create_run("hanoi", None, None, {}, 1)
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreWriteError, match="^the run store is closed$"):
        store.write_batch(rid, [step(0)])
    with pytest.raises(StoreWriteError, match="^the run store is closed$"):
        store.get_run(rid)


def test_a_store_opened_for_reading_refuses_writes_and_must_exist(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    reader = RunStore(path, readonly=True)
    with pytest.raises(StoreWriteError, match=f"^cannot create a run in {path}: attempt to write a readonly"):
        reader.create_run("hanoi", None, None, {}, 1)
    reader.close()
    with pytest.raises(StoreError, match=f"^no run store at {tmp_path / 'nope.sqlite'}$"):
        RunStore(tmp_path / "nope.sqlite", readonly=True)


def test_a_damaged_file_is_a_store_error_when_read(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        rid = store.create_run("hanoi", None, None, {}, 3000)
        store.write_batch(rid, [step(i) for i in range(3000)])
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # the steps' pages, not the runs table at the start of the file
        handle.seek(size // 2)
        handle.write(b"\xff" * (size // 4))
    with RunStore(path, readonly=True) as store:
        assert store.get_run(rid).steps_done == 3000
        with pytest.raises(StoreError, match=rf"^cannot read the run store {path}: .* \(is the file damaged\?\)$"):
            list(store.iter_steps(rid))


def test_a_resumed_run_is_running_from_its_claim_and_reads_as_stored(store):
    """`claim(running=True)` (a resume) makes the run `running` at once, not at its first batch, so
    `maker runs watch` and `runs list` never see a run being resumed as ended; `as_stored` reads
    the status its writer left even when that process is gone."""
    rid = store.create_run("hanoi", None, None, {}, 7)
    store.set_status(rid, "budget_exhausted")
    store.claim(rid)
    assert store.get_run(rid).status == "budget_exhausted"  # a lease alone changes no status
    store.release(rid)
    store.claim(rid, running=True)
    assert store.get_run(rid).status == "running"
    store.release(rid)
    store.claim(rid, "other-host:4242")
    age_lease(store.path, rid, LEASE_STALE_S + 5)
    assert store.get_run(rid).status == "interrupted"
    assert store.get_run(rid, as_stored=True).status == "running"
    assert not store_mod.lease_is_local("other-host:4242") and store_mod.lease_is_local(store_mod.this_process())
