"""`maker run hanoi` and `maker runs`: end to end, failures, budget, resume after SIGKILL, Ctrl-C,
the HTTP path with faults, and failure rates against p_full."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from run_helpers import wait_for_progress
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.core import maths
from maker_cli.store.run_store import RunStore


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def run_json(store: Path, *args: str) -> tuple[int, dict]:
    r = cli("run", "hanoi", "--store", str(store), "--json", *args)
    assert r.stdout.strip().startswith("{"), r.output
    return r.exit_code, json.loads(r.stdout)


def test_solves_with_the_simulated_model_and_stores_every_step(tmp_path):
    store = tmp_path / "runs.sqlite"
    code, out = run_json(store, "--disks", "7", "--model", "sim:p=0.99,invalid=0.05,seed=1")
    assert code == 0 and out["status"] == "solved"
    assert out["steps_done"] == out["steps_total"] == 127
    assert out["errors"] == 0 and out["first_error_step"] is None
    assert out["samples"] == out["valid"] + out["red_flagged"] and out["red_flagged"] > 0
    for key in (
        "run_id",
        "disks",
        "steps_total",
        "steps_done",
        "errors",
        "first_error_step",
        "samples",
        "red_flagged",
        "retries",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "wall_s",
        "status",
    ):
        assert key in out
    with RunStore(store) as s:
        rec = s.get_run(out["run_id"])
        assert rec.status == "solved" and s.count_steps(rec.id) == 127
        assert all(st.correct for st in s.iter_steps(rec.id))
        assert rec.samples == out["samples"]
    listed = json.loads(cli("runs", "list", "--store", str(store), "--json").stdout)
    assert listed["runs"][0]["id"] == out["run_id"]
    shown = json.loads(cli("runs", "show", out["run_id"], "--store", str(store), "--json", "--steps", "5").stdout)
    assert shown["status"] == "solved" and shown["config"]["job"]["k"] == out["k"]


def test_k_min_comes_from_p_and_target(tmp_path):
    code, out = run_json(tmp_path / "s.sqlite", "--disks", "10", "--model", "sim:p=0.99,seed=1", "--p", "0.9")
    assert out["k"] == maths.k_min(0.9, 1023, 0.95)


def test_stops_at_the_first_wrong_step_or_keeps_going(tmp_path):
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "6", "--model", "sim:p=0.7,seed=3", "--k", "1")
    assert code == 1 and out["status"] == "failed"
    assert out["errors"] == 1 and out["steps_done"] == out["first_error_step"] + 1
    assert out["failed_step"]["step"] == out["first_error_step"]
    code, out = run_json(store, "--disks", "6", "--model", "sim:p=0.7,seed=3", "--k", "1", "--keep-going")
    assert out["status"] == "failed" and out["steps_done"] == 63 and out["errors"] >= 1


def test_sample_cap_ends_undecided(tmp_path):
    code, out = run_json(
        tmp_path / "s.sqlite",
        "--disks",
        "5",
        "--model",
        "sim:p=0.6,errors=spread,seed=1",
        "--k",
        "5",
        "--max-samples",
        "5",
    )
    assert code == 3 and out["status"] == "undecided"
    assert out["message"].startswith("step 0 undecided after 5 samples (the cap, max_samples 5)")


def test_the_red_flag_limit_says_it_ended_the_step(tmp_path, monkeypatch):
    """A step stopped at max_red_flags once read "428 samples, every one red-flagged or nearly" when
    203 of them were: the message names the limit and counts what reached it."""
    import re

    monkeypatch.setenv("MAKER_MAX_RED_FLAGS", "200")
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "10", "--model", "sim:p=0.6,invalid=0.5")
    assert code == 3 and out["status"] == "undecided"
    assert out["settings"]["max_red_flags"] == 200 and out["settings_sources"]["max_red_flags"] == "env"
    found = re.fullmatch(
        r"step (\d+): stopped at the red-flag limit: (\d+) red-flagged samples "
        r"\(max_red_flags 200; (\w+ \d+(?:, \w+ \d+)*)\) among (\d+)",
        out["message"],
    )
    assert found, out["message"]
    step, flagged, reasons, samples = int(found[1]), int(found[2]), found[3], int(found[4])
    assert step == out["steps_done"] and 200 <= flagged < 200 + out["k"] and flagged < samples
    assert sum(int(x.split()[1]) for x in reasons.split(", ")) == flagged
    with RunStore(store) as s:
        assert s.get_run(out["run_id"]).message == out["message"]


def test_a_run_reports_the_red_flag_limit_it_applies(tmp_path):
    """settings.max_red_flags was null when the default rule applied: it is the value the engine
    used, maths.default_max_red_flags(k, valid rate), from layer "default"; stored, so a resume
    keeps it."""
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "4", "--model", "sim:p=0.9,invalid=0.2,seed=2")
    assert code == 0 and out["settings"]["valid_rate"] == 0.8
    assert out["settings"]["max_red_flags"] == maths.default_max_red_flags(out["k"], 0.8)
    assert out["settings_sources"]["max_red_flags"] == "default"
    shown = json.loads(cli("runs", "show", out["run_id"], "--store", str(store), "--json").stdout)
    assert shown["config"]["job"]["max_red_flags"] == out["settings"]["max_red_flags"]
    code, out = run_json(store, "--disks", "4", "--model", "sim:p=0.9,seed=2", "--k", "3")
    assert out["settings"]["max_red_flags"] == maths.default_max_red_flags(3) == 230


def test_budget_guard_refuses_then_stops_cleanly_and_resumes(tmp_path):
    store = tmp_path / "s.sqlite"
    model = "sim:p=0.99,seed=4"
    prices = ("--price-in", "100", "--price-out", "100")  # dear, so a small job has a visible cost
    r = cli(
        "run",
        "hanoi",
        "--store",
        str(store),
        "--disks",
        "8",
        "--model",
        model,
        "--k",
        "2",
        *prices,
        "--max-cost",
        "0.5",
    )
    assert r.exit_code == 1 and "exceeds --max-cost" in r.output
    code, out = run_json(store, "--disks", "8", "--model", model, "--k", "2", *prices, "--max-cost", "0.5", "--yes")
    assert code == 4 and out["status"] == "budget_exhausted"
    assert out["cost_usd"] >= 0.5 and 0 < out["steps_done"] < 255
    code, done = run_json(store, "--resume", out["run_id"], "--max-cost", "1000")
    assert code == 0 and done["status"] == "solved" and done["steps_done"] == 255
    assert done["samples"] > out["samples"] and done["resumed"] is True
    with RunStore(store) as s:
        assert s.count_steps(out["run_id"]) == 255


def test_resume_unknown_run_is_a_clear_error(tmp_path):
    store = tmp_path / "s.sqlite"
    run_json(store, "--disks", "3", "--model", "sim:p=0.99")
    r = cli("run", "hanoi", "--store", str(store), "--resume", "r-nope")
    assert r.exit_code == 2 and "maker runs list" in r.output and "Traceback" not in r.output


def _spawn(store: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "maker_cli", "run", "hanoi", "--store", str(store), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def test_sigkill_mid_run_then_resume_stores_every_step_once(tmp_path):
    store = tmp_path / "s.sqlite"
    args = ("--disks", "11", "--model", "sim:p=0.995,seed=9,latency_ms=1", "--k", "2", "--concurrency", "4")
    proc = _spawn(store, *args)
    run_id = wait_for_progress(store, proc, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with RunStore(store) as s:
        killed = s.get_run(run_id)
        # stored as running, shown as interrupted: the process that held it is gone
        assert killed.status == "interrupted" and "stopped without ending it" in killed.message
        assert 0 < killed.steps_done < 2047 and s.list_runs(status="interrupted")[0].id == run_id
    listed = CliRunner().invoke(app, ["runs", "list", "--store", str(store), "--json"])
    assert json.loads(listed.stdout)["runs"][0]["status"] == "interrupted"
    with RunStore(store) as s:
        assert s.count_steps(run_id) == killed.steps_done
    code, out = run_json(store, "--resume", run_id)
    assert code == 0 and out["status"] == "solved", out
    with RunStore(store) as s:
        assert s.count_steps(run_id) == 2047
        idx = [st.idx for st in s.iter_steps(run_id)]
        assert idx == list(range(2047))
        rec = s.get_run(run_id)
        assert rec.steps_done == 2047 and rec.samples >= 2 * 2047


def test_ctrl_c_commits_and_prints_the_resume_command(tmp_path):
    store = tmp_path / "s.sqlite"
    proc = _spawn(store, "--disks", "12", "--model", "sim:p=0.995,seed=2,latency_ms=1", "--k", "2")
    run_id = wait_for_progress(store, proc, 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert f"--resume {run_id}" in err + out
    assert "Traceback" not in err
    with RunStore(store) as s:
        rec = s.get_run(run_id)
        assert rec.status == "interrupted"
        assert s.count_steps(run_id) == rec.steps_done > 0


def test_over_http_with_faults(tmp_path):
    from maker_cli.testing.fake_server import FakeOpenAIServer
    from maker_cli.testing.sim_responder import sim_responder

    store = tmp_path / "s.sqlite"
    with FakeOpenAIServer(
        responder=sim_responder("sim:p=0.99,invalid=0.05,seed=5"),
        fault_rate=0.1,
        faults=("429", "500", "503", "drop"),
        seed=1,
    ) as srv:
        code, out = run_json(
            store,
            "--disks",
            "4",
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--k",
            "2",
            "--price-in",
            "1",
            "--price-out",
            "2",
            "--timeout",
            "5",
        )
        assert code == 0 and out["status"] == "solved", out
        assert out["retries"] > 0 and out["steps_done"] == 15
        assert out["samples"] == srv.choices  # every choice served is counted once, retries never vote
        assert out["cost_usd"] > 0


# --- what the review found: runaway steps, unknown prices, errors, resume rules, leases ----------


def test_a_model_that_never_answers_in_format_stops(tmp_path):
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "3", "--model", "sim:p=0.99,invalid=1", "--k", "2")
    assert code == 3 and out["status"] == "undecided" and out["valid"] == 0
    code, out = run_json(
        store,
        "--disks",
        "3",
        "--model",
        "sim:p=0.99,invalid=1",
        "--k",
        "2",
        "--price-in",
        "1",
        "--price-out",
        "1",
        "--max-cost",
        "0.01",
        "--yes",
    )
    assert code == 4 and out["status"] == "budget_exhausted"
    assert 0.01 <= out["cost_usd"] < 0.02  # stopped inside the step, not after it


def test_max_cost_needs_known_prices(tmp_path):
    from maker_cli.testing.fake_server import FakeOpenAIServer
    from maker_cli.testing.sim_responder import sim_responder

    with FakeOpenAIServer(responder=sim_responder("sim:p=0.99")) as srv:
        r = cli(
            "run",
            "hanoi",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--disks",
            "3",
            "--model",
            "openai/unpriced",
            "--api-base",
            srv.base_url,
            "--k",
            "1",
            "--max-cost",
            "1",
        )
        assert r.exit_code == 2 and "--price-in" in r.output and srv.requests == 0


def test_a_failing_provider_leaves_a_resumable_error_run(tmp_path):
    from maker_cli.testing.fake_server import FakeOpenAIServer
    from maker_cli.testing.sim_responder import sim_responder

    store = tmp_path / "s.sqlite"
    with FakeOpenAIServer(
        responder=sim_responder("sim:p=0.999,seed=2"), fault_rate=0.01, faults=("401",), seed=3
    ) as srv:
        r = cli(
            "run",
            "hanoi",
            "--store",
            str(store),
            "--disks",
            "8",
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--k",
            "1",
            "--json",
        )
        assert r.exit_code == 1 and "401" in r.output and "--resume" in r.output
        report = json.loads(r.stdout)  # --json still prints its one object
        assert report["status"] == "error" and "401" in report["error"]
    with RunStore(store) as s:
        rec = s.list_runs(1)[0]
        assert rec.status == "error" and "401" in (rec.message or "")
        assert s.count_steps(rec.id) == rec.steps_done == report["steps_done"] > 0  # decided steps were kept


def test_resume_rules(tmp_path):
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "6", "--model", "sim:p=0.7,seed=3", "--k", "1")
    assert out["status"] == "failed"
    r = cli("run", "hanoi", "--store", str(store), "--resume", out["run_id"])
    assert r.exit_code == 2 and "--keep-going" in r.output
    r = cli("run", "hanoi", "--store", str(store), "--resume", out["run_id"], "--k", "5")
    assert r.exit_code == 2 and "drop --k" in r.output
    assert r.stdout == ""  # refused before the plan and the estimate are shown
    code, more = run_json(store, "--resume", out["run_id"], "--keep-going")
    assert more["steps_done"] == 63 and more["first_error_step"] == out["first_error_step"]


def test_a_resumed_run_shows_the_estimate_from_its_own_p(tmp_path):
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "4", "--model", "sim:p=0.99", "--max-cost", "0")
    assert code == 4 and out["status"] == "budget_exhausted"
    r = cli("run", "hanoi", "--store", str(store), "--resume", out["run_id"], "--max-cost", "1")
    assert r.exit_code == 0, r.output
    assert "k = 2 (k_min for p=0.99, target=0.95 over 15 steps)" in r.stdout
    assert "estimate (the whole job, from its start): P(all steps right) = 0.9985" in r.stdout
    assert "p unknown" not in r.stdout
    again = cli("run", "hanoi", "--store", str(store), "--resume", out["run_id"])
    assert again.exit_code == 2 and again.stdout == "", again.output  # refused before anything is shown
    assert again.stderr.strip() == f"error: run {out['run_id']} is already solved; nothing to resume"


def test_a_run_worked_on_by_a_live_process_is_not_resumed_twice(tmp_path):
    import socket

    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "6", "--model", "sim:p=0.99", "--k", "2", "--max-cost", "0", "--yes")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with RunStore(store) as s:
            s.claim(out["run_id"], owner=f"{socket.gethostname()}:{holder.pid}")
        r = cli("run", "hanoi", "--store", str(store), "--resume", out["run_id"])
        assert r.exit_code == 2 and "being worked on" in r.output
    finally:
        holder.kill()
        holder.wait()
    code, done = run_json(store, "--resume", out["run_id"], "--max-cost", "100")  # the holder is gone
    assert done["status"] == "solved"


def test_ctrl_c_with_json_still_prints_one_object(tmp_path):
    store = tmp_path / "s.sqlite"
    proc = _spawn(store, "--disks", "12", "--model", "sim:p=0.995,seed=2,latency_ms=1", "--k", "2", "--json")
    wait_for_progress(store, proc, 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    report = json.loads(out)
    assert report["status"] == "interrupted" and report["steps_done"] > 0


def test_runs_show_audits_a_steps_raw_samples(tmp_path):
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "5", "--model", "sim:p=0.95,invalid=0.2,seed=6", "--k", "2")
    with RunStore(store) as s:
        logged = s.sampled_steps(out["run_id"])  # contested or red-flagged steps only (the default)
        assert logged and len(logged) < 31
    shown = json.loads(
        cli("runs", "show", out["run_id"], "--store", str(store), "--step", str(logged[0]), "--json").stdout
    )
    samples = shown["samples_of_step"]
    assert samples and all("text" in x for x in samples)
    assert any(x["red_flag"] for x in samples) or len({x["answer"] for x in samples}) > 1
    text = cli("runs", "show", out["run_id"], "--store", str(store), "--step", str(logged[0])).stdout
    assert "sample 1" in text and "move = [" in text


def test_a_run_that_stops_says_why_without_json(tmp_path):
    """`maker run` (no --json) printed the status and the resume hint but not why the run stopped."""
    r = cli(
        "run",
        "hanoi",
        "--disks",
        "4",
        "--model",
        "sim:p=0.6,seed=3",
        "--k",
        "5",
        "--max-samples",
        "6",
        "--store",
        str(tmp_path / "s.sqlite"),
    )
    assert r.exit_code == 3, r.output
    # 5 samples in the first round; with 1 left under the cap no answer can reach a lead of 5
    assert "why: step 0 undecided after 5 samples: no answer could win within the cap (max_samples 6)" in r.stdout
    assert "stopped early (loss of hope)" in r.stdout
    assert "resume with: maker run hanoi --resume" in r.stdout


def test_a_sample_cap_below_k_is_refused_before_the_run_is_stored(tmp_path):
    """--max-samples below k (or, with --adaptive-k, below the floor) could never decide a step: one
    line, exit 2, and no run in the store (it was stored, exited 3 and could not be resumed)."""
    store = tmp_path / "s.sqlite"
    for extra, what in ((["--k", "3"], "k = 3"), (["--adaptive-k"], "the --k-min-floor 2")):
        r = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.99", "--max-samples", "1", *extra, "--store", str(store))  # fmt: skip
        assert r.exit_code == 2 and r.stdout == "", r.output
        assert (
            r.stderr.strip()
            == f"error: --max-samples 1 (set by the flag) is below {what}: no step could ever be decided"
        )
    assert not store.exists() or RunStore(store).list_runs() == []
    ok = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.99", "--max-samples", "3", "--k", "3", "--store", str(store))  # fmt: skip
    assert ok.exit_code in (0, 3), ok.output


def test_keep_going_counts_wrong_decisions_not_the_distance_from_the_path(tmp_path):
    """Past a wrong step each step is judged by the strategy from the state it was asked from: a
    k = 1 run at p = 0.8 counts about a fifth of its steps wrong, not every step after the first
    (it reported 63 of 63), and a right step after a wrong one is right."""
    from maker_cli.tasks import hanoi

    code, out = run_json(tmp_path / "s.sqlite", "--disks", "6", "--model", "sim:p=0.8,seed=2", "--k", "1", "--keep-going", "--log-samples", "none")  # fmt: skip
    assert out["status"] == "failed" and out["steps_done"] == 63
    assert 0 < out["errors"] < 40, out["errors"]
    with RunStore(tmp_path / "s.sqlite") as s:
        steps = s.get_steps(out["run_id"], 0, None)
    assert sum(st.correct is False for st in steps) == out["errors"]
    after = [st for st in steps if st.idx > out["first_error_step"]]
    assert any(st.correct for st in after)  # judged from where the run was, not from the path
    # on the path the strategy is the optimal solution: every step of a solved run is right
    assert all(
        hanoi.verify(5, i, hanoi.optimal_move(5, i), hanoi.optimal_state(5, i + 1), state=hanoi.optimal_state(5, i),
                     previous=hanoi.optimal_move(5, i - 1) if i else None)
        for i in range(31)
    )  # fmt: skip
    assert not hanoi.verify(5, 3, (1, 0, 1), hanoi.optimal_state(5, 4), state=((5, 4, 3, 2), (), (1,)), previous=(2, 0, 1))  # fmt: skip
