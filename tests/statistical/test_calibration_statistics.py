"""Calibration's 95% Wilson intervals cover the simulated model's true p and valid rate about 95% of the time."""

from __future__ import annotations

import pytest

from maker_cli import calibrate


@pytest.mark.parametrize(
    "p, invalid, runs, samples",
    [(0.9, 0.1, 200, 200), (0.7, 0.3, 100, 200), (0.99, 0.02, 100, 400)],
)
def test_intervals_cover_the_true_p_and_valid_rate(p, invalid, runs, samples):
    """The simulated model's p is P(correct | valid) and 1 - invalid its valid rate: the 95% Wilson
    intervals must cover them in about 95% of seeds (not far less: biased or too narrow; not ~100%:
    too wide)."""
    cover_p = cover_v = 0
    for seed in range(runs):
        model = f"sim:p={p},invalid={invalid},seed={seed}"
        r = calibrate("hanoi", disks=8, model=model, samples=samples, seed=seed)
        assert r.samples == samples and r.valid + r.red_flagged == samples
        assert r.p == r.correct / r.valid and r.valid_rate == r.valid / r.samples
        cover_p += r.p_ci[0] <= p <= r.p_ci[1]
        cover_v += r.valid_rate_ci[0] <= 1 - invalid <= r.valid_rate_ci[1]
    assert 0.90 <= cover_p / runs <= 0.99, cover_p / runs
    assert 0.90 <= cover_v / runs <= 0.99, cover_v / runs
