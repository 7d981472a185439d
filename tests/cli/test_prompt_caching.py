"""Prompt caching through the commands: cached tokens in run/vote/calibrate results, the store and
`runs show`; `maker estimate --cached-share`; `--prompt-cache` on the wire (fake server on 127.0.0.1)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.store.run_store import RunStore
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_runs_cached_tokens_are_the_sum_of_its_stored_steps(tmp_path):
    store = tmp_path / "runs.sqlite"
    r = cli(
        "run", "hanoi", "--disks", "5", "--model", "sim:p=1,cached=0.6", "--k", "2", "--store", str(store), "--json"
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["status"] == "solved" and 0 < out["cached_tokens"] < out["input_tokens"]
    with RunStore(store) as s:
        steps = list(s.iter_steps(out["run_id"]))
        assert len(steps) == 31
        assert sum(st.cached_tokens for st in steps) == out["cached_tokens"] == s.get_run(out["run_id"]).cached_tokens
        assert sum(st.input_tokens for st in steps) == out["input_tokens"]
    shown = cli("runs", "show", out["run_id"], "--store", str(store))
    assert f"({out['cached_tokens']:,} cached)" in shown.stdout, shown.output
    as_json = json.loads(cli("runs", "show", out["run_id"], "--store", str(store), "--json").stdout)
    assert as_json["cached_tokens"] == out["cached_tokens"]


def test_a_model_without_caching_reports_zero(tmp_path):
    r = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=1", "--k", "1", "--store", str(tmp_path / "s"), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["cached_tokens"] == 0


def test_vote_reports_cached_tokens():
    r = cli("vote", "--prompt", "6*7?", "--system", "Answer with a number.", "--model", "sim:p=1,answer=42,cached=0.5")
    assert r.exit_code == 0 and "cached)" in r.stdout, r.output
    r = cli("vote", "--prompt", "6*7?", "--model", "sim:p=1,answer=42,cached=0.5", "--k", "3", "--json")
    out = json.loads(r.stdout)
    assert 0 < out["cached_tokens"] < out["input_tokens"]
    assert out["settings"]["prompt_cache"] is False and out["settings_sources"]["prompt_cache"] == "default"


def test_calibration_measures_the_cached_share_and_estimate_uses_it(tmp_path):
    path = tmp_path / "cal.json"
    r = cli(
        "calibrate", "hanoi", "--disks", "6", "--model", "sim:p=0.99,cached=0.5,seed=2", "--samples", "50",
        "--out", str(path), "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert 0 < out["mean_cached_tokens"] < out["mean_input_tokens"]
    saved = json.loads(path.read_text())
    assert saved["mean_cached_tokens"] == out["mean_cached_tokens"]
    share = saved["mean_cached_tokens"] / saved["mean_input_tokens"]
    assert share == pytest.approx(0.5 * 49 / 50, abs=0.01)  # every call but the first
    est = json.loads(cli("estimate", "--steps", "63", "--calibration", str(path), "--json").stdout)
    assert est["cached_share"] == pytest.approx(share)
    given = json.loads(
        cli("estimate", "--steps", "63", "--calibration", str(path), "--cached-share", "0", "--json").stdout
    )
    assert given["cached_share"] == 0.0  # a flag wins over the calibration


def test_estimate_prices_the_cached_share_at_the_cache_rate():
    base = ["estimate", "--steps", "1048575", "--p", "0.9978", "--output-tokens", "538", "--input-tokens", "432"]
    plain = json.loads(cli(*base, "--model", "gpt-4.1-mini", "--json").stdout)
    r = cli(*base, "--model", "gpt-4.1-mini", "--cached-share", "0.83", "--json")
    assert r.exit_code == 0, r.output
    cached = json.loads(r.stdout)
    assert (cached["price_in"], cached["price_cached"], cached["price_out"]) == (0.4, 0.1, 1.6)
    # by hand: per call 432 x (0.17 x 0.4 + 0.83 x 0.1) + 538 x 1.6 = 65.232 + 860.8 USD per million calls
    per_call = (432 * (0.17 * 0.4 + 0.83 * 0.1) + 538 * 1.6) / 1e6
    assert cached["cost_per_call_usd"] == pytest.approx(per_call, rel=1e-12)
    assert cached["cost_per_call_uncached_usd"] == pytest.approx((432 * 0.4 + 538 * 1.6) / 1e6, rel=1e-12)
    calls = cached["expected_calls"]
    assert cached["expected_cost_usd"] == pytest.approx(calls * per_call, rel=1e-9)
    assert cached["expected_cost_uncached_usd"] == pytest.approx(plain["expected_cost_usd"], rel=1e-12)
    assert cached["expected_cached_tokens"] == pytest.approx(0.83 * cached["expected_input_tokens"], rel=1e-12)
    assert plain["cached_share"] == 0.0 and plain["expected_cost_uncached_usd"] == plain["expected_cost_usd"]
    shown = cli(*base, "--model", "gpt-4.1-mini", "--cached-share", "0.83")
    assert "cost without caching" in shown.stdout and "$0.10/M cached" in shown.stdout, shown.output
    bad = cli(*base, "--model", "gpt-4.1-mini", "--cached-share", "1.5")
    assert bad.exit_code == 2


def test_without_a_cache_rate_the_share_saves_nothing():
    args = ["estimate", "--steps", "100", "--p", "0.99", "--input-tokens", "1000", "--output-tokens", "100"]
    out = json.loads(cli(*args, "--price-in", "1", "--price-out", "2", "--cached-share", "0.9", "--json").stdout)
    assert out["price_cached"] is None and out["expected_cost_usd"] == out["expected_cost_uncached_usd"]
    assert any("no cache rate" in note for note in out["notes"])


def test_prompt_cache_marks_the_system_message_of_every_request(tmp_path):
    store = tmp_path / "runs.sqlite"
    common = ["--model", "openai/fake", "--k", "1", "--price-in", "1", "--price-out", "1", "--store", str(store)]
    with FakeOpenAIServer(responder=sim_responder("sim:p=1"), cached_share=0.5) as srv:
        r = cli("run", "hanoi", "--disks", "3", "--api-base", srv.base_url, *common, "--prompt-cache", "--json")
        assert r.exit_code == 0, r.output
        bodies = srv.bodies
    out = json.loads(r.stdout)
    assert out["settings"]["prompt_cache"] is True and out["settings_sources"]["prompt_cache"] == "flag"
    assert len(bodies) == 7
    for body in bodies:
        system, user = body["messages"]
        assert system["role"] == "system" and isinstance(system["content"], list)
        (block,) = system["content"]
        assert block["type"] == "text" and block["cache_control"] == {"type": "ephemeral"}
        assert isinstance(user["content"], str)
    # the fake server counts words: the first request writes the cache, the other six read half of it
    with RunStore(store) as s:
        steps = list(s.iter_steps(out["run_id"]))
    assert steps[0].cached_tokens == 0 and all(st.cached_tokens == st.input_tokens // 2 for st in steps[1:])
    assert out["cached_tokens"] == sum(st.cached_tokens for st in steps) > 0


def test_prompt_cache_on_vote_and_calibrate():
    with FakeOpenAIServer(responder=sim_responder("sim:p=1,answer=42")) as srv:
        r = cli(
            "vote", "--prompt", "q", "--system", "Answer.", "--model", "openai/fake", "--api-base", srv.base_url,
            "--k", "1", "--prompt-cache", "--json",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert srv.bodies[0]["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
        srv.reset_counters()
        r = cli(
            "calibrate", "hanoi", "--disks", "3", "--samples", "3", "--model", "openai/fake", "--api-base",
            srv.base_url, "--price-in", "1", "--price-out", "1", "--prompt-cache", "--json",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert all(b["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"} for b in srv.bodies)


def test_validate_warns_when_system_changes_every_step(tmp_path):
    from maker_cli.examples import example_path

    text = example_path("addition").read_text()
    assert "system: |\n" in text
    spec = tmp_path / "state_in_system.yaml"
    spec.write_text(text.replace("system: |\n", "system: |\n  Step {{step}}, state {{state}}.\n", 1))
    r = cli("run", "task", str(spec), "--input", "a=12", "--input", "b=34", "--validate", "--json")
    assert r.exit_code == 0, r.output
    (warning,) = [w for w in json.loads(r.stdout)["warnings"] if "prompt cache" in w]
    assert "{{step}}, {{state}}" in warning
    plain = cli("run", "task", str(example_path("addition")), "--input", "a=12", "--input", "b=34",
                "--validate", "--json")  # fmt: skip
    assert not [w for w in json.loads(plain.stdout)["warnings"] if "prompt cache" in w]
