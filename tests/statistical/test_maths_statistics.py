"""The exact race maths against Monte Carlo simulations of the race and of zero-waste rounds."""

from __future__ import annotations

import math
import random

import pytest

from maker_cli.core import maths


def _race(rng: random.Random, p: float, k: int, v: float) -> tuple[bool, int, int]:
    """One worst-case race, sample by sample: (correct won, valid votes, samples)."""
    lead = votes = samples = 0
    while abs(lead) < k:
        samples += 1
        if rng.random() >= v:
            continue  # red-flagged: discarded, re-drawn
        votes += 1
        lead += 1 if rng.random() < p else -1
    return lead > 0, votes, samples


def _within(observed: float, exact: float, sd: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(observed - exact) <= sigmas * sd / math.sqrt(n)


@pytest.mark.parametrize(("p", "k", "v"), [(0.7, 3, 1.0), (0.6, 4, 0.8), (0.85, 2, 0.9)])
def test_monte_carlo_race_matches_exact(p, k, v):
    rng = random.Random(20251109 + k)
    n = 30_000
    results = [_race(rng, p, k, v) for _ in range(n)]
    wins = sum(r[0] for r in results) / n
    votes = sum(r[1] for r in results) / n
    samples = sum(r[2] for r in results) / n
    ps = maths.p_step(p, k)
    assert _within(wins, ps, math.sqrt(ps * (1 - ps)), n)
    assert _within(votes, maths.expected_votes(p, k), math.sqrt(maths.votes_variance(p, k)), n)
    mean_s, var_s = maths.samples_moments(p, k, v)
    assert _within(samples, mean_s, math.sqrt(var_s), n)
    # The test has power: the paper's approximation is rejected where it differs.
    if p < 0.8:
        assert not _within(votes, maths.expected_votes_approx(p, k), math.sqrt(maths.votes_variance(p, k)), n)


def _rounds_race(rng: random.Random, p: float, k: int, c: int | None, v: float) -> tuple[bool, int, int]:
    """Zero-waste rounds: launch k - |lead| votes at once; returns (correct won, rounds, waves)."""
    lead = rounds = waves = 0
    while abs(lead) < k:
        rounds += 1
        need = k - abs(lead)
        remaining = need
        while remaining:  # red-flagged samples are re-launched in the next wave
            waves += 1
            launched = remaining if c is None else min(remaining, c)
            remaining -= sum(rng.random() < v for _ in range(launched))
        correct = sum(rng.random() < p for _ in range(need))
        lead += 2 * correct - need
    return lead > 0, rounds, waves


@pytest.mark.parametrize(("p", "k", "c", "v"), [(0.7, 3, None, 1.0), (0.65, 5, 2, 0.85)])
def test_monte_carlo_rounds_match_exact(p, k, c, v):
    rng = random.Random(777 + k)
    n = 20_000
    results = [_rounds_race(rng, p, k, c, v) for _ in range(n)]
    exact = maths.round_stats(p, k, concurrency=c, valid_rate=v)
    for index, expected in ((1, exact.rounds), (2, exact.waves)):
        xs = [r[index] for r in results]
        mean = sum(xs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
        assert _within(mean, expected, sd, n)
    wins = sum(r[0] for r in results) / n
    ps = maths.p_step(p, k)
    assert _within(wins, ps, math.sqrt(ps * (1 - ps)), n)
