"""`maker runs watch RUN_ID`: another process's run followed from the store until it ends, with
`maker run`'s exit code for its ending; a finished run once; a dead or silent writer; bad input in
one line (exit 2); Ctrl-C quietly (130)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from maker_cli.cli import runs_watch
from maker_cli.cli.app import app
from maker_cli.jobs import run_watch
from maker_cli.store.run_store import RunStore, StepRow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def watch(store: Path, run_id: str, *args: str):
    return cli("runs", "watch", run_id, "--store", str(store), *args)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def maker(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "maker_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        **kwargs,
    )


def started_run(proc: subprocess.Popen) -> str:
    """The run id a `maker run ... --json` says on stderr as it starts."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("started run "):
            return line.split()[2]
    raise AssertionError(f"the run never started: {proc.communicate()}")


def solved_run(store: Path, *args: str) -> str:
    r = cli("run", "hanoi", "--store", str(store), "--json", *args)
    return json.loads(r.stdout)["run_id"]


def age(store: Path, run_id: str, seconds: float) -> None:
    """As if the run was last written `seconds` ago."""
    when = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (when, run_id))


def running_run(store: Path, owner: str, steps_total: int = 3) -> str:
    with RunStore(store) as s:
        run_id = s.create_run("hanoi", "hanoi-2", "sim:p=0.9", {"job": {"k": 2}}, steps_total)
        s.claim(run_id, owner)
    return run_id


def finish(store: Path, run_id: str, status: str = "solved", steps: int = 3) -> None:
    """What the writer's last batch does: the steps, the totals and the ending."""
    rows = [StepRow(i, None, f"m{i}", None, True, {f"m{i}": 2}, 2, 2) for i in range(steps)]
    with RunStore(store) as s:
        s.write_batch(
            run_id,
            rows,
            (),
            {"status": status, "samples": 2 * steps, "valid": 2 * steps, "cost_usd": 0.0, "wall_s": 0.5, "owner": None},
        )


# --------------------------------------------------------------------------- a live run, two processes


def test_a_run_another_process_executes_is_followed_to_its_end(tmp_path):
    """The writer runs Hanoi in one process (simulated latency: about 6 s); two watchers follow it
    from the store in two others, one with --json, one printing plain lines (not a terminal)."""
    store = tmp_path / "s.sqlite"
    writer = maker(
        "run", "hanoi", "--disks", "8", "--model", "sim:p=0.99,seed=1,latency_ms=20", "--k", "2",
        "--store", str(store), "--json",
    )  # fmt: skip
    run_id = started_run(writer)
    as_json = maker("runs", "watch", run_id[:12], "--store", str(store), "--interval", "0.2", "--json")
    as_text = maker("runs", "watch", run_id, "--store", str(store), "--interval", "0.2")
    written, _ = writer.communicate(timeout=120)
    lines, json_err = as_json.communicate(timeout=60)
    text, text_err = as_text.communicate(timeout=60)
    result = json.loads(written)

    assert as_json.returncode == writer.returncode == as_text.returncode, (json_err, text_err)
    seen = json_lines(lines)
    running = [line["steps_done"] for line in seen if line["status"] == "running"]
    assert len(set(running)) >= 2 and running == sorted(running), seen  # it saw the run advance
    assert all(not line["final"] for line in seen[:-1]) and seen[-1]["final"]
    final = seen[-1]
    assert final["run_id"] == run_id and final["status"] == result["status"]
    assert (final["steps_done"], final["steps_total"], final["samples"]) == (
        result["steps_done"], 255, result["samples"]
    )  # fmt: skip
    assert text.splitlines()[0].startswith(f"watching run {run_id} in ")
    assert text.splitlines()[-1].startswith(f"run {run_id} {result['status']}")
    assert f"step {result['steps_done']}/255" in text.splitlines()[-2]
    assert json_err == text_err == ""


def test_a_writer_killed_on_this_host_ends_the_watch_as_interrupted(tmp_path):
    store = tmp_path / "s.sqlite"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run_id = running_run(store, f"{socket.gethostname()}:{gone.stdout.strip()}")
    r = watch(store, run_id, "--json")
    assert r.exit_code == 130  # as `maker run` ends an interrupted run
    (line,) = json_lines(r.stdout)
    assert line["status"] == "interrupted" and line["final"] and "stopped without ending it" in line["message"]


# --------------------------------------------------------------------------- polling, in-process


@pytest.fixture
def reads(monkeypatch):
    """Replace the pause between two reads: each call runs the next action (then none)."""
    actions: list = []
    calls: list[float] = []

    def pause(seconds: float) -> None:
        calls.append(seconds)
        if actions:
            actions.pop(0)()

    monkeypatch.setattr(run_watch.time, "sleep", pause)
    return actions, calls


def test_a_quiet_run_says_no_progress_and_goes_on_until_it_ends(tmp_path, reads):
    actions, calls = reads
    store = tmp_path / "s.sqlite"
    run_id = running_run(store, f"{socket.gethostname()}:{os.getpid()}")  # a live writer: this process
    age(store, run_id, 42)
    actions += [lambda: None, lambda: finish(store, run_id)]
    r = watch(store, run_id, "--interval", "0.5")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert calls == [0.5, 0.5]
    assert lines[0] == f"watching run {run_id} in {store}, read every 0.5 s"
    assert "no progress for 4" in lines[1] and "nothing written to the store since" in lines[1]  # said once
    assert "step 3/3" in lines[2] and lines[3] == f"run {run_id} solved" and len(lines) == 4


def test_a_writer_on_another_host_silent_past_its_lease_is_still_watched(tmp_path, reads):
    """The store counts such a run interrupted (its lease is stale); the watch does not end on that
    guess: it says how long the run has been quiet, and ends when the run does."""
    actions, _ = reads
    store = tmp_path / "s.sqlite"
    run_id = running_run(store, "other-host:4242")
    age(store, run_id, 120)
    with RunStore(store, readonly=True) as s:
        assert s.get_run(run_id).status == "interrupted"
    actions.append(lambda: finish(store, run_id, "undecided"))
    r = watch(store, run_id, "--json")
    first, last = json_lines(r.stdout)
    assert first["status"] == "running" and first["no_progress"] and first["quiet_s"] >= 119
    assert last["status"] == "undecided" and last["final"] and r.exit_code == 3

    run_id = running_run(store, "other-host:4242")
    age(store, run_id, 120)
    actions.append(lambda: finish(store, run_id))
    r = watch(store, run_id)
    quiet = r.stdout.splitlines()[1]
    assert "no progress for 12" in quiet and "its process (other-host:4242) is on another host" in quiet
    assert r.exit_code == 0


def test_ctrl_c_stops_watching_quietly(tmp_path, reads):
    actions, _ = reads
    store = tmp_path / "s.sqlite"
    run_id = running_run(store, f"{socket.gethostname()}:{os.getpid()}")

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    actions.append(ctrl_c)
    for args in ((), ("--json",)):
        actions[:] = [ctrl_c]
        r = watch(store, run_id, *args)
        assert r.exit_code == 130 and r.stderr == ""
    with RunStore(store, readonly=True) as s:
        assert s.get_run(run_id).status == "running"  # watching never touches the run


def test_on_a_terminal_the_dashboard_is_live_and_ends_on_the_final_figures(tmp_path, reads, monkeypatch):
    actions, _ = reads
    store = tmp_path / "s.sqlite"
    run_id = running_run(store, f"{socket.gethostname()}:{os.getpid()}")
    screen = Console(file=io.StringIO(), force_terminal=True, width=110, color_system=None)
    monkeypatch.setattr(runs_watch, "is_terminal", lambda: True)
    monkeypatch.setattr(runs_watch, "out_console", lambda: screen)
    seen: list[str] = []

    def look() -> None:
        threading.Event().wait(0.6)  # rich redraws 4 times a second (time.sleep is the fake here)
        seen.append(screen.file.getvalue())

    actions += [look, lambda: finish(store, run_id)]
    r = watch(store, run_id, "--interval", "0.1")
    assert r.exit_code == 0, r.output
    assert "last written" in seen[0] and "Ctrl-C stops watching, not the run" in seen[0]
    out = screen.file.getvalue()
    assert f"{run_id} · hanoi-2 · sim:p=0.9 · k=2" in out and "3/3" in out and f"run {run_id} solved" in out


# --------------------------------------------------------------------------- a run that has ended


@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        (("--disks", "3", "--model", "sim:p=0.9,seed=3"), "solved", 0),
        (("--disks", "4", "--model", "sim:p=0.7,seed=3", "--k", "1"), "failed", 1),
        (("--disks", "4", "--model", "sim:p=0.6,seed=3", "--k", "5", "--max-samples", "6"), "undecided", 3),
    ],
)
def test_a_finished_run_is_shown_once_with_its_exit_code(tmp_path, args, status, code):
    store = tmp_path / "s.sqlite"
    run_id = solved_run(store, *args)
    r = watch(store, run_id, "--json")
    assert r.exit_code == code
    (line,) = json_lines(r.stdout)
    assert line["status"] == status and line["final"] and not line["no_progress"]
    text = watch(store, run_id)
    assert text.exit_code == code
    lines = text.stdout.splitlines()
    assert (
        len(lines) == 2 and lines[0].startswith(f"{run_id} · hanoi-") and lines[1].startswith(f"run {run_id} {status}")
    )


def test_a_finished_run_on_a_terminal_is_one_frame(tmp_path, monkeypatch):
    store = tmp_path / "s.sqlite"
    run_id = solved_run(store, "--disks", "3", "--model", "sim:p=0.9,seed=3")
    screen = Console(file=io.StringIO(), force_terminal=True, width=110, color_system=None)
    monkeypatch.setattr(runs_watch, "is_terminal", lambda: True)
    monkeypatch.setattr(runs_watch, "out_console", lambda: screen)
    r = watch(store, run_id)
    assert r.exit_code == 0
    out = screen.file.getvalue()
    assert "7/7" in out and "votes/step" in out and "last written" not in out and out.endswith(f"run {run_id} solved\n")


def test_a_workflow_run_counts_its_nodes(tmp_path):
    store = tmp_path / "s.sqlite"
    r = cli("run", "task", str(EXAMPLES / "workflows" / "order_total.yaml"), "--model", "sim:p=0.99,seed=1",
            "--store", str(store), "--json")  # fmt: skip
    run_id = json.loads(r.stdout)["run_id"]
    shown = watch(store, run_id)
    assert shown.exit_code == 0
    assert "order_total (steps: nodes)" in shown.stdout and "step 3/3" in shown.stdout


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    store = tmp_path / "s.sqlite"
    r = watch(store, "r-nope")
    assert r.exit_code == 2 and "no run store at" in r.stderr and len(r.stderr.splitlines()) == 1
    solved_run(store, "--disks", "2", "--model", "sim:p=0.9")
    for args, message in (
        (("r-nope",), "no run 'r-nope'"),
        (("r-", "--interval", "0"), "--interval"),
        (("r-", "--interval", "x"), "--interval"),
    ):
        r = watch(store, *args)
        assert r.exit_code == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stdout == ""


def test_the_watch_reads_a_run_it_did_not_start_without_writing(tmp_path):
    """The watcher opens the store read-only: its file is unchanged after a watch."""
    store = tmp_path / "s.sqlite"
    run_id = solved_run(store, "--disks", "2", "--model", "sim:p=0.9")
    before = store.stat().st_mtime_ns
    time.sleep(0.01)
    assert watch(store, run_id).exit_code == 0
    assert store.stat().st_mtime_ns == before


def test_sigint_to_a_watching_process_exits_130_without_a_word(tmp_path):
    store = tmp_path / "s.sqlite"
    run_id = running_run(store, f"{socket.gethostname()}:{os.getpid()}")
    proc = maker("runs", "watch", run_id, "--store", str(store), "--interval", "0.1")
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("watching run")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == ""


def test_the_final_line_is_printed_once_when_the_last_read_is_due_a_line(tmp_path, reads, monkeypatch):
    """Not on a terminal, a plain line is due every 5 s: when the read that sees the run end is due
    one, that line is the final figures, and they are not printed a second time."""
    from maker_cli.cli.display import run_view

    actions, _ = reads
    clock = [1000.0]
    monkeypatch.setattr(run_view.time, "monotonic", lambda: clock[0])
    store = tmp_path / "s.sqlite"
    run_id = running_run(store, f"{socket.gethostname()}:{os.getpid()}")

    def later_it_ends() -> None:
        clock[0] += 10  # past the 5 s between two plain lines
        finish(store, run_id)

    actions.append(later_it_ends)
    r = watch(store, run_id, "--interval", "0.5")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"watching run {run_id} in ")
    assert "step 3/3" in lines[1] and lines[2] == f"run {run_id} solved" and len(lines) == 3, lines
