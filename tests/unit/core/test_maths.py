"""The MAKER maths: hand-computed values, properties (hypothesis) and Monte Carlo races."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from maker_cli.core import maths
from maker_cli.errors import CannotConverge, UsageError

S_HANOI = 2**20 - 1

# --------------------------------------------------------------------------- hand-computed values


@pytest.mark.parametrize(
    ("k", "p", "expected"),
    [(3, 0.85, 4.2389), (3, 0.7, 6.4054), (3, 0.99, 3.0612), (1, 0.8, 1.0), (1, 0.6, 1.0)],
)
def test_expected_votes_hand_values(k, p, expected):
    assert maths.expected_votes(p, k) == pytest.approx(expected, abs=5e-5)


def test_expected_votes_exact_fractions():
    # p = 0.7, k = 3: r = 3/7, r^3 = 27/343; E = 3/0.4 * (316/343)/(370/343) = 237/37
    assert maths.expected_votes(0.7, 3) == pytest.approx(float(Fraction(237, 37)), rel=1e-12)
    assert maths.p_step(0.7, 3) == pytest.approx(float(Fraction(343, 370)), rel=1e-12)
    # p = 0.85, k = 3: 1 / (1 + (3/17)^3) = 4913 / 4940
    assert maths.p_step(0.85, 3) == pytest.approx(4913 / 4940, rel=1e-12)


def test_expected_votes_edges():
    assert maths.expected_votes(1.0, 5) == 5.0
    assert maths.expected_votes(0.5, 4) == 16.0  # k^2 for a fair race
    assert maths.expected_votes(0.5 + 1e-9, 4) == pytest.approx(16.0, rel=1e-6)


def test_paper_approximation_overestimates():
    assert maths.expected_votes_approx(0.7, 3) == pytest.approx(7.5)
    assert maths.expected_votes_approx(0.7, 3) > maths.expected_votes(0.7, 3)


def test_k2_race_by_hand():
    # With k = 2 the lead returns to 0 after each split pair: T = 2 * Geometric(p^2 + q^2).
    p = 0.8
    s = p * p + (1 - p) ** 2
    assert maths.expected_votes(p, 2) == pytest.approx(2 / s)
    assert maths.votes_variance(p, 2) == pytest.approx(4 * (1 - s) / s**2)
    # zero-waste rounds with k = 2: each round launches 2; a split (2pq) restarts the race
    stats = maths.round_stats(p, 2)
    assert stats.rounds == pytest.approx(1 / s, rel=1e-9)
    assert stats.p_correct == pytest.approx(maths.p_step(p, 2), rel=1e-9)
    assert maths.votes_variance(p, 1) == 0.0
    assert maths.round_stats(p, 1).rounds == pytest.approx(1.0)


def test_p_full_and_agents():
    assert maths.agents(10, 1) == 10
    assert maths.agents(10, 4) == 3
    assert maths.vote_p(0.9, 2) == pytest.approx(0.81)
    assert maths.p_full(0.85, 3, 1) == pytest.approx(maths.p_step(0.85, 3))
    assert maths.p_full(0.85, 3, 10) == pytest.approx(maths.p_step(0.85, 3) ** 10)
    assert maths.p_full(0.9, 3, 8, m=2) == pytest.approx(maths.p_step(0.81, 3) ** 4)


@pytest.mark.parametrize(
    ("error_rate", "expected"),
    [
        (0.3571, 29),  # gpt-4.1-nano
        (0.0040, 4),  # gpt-4.1-mini, T = 1.0
        (0.0022, 3),  # gpt-4.1-mini, T = 0.1
        (0.0018, 3),  # o3-mini
        (0.1839, 12),  # haiku-4.5
        (0.0358, 6),  # gpt-oss-20B
        (0.2342, 15),  # qwen-3
        (0.0569, 6),  # deepseek-v3.1
        (0.0393, 6),  # kimi-k2
    ],
)
def test_k_min_paper_table(error_rate, expected):
    assert maths.k_min(1 - error_rate, S_HANOI, 0.95) == expected


def test_k_min_small_cases_and_m():
    assert maths.k_min(1.0, 10**6, 0.99) == 1
    assert maths.k_min(0.99, 1, 0.5) == 1
    # m = 2 uses p^2 and half the agents
    p = 0.95
    assert maths.k_min(p, 1000, 0.9, m=2) == maths.k_min(p * p, 500, 0.9)


def test_job_cost():
    # 1000 steps, m = 2: 500 agents, votes at p^2, each call costs 2 one-step calls
    expected = 500 * maths.expected_votes(0.81, 3) / 0.5 * 2 * 0.01
    assert maths.job_cost(0.9, 3, 1000, 2, valid_rate=0.5, cost_per_step_call=0.01) == pytest.approx(expected)
    assert maths.max_k_within(10.0, lambda k: 3.0 * k, 100) == 3
    assert maths.max_k_within(1.0, lambda k: 3.0 * k, 100) == 0


def test_waves_by_hand():
    assert maths.expected_waves(5, 2) == 3  # ceil(5/2) without red flags
    assert maths.expected_waves(5, None) == 1
    assert maths.expected_waves(1, None, 0.5) == pytest.approx(2.0)  # geometric(1/2)
    # two valid votes, unlimited concurrency, v = 1/2: E[max of two geometric(1/2)] = 8/3
    assert maths.expected_waves(2, None, 0.5) == pytest.approx(8 / 3)


def test_p_undecided_by_hand():
    p, q = 0.8, 0.2
    assert maths.p_undecided(p, 3, 2) == 1.0  # fewer samples than k cannot decide
    assert maths.p_undecided(p, 1, 3, valid_rate=0.5) == pytest.approx(0.125)  # (1-v)^n for k = 1
    assert maths.p_undecided(p, 2, 2) == pytest.approx(2 * p * q)
    assert maths.p_undecided(p, 2, 3) == pytest.approx(2 * p * q)
    assert maths.p_undecided(p, 2, 4) == pytest.approx((2 * p * q) ** 2)


def test_job_percentiles_exact_and_normal():
    one = maths.job_percentiles(0.7, 3, 1)
    assert one.method == "exact"
    pmf = maths.votes_pmf(0.7, 3).pmf
    cdf = [sum(pmf[: n + 1]) for n in range(len(pmf))]
    assert one.samples[0] == next(n for n, c in enumerate(cdf) if c >= 0.5)
    assert one.samples[1] == next(n for n, c in enumerate(cdf) if c >= 0.95)
    big = maths.job_percentiles(0.7, 3, 100_000)
    assert big.method == "normal"
    mean, var = maths.samples_moments(0.7, 3)
    assert big.samples[0] == pytest.approx(100_000 * mean)
    assert big.samples[1] == pytest.approx(100_000 * mean + 1.6448536 * math.sqrt(100_000 * var), rel=1e-6)


def test_invalid_inputs():
    with pytest.raises(CannotConverge):
        maths.k_min(0.5, 10)
    with pytest.raises(CannotConverge):
        maths.k_min(0.3, 10)
    with pytest.raises(CannotConverge, match="m = 2"):
        maths.k_min(0.7, 10, m=2)  # 0.49 <= 0.5
    for bad in (1.2, 0.0, -0.1, float("nan")):
        with pytest.raises(UsageError):
            maths.k_min(bad, 10)
    for bad_t in (0.0, 1.0, 1.5):
        with pytest.raises(UsageError):
            maths.k_min(0.9, 10, bad_t)
    with pytest.raises(UsageError):
        maths.k_min(0.9, 0)
    with pytest.raises(UsageError):
        maths.k_min(0.9, 10, m=0)
    with pytest.raises(UsageError):
        maths.check_k(0)
    assert not isinstance(CannotConverge("x"), UsageError)


# --------------------------------------------------------------------------- properties

probs = st.floats(min_value=0.55, max_value=0.999)
targets = st.floats(min_value=0.5, max_value=0.999)
step_counts = st.integers(min_value=1, max_value=10**7)


@settings(max_examples=300, deadline=None)
@given(p=probs, s=step_counts, t=targets, m=st.sampled_from([1, 1, 2, 3]))
def test_k_min_is_minimal(p, s, t, m):
    assume(p**m > 0.55)
    k = maths.k_min(p, s, t, m)
    assert k >= 1
    assert maths.p_full(p, k, s, m) >= t
    if k > 1:
        assert maths.p_full(p, k - 1, s, m) < t


@settings(max_examples=200, deadline=None)
@given(p=probs, s1=step_counts, s2=step_counts, t=targets)
def test_k_min_monotone_in_steps(p, s1, s2, t):
    lo, hi = sorted((s1, s2))
    assert maths.k_min(p, lo, t) <= maths.k_min(p, hi, t)


@settings(max_examples=200, deadline=None)
@given(p1=probs, p2=probs, s=step_counts, t=targets)
def test_k_min_monotone_in_p(p1, p2, s, t):
    lo, hi = sorted((p1, p2))
    assert maths.k_min(lo, s, t) >= maths.k_min(hi, s, t)


@settings(max_examples=200, deadline=None)
@given(p=probs, s=step_counts, t1=targets, t2=targets)
def test_k_min_monotone_in_target(p, s, t1, t2):
    lo, hi = sorted((t1, t2))
    assert maths.k_min(p, s, lo) <= maths.k_min(p, s, hi)


@settings(max_examples=200, deadline=None)
@given(p=probs, s=st.integers(min_value=100, max_value=10**9), t=targets)
def test_k_min_grows_like_log_s(p, s, t):
    # k_min = ceil(L - delta), L = (ln s - ln(-ln t)) / ln(p/q), 0 <= delta <= (-ln t / s) / ln(p/q)
    a = math.log(p / (1 - p))
    y = -math.log(t) / s
    level = (math.log(s) - math.log(-math.log(t))) / a
    assume(level >= 1.0)
    k = maths.k_min(p, s, t)
    assert -y / a - 1e-9 <= k - level < 1 + 1e-9


@settings(max_examples=60, deadline=None)
@given(p=st.floats(min_value=0.55, max_value=0.995), k=st.integers(min_value=1, max_value=12))
def test_votes_distribution_matches_closed_forms(p, k):
    dist = maths.votes_pmf(p, k)
    assert dist.total == pytest.approx(1.0, abs=1e-9)
    assert all(x >= 0 for x in dist.pmf)
    assert sum(dist.pmf[:k]) == 0.0  # never fewer than k votes
    assert dist.mean == pytest.approx(maths.expected_votes(p, k), rel=1e-7)
    var = sum(n * n * x for n, x in enumerate(dist.pmf)) - dist.mean**2
    assert var == pytest.approx(maths.votes_variance(p, k), rel=1e-6, abs=1e-9)
    assert dist.p_correct == pytest.approx(maths.p_step(p, k), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(min_value=0.55, max_value=0.99),
    k=st.integers(min_value=1, max_value=8),
    v=st.floats(min_value=0.3, max_value=1.0),
)
def test_samples_distribution_with_red_flags(p, k, v):
    dist = maths.samples_pmf(p, k, v)
    mean, var = maths.samples_moments(p, k, v)
    assert dist.total == pytest.approx(1.0, abs=1e-9)
    assert dist.mean == pytest.approx(mean, rel=1e-7)
    assert mean == pytest.approx(maths.expected_votes(p, k) / v)
    got_var = sum(n * n * x for n, x in enumerate(dist.pmf)) - dist.mean**2
    assert got_var == pytest.approx(var, rel=1e-6, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    p=st.floats(min_value=0.55, max_value=0.99),
    k=st.integers(min_value=1, max_value=10),
    v=st.floats(min_value=0.5, max_value=1.0),
    caps=st.lists(st.integers(min_value=1, max_value=300), min_size=2, max_size=2),
)
def test_p_undecided_decreases_with_the_cap(p, k, v, caps):
    lo, hi = sorted(caps)
    u_lo, u_hi = maths.p_undecided(p, k, lo, v), maths.p_undecided(p, k, hi, v)
    assert 0.0 <= u_hi <= u_lo + 1e-12  # non-increasing, up to float rounding
    assert u_lo <= 1.0
    dist = maths.samples_pmf(p, k, v, limit=lo, tail=0.0)
    assert u_lo == pytest.approx(1.0 - sum(dist.pmf), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(min_value=0.55, max_value=0.99),
    k=st.integers(min_value=1, max_value=12),
    c=st.one_of(st.none(), st.integers(min_value=1, max_value=6)),
    v=st.floats(min_value=0.5, max_value=1.0),
)
def test_rounds_properties(p, k, c, v):
    stats = maths.round_stats(p, k, concurrency=c, valid_rate=v)
    assert stats.p_correct == pytest.approx(maths.p_step(p, k), rel=1e-9)
    assert 1.0 - 1e-9 <= stats.rounds <= maths.expected_votes(p, k) + 1e-9
    assert stats.waves >= stats.rounds - 1e-9
    if c is None and v == 1.0:
        assert stats.waves == pytest.approx(stats.rounds)


# --------------------------------------------------------------------------- Monte Carlo
