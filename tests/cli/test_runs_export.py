"""`maker runs export`, `delete` and `prune`: exports that csv and json read back as stored, a
constant-memory export of a 15-disk run, a Hanoi move list replayed by a checker that knows only
the rules of the game, deletes that ask, refuse and take a workflow's child runs, a run held by a
live process never deleted, prune by age, and every bad input one line with exit code 2."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.store import export
from maker_cli.store.run_store import RunStore
from maker_cli.tasks.hanoi_task import Hanoi
from maker_cli.workflows.task import WorkflowTask

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input)


def hanoi_run(store: Path, disks: int, model: str = "sim:p=1,seed=1", *extra: str) -> dict:
    r = cli("run", "hanoi", "--disks", str(disks), "--model", model, "--store", str(store), "--json", *extra)
    assert r.stdout.startswith("{"), r.output
    return json.loads(r.stdout)


def one_error_line(r) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]


def stored_ids(store: Path) -> set[str]:
    with RunStore(store, readonly=True) as s:
        return {r.id for r in s.list_runs(None)}


def rows_of(store: Path, table: str, run_id: str) -> int:
    with sqlite3.connect(store) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]


# --------------------------------------------------------------------------- the independent checker


def replay(disks: int, moves: list[str]) -> tuple[bool, str]:
    """Replay `disk,from,to` moves with the rules of the Towers of Hanoi only (no maker code): all
    disks start on peg 0, largest at the bottom; a move takes the top disk of a peg and puts it on an
    empty peg or a larger disk; solved when every disk is on peg 2. (solved, why not)."""
    pegs: list[list[int]] = [list(range(disks, 0, -1)), [], []]
    for number, line in enumerate(moves, 1):
        disk, source, target = (int(x) for x in line.split(","))
        if not (0 <= source <= 2 and 0 <= target <= 2) or source == target:
            return False, f"move {number}: no such pegs {source} -> {target}"
        if not pegs[source] or pegs[source][-1] != disk:
            return False, f"move {number}: disk {disk} is not on top of peg {source}"
        if pegs[target] and pegs[target][-1] < disk:
            return False, f"move {number}: disk {disk} onto the smaller disk {pegs[target][-1]}"
        pegs[target].append(pegs[source].pop())
    if pegs != [[], [], list(range(disks, 0, -1))]:
        return False, f"after {len(moves)} moves the pegs are {pegs}"
    return True, ""


def test_the_checker_itself_knows_the_rules():
    assert replay(2, ["1,0,1", "2,0,2", "1,1,2"]) == (True, "")
    assert not replay(2, ["1,0,1", "2,0,1"])[0]  # onto a smaller disk
    assert not replay(2, ["2,0,2"])[0]  # not on top
    assert not replay(2, ["1,0,2"])[0]  # legal, not solved


def test_a_solved_runs_moves_replay_to_the_goal_from_the_move_list_and_the_csv(tmp_path):
    store = tmp_path / "s.sqlite"
    out = hanoi_run(store, 7, "sim:p=0.9,seed=4", "--k", "4")
    assert out["status"] == "solved"
    r = cli("runs", "export", out["run_id"], "--moves", "--store", str(store))
    assert r.exit_code == 0, r.output
    moves = r.stdout.splitlines()
    disks = json.loads(cli("runs", "show", out["run_id"], "--store", str(store), "--json").stdout)["config"]["task"]
    assert disks["disks"] == 7 and len(moves) == 2**7 - 1
    assert replay(7, moves) == (True, "")
    table = list(csv.DictReader(io.StringIO(cli("runs", "export", out["run_id"], "--format", "csv",
                                                "--store", str(store)).stdout)))  # fmt: skip
    assert replay(7, [row["move"] for row in table]) == (True, "")


def test_a_failed_runs_moves_do_not_replay_to_the_goal(tmp_path):
    store = tmp_path / "s.sqlite"
    out = hanoi_run(store, 6, "sim:p=0.7,seed=3", "--k", "1")
    assert out["status"] == "failed"
    moves = cli("runs", "export", out["run_id"], "--moves", "--store", str(store)).stdout.splitlines()
    assert len(moves) == out["steps_done"] < 63
    solved, why = replay(6, moves)
    assert not solved and why


# --------------------------------------------------------------------------- round trips


@pytest.fixture
def contested(tmp_path) -> tuple[Path, str]:
    """A 4-disk run with contested steps and every raw sample kept."""
    store = tmp_path / "s.sqlite"
    out = hanoi_run(store, 4, "sim:p=0.85,seed=2", "--k", "3", "--log-samples", "all")
    assert out["status"] == "solved" and out["samples"] > 15
    return store, out["run_id"]


def test_jsonl_reads_back_as_stored(contested):
    store, run_id = contested
    r = cli("runs", "export", run_id, "--store", str(store))
    assert r.exit_code == 0 and r.stderr == "", r.output
    records = [json.loads(line) for line in r.stdout.splitlines()]
    with RunStore(store, readonly=True) as s:
        steps = list(s.iter_steps(run_id))
    assert len(records) == len(steps) == 15
    assert all(list(rec) == list(export.columns("hanoi")) for rec in records)
    for rec, step in zip(records, steps, strict=True):
        assert rec["idx"] == step.idx and rec["input_state"] == step.input_state
        assert rec["winner_key"] == step.winner_key and rec["move"] == step.winner_key.split("|")[0]
        assert rec["tallies"] == dict(step.tallies) and rec["samples"] == step.samples
        assert rec["valid"] == step.valid and rec["red_flagged"] == step.red_flagged and rec["rounds"] == step.rounds
        assert rec["cost_usd"] == step.cost_usd and rec["latency_s"] == step.latency_s
        assert rec["correct"] is True and rec["decided"] is True
    assert any(len(rec["tallies"]) > 1 for rec in records)  # contested steps keep every answer's votes
    assert (
        sum(rec["samples"] for rec in records)
        == json.loads(cli("runs", "show", run_id, "--store", str(store), "--json").stdout)["samples"]
    )


def test_csv_reads_back_as_stored(contested):
    store, run_id = contested
    r = cli("runs", "export", run_id[:12], "--format", "csv", "--store", str(store))  # a unique prefix
    assert r.exit_code == 0, r.output
    reader = csv.DictReader(io.StringIO(r.stdout))
    rows = list(reader)
    assert tuple(reader.fieldnames) == export.columns("hanoi")
    with RunStore(store, readonly=True) as s:
        steps = list(s.iter_steps(run_id))
    assert len(rows) == len(steps) == 15
    for row, step in zip(rows, steps, strict=True):
        assert int(row["idx"]) == step.idx and row["winner_key"] == step.winner_key
        assert json.loads(row["tallies"]) == dict(step.tallies)
        assert int(row["samples"]) == step.samples and float(row["cost_usd"]) == step.cost_usd
        assert float(row["latency_s"]) == step.latency_s
        assert row["correct"] == "true" and row["decided"] == "true"
        assert json.loads(row["red_flag_reasons"]) == dict(step.red_flag_reasons)


def test_export_to_a_file_prints_one_line_or_a_json_summary(contested, tmp_path):
    store, run_id = contested
    target = tmp_path / "out" / "steps.jsonl"
    target.parent.mkdir()
    r = cli("runs", "export", run_id, "-o", str(target), "--store", str(store))
    assert r.exit_code == 0 and r.stdout.strip() == f"wrote 15 steps of run {run_id} to {target} (jsonl)", r.output
    assert len(target.read_text(encoding="utf-8").splitlines()) == 15
    r = cli("runs", "export", run_id, "-o", str(target), "--format", "csv", "--json", "--store", str(store))
    assert json.loads(r.stdout) == {
        "run_id": run_id, "kind": "hanoi", "format": "csv", "rows": 15, "run_status": "solved", "file": str(target)
    }  # fmt: skip
    assert len(target.read_text(encoding="utf-8").splitlines()) == 16  # replaced whole: header and 15 rows
    assert [p.name for p in target.parent.iterdir()] == ["steps.jsonl"]  # no partial file left


def test_a_15_disk_run_exports_every_step_streaming(tmp_path):
    store = tmp_path / "s.sqlite"
    out = hanoi_run(store, 15)
    assert out["status"] == "solved" and out["steps_done"] == 32_767
    for fmt, lines in (("jsonl", 32_767), ("csv", 32_768)):
        target = tmp_path / f"steps.{fmt}"
        r = cli("runs", "export", out["run_id"], "--format", fmt, "-o", str(target), "--store", str(store), "--json")
        assert r.exit_code == 0 and json.loads(r.stdout)["rows"] == 32_767, r.output
        with target.open(encoding="utf-8") as f:
            assert sum(1 for _ in f) == lines
    moves = tmp_path / "moves.txt"
    cli("runs", "export", out["run_id"], "--moves", "-o", str(moves), "--store", str(store))
    assert replay(15, moves.read_text(encoding="utf-8").splitlines()) == (True, "")


def test_a_workflow_exports_its_nodes(tmp_path):
    store, run_id, child = workflow_run(tmp_path)
    records = [json.loads(line) for line in cli("runs", "export", run_id, "--store", str(store)).stdout.splitlines()]
    assert [(r["node"], r["child_run"]) for r in records] == [("first", None), ("plus", child)]
    assert list(records[0]) == list(export.columns("workflow")) and "input_state" not in records[0]
    assert records[0]["winner_key"] == "987" and json.loads(records[1]["winner_value"])["digits"] == "1032"
    rows = list(csv.DictReader(io.StringIO(cli("runs", "export", run_id, "--format", "csv",
                                               "--store", str(store)).stdout)))  # fmt: skip
    assert [(r["node"], r["child_run"]) for r in rows] == [("first", ""), ("plus", child)]


def test_the_kinds_are_the_tasks_kinds():
    assert (Hanoi.kind, WorkflowTask.kind) == (export.HANOI_KIND, export.WORKFLOW_KIND)


def test_exported_text_is_data_as_is(tmp_path):
    store = tmp_path / "s.sqlite"
    with RunStore(store) as s:
        rid = s.create_run("sequence", "odd\x1b[31m", None, {}, 1)
        from maker_cli.store.rows import StepRow

        s.write_batch(rid, [StepRow(0, "[x]", "\x1b[2Jans", "line1\nline2", True, {"\x1b[2Jans": 2}, 2, 2)])
    record = json.loads(cli("runs", "export", rid, "--store", str(store)).stdout)
    assert record["winner_key"] == "\x1b[2Jans" and record["winner_value"] == "line1\nline2"
    row = next(csv.DictReader(io.StringIO(cli("runs", "export", rid, "--format", "csv", "--store", str(store)).stdout)))
    assert row["winner_value"] == "line1\nline2"


# --------------------------------------------------------------------------- delete


def workflow_run(tmp_path: Path) -> tuple[Path, str, str]:
    """A solved workflow run whose sequence node `plus` has its own (child) run."""
    shutil.copy(ROOT / "examples" / "sequential" / "addition.yaml", tmp_path / "addition.yaml")
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "kind: workflow\nname: test\nnodes:\n"
        "  - id: first\n    user: 'Give a number. Answer: <n>'\n"
        '    answer: {regex: "Answer: *(?P<answer>\\\\S+)"}\n'
        "    expected: '987'\n    sim_response: 'Answer: {{answer}}'\n"
        "  - id: plus\n    depends_on: [first]\n    uses: addition.yaml\n"
        "    inputs: {a: '{{nodes.first.answer}}', b: '45'}\n"
        "compose: {function: identity}\n",
        encoding="utf-8",
    )
    store = tmp_path / "wf.sqlite"
    r = cli("run", "task", str(spec), "--model", "sim:p=0.95", "--steps-of", "plus=3", "--store", str(store), "--json")
    out = json.loads(r.stdout)
    assert out["status"] == "solved", r.output
    child = next(n["child_run"] for n in out["nodes"] if n["id"] == "plus")
    return store, out["run_id"], child


def test_delete_without_a_terminal_needs_yes(contested):
    store, run_id = contested
    r = cli("runs", "delete", run_id, "--store", str(store))
    assert "add --yes" in one_error_line(r) and r.stdout == ""
    assert run_id in stored_ids(store)


def test_delete_asks_on_a_terminal(contested, monkeypatch):
    store, run_id = contested
    monkeypatch.setattr("maker_cli.cli.runs_delete.can_ask", lambda: True)
    r = cli("runs", "delete", run_id, "--store", str(store), input="n\n")
    assert r.exit_code == 1 and "Delete 1 run with their steps and samples?" in r.stdout
    assert "not confirmed; nothing deleted" in r.stderr and run_id in stored_ids(store)
    r = cli("runs", "delete", run_id, "--store", str(store), input="y\n")
    assert r.exit_code == 0 and f"deleted run {run_id}" in r.stdout, r.output
    assert stored_ids(store) == set()


def test_delete_yes_takes_the_steps_and_samples(contested):
    store, run_id = contested
    other = hanoi_run(store, 2)["run_id"]
    assert rows_of(store, "steps", run_id) == 15 and rows_of(store, "samples", run_id) > 15
    r = cli("runs", "delete", run_id, "--yes", "--store", str(store))
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == f"deleted run {run_id}", r.output
    assert rows_of(store, "steps", run_id) == rows_of(store, "samples", run_id) == 0
    assert stored_ids(store) == {other} and rows_of(store, "steps", other) == 3
    again = cli("runs", "delete", run_id, "--yes", "--store", str(store))
    assert "no run" in one_error_line(again)


def test_delete_json_needs_yes_and_lists_what_went(contested):
    store, run_id = contested
    r = cli("runs", "delete", run_id, "--json", "--store", str(store))
    assert "add --yes" in one_error_line(r) and r.stdout == ""
    r = cli("runs", "delete", run_id, "--json", "--yes", "--store", str(store))
    deleted = json.loads(r.stdout)["deleted"]
    assert [(d["id"], d["status"], d["child_of"]) for d in deleted] == [(run_id, "solved", None)]


def test_a_workflow_run_takes_its_child_runs_and_a_child_alone_is_refused(tmp_path):
    store, run_id, child = workflow_run(tmp_path)
    r = cli("runs", "delete", child, "--yes", "--store", str(store))
    assert f"node 'plus' of workflow run {run_id}" in one_error_line(r)
    assert stored_ids(store) == {run_id, child}
    r = cli("runs", "delete", run_id, "--yes", "--store", str(store))
    assert r.exit_code == 0 and f"deleted run {run_id} and its child run {child}" in r.stdout, r.output
    assert f"child run of {run_id} (node plus)" in r.stdout
    assert stored_ids(store) == set() and rows_of(store, "steps", child) == 0


@pytest.fixture
def live_holder():
    """Another process on this host, alive while the test runs: the owner of a lease."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield f"{socket.gethostname()}:{proc.pid}"
    proc.kill()
    proc.wait()


def test_delete_refuses_a_run_a_live_process_holds(contested, live_holder):
    store, run_id = contested
    with RunStore(store) as s:
        s.claim(run_id, owner=live_holder)
    r = cli("runs", "delete", run_id, "--yes", "--store", str(store))
    line = one_error_line(r)
    assert f"held by the live process {live_holder}" in line and "nothing deleted" in line
    assert run_id in stored_ids(store) and rows_of(store, "steps", run_id) == 15


def test_delete_refuses_a_workflow_whose_child_run_a_live_process_holds(tmp_path, live_holder):
    store, run_id, child = workflow_run(tmp_path)
    with RunStore(store) as s:
        s.claim(child, owner=live_holder)
    r = cli("runs", "delete", run_id, "--yes", "--store", str(store))
    assert f"run {child} (child run of {run_id}) is held by the live process" in one_error_line(r)
    assert stored_ids(store) == {run_id, child}


def test_a_lease_whose_process_has_gone_does_not_stop_a_delete(contested):
    store, run_id = contested
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with RunStore(store) as s:
        s.claim(run_id, owner=f"{socket.gethostname()}:{gone.pid}")
    assert cli("runs", "delete", run_id, "--yes", "--store", str(store)).exit_code == 0
    assert stored_ids(store) == set()


# --------------------------------------------------------------------------- prune


def age(store: Path, run_id: str, days: float) -> None:
    """As if the run was last written `days` ago."""
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE runs SET updated_at = ?, created_at = ? WHERE id = ?", (when, when, run_id))


@pytest.fixture
def aged(tmp_path) -> tuple[Path, dict[str, str]]:
    """Runs last written 40 days ago (solved and failed), 2 days ago, just now, and a running one."""
    store = tmp_path / "s.sqlite"
    runs = {
        "old": hanoi_run(store, 2)["run_id"],
        "old_failed": hanoi_run(store, 6, "sim:p=0.7,seed=3", "--k", "1")["run_id"],
        "recent": hanoi_run(store, 2)["run_id"],
        "new": hanoi_run(store, 2)["run_id"],
    }
    with RunStore(store) as s:
        runs["running"] = s.create_run("hanoi", "hanoi-2", "sim", {}, 3)  # never ended, no owner
    for name, days in (("old", 40), ("old_failed", 40), ("recent", 2), ("running", 90)):
        age(store, runs[name], days)
    return store, runs


def test_prune_dry_run_lists_and_deletes_nothing(aged):
    store, runs = aged
    r = cli("runs", "prune", "--older-than", "30d", "--dry-run", "--store", str(store))
    assert r.exit_code == 0, r.output
    assert "would delete: 2" in r.stdout and runs["old"] in r.stdout and runs["old_failed"] in r.stdout
    assert runs["recent"] not in r.stdout and runs["running"] not in r.stdout
    assert stored_ids(store) == set(runs.values())
    data = json.loads(cli("runs", "prune", "--older-than", "24h", "--dry-run", "--json", "--store", str(store)).stdout)
    assert data["dry_run"] and {d["id"] for d in data["runs"]} == {runs["old"], runs["old_failed"], runs["recent"]}
    assert stored_ids(store) == set(runs.values())


@pytest.mark.parametrize(
    ("duration", "status", "gone"),
    [
        ("30d", None, {"old", "old_failed"}),
        ("30d", "failed", {"old_failed"}),
        ("720h", "solved", {"old"}),
        ("2880m", None, {"old", "old_failed", "recent"}),
        ("13w", None, set()),
        ("60d", "running", {"running"}),  # asked for by status: a running run nobody holds
    ],
)
def test_prune_deletes_by_age_and_status(aged, duration, status, gone):
    store, runs = aged
    args = ["runs", "prune", "--older-than", duration, "--yes", "--json", "--store", str(store)]
    r = cli(*args, *(["--status", status] if status else []))
    assert r.exit_code == 0, r.output
    assert {d["id"] for d in json.loads(r.stdout)["runs"]} == {runs[name] for name in gone}
    assert stored_ids(store) == {runs[name] for name in set(runs) - gone}


def test_prune_needs_yes_without_a_terminal_and_vacuums_when_asked(aged):
    store, runs = aged
    r = cli("runs", "prune", "--older-than", "30d", "--store", str(store))
    assert "add --yes" in one_error_line(r) and stored_ids(store) == set(runs.values())
    r = cli("runs", "prune", "--older-than", "30d", "--yes", "--vacuum", "--store", str(store))
    assert r.exit_code == 0 and "deleted 2 runs" in r.stdout and "store compacted:" in r.stdout, r.output
    assert stored_ids(store) == {runs["recent"], runs["new"], runs["running"]}
    data = json.loads(cli("runs", "prune", "--older-than", "1d", "--yes", "--vacuum", "--json",
                          "--store", str(store)).stdout)  # fmt: skip
    assert [d["id"] for d in data["runs"]] == [runs["recent"]] and data["vacuumed"]["bytes_after"] > 0


def test_prune_never_deletes_a_run_a_live_process_holds(aged, live_holder):
    store, runs = aged
    with RunStore(store) as s:
        s.claim(runs["old"], owner=live_holder)
    age(store, runs["old"], 40)
    r = cli("runs", "prune", "--older-than", "30d", "--yes", "--store", str(store))
    assert r.exit_code == 0 and f"skipped {runs['old']}: held by the live process {live_holder}" in r.stdout
    assert runs["old"] in stored_ids(store) and runs["old_failed"] not in stored_ids(store)


def test_prune_takes_a_workflows_child_runs_with_it_never_alone(tmp_path):
    store, run_id, child = workflow_run(tmp_path)
    age(store, child, 40)  # the child alone is old: it stays with its workflow run
    data = json.loads(cli("runs", "prune", "--older-than", "30d", "--dry-run", "--json", "--store", str(store)).stdout)
    assert data["runs"] == []
    age(store, run_id, 40)
    data = json.loads(cli("runs", "prune", "--older-than", "30d", "--yes", "--json", "--store", str(store)).stdout)
    assert [(d["id"], d["child_of"]) for d in data["runs"]] == [(run_id, None), (child, run_id)]
    assert stored_ids(store) == set()


def test_prune_without_a_store_has_nothing_to_do(tmp_path):
    r = cli("runs", "prune", "--older-than", "30d", "--store", str(tmp_path / "none.sqlite"))
    assert r.exit_code == 0 and "nothing to prune" in r.stdout
    assert not (tmp_path / "none.sqlite").exists()


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("duration", ["30", "d", "3x", "-1d", "", "1.5d", "30 days", "99999999999999d"])
def test_bad_durations_are_one_line_exit_2(aged, duration):
    store, runs = aged
    r = cli("runs", "prune", "--older-than", duration, "--yes", "--store", str(store))
    assert "--older-than" in one_error_line(r) and r.stdout == ""
    assert stored_ids(store) == set(runs.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "RUN", "--format", "xml"], "--format must be one of jsonl, csv"),
        (["export", "RUN", "--format", "csv", "--moves"], "drop --format"),
        (["export", "RUN", "--json"], "add -o FILE"),
        (["export", "r-nope"], "no run 'r-nope'"),
        (["export", "r-nope", "-o", "/nonexistent/dir/x.jsonl"], "no run 'r-nope'"),
        (["export", "RUN", "-o", "/nonexistent/dir/x.jsonl"], "cannot write /nonexistent/dir/x.jsonl"),
        (["delete", "r-nope", "--yes"], "no run 'r-nope'"),
        (["delete", "--yes"], "Missing argument"),
        (["prune"], "Missing option '--older-than'"),
        (["prune", "--older-than", "1d", "--status", "done"], "--status must be one of"),
        (["export", "RUN", "--bogus"], "No such option: --bogus"),
    ],
)
def test_bad_inputs_are_one_line_exit_2(contested, args, message):
    store, run_id = contested
    r = cli("runs", *[run_id if a == "RUN" else a for a in args], "--store", str(store))
    assert message in one_error_line(r) and r.stdout == ""
    assert stored_ids(store) == {run_id}


def test_moves_are_for_hanoi_runs(tmp_path):
    store, run_id, _ = workflow_run(tmp_path)
    r = cli("runs", "export", run_id, "--moves", "--store", str(store))
    assert f"--moves is for Hanoi runs; run {run_id} is a workflow run" in one_error_line(r)


def test_export_and_delete_without_a_store_are_one_line(tmp_path):
    for args in (["export", "r-x"], ["delete", "r-x", "--yes"]):
        r = cli("runs", *args, "--store", str(tmp_path / "none.sqlite"))
        assert "no run store at" in one_error_line(r)
    assert not (tmp_path / "none.sqlite").exists()
