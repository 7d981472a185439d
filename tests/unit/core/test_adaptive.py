"""Adaptive k (`maker_cli.core.adaptive`): the estimate of p from a run's own votes against an
independent maximisation and integration of the same likelihood, the choice of k against k_min,
the first step, the floor, and the state a resumed run carries on from."""

from __future__ import annotations

import math

import pytest

from maker_cli.core import maths
from maker_cli.core.adaptive import K_CAP, K_START, AdaptiveK


def votes(a: AdaptiveK, *steps: tuple[int, int]) -> AdaptiveK:
    for w, lost in steps:
        a.observe({"leader": w, **({"rival": lost} if lost else {})})
    return a


def likelihood(p: float, steps: list[tuple[int, int]], prior: tuple[float, float] = (0.0, 0.0)) -> float:
    """The run's likelihood read literally: each step's two terms (leader right, leader wrong)."""
    q = 1.0 - p
    value = prior[0] * math.log(p) + prior[1] * math.log(q)
    for w, lost in steps:
        value += math.log(p**w * q**lost + p**lost * q**w)
    return value


STEPS = [(3, 0), (4, 1), (3, 0), (5, 2), (3, 0), (6, 3), (3, 0), (4, 1)] * 3


def test_the_estimate_maximises_the_likelihood_and_its_bound_is_the_posterior_quantile():
    a = votes(AdaptiveK(1000), *STEPS)
    p_hat, p_low = a.estimate()
    ps = [0.5 + 0.5 * (i + 0.5) / 200_000 for i in range(200_000)]  # midpoints, uniform prior on (0.5, 1)
    logs = [likelihood(p, STEPS) for p in ps]
    best = ps[logs.index(max(logs))]
    assert p_hat == pytest.approx(best, abs=0.01)  # the grid in ln(p/q) has steps of 0.038
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total, acc = sum(weights), 0.0
    for p, w in zip(ps, weights, strict=True):
        acc += w
        if acc >= a.level * total:
            quantile = p
            break
    assert p_low <= quantile + 1e-9  # the grid point below the quantile: never above it
    assert p_low == pytest.approx(quantile, abs=0.01)
    share = sum(w for w, _ in STEPS) / sum(w + lost for w, lost in STEPS)
    assert p_hat == pytest.approx(share, abs=0.03)  # near W / (W + L), below it: a leader may be wrong


def test_a_prior_p_counts_as_pseudo_votes():
    a = votes(AdaptiveK(1000, prior_p=0.8), *STEPS)
    ps = [0.5 + 0.5 * (i + 0.5) / 20_000 for i in range(20_000)]
    prior = (a.prior_votes * 0.8, a.prior_votes * 0.2)
    logs = [likelihood(p, STEPS, prior) for p in ps]
    assert a.estimate()[0] == pytest.approx(ps[logs.index(max(logs))], abs=0.01)


def test_k_is_k_min_for_the_steps_left_at_the_bound():
    a = votes(AdaptiveK(1000, target=0.95), *[(3, 0)] * 50)
    k = a.next_k()
    assert a.p_low is not None and a.p_low > 0.9
    left = 1000 - 50
    goal = a.vote_target / math.exp(a.log_done())
    assert k == max(2, maths.k_min(a.p_low, left, goal))
    assert a.vote_target == pytest.approx(0.975) and a.level == pytest.approx(0.025)


def test_the_first_step_and_the_floor():
    blind = AdaptiveK(1_048_575)
    assert blind.next_k() == K_START  # nothing known: a large k, capped for the first step
    told = AdaptiveK(1_048_575, prior_p=0.99)
    assert 2 <= told.next_k() < K_START
    sure = votes(AdaptiveK(10, floor=4), *[(2, 0)] * 5000)
    assert sure.next_k() == 4  # the data would allow less
    with pytest.raises(ValueError):
        AdaptiveK(10, floor=0)
    with pytest.raises(ValueError):
        AdaptiveK(10, prior_p=0.5)


def test_a_bad_run_asks_for_the_largest_k():
    a = votes(AdaptiveK(1000), *[(5, 4), (4, 3), (6, 5)] * 30)  # p near 1/2
    assert a.next_k() >= 100 or a.next_k() == K_CAP


def test_the_estimate_is_recomputed_on_a_schedule_and_survives_a_resume():
    a = AdaptiveK(100_000, prior_p=0.9)
    for _ in range(300):
        a.next_k()
        a.observe({"x": 3})
    saved = a.state()
    b = AdaptiveK(100_000, prior_p=0.9)
    b.restore(saved)
    assert (b.wins, b.losses, b.margins, b.ks, b.steps_seen) == (a.wins, a.losses, a.margins, a.ks, a.steps_seen)
    assert b.next_k() == a.next_k()
    assert a._next_update > a.steps_seen  # not recomputed at every step any more past EVERY_STEP


def test_undecided_steps_and_spread_answers_count_every_other_vote_as_wrong():
    a = AdaptiveK(100)
    a.observe({"a": 2, "b": 1, "c": 1})
    a.observe({"a": 1, "b": 1})
    assert (a.wins, a.losses) == (3, 3) and a.margins == {0: 2}
