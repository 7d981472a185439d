"""The confidence of a decision, P(winner right | a, b, p) = 1 / (1 + ((1-p)/p)^(a-b)): exact values,
its limits and checks, and Monte Carlo against simulated two-answer races (a plain simulation with
rounds of several votes, and the engine on the simulated model in collide mode) conditioned on the
final tallies (a, b): the share of right winners in each group is the formula's, within 4 standard
errors."""

from __future__ import annotations

import asyncio
import math
import random
from collections import defaultdict

import pytest
from engine_fixtures import REF, judge
from hypothesis import given
from hypothesis import strategies as st

from maker_cli.core import maths
from maker_cli.core.confidence import decision_confidence, margin_votes, needed_confidence, posterior, short_of
from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.step import StepPrompt
from maker_cli.errors import UsageError
from maker_cli.providers.sim import SimProvider

# --------------------------------------------------------------------------- exact values


def test_the_brief_example_a_3_0_win_at_p_0_9():
    assert posterior(3, 0, 0.9) == pytest.approx(1 / (1 + (1 / 9) ** 3), rel=1e-15)
    assert posterior(3, 0, 0.9) == pytest.approx(729 / 730, rel=1e-15)


@pytest.mark.parametrize(
    ("a", "b", "p", "expected"),
    [
        (3, 0, 0.75, 27 / 28),  # r = 1/3: 1 / (1 + 1/27)
        (5, 2, 0.75, 27 / 28),  # only the margin matters
        (2, 1, 0.6, 0.6),  # margin 1: the posterior is p itself
        (4, 4, 0.9, 0.5),  # a tie: no evidence either way
        (1, 3, 0.8, 1 / 17),  # behind by 2: 1 / (1 + 4^2)
        (7, 0, 1.0, 1.0),  # a perfect model: certain
        (0, 1, 1.0, 0.0),
        (2, 2, 1.0, 0.5),
    ],
)
def test_exact_values(a, b, p, expected):
    assert posterior(a, b, p) == pytest.approx(expected, rel=1e-14, abs=0.0)


@pytest.mark.parametrize("p", [0.51, 0.6, 0.7, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_at_a_margin_of_k_it_is_p_step(p, k):
    """A race decided vote by vote ends at margin k: its confidence is the race's P(right), p_step."""
    for b in (0, 1, 7):
        assert posterior(k + b, b, p) == pytest.approx(maths.p_step(p, k), rel=1e-13)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.55, 0.8, 0.999999])
def test_the_loser_s_posterior_is_the_complement(p):
    for a, b in ((3, 0), (6, 4), (10, 1)):
        assert posterior(a, b, p) + posterior(b, a, p) == pytest.approx(1.0, abs=1e-15)


def test_increasing_in_the_margin_and_in_p():
    assert posterior(3, 0, 0.8) < posterior(4, 0, 0.8) < posterior(5, 0, 0.8)
    assert posterior(3, 0, 0.6) < posterior(3, 0, 0.7) < posterior(3, 0, 0.9)
    assert posterior(3, 0, 0.5) == 0.5  # p = 1/2: the votes say nothing


def test_extreme_margins_neither_overflow_nor_lose_the_small_end():
    assert posterior(100_000, 0, 0.6) == 1.0
    assert posterior(0, 100_000, 0.6) == 0.0
    assert posterior(1, 0, 0.5 + 1e-12) == pytest.approx(0.5 + 1e-12, rel=1e-15)
    tiny = posterior(0, 40, 0.9)  # 1 / (1 + 9^40): about 6.8e-39, not rounded to 0
    assert tiny == pytest.approx(9.0**-40, rel=1e-12)
    assert posterior(40, 0, 0.9) == 1.0  # 1 - 6.8e-39 is 1 as a float


@pytest.mark.parametrize(
    ("a", "b", "p"),
    [(3, 0, 0.0), (3, 0, 1.5), (3, 0, -0.1), (3, 0, math.nan), (3, 0, True), (-1, 0, 0.9), (3, -2, 0.9), (1.5, 0, 0.9)],
)
def test_bad_inputs_are_usage_errors(a, b, p):
    with pytest.raises(UsageError):
        posterior(a, b, p)


def test_margin_votes_take_the_largest_other_tally():
    assert margin_votes({"x": 5, "y": 2, "z": 2}, "x") == (5, 2)
    assert margin_votes({"y": 1, "x": 6, "z": 3}, "x") == (6, 3)
    assert margin_votes({"x": 3}, "x") == (3, 0)
    assert margin_votes({"y": 2}, "x") == (0, 2)


def test_decision_confidence_is_null_without_p_or_a_winner():
    tallies = {"x": 5, "y": 2, "z": 1}
    assert decision_confidence(tallies, "x", 0.8) == posterior(5, 2, 0.8)
    assert decision_confidence(tallies, "x", None) is None
    assert decision_confidence(tallies, None, 0.8) is None
    assert decision_confidence({}, None, None) is None


def test_the_confidence_a_step_needs():
    assert needed_confidence(0.95, 1) == pytest.approx(0.95, rel=1e-15)
    assert needed_confidence(0.95, 1_048_575) ** 1_048_575 == pytest.approx(0.95, rel=1e-9)
    for bad in ((0.0, 5), (1.0, 5), (True, 5), (0.9, 0), (0.9, 2.5)):
        with pytest.raises(UsageError):
            needed_confidence(*bad)


@given(st.floats(0.55, 0.9999), st.integers(1, 2_000_000), st.floats(0.5, 0.999))
def test_a_step_decided_ahead_by_k_min_is_never_short(p, steps, target):
    """The posterior at margin k_min is the paper's per-step success, so it meets what the step needs;
    one vote less is short whenever k_min > 1 was needed (k_min is the least k that meets it)."""
    k = maths.k_min(p, steps, target)
    needed = needed_confidence(target, steps)
    assert not short_of(posterior(k, 0, p), needed)
    if k > 1 and posterior(k - 1, 0, p) < needed * (1 - 1e-6):
        assert short_of(posterior(k - 1, 0, p), needed)


# --------------------------------------------------------------------------- Monte Carlo


def _within(groups: dict[tuple[int, int], list[int]], p: float, least: int) -> list[tuple[int, int]]:
    """Check every (a, b) group with at least `least` races, and all races pooled; return the groups checked."""
    checked = []
    pooled_diff = pooled_var = 0.0
    for (a, b), outcomes in sorted(groups.items()):
        expected = posterior(a, b, p)
        pooled_diff += sum(outcomes) - expected * len(outcomes)
        pooled_var += expected * (1 - expected) * len(outcomes)
        if len(outcomes) < least:
            continue
        share = sum(outcomes) / len(outcomes)
        se = math.sqrt(expected * (1 - expected) / len(outcomes))
        assert abs(share - expected) <= 4 * se + 1e-12, ((a, b), share, expected, len(outcomes))
        checked.append((a, b))
    assert abs(pooled_diff) <= 4 * math.sqrt(pooled_var), (pooled_diff, pooled_var)
    return checked


def _race(rng: random.Random, p: float, k: int, eager: int) -> tuple[int, int, bool]:
    """One two-answer race as the engine runs it: rounds of (k - margin) + eager votes, decided at a
    round's end once one answer leads by k. Returns (winner's votes, runner-up's votes, winner right)."""
    right = wrong = 0
    while abs(right - wrong) < k:
        for _ in range(k - abs(right - wrong) + eager):
            if rng.random() < p:
                right += 1
            else:
                wrong += 1
    return (right, wrong, True) if right > wrong else (wrong, right, False)


@pytest.mark.parametrize(("p", "k", "eager"), [(0.65, 2, 0), (0.6, 2, 2), (0.7, 3, 3)])
def test_the_share_right_given_the_final_tallies_is_the_posterior(p, k, eager):
    rng = random.Random(20261202 + k + eager)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for _ in range(40_000):
        a, b, right = _race(rng, p, k, eager)
        groups[(a, b)].append(int(right))
    checked = _within(groups, p, least=300)
    assert len(checked) >= 4  # several final tallies, each compared on its own
    if eager:  # the deciding round overshoots: several margins, several posteriors
        assert len({a - b for a, b in checked}) >= 2
    else:  # vote by vote the margin is k at every decision, whatever b
        assert {a - b for a, b in checked} == {k}


def test_the_engine_on_the_simulated_model_matches_the_posterior():
    """The engine's own tallies (collide mode, eager rounds that overshoot k) obey the formula."""
    p, k = 0.65, 2
    sim = SimProvider(f"sim:p={p},errors=collide,seed=11")
    engine = Engine(sim)
    cfg = VoteConfig(k=k, eager=2)

    async def go():
        return [await engine.vote(StepPrompt(s, "s", "u", REF), judge, cfg) for s in range(6000)]

    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for r in asyncio.run(go()):
        assert r.decided and r.winner is not None
        groups[margin_votes(r.tallies, r.winner)].append(int(r.winner == "right"))
    checked = _within(groups, p, least=200)
    assert {a - b for a, b in checked} >= {2, 4}  # margins 2 and 4: posteriors 0.775 and 0.923
