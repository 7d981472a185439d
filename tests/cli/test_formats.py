"""Numbers for people (`maker_cli.cli.display.formats`): counts, dollars, probabilities, durations —
never in exponent notation where a person expects digits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.cli.display import formats


@pytest.mark.parametrize(
    ("show", "value", "text"),
    [
        (formats.number, None, "-"),
        (formats.number, 3.0, "3"),
        (formats.number, 12345.6, "12,346"),
        (formats.number, 0.1234567, "0.1235"),
        (formats.number, 9999.4, "9999"),
        (formats.number, 9999.99, "10,000"),  # the regression: "1e+04"
        (formats.big, 0.5, "0.5"),
        (formats.big, 999, "999"),
        (formats.big, 1500, "1.5k"),
        (formats.big, 2.5e6, "2.5M"),
        (formats.big, 3e9, "3G"),
        (formats.big, 4e12, "4T"),
        (formats.big, 999.7, "1k"),  # the regression: "1e+03"
        (formats.big, 999_999, "1M"),  # the regression: "1e+03k"
        (formats.usd, None, "unknown"),
        (formats.usd, 1234.5, "$1,234"),
        (formats.usd, 12.345, "$12.35"),
        (formats.usd, 0, "$0.00"),
        (formats.usd, 0.00123, "$0.00123"),
        (formats.money, None, "unknown"),
        (formats.money, 1.23456, "$1.2346"),
        (formats.money, 1234.567, "$1,234.57"),
        (formats.price, 0.4, "$0.40"),
        (formats.price, 0.005, "$0.005"),
        (formats.integer, None, "-"),
        (formats.integer, 1234.4, "1,234"),
        (formats.probability, None, "-"),
        (formats.probability, 1.0, "1"),
        (formats.probability, 0.0, "~0"),
        (formats.probability, 0.0005, "0.0005"),
        (formats.probability, 0.95, "0.9500"),
        (formats.probability, 0.99999, "1 - 1e-05"),
        (formats.duration, 5, "5 s"),
        (formats.duration, 600, "10 min"),
        (formats.duration, 10_000, "2.8 h"),
        (formats.duration, 400_000, "4.6 days"),
    ],
)
def test_examples(show, value, text):
    assert show(value) == text


def test_a_small_probability_on_request_keeps_its_significant_digits():
    assert formats.probability(0.5, small=True) == "0.5" and formats.probability(0.123456, small=True) == "0.123"


@given(st.floats(min_value=0, max_value=1e14, allow_nan=False))
def test_counts_and_sizes_below_a_quadrillion_are_never_in_exponent_notation(x):
    assert "e+" not in formats.number(x)
    assert "e+" not in formats.big(x)


def test_the_estimate_shows_token_counts_near_a_unit_boundary_in_digits():
    """The regression: 999,999 input tokens in all showed as '1e+03k', 9,999.7 per call as '1e+04'."""
    r = CliRunner().invoke(
        app,
        ["estimate", "--steps", "1", "--p", "1", "--input-tokens", "999999", "--output-tokens", "9999.7"]
        + ["--price-in", "1", "--price-out", "1"],
    )
    assert r.exit_code == 0, r.output
    assert re.search(r"^input tokens\s+1M\s+999,999 per call", r.stdout, re.M), r.stdout
    assert re.search(r"^output tokens\s+10k\s+10,000 per call", r.stdout, re.M), r.stdout
    assert "e+" not in r.stdout


def test_a_count_of_one_takes_the_singular():
    assert formats.counted(1, "step") == "1 step" and formats.counted(0, "step") == "0 steps"
    assert (
        formats.counted(1_024, "retry", "retries") == "1,024 retries"
        and formats.counted(1, "retry", "retries") == "1 retry"
    )
    assert formats.low_confidence_line(1, 0.99, 0.95) == "1 step below 0.9900, what each step needs for the target 0.95"
    assert formats.p_short(0.9884851113651686) == "0.988485" and formats.p_short(None) == "None"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_human_output_says_1_step_and_1_sample(tmp_path):
    """A one-step run, a one-sample vote, a one-step estimate: no `1 steps`, no `1 samples`."""
    ran = cli(
        "run", "hanoi", "--disks", "1", "--model", "sim:p=1", "--p", "0.99", "--store", str(tmp_path / "s.sqlite")
    )
    voted = cli("vote", "--prompt", "q", "--model", "sim:p=1,answer=4", "--k", "1")
    estimated = cli("estimate", "--steps", "1", "--p", "0.9", "--k", "1", "--max-samples", "1")
    assert ran.exit_code == 0 and voted.exit_code == 0 and estimated.exit_code == 0, ran.output + voted.output
    assert "hanoi-1: 1 step, model" in ran.stdout and "over 1 step)" in ran.stdout
    assert "1 sample in all" in ran.stdout and "solved: 1/1 step, 0 wrong, 1 sample (0 red-flagged)" in ran.stdout
    assert "round 1: leader '4' with margin 1/1; 1 sample, 0 red-flagged" in voted.stdout
    assert "maker estimate: 1 step, target" in estimated.stdout and "stops at 1 sample or " in estimated.stdout
    everything = ran.stdout + voted.stdout + estimated.stdout
    assert not re.search(r"\b1 (steps|samples|rounds|retries|red flags)\b", everything), everything
