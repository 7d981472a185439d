"""`maker_cli.jobs.run_watch`: snapshots of a stored run, and how long it has been quiet measured on
the watcher's own clock once it has seen the run change."""

from __future__ import annotations

from maker_cli.jobs import run_watch
from maker_cli.jobs.run_watch import NO_PROGRESS_S, watch_run
from maker_cli.store.run_store import RunStore, StepRow


def test_quiet_time_restarts_when_the_run_is_written_and_is_read_on_the_watchers_clock(tmp_path):
    path = tmp_path / "s.sqlite"
    with RunStore(path) as s:
        run_id = s.create_run("hanoi", None, None, {}, 2, run_id="r-watch")
    now = [100.0]
    writes = [
        lambda: None,  # nothing written: quiet grows on this clock
        lambda: s.write_batch(run_id, [StepRow(0, None, "a", None, True, {"a": 1}, 1, 1)]),
        lambda: s.update_run(run_id, {"status": "solved"}),
    ]

    def pause(seconds: float) -> None:
        now[0] += NO_PROGRESS_S  # each pause lasts NO_PROGRESS_S on the watcher's clock
        with RunStore(path) as opened:
            nonlocal s
            s = opened
            writes.pop(0)()

    snapshots = list(watch_run(path, "r-wa", 1.0, clock=lambda: now[0], sleep=pause))
    assert [round(x.quiet_s) for x in snapshots] == [0, NO_PROGRESS_S, 0, 0]
    assert [x.stalled for x in snapshots] == [False, True, False, False]
    assert [x.record.steps_done for x in snapshots] == [0, 0, 1, 1]
    assert snapshots[-1].to_json()["final"] and not snapshots[-2].to_json()["final"]
    assert snapshots[-1].totals().steps_done == 1


def test_a_stored_time_that_cannot_be_read_counts_as_now():
    assert run_watch._age("yesterday") == 0.0
    assert run_watch._age("2026-01-01T00:00:00") == 0.0  # no time zone: not comparable
    assert run_watch._age("2999-01-01T00:00:00Z") == 0.0  # in the future (another host's clock)


def test_a_lease_renewal_is_not_progress(tmp_path):
    """A live writer renews its lease (updated_at) during a long step: the run stays quiet until a
    step or a sample is stored."""
    path = tmp_path / "s.sqlite"
    with RunStore(path) as s:
        run_id = s.create_run("hanoi", None, None, {}, 2, run_id="r-lease")
        s.claim(run_id)
    now = [100.0]
    actions = [
        lambda st: st.renew(run_id),
        lambda st: st.renew(run_id),
        lambda st: st.update_run(run_id, {"status": "solved"}),
    ]

    def pause(seconds: float) -> None:
        now[0] += NO_PROGRESS_S
        with RunStore(path) as opened:
            actions.pop(0)(opened)

    snapshots = list(watch_run(path, "r-lease", 1.0, clock=lambda: now[0], sleep=pause))
    assert [round(x.quiet_s) for x in snapshots[:3]] == [0, NO_PROGRESS_S, 2 * NO_PROGRESS_S]
    assert snapshots[2].stalled and not snapshots[-1].running
