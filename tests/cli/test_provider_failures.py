"""Runs that can always finish, and provider failures said plainly: a server without usage, a bad
URL, a refused connection, retries shown as they happen."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_server_without_usage_is_priced_by_counting_and_a_budget_stop_resumes(tmp_path):
    """The regression: with no `usage`, `--max-cost` stopped the run at step 1 and every
    `--resume --max-cost 1000` stopped again without a request (exit 4 forever)."""
    store = str(tmp_path / "s.sqlite")
    common = ["--model", "openai/fake", "--k", "1", "--price-in", "100", "--price-out", "100", "--store", store]
    with FakeOpenAIServer(responder=sim_responder("sim:p=1"), usage=False) as srv:
        first = cli(
            "run", "hanoi", "--disks", "4", "--api-base", srv.base_url, *common, "--max-cost", "0.2", "--yes", "--json"
        )
        out = json.loads(first.stdout)
        assert first.exit_code == 4 and out["status"] == "budget_exhausted", first.output
        assert 0 < out["steps_done"] < 15 and out["cost_usd"] >= 0.2 and out["input_tokens"] > 0
        again = cli("run", "hanoi", "--resume", out["run_id"], "--store", store, "--max-cost", "1000", "--json")
        done = json.loads(again.stdout)
        assert again.exit_code == 0 and done["status"] == "solved" and done["steps_done"] == 15, again.output
        assert srv.requests > out["steps_done"]


@pytest.mark.parametrize("url", ["not a url", "ftp://host/v1", "http://", "localhost:8000/v1"])
def test_a_bad_api_base_is_refused_up_front(url):
    """The regression: `--api-base 'not a url'` retried for 2 min 20 s, then said 'Connection error (HTTP 500)'."""
    for args in (["vote", "--prompt", "q"], ["run", "hanoi", "--disks", "2"], ["calibrate", "hanoi", "--samples", "2"]):
        r = cli(*args, "--model", "openai/fake", "--api-base", url)
        assert r.exit_code == 2 and "--api-base: not an http:// or https:// URL" in r.output, r.output


def test_a_refused_connection_is_not_labelled_with_an_http_status(tmp_path, monkeypatch):
    monkeypatch.setenv("MAKER_MAX_ATTEMPTS", "2")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = cli(
        "vote",
        "--prompt",
        "q",
        "--model",
        "openai/fake",
        "--api-base",
        f"http://127.0.0.1:{port}/v1",
        "--k",
        "1",
        "--max-samples",
        "1",
        "--timeout",
        "2",
    )
    assert r.exit_code == 1, r.output
    error = [line for line in r.output.splitlines() if line.startswith("error:")][-1]
    assert "no connection" in error and "HTTP 500" not in error


def test_retries_are_shown_as_they_happen(caplog):
    caplog.set_level("WARNING", logger="maker")
    with FakeOpenAIServer(responder=sim_responder("sim:p=1,answer=42")) as srv:
        srv.inject("503", times=2)
        r = cli("vote", "--prompt", "q", "--model", "openai/fake", "--api-base", srv.base_url, "--k", "1", "--json")
    assert r.exit_code == 0, r.output
    said = [rec.getMessage() for rec in caplog.records if rec.name == "maker"]
    assert len(said) == 2 and all("retrying a call" in line for line in said)
    assert json.loads(r.stdout)["retries"] == 2  # stdout stays one JSON object


@pytest.mark.parametrize("model", ["openai/o1", "openai/gpt-5"])
def test_a_reasoning_models_temperature_refusal_says_what_to_pass(model, monkeypatch):
    """The regression: o1's 400 told the user to set `litellm.drop_params`, which a maker user
    cannot. The line now names the flags that fix it, and they do."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
    with FakeOpenAIServer(responder=sim_responder("sim:p=1,answer=7")) as srv:
        r = cli("vote", "--prompt", "q", "--model", model, "--api-base", srv.base_url, "--k", "1")
        assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.output
        assert "drop_params" not in r.stderr and "--temperature 1 --first-temperature 1" in r.stderr
        fixed = cli(
            "vote",
            "--prompt",
            "q",
            "--model",
            model,
            "--api-base",
            srv.base_url,
            "--k",
            "1",
            "--temperature",
            "1",
            "--first-temperature",
            "1",
            "--json",
        )
        assert fixed.exit_code == 0 and json.loads(fixed.stdout)["decided"], fixed.output
