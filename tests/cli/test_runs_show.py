"""`maker runs show` for people: the contested steps of a run with their tallies, a step's raw
samples or why there are none; and a store path the system refuses, in one line."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory) -> tuple[str, str, dict]:
    """A Hanoi run that red-flags, contests steps and fails at step 5 (seeded)."""
    store = str(tmp_path_factory.mktemp("runs") / "s.sqlite")
    r = cli("run", "hanoi", "--disks", "4", "--k", "2", "--model", "sim:p=0.8,seed=2,invalid=0.1", "--store", store)
    assert r.exit_code == 1, r.output
    shown = json.loads(cli("runs", "show", "r-", "--store", store, "--json", "--steps", "100").stdout)
    return store, shown["id"], shown


def test_the_contested_steps_are_listed_with_their_tallies(failed_run):
    store, run_id, data = failed_run
    contested = data["steps"]
    assert contested and all(s["rounds"] > 1 or s["red_flagged"] for s in contested)
    r = cli("runs", "show", run_id, "--store", store, "--steps", "100")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stdout.splitlines() if line.startswith("  step ")]
    assert lines == [
        f"  step {s['idx']}: {s['tallies']} rounds {s['rounds']} red flags {s['red_flagged']} correct={s['correct']}"
        for s in contested
    ]
    assert lines[-1].endswith("correct=False")  # the wrong step, last


def test_a_step_without_stored_samples_says_why(failed_run):
    store, run_id, data = failed_run
    contested = {s["idx"] for s in data["steps"]}
    quiet = min(set(range(data["steps_done"])) - contested)  # decided in one round, nothing red-flagged
    r = cli("runs", "show", run_id, "--store", store, "--step", str(quiet))
    assert r.exit_code == 0, r.output
    assert (
        f"no raw samples stored for step {quiet}: by default only contested, red-flagged and undecided steps keep "
        "them (see --log-samples)"
    ) in " ".join(r.stdout.split())  # wrapped at the terminal's width
    r = cli("runs", "show", run_id, "--store", store, "--step", str(min(contested)))
    assert re.search(r"^  sample 1 \(T=0\.0, \d+ tokens\) vote: ", r.stdout, re.M)


def test_a_store_path_the_system_refuses_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / ("x" * 300) / "s.sqlite"  # a folder name longer than any file system allows
    for args in (("runs", "list"), ("runs", "show", "abc")):
        r = cli(*args, "--store", str(path))
        assert r.exit_code == 2 and r.stdout == "", r.output
        assert r.stderr.startswith(f"error: cannot read the run store {path}: File name too long")
        assert r.stderr.endswith("(pass --store PATH or set MAKER_STORE)\n") and r.stderr.count("\n") == 1


def test_serve_mcp_refuses_an_allowed_folder_that_is_not_one(tmp_path):
    r = cli("serve-mcp", "--allow-dir", str(tmp_path / "missing"))
    assert r.exit_code == 2 and r.stderr == f"error: --allow-dir {tmp_path / 'missing'}: not a folder\n"


def test_the_totals_and_settings_lines_read_cleanly(failed_run):
    store, run_id, data = failed_run
    assert data["red_flagged"] > 0
    r = cli("runs", "show", run_id, "--store", store)
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in data["red_flag_reasons"].items())
    assert f"samples {data['samples']:,} ({data['red_flagged']:,} red-flagged: {reasons}), call errors" in r.stdout
    assert ", no sample cap, temperatures " in r.stdout  # not max_samples=None
    assert " )" not in r.stdout and "None" not in r.stdout, r.stdout


def test_p_is_shown_as_the_k_line_shows_it(tmp_path):
    store = str(tmp_path / "s.sqlite")
    p = "0.9884851113651686"
    ran = cli("run", "hanoi", "--disks", "2", "--model", "sim:p=1", "--p", p, "--max-samples", "10", "--store", store)
    assert ran.exit_code == 0, ran.output
    shown = cli("runs", "show", "r-", "--store", store)
    assert "k_min for p=0.988485," in ran.stdout and "k_min for p=0.988485," in shown.stdout
    assert "confidence (worst case, p = 0.988485): lowest" in ran.stdout
    assert "confidence (worst case, p = 0.988485): lowest" in shown.stdout
    assert "least confident steps (worst case, p = 0.988485):" in shown.stdout
    assert p not in ran.stdout + shown.stdout
    assert "red-flagged), call errors" in shown.stdout and ", max_samples=10, " in shown.stdout
