"""`maker vote` through the CLI: free prompts, task specs, JSON, exit codes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_vote_free_prompt_json_decided():
    r = run("vote", "--prompt", "6*7?", "--model", "sim:p=0.8,answer=42,seed=3", "--k", "3", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["decided"] is True and out["winner"] == "42"
    for key in (
        "winner",
        "decided",
        "votes",
        "samples",
        "red_flagged",
        "red_flag_reasons",
        "errors",
        "rounds",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "model",
    ):
        assert key in out
    assert out["simulated"] is True
    assert out["votes"]["42"] - max([v for k, v in out["votes"].items() if k != "42"] or [0]) >= 3


def test_a_huge_k_needs_an_explicit_sample_cap():
    """The regression: `vote --k 1000000` drew 1.25 million simulated samples. The default cap is a
    fixed 1000 samples; a k above it is refused (exit 2, one line) until --max-samples allows it."""
    r = run("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=x", "--k", "1000000", "--json")
    assert r.exit_code == 2 and r.stdout == ""
    assert "--max-samples" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run(
        "vote",
        "--prompt",
        "q",
        "--model",
        "sim:p=0.9,answer=x,seed=2",
        "--k",
        "1200",
        "--max-samples",
        "5000",
        "--json",
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["samples"] <= 5000
    r = run("vote", "--prompt", "q", "--model", "sim:p=0.6,answer=x,seed=2", "--k", "5", "--json")
    out = json.loads(r.stdout)
    assert out["settings"]["max_samples"] == 1000 and out["settings_sources"]["max_samples"] == "default"


def test_vote_undecided_exits_3_with_tallies():
    r = run(
        "vote",
        "--prompt",
        "q",
        "--model",
        "sim:p=0.51,answer=x,errors=spread,seed=1",
        "--k",
        "4",
        "--max-samples",
        "4",
        "--json",
    )
    assert r.exit_code == 3, r.output
    out = json.loads(r.stdout)
    assert out["decided"] is False and out["winner"] is None and out["samples"] == 4
    assert sum(out["votes"].values()) == 4


def test_vote_counts_red_flags_with_reasons():
    r = run("vote", "--prompt", "q", "--model", "sim:p=0.95,answer=yes,invalid=0.4,seed=2", "--k", "2", "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 0
    assert out["red_flagged"] == sum(out["red_flag_reasons"].values())
    assert out["samples"] == out["valid"] + out["red_flagged"]


def test_vote_task_spec_with_inputs():
    spec = ROOT / "examples" / "arithmetic.yaml"
    r = run(
        "vote",
        "--task",
        str(spec),
        "--input",
        "a=123",
        "--input",
        "b=456",
        "--input",
        "expected=56088",
        "--model",
        "sim:p=0.9,seed=1",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["winner"] == "56088"


def test_vote_plain_output_when_not_a_terminal():
    r = run("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=blue,seed=4", "--k", "2")
    assert r.exit_code == 0
    assert "round 1:" in r.stdout and "decided" in r.stdout and "simulated" in r.stdout


@pytest.mark.parametrize(
    "args,code,text",
    [
        (["vote", "--model", "sim:answer=1"], 2, "exactly one of --prompt"),
        (["vote", "--prompt", "q", "--task", "x.yaml"], 2, "exactly one of --prompt"),
        (["vote", "--prompt", "q", "--model", "sim:p=2"], 2, "between 0 and 1"),
        (["vote", "--prompt", "q", "--model", "sim:bogus=1"], 2, "unknown option"),
        (["vote", "--prompt", "q", "--model", "sim:p=0.9"], 2, "answer=TEXT"),
        (["vote", "--task", "missing.yaml"], 2, "missing.yaml"),
        (["vote", "--prompt", "q", "--k", "0"], 2, ""),
        (["vote", "--prompt", "q", "--answer-regex", "(", "--model", "sim:answer=1"], 2, "invalid regex"),
    ],
)
def test_vote_usage_errors(args, code, text):
    r = run(*args)
    assert r.exit_code == code, r.output
    assert text in r.output
    assert "Traceback" not in r.output


def test_missing_api_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = run("vote", "--prompt", "q", "--model", "gpt-4.1-mini", "--k", "1")
    assert r.exit_code == 2  # the user sets a variable: a usage error
    assert "OPENAI_API_KEY" in r.output and "Traceback" not in r.output


# --- over real HTTP, through litellm, against the fake server ------------------------------------


def _fixed_reference(answer: str):
    from maker_cli.providers.base import Reference

    return lambda system, user: Reference(f"Answer: {answer}", lambda v: f"Answer: {answer}{v + 1}")


def test_vote_over_http_retries_succeed_and_nothing_counts_twice():
    from maker_cli.testing.fake_server import FakeOpenAIServer
    from maker_cli.testing.sim_responder import sim_responder

    responder = sim_responder("sim:p=0.8,seed=3", reference_for=_fixed_reference("42"))
    with FakeOpenAIServer(responder=responder) as srv:
        srv.inject("429", retry_after=0.05)
        srv.inject("503")
        r = run(
            "vote",
            "--prompt",
            "6*7?",
            "--answer-regex",
            r"Answer: (?P<answer>\d+)",
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--k",
            "3",
            "--price-in",
            "1",
            "--price-out",
            "1",
            "--json",
        )
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["winner"] == "42" and out["retries"] == 2 and out["errors"] == 0
        assert out["samples"] == srv.choices  # each served choice counted once; retried requests are not votes
        assert srv.faults == {"429": 1, "503": 1}
        assert out["cost_usd"] > 0


def test_vote_over_http_undecided_and_errors_surface(monkeypatch):
    from maker_cli.testing.fake_server import FakeOpenAIServer
    from maker_cli.testing.sim_responder import sim_responder

    responder = sim_responder("sim:p=0.5,errors=spread,seed=1", reference_for=_fixed_reference("7"))
    with FakeOpenAIServer(responder=responder) as srv:
        r = run(
            "vote",
            "--prompt",
            "q",
            "--answer-regex",
            r"Answer: (?P<answer>\d+)",
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--k",
            "4",
            "--max-samples",
            "6",
            "--json",
        )
        assert r.exit_code == 3, r.output
        out = json.loads(r.stdout)
        assert out["decided"] is False and out["samples"] == 6 == srv.choices

    monkeypatch.setenv("MAKER_MAX_ATTEMPTS", "2")  # keep the all-failing case short
    with FakeOpenAIServer(responder=responder, fault_rate=1.0, faults=("500",)) as srv:
        r = run(
            "vote", "--prompt", "q", "--model", "openai/fake", "--api-base", srv.base_url, "--k", "2", "--timeout", "2"
        )
        assert r.exit_code == 1
        assert "calls failed" in r.output and "Traceback" not in r.output
        assert srv.requests == srv.faults["500"] >= 8 * 2


def test_vote_points_a_sequential_spec_to_run_task():
    r = run("vote", "--task", str(ROOT / "examples" / "sequential" / "addition.yaml"), "--model", "sim:p=0.9")
    assert r.exit_code == 2 and "maker run task" in r.output


# --- bad input: one line on stderr, nothing on stdout, before any sample ------------------------


def _refused(r, code: int, text: str) -> None:
    assert r.exit_code == code, r.output
    assert r.stdout == "" and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.output
    assert text in r.stderr


@pytest.mark.parametrize("model", ["sim:p=0.4,answer=42", "sim:p=0.5,answer=42,errors=spread"])
def test_a_simulated_model_whose_own_p_cannot_converge_is_refused(model):
    """As `maker run hanoi --model sim:p=0.4`: p <= 0.5 is refused everywhere (it voted, decided wrong)."""
    _refused(run("vote", "--prompt", "q", "--model", model), 1, "voting cannot converge")
    marker = run("vote", "--prompt", "q", "--system", "<!-- sim:p=0.3 -->", "--model", "sim:p=0.9,answer=42")
    _refused(marker, 1, "p = 0.3 <= 0.5")
    measured = run("vote", "--prompt", "q", "--model", model, "--p", "0.9", "--json")  # a measured p is the p used
    assert measured.exit_code in (0, 3) and json.loads(measured.stdout)["confidence_p"] == 0.9


def test_the_api_refuses_a_simulated_p_at_or_below_one_half():
    from maker_cli.errors import CannotConverge

    with pytest.raises(CannotConverge):
        maker_cli.vote("q", model="sim:p=0.4,answer=42")


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_an_empty_prompt_is_refused(prompt):
    _refused(run("vote", "--prompt", prompt, "--model", "sim:p=0.9,answer=42"), 2, "the prompt is empty")
    with pytest.raises(UsageError, match="the prompt is empty"):
        maker_cli.vote(prompt, model="sim:p=0.9,answer=42")


def test_a_spec_the_simulated_model_cannot_play_prints_nothing_on_stdout(tmp_path):
    """These errors came after "simulated model: no API calls, no cost" on stdout."""
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "name: bad\nuser: q\nanswer: {regex: '^A: (?P<answer>[0-9]+)$'}\nexpected: '5'\nsim_response: 'B: {{answer}}'\n"
    )
    _refused(run("vote", "--task", str(spec), "--model", "sim:p=0.9"), 2, "sim_response")
    _refused(run("vote", "--prompt", "q", "--model", "sim:p=0.9"), 2, "answer=TEXT")
    arithmetic = ["vote", "--task", str(ROOT / "examples" / "arithmetic.yaml"), "--input", "a=1", "--input", "b=2"]
    _refused(run(*arithmetic, "--model", "sim:p=0.9"), 2, "--input expected=VALUE")


def test_a_missing_or_broken_router_config_is_refused_with_the_simulated_model_too(tmp_path):
    """It was silently ignored (exit 0) with a `sim:` model."""
    broken = tmp_path / "router.yaml"
    broken.write_text("x: 1\n")
    args = ["vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42"]
    _refused(run(*args, "--router-config", str(tmp_path / "missing.yaml")), 2, "no such file")
    _refused(run(*args, "--router-config", str(broken)), 2, "model_list")
