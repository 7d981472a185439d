"""The engine against the exact maths over thousands of simulated steps (Monte Carlo with tolerances from the standard error)."""

from __future__ import annotations

import asyncio
import math

import pytest
from engine_fixtures import REF, judge

from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.step import StepPrompt
from maker_cli.providers.sim import SimProvider


def exact(p: float, k: int) -> tuple[float, float]:
    r = (1 - p) / p
    return 1 / (1 + r**k), k / (2 * p - 1) * (1 - r**k) / (1 + r**k)


def race_many(model: str, k: int, steps: int):
    sim = SimProvider(model)
    engine = Engine(sim)
    cfg = VoteConfig(k=k)

    async def go():
        out = []
        for s in range(steps):
            out.append(await engine.vote(StepPrompt(s, "s", "u", REF), judge, cfg))
        return out

    return asyncio.run(go())


@pytest.mark.parametrize("p,k,invalid", [(0.7, 3, 0.0), (0.85, 2, 0.0), (0.8, 3, 0.2)])
def test_decisions_and_samples_match_exact_maths(p, k, invalid):
    n = 6000
    results = race_many(f"sim:p={p},invalid={invalid},errors=collide,seed=7", k, n)
    p_step, e_votes = exact(p, k)
    correct = sum(r.winner == "right" for r in results) / n
    se = math.sqrt(p_step * (1 - p_step) / n)
    assert abs(correct - p_step) <= 4 * se + 1e-9, (correct, p_step)

    votes = [r.valid for r in results]
    mean = sum(votes) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in votes) / (n - 1))
    assert abs(mean - e_votes) <= 4 * sd / math.sqrt(n), (mean, e_votes)

    samples = sum(r.samples for r in results)
    flagged = sum(r.red_flagged for r in results)
    rate = flagged / samples
    assert abs(rate - invalid) <= 4 * math.sqrt(max(invalid * (1 - invalid), 1e-12) / samples) + 1e-12
    assert all(r.decided for r in results)


def test_spread_errors_help_voting():
    """Wrong answers that differ cannot gang up: far fewer wrong decisions than collide mode."""
    n = 3000
    collide = race_many("sim:p=0.6,errors=collide,seed=3", 2, n)
    spread = race_many("sim:p=0.6,errors=spread,seed=3", 2, n)
    wrong_c = sum(r.winner != "right" for r in collide)
    wrong_s = sum(r.winner != "right" for r in spread)
    assert wrong_s * 5 < wrong_c
