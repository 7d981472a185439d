"""Speculative step pipelining: a branch started on a wrong candidate is discarded and never counted,
the guarantee holds (a step's votes all come from its decided input), the totals equal the stored
steps plus the reported waste, it resumes after kill -9, and the estimate's latency model."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys

import pytest
from run_helpers import wait_for_progress
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.latency import Latency
from maker_cli.errors import UsageError
from maker_cli.jobs.run_state import RunPoint, RunTotals
from maker_cli.jobs.runner import Runner, RunOptions
from maker_cli.providers.base import CallResult, Completion, ProviderInfo, SampleRequest
from maker_cli.providers.sim import parse_sim
from maker_cli.store.run_store import RunStore
from maker_cli.tasks import Hanoi, hanoi


class ScriptedProvider:
    """Answers a Hanoi step from its prompt's own state (the simulated reference), after a delay.
    The very first call of step 0 answers wrong, and fast: the runner speculates on it."""

    def __init__(self) -> None:
        self.info = ProviderInfo(name="scripted", simulated=True, supports_n=True, prices_known=True, inline=False)
        self.requests: list[SampleRequest] = []

    async def complete(self, request: SampleRequest) -> CallResult:
        self.requests.append(request)
        ref = request.reference
        assert ref is not None
        first = len(self.requests) == 1
        await asyncio.sleep(0.001 if first else 0.02)
        text = ref.wrong(0) if first else ref.correct
        return CallResult([Completion(text, 10, 5, "stop", 0.01, 0.001) for _ in range(request.n)])

    async def aclose(self) -> None:
        return None


class MemoryStore:
    def __init__(self) -> None:
        self.steps: list = []

    def write_batch(self, run_id, steps, samples=(), run_update=None):
        self.steps += list(steps)
        return len(self.steps)


def run_scripted(depth: int) -> tuple[ScriptedProvider, MemoryStore, RunTotals, str]:
    task = Hanoi(3)
    provider = ScriptedProvider()
    store = MemoryStore()
    runner = Runner(task, Engine(provider, concurrency=16), VoteConfig(k=2), store, "r", RunOptions(speculate=depth))
    state, previous = task.start()
    outcome = asyncio.run(runner.run(RunPoint(0, state, previous), RunTotals()))
    return provider, store, outcome.totals, outcome.status


@pytest.mark.parametrize("depth", [1, 3])
def test_a_branch_on_a_wrong_candidate_is_discarded_and_never_counted(depth):
    provider, store, totals, status = run_scripted(depth)
    assert status == "solved" and totals.wrong_steps == 0 and len(store.steps) == 7
    assert totals.wasted_branches >= 1 and totals.wasted_samples >= 1  # step 1 was started on the wrong move
    # every stored step was decided on the optimal path, and its votes are all for its own input
    for row in store.steps:
        assert row.input_state == hanoi.encode_state(hanoi.optimal_state(3, row.idx))
        assert sum(row.tallies.values()) == row.valid and row.winner_key in row.tallies
    # the branch on the wrong state really was sent (and then thrown away)
    wrong_move, wrong_state = hanoi.parse_response(_wrong_text(), 3).value
    wrong_prompt = hanoi.user_prompt(3, wrong_state, wrong_move)
    assert any(r.user == wrong_prompt for r in provider.requests)
    assert totals.samples == sum(row.samples for row in store.steps) + totals.wasted_samples
    assert totals.wasted_cost_usd == pytest.approx(totals.wasted_samples * 0.001)


def _wrong_text() -> str:
    task = Hanoi(3)
    state, previous = task.start()
    ref = task.prompt(0, state, previous, simulated=True).reference
    assert ref is not None
    return ref.wrong(0)


def test_without_speculation_nothing_is_wasted():
    _, store, totals, status = run_scripted(0)
    assert status == "solved" and totals.wasted_branches == 0 and totals.wasted_samples == 0
    assert totals.samples == sum(row.samples for row in store.steps)


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_speculative_run_keeps_the_guarantee_and_reports_its_waste(tmp_path):
    store = tmp_path / "s.sqlite"
    model = "sim:p=0.75,latency_ms=5,latency_dist=lognormal,sigma=0.5,seed=4"  # k=10: P(a step wrong) 2e-5
    r = cli("run", "hanoi", "--disks", "5", "--model", model, "--k", "10", "--speculate", "3",
            "--store", str(store), "--json", "--price-in", "1", "--price-out", "1")  # fmt: skip
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["status"] == "solved" and out["errors"] == 0
    waste = out["speculative_waste"]
    assert waste["branches"] > 0 and waste["samples"] > 0 and waste["cost_usd"] > 0
    with RunStore(store) as s:
        rows = list(s.iter_steps(out["run_id"]))
        record = s.get_run(out["run_id"])
    assert out["samples"] == sum(row.samples for row in rows) + waste["samples"] == record.samples
    assert record.last_state["waste"]["samples"] == waste["samples"]
    assert waste["share_of_samples"] == pytest.approx(waste["samples"] / out["samples"])
    assert out["settings"]["speculate"] == 3


def test_kill_9_mid_speculation_then_resume(tmp_path):
    store = tmp_path / "s.sqlite"
    model = "sim:p=0.95,latency_ms=20,latency_dist=lognormal,sigma=0.5,seed=2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "maker_cli", "run", "hanoi", "--disks", "7", "--model", model, "--k", "3"]
        + ["--speculate", "4", "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    run_id = wait_for_progress(store, proc, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = cli("run", "hanoi", "--resume", run_id, "--store", str(store), "--speculate", "2", "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["status"] == "solved" and out["steps_done"] == 127 and out["errors"] == 0
    with RunStore(store) as s:
        assert s.count_steps(run_id) == 127
        assert [row.idx for row in s.iter_steps(run_id)] == list(range(127))


def test_speculate_is_checked():
    assert cli("run", "hanoi", "--speculate", "-1", "--model", "sim").exit_code == 2
    with pytest.raises(UsageError, match="--speculate takes a whole number"):
        maker_cli.run("hanoi", disks=3, model="sim", speculate=99)


# --------------------------------------------------------------------------- latency


def test_the_simulated_model_draws_lognormal_latency():
    params = parse_sim("sim:latency_ms=800,latency_dist=lognormal,sigma=0.5")
    assert (params.latency_dist, params.sigma) == ("lognormal", 0.5)
    for bad in ("latency_dist=weibull", "sigma=9"):
        with pytest.raises(UsageError):
            parse_sim(f"sim:latency_ms=10,{bad}")


@pytest.mark.parametrize("sigma", [0.3, 0.5, 0.8])
def test_expected_order_statistics_against_monte_carlo(sigma):
    latency = Latency(0.8, sigma)
    assert latency.expected_max(1) == pytest.approx(latency.mean_s, rel=1e-6)
    assert latency.expected_min(1) == pytest.approx(latency.mean_s, rel=1e-6)
    rng = random.Random(7)
    draws = [[0.8 * math.exp(sigma * rng.gauss(0, 1)) for _ in range(3)] for _ in range(40_000)]
    for m in (2, 3):
        slowest = statistics.fmean(max(d[:m]) for d in draws)
        fastest = statistics.fmean(min(d[:m]) for d in draws)
        assert latency.expected_max(m) == pytest.approx(slowest, rel=0.01)
        assert latency.expected_min(m) == pytest.approx(fastest, rel=0.01)


def test_fitting_the_latency():
    assert Latency.fit(1.0).sigma == 0 and Latency.fit(1.0).expected_max(5) == 1.0
    fitted = Latency.fit(0.8, p95_s=2.0)
    assert fitted.p95_s == pytest.approx(2.0)
    sd = 0.8 * math.sqrt(math.exp(0.25) * (math.exp(0.25) - 1))
    assert Latency.fit(0.8, sd_s=sd).sigma == pytest.approx(0.5)
    for kwargs in ({"p95_s": 0.5}, {"p95_s": 2.0, "sd_s": 1.0}, {"sd_s": -1.0}):
        with pytest.raises(ValueError):
            Latency.fit(0.8, **kwargs)


def test_the_estimate_models_latency_and_speculation():
    fixed = maker_cli.estimate(steps=1023, p=0.99, k=3, latency=0.8)
    spread = maker_cli.estimate(steps=1023, p=0.99, k=3, latency=0.8, latency_p95=1.8, speculate=4)
    assert spread.expected_wall_s > fixed.expected_wall_s  # a round waits for its slowest draw
    assert spread.expected_wall_speculative_s < spread.expected_wall_s / 1.8
    assert 0 < spread.expected_waste_share < 0.05
    assert {"expected_wall_speculative_s", "expected_waste_share"} <= set(spread.approximations)
    r = cli("estimate", "--steps", "1023", "--p", "0.99", "--k", "3", "--latency", "0.8", "--latency-p95", "1.8",
            "--speculate", "4")  # fmt: skip
    assert r.exit_code == 0 and "with --speculate 4" in r.stdout and "x faster" in r.stdout
    for args in (("--latency-p95", "2"), ("--latency", "1", "--latency-p95", "0.5")):
        assert cli("estimate", "--steps", "10", "--p", "0.9", *args).exit_code == 2
