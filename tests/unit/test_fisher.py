"""Fisher's exact test for two proportions, and Holm's adjustment: reference values and properties."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maker_cli.core.stats import FISHER_RELATIVE_TOLERANCE, fisher_exact, holm

# (a_correct, a_trials, b_correct, b_trials) -> two-sided p-value from scipy.stats.fisher_exact (SciPy 1.17.1)
# on the table [[a_correct, a_trials - a_correct], [b_correct, b_trials - b_correct]]
SCIPY_REFERENCE = [
    ((3, 4, 1, 4), 0.48571428571428565),  # the lady tasting tea: 17/35
    ((1, 4, 3, 4), 0.48571428571428565),
    ((8, 10, 1, 6), 0.034965034965034975),  # SciPy's docstring example
    ((10, 10, 7, 12), 0.039644565960355434),
    ((7, 9, 12, 40), 0.018781504628977548),
    ((1, 20, 15, 20), 1.002114461513794e-05),  # lopsided
    ((0, 10, 5, 10), 0.032507739938080496),  # zeros
    ((10, 10, 0, 10), 1.082508822446903e-05),
    ((0, 3, 9, 9), 0.004545454545454545),
    ((2, 50, 0, 3), 1.0),
    ((5, 10, 5, 10), 1.0),  # equal proportions
    ((50, 100, 50, 100), 1.0),
    ((30, 60, 15, 30), 1.0),
    ((480, 1000, 51, 100), 0.6005044575048062),
    ((950, 1000, 900, 1000), 2.747498052166883e-05),  # large, with exact ties (a_trials == b_trials)
    ((900, 1000, 950, 1000), 2.747498052166883e-05),
    ((50000, 100000, 50300, 100000), 0.18116548544759448),  # ~100,000 trials per side
    ((9000, 100000, 9300, 100000), 0.020398052796212013),
    ((99990, 100000, 99950, 100000), 1.610016237732489e-07),
    ((1, 100000, 30, 100000), 2.9741745707480174e-08),
    ((0, 100000, 200, 100000), 1.1266146840334576e-60),
]


@pytest.mark.parametrize("counts,expected", SCIPY_REFERENCE)
def test_matches_scipy(counts: tuple[int, int, int, int], expected: float) -> None:
    # lgamma of arguments near 1e5 carries ~1e-10 absolute error, so large tables agree to ~1e-9
    assert fisher_exact(*counts) == pytest.approx(expected, rel=1e-8)


def test_lady_tasting_tea() -> None:
    assert fisher_exact(3, 4, 1, 4) == pytest.approx(0.4857142857142857, rel=1e-12)


def brute_force(a_correct: int, a_trials: int, b_correct: int, b_trials: int) -> Fraction:
    """Exact two-sided p-value by enumerating every table with the observed margins."""
    correct = a_correct + b_correct
    wrong = a_trials + b_trials - correct
    weight = {x: math.comb(correct, x) * math.comb(wrong, a_trials - x) for x in range(a_trials + 1)}
    total = sum(weight.values())
    limit = Fraction(weight[a_correct]) * (1 + Fraction(FISHER_RELATIVE_TOLERANCE))
    return Fraction(sum(w for w in weight.values() if w <= limit), total)


@st.composite
def tables(draw: st.DrawFn, max_trials: int = 30) -> tuple[int, int, int, int]:
    a_trials = draw(st.integers(0, max_trials))
    b_trials = draw(st.integers(0, max_trials))
    return draw(st.integers(0, a_trials)), a_trials, draw(st.integers(0, b_trials)), b_trials


@given(tables())
def test_matches_brute_force(counts: tuple[int, int, int, int]) -> None:
    expected = brute_force(*counts)
    assert fisher_exact(*counts) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


@given(tables(max_trials=300))
def test_symmetries(counts: tuple[int, int, int, int]) -> None:
    a, n, b, m = counts
    p = fisher_exact(a, n, b, m)
    assert 0.0 <= p <= 1.0
    assert fisher_exact(b, m, a, n) == pytest.approx(p, rel=1e-9)  # swap the samples
    assert fisher_exact(n - a, n, m - b, m) == pytest.approx(p, rel=1e-9)  # swap correct and wrong


@pytest.mark.parametrize(
    "counts",
    [(0, 0, 0, 0), (0, 0, 3, 5), (4, 7, 0, 0), (0, 5, 0, 7), (5, 5, 7, 7), (100000, 100000, 100000, 100000)],
)
def test_degenerate_margins_give_one(counts: tuple[int, int, int, int]) -> None:
    assert fisher_exact(*counts) == 1.0


def test_observed_at_the_mode_gives_exactly_one() -> None:
    assert fisher_exact(50000, 100000, 50000, 100000) == 1.0


def test_extreme_table_underflows_to_zero_not_an_error() -> None:
    assert fisher_exact(0, 100000, 100000, 100000) == 0.0


@pytest.mark.parametrize("counts", [(-1, 5, 0, 5), (6, 5, 0, 5), (0, 5, -1, 5), (0, 5, 6, 5), (0, -1, 0, 5)])
def test_invalid_counts_raise(counts: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="correct"):
        fisher_exact(*counts)


@pytest.mark.parametrize(
    "raw,adjusted",
    [
        ([], []),
        ([0.2], [0.2]),
        ([0.5, 0.2], [0.5, 0.4]),
        # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        # 0.3*3 = 0.9, 0.6*2 = 1.2 -> capped at 1, 0.9*1 -> raised to 1
        ([0.3, 0.6, 0.9], [0.9, 1.0, 1.0]),
        ([0.01, 0.01], [0.02, 0.02]),
        ([0.0, 1.0], [0.0, 1.0]),
    ],
)
def test_holm_known_values(raw: list[float], adjusted: list[float]) -> None:
    assert holm(raw) == pytest.approx(adjusted, rel=1e-12)


@given(st.lists(st.floats(0.0, 1.0), max_size=20))
def test_holm_properties(raw: list[float]) -> None:
    adjusted = holm(raw)
    m = len(raw)
    assert len(adjusted) == m
    for p, q in zip(raw, adjusted, strict=True):
        assert p <= q <= min(1.0, m * p) + 1e-12  # between the raw p and Bonferroni
    for i in range(m):
        for j in range(m):
            if raw[i] <= raw[j]:
                assert adjusted[i] <= adjusted[j]


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_holm_rejects_non_probabilities(bad: float) -> None:
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, bad])
