"""`maker estimate` through the CLI: tables, JSON, calibration files, prices, budgets, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.core import maths
from maker_cli.errors import SpecError
from maker_cli.jobs.calibration_file import Calibration, load_calibration, save_calibration

WIDTH = 100
REQUIRED_KEYS = {
    "steps",
    "p",
    "target",
    "m",
    "k",
    "k_min",
    "p_step",
    "p_full",
    "valid_rate",
    "expected_votes_per_step",
    "expected_votes_per_step_approx",
    "expected_samples_per_step",
    "expected_calls",
    "expected_input_tokens",
    "expected_output_tokens",
    "expected_cost_usd",
    "cost_p50_usd",
    "cost_p95_usd",
    "cost_p99_usd",
    "expected_rounds_per_step",
    "expected_wall_s",
    "p_undecided_per_step",
    "approximations",
    "m_comparison",
}


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["estimate", *args], env={"COLUMNS": str(WIDTH), "NO_COLOR": "1"})

    return invoke


def run_json(run, *args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def make_calibration(**changes) -> Calibration:
    data = dict(
        model="gpt-4.1-mini",
        task="hanoi",
        temperature=0.1,
        p=0.9,
        p_ci=(0.88, 0.92),
        valid_rate=0.95,
        valid_rate_ci=(0.93, 0.97),
        mean_input_tokens=1200.0,
        mean_output_tokens=400.0,
        price_in=1.0,
        price_out=2.0,
        samples=1000,
        created_at=datetime(2026, 1, 30, tzinfo=UTC),
        method="wilson",
    )
    data.update(changes)
    return Calibration(**data)


# --------------------------------------------------------------------------- output


def test_table_renders_and_explains_itself(run):
    result = run("--steps", "1023", "--p", "0.85")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "k (vote margin)",
        "P(all steps correct)",
        "valid votes / step",
        "probability that one valid",
        "k_min",
        "steps per agent m",
        "approximations:",
    ):
        assert text in out
    assert "Traceback" not in result.output
    assert max(len(line) for line in out.splitlines()) <= WIDTH


def test_table_with_everything(run):
    result = run(
        "--steps",
        "100",
        "--p",
        "0.9",
        "--output-tokens",
        "500",
        "--input-tokens",
        "1000",
        "--price-in",
        "1",
        "--price-out",
        "2",
        "--latency",
        "2",
        "--max-samples",
        "20",
        "--budget",
        "1",
        "--sweep",
    )
    assert result.exit_code == 0, result.output
    for text in ("cost (expected)", "cost p95", "wall time", "P(step undecided)", "budget", "sweep over k"):
        assert text in result.stdout


def test_json_keys_and_values(run):
    data = run_json(run, "--steps", "1023", "--p", "0.85")
    assert data.keys() >= REQUIRED_KEYS
    assert data["k_min"] == data["k"] == maths.k_min(0.85, 1023, 0.95) == 6
    assert data["p_full"] >= 0.95
    assert data["expected_cost_usd"] is None and data["cost_p95_usd"] is None
    assert data["expected_wall_s"] is None
    # valid rate 1 and no cap: nothing can stop a step, so P(success) = P(all steps correct)
    assert data["p_undecided_per_step"] == 0.0 and data["p_undecided_job"] == 0.0
    assert data["p_success"] == data["p_full"] and data["meets_target"] is True
    assert data["max_red_flags"] == maths.default_max_red_flags(6) and data["max_red_flags_derived"] is True
    assert "expected_votes_per_step_approx" in data["approximations"]
    assert data["budget_usd"] is None and data["sweep"] is None  # null without --budget / --sweep
    assert [row["m"] for row in data["m_comparison"]] == [1, 2, 4, 8]


def test_json_for_given_k_and_costs(run):
    data = run_json(
        run,
        "--steps",
        "1",
        "--p",
        "0.85",
        "--k",
        "3",
        "--output-tokens",
        "500",
        "--input-tokens",
        "1000",
        "--price-in",
        "0.4",
        "--price-out",
        "1.6",
        "--latency",
        "1.5",
        "--concurrency",
        "2",
    )
    assert data["expected_votes_per_step"] == pytest.approx(4.2389, abs=1e-4)
    assert data["expected_votes_per_step_approx"] == pytest.approx(3 / 0.7)
    assert data["p_step"] == pytest.approx(4913 / 4940)
    per_call = (1000 * 0.4 + 500 * 1.6) / 1e6
    assert data["cost_per_call_usd"] == pytest.approx(per_call)
    assert data["expected_cost_usd"] == pytest.approx(4.2389 * per_call, rel=1e-4)
    assert data["expected_input_tokens"] == pytest.approx(1000 * data["expected_calls"])
    assert data["percentile_method"] == "exact"  # one step: the exact distribution
    assert data["cost_p50_usd"] <= data["cost_p95_usd"] <= data["cost_p99_usd"]
    stats = maths.round_stats(0.85, 3, concurrency=2)
    assert data["expected_rounds_per_step"] == pytest.approx(stats.rounds)
    assert data["expected_wall_s"] == pytest.approx(stats.waves * 1.5)


def test_valid_rate_and_m(run):
    data = run_json(
        run,
        "--steps",
        "1000",
        "--p",
        "0.95",
        "--valid-rate",
        "0.8",
        "--m",
        "2",
        "--output-tokens",
        "100",
        "--price-out",
        "1",
    )
    assert data["agents"] == 500
    assert data["p_vote"] == pytest.approx(0.95**2)
    assert data["k_min"] == maths.k_min(0.95, 1000, 0.95, m=2)
    votes = maths.expected_votes(0.95**2, data["k"])
    assert data["expected_samples_per_step"] == pytest.approx(votes / 0.8)
    assert data["output_tokens_per_call"] == 200  # tokens scale with m
    rows = {row["m"]: row for row in data["m_comparison"]}
    assert rows[1]["relative_cost"] == 1.0 and rows[2]["relative_cost"] > 1.0
    assert rows[8]["converges"] is True  # 0.95^8 = 0.66


def test_m_that_cannot_converge(run):
    data = run_json(run, "--steps", "100", "--p", "0.8")
    rows = {row["m"]: row for row in data["m_comparison"]}
    assert rows[4]["converges"] is False and rows[4]["k_min"] is None  # 0.8^4 = 0.41
    result = run("--steps", "100", "--p", "0.8", "--m", "4")
    assert result.exit_code == 1
    assert "cannot converge" in result.stderr


def test_max_samples_and_sweep(run):
    data = run_json(run, "--steps", "50", "--p", "0.8", "--max-samples", "12", "--sweep")
    expected = maths.p_undecided(0.8, data["k"], 12)
    assert data["p_undecided_per_step"] == pytest.approx(expected)
    assert data["p_undecided_job"] == pytest.approx(1 - (1 - expected) ** 50)
    assert data["p_success"] == pytest.approx(data["p_full"] * (1 - expected) ** 50)
    ks = [row["k"] for row in data["sweep"]]
    assert data["k_min"] in ks
    for row in data["sweep"]:  # the sweep's target test folds the stops in too
        assert row["meets_target"] is (row["p_success"] >= data["target"])
        assert row["p_success"] <= row["p_full"]
    row = next(r for r in data["sweep"] if r["k"] == data["k_min"])
    assert row["meets_target"] is False  # 12 samples leave too many steps undecided at k_min
    roomy = run_json(run, "--steps", "50", "--p", "0.8", "--max-samples", "200", "--sweep")
    row = next(r for r in roomy["sweep"] if r["k"] == roomy["k_min"])
    assert row["meets_target"] is True and roomy["meets_target"] is True
    below = [r for r in roomy["sweep"] if r["k"] < roomy["k_min"]]
    assert below and not any(r["meets_target"] for r in below)


def test_k_below_k_min_warns(run):
    result = run("--steps", "1000", "--p", "0.9", "--k", "1", "--json")
    assert result.exit_code == 0
    assert "below k_min" in result.stderr
    data = json.loads(result.stdout)
    assert data["k"] == 1 and data["meets_target"] is False and data["warnings"]


# --------------------------------------------------------------------------- budget


def test_budget_affordable(run):
    data = run_json(
        run, "--steps", "1000", "--p", "0.9", "--output-tokens", "1000", "--price-out", "1", "--budget", "100"
    )
    assert data["budget_usd"] == 100 and data["affordable"] is True
    assert data["cost_at_k_min"] == pytest.approx(data["expected_cost_usd"])
    k_max = data["max_k_within_budget"]
    assert k_max >= data["k_min"]
    cost = lambda k: 1000 * maths.expected_votes(0.9, k) * 1000 * 1 / 1e6  # noqa: E731
    assert cost(k_max) <= 100 < cost(k_max + 1)
    assert data["max_target_within_budget"] == pytest.approx(maths.p_full(0.9, k_max, 1000))


def test_budget_not_affordable(run):
    result = run(
        "--steps", "1000", "--p", "0.9", "--output-tokens", "1000", "--price-out", "1", "--budget", "5", "--json"
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["affordable"] is False
    assert data["cost_at_k_min"] > 5
    assert data["max_k_within_budget"] < data["k_min"]
    assert data["max_target_within_budget"] < data["target"]
    assert "over the budget" in result.stderr


def test_budget_not_even_k1(run):
    data = run_json(
        run, "--steps", "1000", "--p", "0.9", "--output-tokens", "1000", "--price-out", "1", "--budget", "0.5"
    )
    assert data["affordable"] is False
    assert data["max_k_within_budget"] is None and data["max_target_within_budget"] is None


def test_budget_needs_prices(run):
    result = run("--steps", "10", "--p", "0.9", "--budget", "5")
    assert result.exit_code == 2
    assert "--budget needs" in result.stderr


# --------------------------------------------------------------------------- calibration and prices


def test_calibration_round_trip(run, tmp_path):
    path = tmp_path / "cal.json"
    cal = make_calibration()
    save_calibration(cal, path)
    assert load_calibration(path) == cal
    data = run_json(run, "--steps", "500", "--calibration", str(path))
    assert data["p"] == cal.p_ci[0] and data["valid_rate"] == 0.95  # the lower bound, as run uses it
    assert data["model"] == "gpt-4.1-mini"
    assert (data["price_in"], data["price_out"], data["price_source"]) == (1.0, 2.0, "calibration")
    assert data["input_tokens_per_call"] == 1200 and data["output_tokens_per_call"] == 400
    assert data["expected_cost_usd"] == pytest.approx(data["expected_calls"] * (1200 * 1 + 400 * 2) / 1e6)
    assert data["calibration_file"] == str(path)
    # explicit flags override the file
    data = run_json(run, "--steps", "500", "--calibration", str(path), "--p", "0.8", "--price-out", "3")
    assert data["p"] == 0.8 and data["valid_rate"] == 0.95
    assert data["price_out"] == 3 and data["price_in"] == 1.0


def test_calibration_without_prices_uses_the_model(run, tmp_path):
    path = tmp_path / "cal.json"
    save_calibration(make_calibration(price_in=None, price_out=None), path)
    data = run_json(run, "--steps", "10", "--calibration", str(path))
    assert (data["price_in"], data["price_out"], data["price_source"]) == (0.4, 1.6, "litellm")


def test_bad_calibration_names_file_and_field(run, tmp_path):
    path = tmp_path / "bad.json"
    raw = json.loads(make_calibration().model_dump_json())
    raw["colour"] = "blue"
    path.write_text(json.dumps(raw))
    result = run("--steps", "10", "--calibration", str(path))
    assert result.exit_code == 2
    assert str(path) in result.stderr and "colour" in result.stderr
    raw.pop("colour")
    raw["p_ci"] = [0.95, 0.99]  # does not contain p = 0.9
    path.write_text(json.dumps(raw))
    with pytest.raises(SpecError, match="p_ci"):
        load_calibration(path)
    path.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_calibration(path)


def test_known_model_prices(run):
    data = run_json(run, "--steps", "100", "--p", "0.99", "--model", "gpt-4.1-mini", "--output-tokens", "500")
    assert (data["price_in"], data["price_out"]) == (0.4, 1.6)
    assert data["expected_cost_usd"] == pytest.approx(data["expected_calls"] * 500 * 1.6 / 1e6)
    prefixed = run_json(run, "--steps", "100", "--p", "0.99", "--model", "openai/gpt-4.1-mini")
    assert (prefixed["price_in"], prefixed["price_out"]) == (0.4, 1.6)
    override = run_json(run, "--steps", "100", "--p", "0.99", "--model", "gpt-4.1-mini", "--price-out", "9")
    assert (override["price_in"], override["price_out"]) == (0.4, 9)


def test_unknown_model(run):
    result = run("--steps", "100", "--p", "0.99", "--model", "no-such-model-xyz", "--output-tokens", "5")
    assert result.exit_code == 2
    assert "no-such-model-xyz" in result.stderr and "--price-in" in result.stderr
    data = run_json(
        run,
        "--steps",
        "100",
        "--p",
        "0.99",
        "--model",
        "no-such-model-xyz",
        "--price-in",
        "1",
        "--price-out",
        "2",
        "--output-tokens",
        "5",
    )
    assert data["price_out"] == 2


def test_litellm_prices_match_litellm_itself():
    """The bundled price map read without importing litellm agrees with litellm.model_cost.

    Runs in a subprocess so litellm is not left imported in the test session.
    """
    code = (
        "import os, sys\n"
        "from maker_cli.providers import prices as pricing\n"
        "bundled = pricing.model_prices('gpt-4.1-mini')\n"
        "assert 'litellm' not in sys.modules\n"
        "os.environ.setdefault('LITELLM_LOCAL_MODEL_COST_MAP', 'True')\n"
        "import litellm\n"
        "e = litellm.model_cost['gpt-4.1-mini']\n"
        "live = pricing.model_prices('gpt-4.1-mini')\n"
        "ref = (round(e['input_cost_per_token'] * 1e6, 9), round(e['output_cost_per_token'] * 1e6, 9))\n"
        "print(bundled, live, ref)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(0.4,", "1.6)", "(0.4,", "1.6)", "(0.4,", "1.6)"]


def test_pricing_helpers():
    from maker_cli.providers import prices as pricing

    assert pricing.model_prices("surely-not-a-model") is None
    assert pricing.call_cost(1000, 500, 0.4, 1.6) == pytest.approx(0.0012)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--steps", "10", "--p", "0.5"], 1),
        (["--steps", "10", "--p", "0.3"], 1),
        (["--steps", "10", "--p", "1.2"], 2),
        (["--steps", "0", "--p", "0.9"], 2),
        (["--steps", "10", "--p", "0.9", "--k", "0"], 2),
        (["--steps", "10", "--p", "0.9", "--m", "0"], 2),
        (["--steps", "10", "--p", "0.9", "--target", "1.5"], 2),
        (["--steps", "10", "--p", "0.9", "--target", "0"], 2),
        (["--steps", "10", "--p", "0.9", "--valid-rate", "0"], 2),
        (["--steps", "10", "--p", "0.9", "--latency", "-1"], 2),
        (["--steps", "10", "--p", "0.9", "--concurrency", "0"], 2),
        (["--p", "0.9"], 2),
        (["--steps", "10"], 2),
    ],
)
def test_bad_input_exit_codes(run, args, code):
    for extra in ([], ["--json"]):
        result = run(*args, *extra)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        assert result.stdout == ""
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:")


def test_p_at_half_explains(run):
    result = run("--steps", "10", "--p", "0.5")
    assert "cannot" in result.stderr and "0.5" in result.stderr


# --------------------------------------------------------------------------- start-up


def test_estimate_imports_neither_litellm_nor_mcp_nor_yaml():
    """The start-up path stays light: litellm (about 2 s), mcp (0.4 s), PyYAML (11 ms, needed
    only when a file is parsed), the charting and metrics libraries and the run machinery (about
    0.2 s; `estimate` once imported it for one helper) are left unloaded."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from maker_cli.cli.app import app\n"
        "r = CliRunner().invoke(app, ['estimate', '--steps', '100', '--p', '0.9', '--model', 'gpt-4.1-mini',"
        " '--output-tokens', '10'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "heavy = ('litellm', 'mcp', 'yaml', 'plotly', 'plotext', 'prometheus_client', 'maker_cli.jobs.run',"
        " 'maker_cli.cli.run')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_wall_time_figure_is_consistent(run):
    data = run_json(run, "--steps", "200", "--p", "0.75", "--latency", "3", "--concurrency", "4", "--valid-rate", "0.9")
    stats = maths.round_stats(0.75, data["k"], concurrency=4, valid_rate=0.9)
    assert data["expected_wall_s"] == pytest.approx(200 * stats.waves * 3)
    assert "expected_wall_s" in data["approximations"]
    assert math.isfinite(data["expected_rounds_per_step"])


# --------------------------------------------------------------------------- exact where it says so (issue "Hardening")


def test_undecided_tail_is_exact(run):
    """It said P(undecided) = 2.2e-10 for the job (a normal tail); the exact value is 0.997."""
    data = run_json(run, "--steps", "1000000", "--p", "0.52", "--max-samples", "20000")
    assert data["k"] == 210
    assert data["p_undecided_job"] == pytest.approx(0.99733506, rel=1e-6)
    assert data["p_undecided_per_step"] == pytest.approx(maths.p_undecided(0.52, 210, 20000), rel=1e-12, abs=0)
    assert not {"p_undecided_per_step", "p_undecided_job"} & set(data["approximations"])
    assert data["meets_target"] is False and data["p_success"] < 0.01


def test_tiny_undecided_is_the_value(run):
    data = run_json(run, "--steps", "1", "--p", "0.99979796", "--k", "5", "--max-samples", "19")
    assert data["p_undecided_per_step"] == pytest.approx(1.3163435e-25, rel=1e-6, abs=0)


def test_red_flag_stop_is_in_the_estimate(run, monkeypatch, tmp_path):
    """The engine stops a step at max_red_flags red flags; the estimate prices exactly that stop."""
    base = ("--steps", "1023", "--p", "0.6", "--valid-rate", "0.5", "--max-samples", "100000")
    derived = run_json(run, *base)
    assert derived["max_red_flags"] == maths.default_max_red_flags(25, 0.5) and derived["max_red_flags_derived"]
    assert derived["p_undecided_per_step"] < 1e-20 and derived["meets_target"] is True
    given = run_json(run, *base, "--max-red-flags", "200")
    assert given["max_red_flags"] == 200 and given["max_red_flags_derived"] is False
    assert given["p_undecided_per_step"] == pytest.approx(0.10100104, rel=1e-6)
    assert given["expected_samples_per_step"] < derived["expected_samples_per_step"]
    assert given["meets_target"] is False
    # settable like every setting: the environment and the config file
    monkeypatch.setenv("MAKER_MAX_RED_FLAGS", "200")
    assert run_json(run, *base)["max_red_flags"] == 200
    monkeypatch.delenv("MAKER_MAX_RED_FLAGS")
    config = tmp_path / "maker.yaml"
    config.write_text("max_red_flags: 300\n")
    result = CliRunner().invoke(app, ["--config", str(config), "estimate", *base, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max_red_flags"] == 300
    assert run(*base, "--max-red-flags", "0").exit_code == 2


def test_meets_target_needs_every_step_decided(run):
    result = run("--steps", "1023", "--p", "0.85", "--max-samples", "20", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["p_full"] >= 0.95 and data["p_undecided_job"] == pytest.approx(0.98876215, rel=1e-6)
    assert data["meets_target"] is False
    assert data["p_success"] == pytest.approx(data["p_full"] * (1 - data["p_undecided_job"]), rel=1e-9)
    assert "undecided steps dominate" in result.stderr
    table = run("--steps", "1023", "--p", "0.85", "--max-samples", "20")
    assert "P(job succeeds)" in table.stdout and "misses" in table.stdout


def test_percentiles_exact_for_one_step(run):
    data = run_json(run, "--steps", "1", "--p", "0.55", "--k", "30")
    assert data["percentile_method"] == "exact"
    assert data["calls_p99"] == 880.0
    assert "calls_p99" not in data["approximations"]


def test_given_k_works_near_one_half(run):
    """--steps 1 --p 0.5000001 --k 3 exited 1 because k_min was checked first, and said "p = 0.5"."""
    result = run("--steps", "1", "--p", "0.5000001", "--k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["k"] == 3 and data["k_min"] > 100_000 and data["meets_target"] is False
    assert "0.5000001" in result.stderr and "not practical" in result.stderr
    refused = run("--steps", "1", "--p", "0.5000001")
    assert refused.exit_code == 1 and "p = 0.5000001 " in refused.stderr
    table = run("--steps", "1", "--p", "0.5000001", "--k", "3")
    assert "p = 0.5000001:" in table.stdout


def test_p_range_is_one_rule(run):
    data = run_json(run, "--steps", "10", "--p", "1")
    assert data["k"] == 1 and data["p_full"] == 1.0 and data["expected_votes_per_step"] == 1.0
    assert any("degenerate" in note for note in data["notes"])
    result = run("--steps", "10", "--p", "1.0000001")
    assert result.exit_code == 2 and "(0.5, 1]" in result.stderr


def test_leftover_agent_has_its_own_steps(run):
    data = run_json(run, "--steps", "10", "--p", "0.9", "--m", "4", "--output-tokens", "100", "--price-out", "1")
    k = data["k"]
    assert data["agents"] == 3
    assert data["p_full"] == pytest.approx(maths.p_step(0.9**4, k) ** 2 * maths.p_step(0.9**2, k), rel=1e-12)
    calls = 2 * maths.expected_votes(0.9**4, k) + maths.expected_votes(0.9**2, k)
    assert data["expected_calls"] == pytest.approx(calls, rel=1e-12)
    units = 2 * 4 * maths.expected_votes(0.9**4, k) + 2 * maths.expected_votes(0.9**2, k)
    assert data["expected_cost_usd"] == pytest.approx(units * 100 / 1e6, rel=1e-12)


@pytest.mark.parametrize("rate", ["1e-300", "1e-7"])
def test_a_vanishing_valid_rate_is_one_line_and_exit_2(rate):
    """The regression: `--valid-rate 1e-300` was a ZeroDivisionError (internal error, exit 1)."""
    r = CliRunner().invoke(app, ["estimate", "--steps", "1000", "--p", "0.9", "--valid-rate", rate, "--json"])
    assert r.exit_code == 2 and r.stdout == "" and "below 1e-06" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    ok = CliRunner().invoke(app, ["estimate", "--steps", "1000", "--p", "0.9", "--valid-rate", "1e-6", "--json"])
    assert ok.exit_code == 0, ok.output
