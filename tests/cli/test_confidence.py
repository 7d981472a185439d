"""A confidence for every decision through the commands: `maker vote` (JSON, text, --p, the API and
the MCP tool), runs (each stored step, the run's summary, `runs show` listing the least confident
steps) and null without p (a real model through the fake server, no --p)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp_helpers import call, ok, server_for
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.core.confidence import decision_confidence, needed_confidence, posterior, short_of
from maker_cli.store.run_store import RunStore
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder

ROOT = Path(__file__).resolve().parents[2]
SIM_VOTE = ["vote", "--prompt", "6*7?", "--model", "sim:p=0.9,answer=42,seed=1", "--k", "3"]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


# --------------------------------------------------------------------------- vote


def test_vote_json_has_the_confidence_of_a_3_0_win():
    r = cli(*SIM_VOTE, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["votes"] == {"42": 3}  # a 3-0 win
    assert out["confidence_p"] == 0.9  # the simulated model's own p
    assert out["confidence"] == pytest.approx(1 / (1 + (1 / 9) ** 3), rel=1e-14)


def test_vote_shows_the_confidence_and_p_overrides_the_simulated_one():
    shown = cli(*SIM_VOTE)
    assert shown.exit_code == 0, shown.output
    assert "confidence 0.9986 that the winner is right" in shown.stdout and "p = 0.9)" in shown.stdout
    out = json.loads(cli(*SIM_VOTE, "--p", "0.8", "--json").stdout)
    assert out["confidence_p"] == 0.8 and out["confidence"] == pytest.approx(1 / (1 + 0.25**3), rel=1e-14)
    bad = cli(*SIM_VOTE, "--p", "1.5")
    assert bad.exit_code == 2 and "p must be a probability" in bad.stderr


def test_an_undecided_vote_has_no_confidence():
    r = cli(
        "vote", "--prompt", "q", "--model", "sim:p=0.51,answer=42,seed=2", "--k", "5", "--max-samples", "6", "--json"
    )
    out = json.loads(r.stdout)
    assert r.exit_code == 3 and out["decided"] is False
    assert out["confidence"] is None and out["confidence_p"] == 0.51


def test_the_api_takes_p():
    result = maker_cli.vote("6*7?", model="sim:p=0.9,answer=42,seed=1", k=3, p=0.95)
    assert result.votes == {"42": 3} and result.confidence_p == 0.95
    assert result.confidence == pytest.approx(posterior(3, 0, 0.95), rel=1e-15)


def test_a_real_model_without_p_has_no_confidence_and_says_so():
    with FakeOpenAIServer(responder=sim_responder("sim:p=1,answer=42")) as srv:
        base = ["vote", "--prompt", "q", "--model", "openai/fake", "--api-base", srv.base_url, "--k", "2"]
        out = json.loads(cli(*base, "--price-in", "1", "--price-out", "1", "--json").stdout)
        shown = cli(*base, "--price-in", "1", "--price-out", "1")
        given = json.loads(cli(*base, "--price-in", "1", "--price-out", "1", "--p", "0.99", "--json").stdout)
    assert out["decided"] and out["confidence"] is None and out["confidence_p"] is None
    assert "confidence: unknown without p (give --p" in shown.stdout, shown.output
    assert given["confidence"] == pytest.approx(posterior(2, 0, 0.99)) and given["confidence_p"] == 0.99


def test_the_mcp_vote_takes_p(tmp_path):
    server = server_for(tmp_path)
    out = ok(call(server, "maker_vote", prompt="q", model="sim:p=0.9,answer=42,seed=1", k=3, p=0.97))
    assert out["votes"] == {"42": 3} and out["confidence_p"] == 0.97
    assert out["confidence"] == pytest.approx(posterior(3, 0, 0.97), rel=1e-15)
    sim = ok(call(server, "maker_vote", prompt="q", model="sim:p=0.9,answer=42,seed=1", k=3))
    assert sim["confidence_p"] == 0.9


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def contested_run(tmp_path_factory) -> tuple[Path, dict]:
    """A Hanoi run at p = 0.8 with eager rounds: contested steps, several margins (seeded)."""
    store = tmp_path_factory.mktemp("runs") / "s.sqlite"
    r = cli(
        "run", "hanoi", "--disks", "5", "--k", "3", "--eager", "2", "--model", "sim:p=0.8,seed=4", "--keep-going",
        "--store", str(store), "--json",
    )  # fmt: skip
    out = json.loads(r.stdout)
    assert out["steps_done"] == 31, r.output
    return store, out


def test_every_stored_step_carries_its_confidence(contested_run):
    store, out = contested_run
    with RunStore(store) as s:
        steps = list(s.iter_steps(out["run_id"]))
    assert out["settings"]["p"] == 0.8  # the simulated model's own p
    for st in steps:
        assert st.confidence == pytest.approx(decision_confidence(st.tallies, st.winner_key, 0.8), rel=1e-15)
    confidences = [st.confidence for st in steps]
    assert len(set(confidences)) >= 2  # eager rounds overshoot k: not every margin is k
    assert out["min_confidence"] == min(confidences)
    assert out["mean_confidence"] == pytest.approx(sum(confidences) / len(confidences), rel=1e-12)
    # what each of the 31 steps needs for the default target 0.95; k = 3 at p = 0.8 is below k_min
    assert out["confidence_needed"] == pytest.approx(0.95 ** (1 / 31), rel=1e-12)
    low = sum(short_of(c, out["confidence_needed"]) for c in confidences)
    assert out["low_confidence_steps"] == low and 0 < low < 31  # margins of 5 or more are enough


def test_runs_show_lists_the_least_confident_steps(contested_run):
    store, out = contested_run
    with RunStore(store) as s:
        steps = list(s.iter_steps(out["run_id"]))
    expected = sorted(steps, key=lambda st: (st.confidence, -st.valid, st.idx))
    shown = json.loads(cli("runs", "show", out["run_id"], "--store", str(store), "--json").stdout)
    weakest = shown["least_confident"]
    assert [w["idx"] for w in weakest] == [st.idx for st in expected[:5]]  # 5 by default
    first = expected[0]
    assert weakest[0] == {
        "idx": first.idx,
        "winner": first.winner_key,
        "confidence": first.confidence,
        "tallies": dict(first.tallies),
        "valid": first.valid,
        "rounds": first.rounds,
        "correct": first.correct,
    }
    more = json.loads(
        cli("runs", "show", out["run_id"], "--store", str(store), "--json", "--least-confident", "9").stdout
    )
    assert len(more["least_confident"]) == 9
    none = json.loads(
        cli("runs", "show", out["run_id"], "--store", str(store), "--json", "--least-confident", "0").stdout
    )
    assert none["least_confident"] == []
    text = cli("runs", "show", out["run_id"], "--store", str(store), "--least-confident", "3")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert "least confident steps (worst case, p = 0.8):" in lines
    listed = [line for line in lines if line.startswith("  confidence ")]
    assert len(listed) == 3 and listed[0].startswith(f"  confidence {first.confidence:.4f} at step {first.idx}: ")
    needed = f"{out['confidence_needed']:.4f}"
    assert (
        f"31 decided steps, {out['low_confidence_steps']} steps below {needed}, what each step needs for the target 0.95"
        in text.stdout
    )


def test_the_end_of_a_run_shows_its_confidence(tmp_path):
    r = cli("run", "hanoi", "--disks", "3", "--k", "2", "--model", "sim:p=0.9,seed=1", "--store", str(tmp_path / "s"))
    assert r.exit_code == 0, r.output
    assert (
        "confidence (worst case, p = 0.9): lowest 0.9878, mean 0.9878; 7 steps below 0.9927, what each step needs for the target 0.95"
        in r.stdout
    )


def test_a_run_at_k_min_has_no_step_short_of_the_target(tmp_path):
    """Every step decided ahead by k_min has the confidence the target needs of it: none is counted
    low (a healthy run reported as full of low-confidence steps was the bug); a k below k_min is."""
    at_kmin = cli(
        "run", "hanoi", "--disks", "7", "--model", "sim:p=0.99,seed=2", "--store", str(tmp_path / "a"), "--json"
    )
    out = json.loads(at_kmin.stdout)
    assert out["status"] == "solved" and out["settings"]["p"] == 0.99, at_kmin.output
    needed = needed_confidence(0.95, 127)
    assert out["confidence_needed"] == pytest.approx(needed, rel=1e-12)
    assert posterior(out["settings"]["k"], 0, 0.99) >= needed and out["low_confidence_steps"] == 0
    below = cli("run", "hanoi", "--disks", "7", "--k", "1", "--model", "sim:p=0.99,seed=2", "--store", str(tmp_path / "b"), "--json")  # fmt: skip
    low = json.loads(below.stdout)
    assert posterior(1, 0, 0.99) < needed and low["low_confidence_steps"] == low["steps_done"] > 0, below.output


def test_a_run_without_p_stores_null_and_lists_nothing(tmp_path):
    store = tmp_path / "s.sqlite"
    with FakeOpenAIServer(responder=sim_responder("sim:p=1")) as srv:
        r = cli(
            "run", "hanoi", "--disks", "3", "--model", "openai/fake", "--api-base", srv.base_url, "--k", "1",
            "--price-in", "1", "--price-out", "1", "--store", str(store), "--json",
        )  # fmt: skip
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["settings"]["p"] is None
    assert (out["min_confidence"], out["mean_confidence"], out["low_confidence_steps"]) == (None, None, 0)
    with RunStore(store) as s:
        assert [st.confidence for st in s.iter_steps(out["run_id"])] == [None] * 7
    shown = json.loads(cli("runs", "show", out["run_id"], "--store", str(store), "--json").stdout)
    assert shown["least_confident"] == []
    text = cli("runs", "show", out["run_id"], "--store", str(store)).stdout
    assert "confidence: none (the run has no p" in text and "least confident" not in text


def test_a_workflow_stores_the_confidence_of_its_question_nodes(tmp_path):
    store = tmp_path / "s.sqlite"
    r = cli(
        "run", "task", str(ROOT / "examples" / "workflows" / "order_total.yaml"), "--model", "sim:p=0.9,seed=2",
        "--store", str(store), "--json",
    )  # fmt: skip
    out = json.loads(r.stdout)
    assert r.exit_code == 0, r.output
    with RunStore(store) as s:
        steps = list(s.iter_steps(out["run_id"]))
    assert steps and all(st.confidence is not None for st in steps)
    assert out["min_confidence"] == min(st.confidence for st in steps)
    shown = json.loads(cli("runs", "show", out["run_id"], "--store", str(store), "--json").stdout)
    assert {w["node"] for w in shown["least_confident"]} <= {st.input_state for st in steps}
