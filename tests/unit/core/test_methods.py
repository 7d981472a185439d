"""Voting methods (ahead-by-k, first-to-k) and loss of hope: the race's rules, the engine against the
exact formulas, the result saying which method decided and whether it stopped early, and the
method through flags, specs, the API and MCP."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.race import VoteRace, VotingMethod
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.core.step import StepPrompt
from maker_cli.providers.base import Reference
from maker_cli.providers.sim import SimProvider

REF = Reference("right", lambda v: "wrong")


def judge(text: str) -> Answer | RedFlag:
    return Answer(text) if text in ("right", "wrong") else RedFlag(FORMAT)


def race_once(engine: Engine, cfg: VoteConfig, step: int):
    return asyncio.run(engine.vote(StepPrompt(step, "", "q", REF), judge, cfg))


def test_the_rules_of_each_race():
    ahead = VoteRace(3)
    first = VoteRace(3, VotingMethod.FIRST_TO_K)
    for key in ("a", "a", "b", "a"):
        ahead.add(key)
        first.add(key)
    assert ahead.winner() is None and ahead.needed() == 1  # 3-1: margin 2
    assert first.winner() == "a"  # 3 votes first
    late = VoteRace(3, VotingMethod.FIRST_TO_K)
    for key in ("a", "b", "b"):
        late.add(key)
    assert late.winner() is None and late.needed() == 1
    assert late.hopeless(0) and not late.hopeless(1)
    assert ahead.hopeless(0) and not ahead.hopeless(1)
    even = VoteRace(4)
    for key in ("a", "b"):
        even.add(key)
    assert even.needed() == 4 and even.hopeless(3) and not even.hopeless(4)


def first_to_k_right(p: float, k: int) -> float:
    """P(the right answer gets k votes before the wrong one does): two answers, p per vote."""
    return sum(math.comb(k - 1 + j, j) * p**k * (1 - p) ** j for j in range(k))


def test_first_to_k_decides_as_its_formula_says():
    p, k, n = 0.7, 3, 6000
    engine = Engine(SimProvider(f"sim:p={p},seed=5"))
    cfg = VoteConfig(k=k, method=VotingMethod.FIRST_TO_K)
    results = [race_once(engine, cfg, i) for i in range(n)]
    assert all(r.decided and r.method == "first-to-k" and max(r.tallies.values()) == k for r in results)
    right = sum(r.winner == "right" for r in results) / n
    exact = first_to_k_right(p, k)
    assert abs(right - exact) <= 4 * math.sqrt(exact * (1 - exact) / n), (right, exact)
    # fewer votes than ahead-by-k at the same k, and a weaker decision (the trade-off)
    assert exact < maker_cli.estimate(steps=1, p=p, k=k).p_step


def test_loss_of_hope_stops_only_races_the_cap_would_leave_undecided():
    engine = Engine(SimProvider("sim:p=0.55,seed=3"))
    cfg = VoteConfig(k=3, max_samples=6)
    results = [race_once(engine, cfg, i) for i in range(3000)]
    early = [r for r in results if r.stopped_early]
    assert early and all(not r.decided and r.stopped == "sample_cap" and r.samples < 6 for r in early)
    for r in early:  # no answer could have won with the samples left
        counts = sorted(r.tallies.values(), reverse=True) + [0, 0]
        assert 3 - (counts[0] - counts[1]) > 6 - r.samples
    assert all(r.decided or r.stopped_early or r.samples == 6 for r in results)


def test_the_estimate_counts_what_loss_of_hope_saves():
    report = maker_cli.estimate(steps=10, p=0.6, k=3, max_samples=8)
    assert report.hope_saved_per_step is not None and report.hope_saved_per_step > 0
    engine = Engine(SimProvider("sim:p=0.6,seed=9"))
    cfg = VoteConfig(k=3, max_samples=8)
    n = 8000
    mean = sum(race_once(engine, cfg, i).samples for i in range(n)) / n
    assert mean == pytest.approx(report.expected_samples_per_step, rel=0.03)


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_the_method_through_the_cli_specs_and_the_api(tmp_path):
    r = cli("vote", "--prompt", "q", "--model", "sim:p=0.8,answer=42,seed=1", "--method", "first-to-k", "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["method"] == "first-to-k" and out["settings_sources"]["method"] == "flag"
    assert out["stopped_early"] is False
    bad = cli("vote", "--prompt", "q", "--model", "sim:answer=1", "--method", "borda-ish")
    assert bad.exit_code == 2 and "--method" in bad.output
    spec = tmp_path / "q.yaml"
    spec.write_text(
        'name: q\nuser: "q {{x}}"\ninputs: {x: {}, expected: {default: "7"}}\n'
        'answer: {regex: "(?P<answer>\\\\d+)"}\nexpected: "{{expected}}"\nvoting: {method: first-to-k, k: 2}\n',
        encoding="utf-8",
    )
    voted = maker_cli.vote(task=spec, inputs={"x": "1"}, model="sim:p=0.9,seed=2")
    assert voted.method == "first-to-k" and voted.settings_sources["method"] == "spec"
    run = maker_cli.run("hanoi", disks=3, model="sim:p=0.99", method="first-to-k", store=tmp_path / "s")
    assert run.settings.method == "first-to-k" and run.status == "solved"
    early = cli("vote", "--prompt", "q", "--model", "sim:p=0.51,answer=42,errors=spread,seed=1", "--k", "3",
                "--max-samples", "4", "--json")  # fmt: skip
    data = json.loads(early.stdout)
    assert data["stopped_early"] is True and data["samples"] < 4 and early.exit_code == 3
    human = cli("vote", "--prompt", "q", "--model", "sim:p=0.51,answer=42,errors=spread,seed=1", "--k", "3",
                "--max-samples", "4")  # fmt: skip
    assert "stopped early" in human.stdout and "loss of hope" in human.stdout
