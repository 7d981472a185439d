"""The engine's stops (sample cap, red-flag limit) against the exact maths the estimate uses:
thousands of simulated steps (worst case: every wrong sample the same answer), with tolerances
from the standard error."""

from __future__ import annotations

import asyncio
import math

import pytest
from engine_fixtures import REF, judge

from maker_cli.core import maths
from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.step import StepPrompt
from maker_cli.providers.sim import SimProvider


def race_many(p: float, invalid: float, cfg: VoteConfig, steps: int, seed: int):
    engine = Engine(SimProvider(f"sim:p={p},invalid={invalid},errors=collide,seed={seed}"))

    async def go():
        return [await engine.vote(StepPrompt(s, "s", "u", REF), judge, cfg) for s in range(steps)]

    return asyncio.run(go())


def within(observed: float, exact: float, sd: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(observed - exact) <= sigmas * sd / math.sqrt(n) + 1e-12


@pytest.mark.parametrize(
    ("p", "k", "invalid", "cap", "flags"),
    [
        (0.7, 3, 0.4, 10, None),  # the cap alone
        (0.7, 3, 0.4, None, 4),  # the red-flag limit alone
        (0.65, 4, 0.3, 14, 5),  # both
        (0.8, 2, 0.5, 6, 3),
    ],
)
def test_engine_stops_as_the_maths_says(p, k, invalid, cap, flags):
    n = 6000
    cfg = VoteConfig(k=k, max_samples=cap, max_red_flags=flags if flags is not None else 10**9)
    results = race_many(p, invalid, cfg, n, seed=11 + k)
    v = 1.0 - invalid
    exact = maths.step_stops(p, k, v, cap, flags)
    assert exact.exact and 0.02 < exact.p_undecided < 0.98  # the test has power
    undecided = sum(not r.decided for r in results) / n
    u = exact.p_undecided
    assert within(undecided, u, math.sqrt(u * (1 - u)), n), (undecided, u)
    # a decided step is right with p_step, however long it took (the outcome is independent of T)
    decided = [r for r in results if r.decided]
    ps = maths.p_step(p, k)
    right = sum(r.winner == "right" for r in decided) / len(decided)
    assert within(right, ps, math.sqrt(ps * (1 - ps)), len(decided)), (right, ps)
    # samples: exact under the cap; at the red-flag stop, samples already drawn in the same round
    # (at most k - 1) still land, so the engine may draw a little more than the sequential count
    samples = [r.samples for r in results]
    mean = sum(samples) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in samples) / (n - 1))
    stops = {r.stopped for r in results if not r.decided}
    if flags is None:
        assert stops == {"sample_cap"}
        assert within(mean, exact.expected_samples, sd, n), (mean, exact.expected_samples)
    else:
        assert "red_flags" in stops
        slack = (k - 1) * u
        assert (
            exact.expected_samples - 4 * sd / math.sqrt(n)
            <= mean
            <= exact.expected_samples + slack + 4 * sd / math.sqrt(n)
        )
