"""--adaptive-k through the CLI and the API: a run started from a pessimistic p solves with far
fewer samples than the fixed k that p gives, stores each step's k and p̂, shows them live, resumes
with its estimate, and refuses what it does not go with (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.store.run_store import RunStore


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def run_json(store: Path, *args: str) -> tuple[int, dict]:
    r = cli("run", "hanoi", "--store", str(store), "--json", *args)
    return r.exit_code, json.loads(r.stdout)


def test_adaptive_k_learns_p_and_spends_less_than_a_pessimistic_fixed_k(tmp_path):
    store = tmp_path / "s.sqlite"
    model = "sim:p=0.99,seed=3"
    code, fixed = run_json(store, "--disks", "8", "--model", model, "--p", "0.7")
    assert code == 0 and fixed["status"] == "solved"
    code, out = run_json(store, "--disks", "8", "--model", model, "--p", "0.7", "--adaptive-k")
    assert code == 0 and out["status"] == "solved" and out["errors"] == 0
    assert out["samples"] < 0.5 * fixed["samples"]
    a = out["adaptive"]
    assert a["prior_p"] == 0.7 and 0.97 < a["p_hat"] <= 1.0 and a["p_low"] <= a["p_hat"]
    assert sum(a["steps_by_k"].values()) == 255 and a["k_min"] >= 2 and a["k_max"] > a["k_min"]
    assert a["planned_success"] >= 0.975 - 1e-9 or a["planned_success"] > 0.9
    assert out["settings"]["adaptive_k"] is True and out["settings_sources"]["k"] == "adaptive"
    with RunStore(store) as s:
        steps = s.get_steps(out["run_id"], 0, None)
    assert {st.k for st in steps} == {int(k) for k in a["steps_by_k"]}
    assert all(st.p_hat is not None for st in steps[1:])
    # each step's confidence is the worst case at the bound its k was chosen with (not the prior 0.7,
    # which made every step of a healthy run "low"), counted against what the plan needed of it
    assert out["confidence_needed"] is None and out["min_confidence"] > 0.99
    assert out["low_confidence_steps"] <= 2, out["low_confidence_steps"]
    from maker_cli.core.confidence import posterior

    assert all(st.confidence > posterior(st.k, 0, 0.7) for st in steps[20:] if st.k is not None)


def test_the_floor_and_the_human_view(tmp_path):
    r = cli("run", "hanoi", "--disks", "5", "--model", "sim:p=0.999,seed=2", "--p", "0.99", "--adaptive-k",
            "--k-min-floor", "4", "--store", str(tmp_path / "s.sqlite"))  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "adaptive k: p̂ 0.99" in r.output and "k=4:" in r.output
    assert "confidence (worst case at each step's lower bound of p): " in r.output
    assert "steps below what the adaptive plan needed of them" in r.output
    out = maker_cli.run("hanoi", disks=5, model="sim:p=0.999,seed=2", p=0.99, adaptive_k=True, k_min_floor=4,
                        store=tmp_path / "s.sqlite")  # fmt: skip
    assert out.adaptive is not None and out.adaptive.k_min == 4


def test_a_budget_stop_resumes_with_the_estimate(tmp_path):
    store = tmp_path / "s.sqlite"
    prices = ("--price-in", "100", "--price-out", "100")
    code, out = run_json(store, "--disks", "8", "--model", "sim:p=0.99,seed=4", "--p", "0.9", "--adaptive-k",
                         *prices, "--max-cost", "0.5", "--yes")  # fmt: skip
    assert code == 4 and 0 < out["steps_done"] < 255
    code, done = run_json(store, "--resume", out["run_id"], "--max-cost", "1000")
    assert code == 0 and done["status"] == "solved"
    assert sum(done["adaptive"]["steps_by_k"].values()) == 255  # the steps before the stop are counted too
    with RunStore(store) as s:
        assert s.count_steps(out["run_id"]) == 255
        assert s.get_run(out["run_id"]).message is None  # the budget stop's message ended with it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--adaptive-k", "--k", "3"], "drop --k"),
        (["--adaptive-k", "--speculate", "2"], "--speculate do not go together"),
        (["--k-min-floor", "3"], "--k-min-floor goes with --adaptive-k"),
        (["--adaptive-k", "--method", "first-to-k"], "drop --method and early stopping"),
        (["--adaptive-k", "--early-stop-votes", "3", "--early-stop-confidence", "0.9"], "drop --method"),
        (["--adaptive-k", "--k-min-floor", "0"], "--k-min-floor"),
    ],
)
def test_what_adaptive_k_does_not_go_with(tmp_path, args, message):
    r = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.99", "--store", str(tmp_path / "s"), *args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], r.output


def test_not_for_workflows_and_not_changed_on_resume(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "kind: workflow\nname: w\nnodes:\n  - id: a\n    user: 'Say 1. Answer: N'\n"
        "    answer: {regex: 'Answer: *(?P<answer>\\d+)'}\n    expected: '1'\n    sim_response: 'Answer: {{answer}}'\n",
        encoding="utf-8",
    )
    r = cli("run", "task", str(wf), "--model", "sim:p=0.9", "--adaptive-k", "--store", str(tmp_path / "s"))
    assert r.exit_code == 2 and "not workflows" in r.output
    r = cli("run", "hanoi", "--resume", "r-x", "--adaptive-k", "--store", str(tmp_path / "s"))
    assert r.exit_code == 2 and "drop --adaptive-k" in r.output


def test_the_report_compares_votes_with_the_steps_own_k(tmp_path):
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, "--disks", "6", "--model", "sim:p=0.99,seed=5", "--adaptive-k")
    assert code == 0
    r = cli("runs", "report", out["run_id"], "--format", "md", "--store", str(store))
    assert r.exit_code == 0, r.output
    assert "k per step (adaptive)" in r.stdout
    from maker_cli.report.figures import build_report

    with RunStore(store) as s:
        votes = build_report(s, out["run_id"]).votes
    assert votes is not None and votes.steps_by_k == {int(k): n for k, n in out["adaptive"]["steps_by_k"].items()}
    assert votes.exact_p_hat is not None and abs(sum(votes.exact_p_hat) + (votes.beyond_p_hat or 0) - 1) < 1e-9


@pytest.mark.parametrize(
    "args", [["--method", "cisc"], ["--adaptive-k"], ["--early-stop-votes", "3", "--early-stop-confidence", "0.9"]]
)
def test_the_pre_run_estimate_says_what_it_does_not_model(tmp_path, args):
    r = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.9,seed=1", "--store", str(tmp_path / "s"), *args)
    assert r.exit_code == 0, r.output
    if "--adaptive-k" in args:  # the estimate at the k adaptive k settles at if p holds; its start costs more
        assert (
            "with --adaptive-k this estimate assumes p = 0.9 holds, at the k_min = 3 adaptive k settles at; the "
            in r.output
        )
        assert "first steps vote with more (k = 32 now)" in r.output and "cisc" not in r.output
        assert "estimate: P(all steps right) = 0.9" in r.output and "k_min = 3" in r.output
    else:
        assert "this estimate models ahead-by-k at one k" in r.output
        assert ("cisc can need several times the votes" in r.output) == ("cisc" in args)
    plain = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.9,seed=1", "--store", str(tmp_path / "s"))
    assert "this estimate models" not in plain.output
