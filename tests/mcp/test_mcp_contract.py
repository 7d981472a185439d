"""What the MCP tools promise a client: arguments they do not take are refused by name, every output
schema declares its types, votes stop through the engine's spend limit, maker_validate judges as a
vote does, prices never drop a side, and the spending caps (per call, per session, locked) hold."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client

from maker_cli.config.job import merge_job_settings
from maker_cli.config.settings import load_settings
from maker_cli.core.redflags import Answer, RedFlagRules
from maker_cli.mcp.guard import plan_spend
from maker_cli.mcp.server import build_server
from maker_cli.providers.base import Completion
from maker_cli.providers.prices import model_prices
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.judge import AnswerJudge

ROOT = Path(__file__).resolve().parents[2]
SIM = "sim:p=0.9,answer=42,seed=1"


def run_calls(server, *requests):
    async def go():
        async with Client(server) as client:
            return [await client.call_tool(name, args) for name, args in requests]

    return anyio.run(go)


def listed_tools(server):
    async def go():
        async with Client(server) as client:
            return (await client.list_tools()).tools

    return anyio.run(go)


@pytest.fixture
def server(tmp_path):
    shutil.copy(ROOT / "examples" / "arithmetic.yaml", tmp_path / "arithmetic.yaml")
    return build_server(load_settings(), root=tmp_path)


@pytest.mark.parametrize(
    "tool", ["maker_vote", "maker_estimate", "maker_validate", "maker_calibrate", "maker_configure", "maker_decompose"]
)
def test_unknown_arguments_are_refused_by_name(server, tool):
    (result,) = run_calls(server, (tool, {"k_margin": 9, "colour": "red"}))
    assert result.is_error
    text = result.content[0].text
    assert "unknown arguments 'colour', 'k_margin'" in text and "it takes:" in text


def test_the_vote_with_a_misspelt_argument_does_not_run_with_defaults(server):
    """The regression: maker_vote {k_margin: 9} used to run with k = 3."""
    (result,) = run_calls(server, ("maker_vote", {"prompt": "q", "model": SIM, "k_margin": 9}))
    assert result.is_error and "k_margin" in result.content[0].text


def test_argument_errors_are_one_line_without_urls(server):
    (result,) = run_calls(server, ("maker_estimate", {"steps": 0, "p": 0.9}))
    text = result.content[0].text
    assert result.is_error and "\n" not in text and "errors.pydantic.dev" not in text and "steps" in text


def _unconstrained(schema, path="$"):
    """Paths of sub-schemas that constrain nothing ({} or only a description/title/default)."""
    found = []
    if isinstance(schema, dict):
        meaningful = set(schema) - {"description", "title", "default", "examples"}
        if not meaningful:
            found.append(path)
        for key, sub in schema.items():
            if key in ("properties", "$defs"):
                for name, prop in sub.items():
                    found += _unconstrained(prop, f"{path}.{key}.{name}")
            elif key in ("items", "additionalProperties") and isinstance(sub, dict):
                found += _unconstrained(sub, f"{path}.{key}")
            elif key in ("anyOf", "oneOf", "allOf"):
                for i, sub_schema in enumerate(sub):
                    found += _unconstrained(sub_schema, f"{path}.{key}[{i}]")
    return found


def test_every_output_schema_declares_its_types(server):
    """The MCP Inspector's strict check: no output property may be an empty schema."""
    tools = listed_tools(server)
    assert {t.name for t in tools} == {
        "maker_estimate",
        "maker_vote",
        "maker_validate",
        "maker_calibrate",
        "maker_configure",
        "maker_decompose",
    }
    for tool in tools:
        assert tool.output_schema, tool.name
        assert _unconstrained(tool.output_schema) == [], tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name


def test_a_vote_stops_at_the_dollar_cap_through_the_engine(server):
    """A provider that bills far more output than max_tokens allows (2,000 tokens against a limit of 10)
    passes the worst-case check, then reaches the dollar cap: the engine's spend limit stops the vote
    undecided (stop_reason cost_cap), having spent at most the cap plus one round in flight."""
    configure, voted = run_calls(
        server,
        ("maker_configure", {"price_in": 0.0, "price_out": 1000.0, "concurrency": 1}),
        (
            "maker_vote",
            {
                "prompt": "q",
                "model": "sim:p=0.9,answer=42,out_tokens=2000,seed=3",
                "k": 3,
                "max_output_tokens": 10,
                "max_samples": 10,
            },
        ),
    )
    assert not configure.is_error
    out = voted.structured_content
    assert not voted.is_error, voted.content[0].text
    assert out["decided"] is False and out["stop_reason"] == "cost_cap" and out["stopped"] == "budget"
    per_sample = 2000 * 1000 / 1e6
    assert out["spent_usd"] >= out["cost_cap_usd"] and out["spent_usd"] <= out["cost_cap_usd"] + 3 * per_sample
    assert out["samples"] < 10 and out["session_spent_usd"] == pytest.approx(out["spent_usd"])


@functools.cache
def _validate_server():
    """One server for every example (maker_validate keeps no state between calls)."""
    return build_server(load_settings(), root=ROOT)


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=40) | st.sampled_from(["Answer: 42", "Answer: 4\nAnswer: 2", "", "  ", "sorry Answer: 7"]),
    tokens=st.none() | st.integers(0, 900),
    finish=st.sampled_from(["stop", "length"]),
)
def test_validate_judges_exactly_as_a_vote_would(text, tokens, finish):
    """maker_validate calls the red-flag rules and the judge a vote uses: valid exactly when the engine
    would count the response as a vote, for the same answer."""
    server = _validate_server()
    regex = r"Answer: *(?P<answer>-?\d+)"
    args = {
        "response": text,
        "answer_regex": regex,
        "must_not_match": ["(?i)sorry"],
        "max_output_tokens": 750,
        "finish_reason": finish,
    }
    if tokens is not None:
        args["output_tokens"] = tokens
    (result,) = run_calls(server, ("maker_validate", args))
    out = result.structured_content
    rules = RedFlagRules(max_output_tokens=750, must_not_match=("(?i)sorry",))
    judge = AnswerJudge({"answer": AnswerField(regex=regex)})
    completion = Completion(text, None, tokens, finish, 0.0, None)
    flag = rules.check(completion)
    verdict = judge(text) if flag is None else flag
    assert out["valid"] == isinstance(verdict, Answer)
    if isinstance(verdict, Answer):
        assert out["answer"] == verdict.key
    else:
        assert out["red_flags"][0]["reason"] == verdict.reason


def test_a_price_for_one_side_never_zeroes_the_other():
    """The regression: with only price_in set, the guard priced output at $0 while the provider charged
    litellm's price. One resolver: the given side, the other from the price map."""
    settings_ = load_settings()
    job = merge_job_settings(settings_, flags={"model": "gpt-4.1-mini", "price_in": 0.0, "max_output_tokens": 1000})
    plan = plan_spend(job, cap_samples=10, cap_usd=100.0, requested=10, prompt_chars=0)
    out_price = model_prices("gpt-4.1-mini")[1]
    assert out_price > 0
    assert plan.worst_case_usd == pytest.approx(10 * 1000 * out_price / 1e6, rel=1e-6)


def test_locked_caps_lock_the_prices_too(tmp_path):
    """The regression: under --lock-caps, maker_configure {price_in: 0, price_out: 0} turned the dollar cap off."""
    server = build_server(load_settings(), root=tmp_path, lock_caps=True)
    both, one, caps, reset, fine = run_calls(
        server,
        ("maker_configure", {"price_in": 0, "price_out": 0}),
        ("maker_configure", {"price_out": 0}),
        ("maker_configure", {"mcp_max_cost_usd": 100}),
        ("maker_configure", {"reset": True}),
        ("maker_configure", {"k": 4}),
    )
    for result in (both, one, caps, reset):
        assert result.is_error and "locked" in result.content[0].text
    assert not fine.is_error and fine.structured_content["caps_locked"] is True


def test_the_session_cap_holds_across_calls(tmp_path):
    """The regression: eight votes in a row spent $0.70 under a $0.50 per-call cap. A session cap is
    checked before each call, lowers the next call's cap to what is left, and is reported."""
    server = build_server(load_settings(), root=tmp_path, max_session_cost=0.05)
    requests = [("maker_configure", {"price_in": 0.0, "price_out": 10000.0, "concurrency": 1})]
    vote = {"prompt": "q", "model": "sim:p=1,answer=42,seed=1", "k": 1, "max_samples": 1, "max_output_tokens": 1}
    requests += [("maker_vote", dict(vote)) for _ in range(8)]  # $0.01 each
    results = run_calls(server, *requests)[1:]
    spent = [r.structured_content["session_spent_usd"] for r in results if not r.is_error]
    refused = [r.content[0].text for r in results if r.is_error]
    assert len(spent) == 5 and max(spent) <= 0.05 + 1e-9
    assert refused and ("used up" in refused[-1] or "session has left" in refused[-1])
    remaining = [r.structured_content["session_remaining_usd"] for r in results if not r.is_error]
    assert remaining == sorted(remaining, reverse=True) and remaining[-1] >= 0
