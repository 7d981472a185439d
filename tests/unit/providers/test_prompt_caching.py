"""Prompt caching: cached prompt tokens read from both usage shapes, priced at the cache-read rate,
reported by the simulated model, and the `cache_control` marker `prompt_cache` sends.

Every call goes to a FakeOpenAIServer on 127.0.0.1 (litellm's price map is the installed copy).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from maker_cli.errors import UsageError
from maker_cli.providers import prices as prices_mod
from maker_cli.providers.base import CallResult, SampleRequest
from maker_cli.providers.litellm_provider import LiteLLMProvider
from maker_cli.providers.litellm_support import cached_prompt_tokens
from maker_cli.providers.prices import Prices, call_cost, resolve_prices
from maker_cli.providers.sim import SimProvider, parse_sim
from maker_cli.testing import FakeOpenAIServer

MODEL = "openai/gpt-4.1-mini"  # in litellm's map: $0.40/M in, $0.10/M cached, $1.60/M out
SYSTEM = "You solve one step of a long job with the same instructions every time."  # 14 words
USER = "Previous move: none. Current state: [[3, 2, 1], [], []]"  # 10 words
PROMPT_WORDS = len(SYSTEM.split()) + len(USER.split())
REPLY = "Hello from the fake server."  # the fake server's default answer
REPLY_WORDS = len(REPLY.split())


def ask(n: int = 1) -> SampleRequest:
    return SampleRequest(SYSTEM, USER, 0.1, n=n)


def calls(provider: LiteLLMProvider, *requests: SampleRequest) -> list[CallResult]:
    async def go() -> list[CallResult]:
        try:
            return [await provider.complete(r) for r in requests]
        finally:
            await provider.aclose()

    return asyncio.run(go())


# --------------------------------------------------------------------------- pricing


def test_cached_tokens_cost_the_cache_rate_exactly():
    prices = Prices(0.4, 1.6, "litellm", 0.1)
    # (1000 - 600) x 0.4 + 600 x 0.1 + 500 x 1.6 = 160 + 60 + 800 = 1020 USD per million tokens
    assert prices.cost(1000, 500, 600) == pytest.approx(1020e-6, rel=1e-12)
    assert prices.cost(1000, 500) == pytest.approx((400 + 800) * 1e-6, rel=1e-12)  # nothing cached
    assert prices.cost(1000, 500, 0) == prices.cost(1000, 500)
    assert prices.cost(1000, 500, 5000) == pytest.approx((100 + 800) * 1e-6, rel=1e-12)  # at most all the input
    assert call_cost(1000, 500, 0.4, 1.6, 600, 0.1) == pytest.approx(1020e-6, rel=1e-12)


def test_without_a_cache_rate_cached_tokens_cost_the_input_price():
    prices = Prices(0.4, 1.6, "flags")
    assert prices.price_cached is None
    assert prices.cost(1000, 500, 600) == pytest.approx(1200e-6, rel=1e-12) == prices.cost(1000, 500)
    assert call_cost(1000, 500, 0.4, 1.6, 600) == pytest.approx(1200e-6, rel=1e-12)


def test_the_cache_rate_comes_from_the_map_with_the_input_price(monkeypatch):
    assert resolve_prices("gpt-4.1-mini").price_cached == 0.1
    assert resolve_prices("openai/gpt-4.1-mini").price_cached == 0.1
    assert resolve_prices("gpt-4.1-mini", price_in=0.3).price_cached is None  # a price by hand: no discount assumed
    assert resolve_prices("gpt-4.1-mini", price_out=9.0).price_cached == 0.1
    assert resolve_prices("sim:p=0.9", simulated=True).price_cached is None
    cost_map = {
        "acme/no-cache": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "acme/cache": {
            "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06,
            "cache_read_input_token_cost": 2.5e-07,
        },
    }
    monkeypatch.setattr(prices_mod, "_cost_map", lambda: cost_map)
    assert resolve_prices("acme/no-cache") == Prices(1.0, 2.0, "litellm", None)
    assert resolve_prices("acme/cache") == Prices(1.0, 2.0, "litellm", 0.25)
    assert prices_mod.model_cache_price("acme/unknown") is None


# --------------------------------------------------------------------------- reading usage


def test_cached_tokens_are_read_from_either_usage_shape():
    openai = SimpleNamespace(prompt_tokens=100, prompt_tokens_details=SimpleNamespace(cached_tokens=64))
    anthropic = SimpleNamespace(prompt_tokens=100, prompt_tokens_details=None, cache_read_input_tokens=32)
    assert cached_prompt_tokens(openai) == 64
    assert cached_prompt_tokens(anthropic) == 32
    assert cached_prompt_tokens(SimpleNamespace(prompt_tokens=100)) is None  # not said
    assert cached_prompt_tokens(None) is None
    assert cached_prompt_tokens(SimpleNamespace(prompt_tokens_details=SimpleNamespace(cached_tokens=-1))) is None


@pytest.mark.parametrize("shape", ["openai", "anthropic"])
def test_cached_tokens_from_the_server_are_reported_and_priced(shape):
    """The first call with a system message writes the cache (nothing read); the next one reads half."""
    with FakeOpenAIServer(cached_share=0.5, cache_usage=shape) as srv:
        first, second = calls(LiteLLMProvider(MODEL, api_base=srv.base_url), ask(), ask())
        usage = srv.bodies  # the requests went through
        assert len(usage) == 2
    cached = PROMPT_WORDS // 2
    a, b = first.completions[0], second.completions[0]
    assert (a.input_tokens, a.cached_tokens) == (PROMPT_WORDS, 0)
    assert (b.input_tokens, b.cached_tokens) == (PROMPT_WORDS, cached)
    assert a.cost_usd == pytest.approx((PROMPT_WORDS * 0.4 + REPLY_WORDS * 1.6) / 1e6, rel=1e-12)
    expected = ((PROMPT_WORDS - cached) * 0.4 + cached * 0.1 + REPLY_WORDS * 1.6) / 1e6
    assert b.cost_usd == pytest.approx(expected, rel=1e-12)


def test_a_server_that_says_nothing_about_caching_reports_none():
    with FakeOpenAIServer() as srv:
        (result,) = calls(LiteLLMProvider(MODEL, api_base=srv.base_url), ask())
    assert result.completions[0].cached_tokens is None
    assert result.completions[0].cost_usd == pytest.approx((PROMPT_WORDS * 0.4 + REPLY_WORDS * 1.6) / 1e6)


def test_an_n_request_puts_the_cached_tokens_with_the_prompt_on_the_first_choice():
    with FakeOpenAIServer(cached_share=1.0) as srv:
        _, result = calls(LiteLLMProvider(MODEL, api_base=srv.base_url, supports_n=True), ask(), ask(n=3))
        assert srv.bodies[-1].get("n") == 3
    assert [c.input_tokens for c in result.completions] == [PROMPT_WORDS, 0, 0]
    assert [c.cached_tokens for c in result.completions] == [PROMPT_WORDS, 0, 0]


# --------------------------------------------------------------------------- the cache marker


def test_prompt_cache_marks_the_system_message_with_cache_control():
    with FakeOpenAIServer(cached_share=0.5) as srv:
        calls(LiteLLMProvider(MODEL, api_base=srv.base_url, prompt_cache=True), ask(), ask())
        marked = srv.bodies
        calls(LiteLLMProvider(MODEL, api_base=srv.base_url), ask())
        plain = srv.bodies[-1]
    system, user = marked[0]["messages"]
    assert system == {
        "role": "system",
        "content": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
    }
    assert user == {"role": "user", "content": USER}  # the per-step part: never marked
    assert marked[1]["messages"] == marked[0]["messages"]  # the same prefix every call
    assert plain["messages"][0] == {"role": "system", "content": SYSTEM}


def test_prompt_cache_without_a_system_message_sends_the_user_message_only():
    with FakeOpenAIServer() as srv:
        calls(LiteLLMProvider(MODEL, api_base=srv.base_url, prompt_cache=True), SampleRequest("", USER, 0.1))
        assert srv.bodies[0]["messages"] == [{"role": "user", "content": USER}]


# --------------------------------------------------------------------------- the simulated model


def test_the_simulated_model_reports_a_cached_share_after_the_first_call():
    sim = SimProvider("sim:p=1,answer=42,cached=0.5", price_in=1.0, price_out=2.0, price_cached=0.25)
    request = SampleRequest("a system text " * 10, "the question", 0.0, n=2)
    first, second = sim.sample(request), sim.sample(request)
    tokens = first[0].input_tokens
    assert tokens == len(request.system) // 4 + 1 + len(request.user) // 4 + 1
    assert [c.cached_tokens for c in first] == [0, 0]
    assert [c.cached_tokens for c in second] == [tokens // 2, 0]  # with the prompt, on the first sample
    out = second[0].output_tokens
    assert second[0].cost_usd == pytest.approx(((tokens - tokens // 2) * 1.0 + tokens // 2 * 0.25 + out * 2.0) / 1e6)
    other = sim.sample(SampleRequest("another system", "q", 0.0))
    assert other[0].cached_tokens == 0  # a new system text is a new prefix


def test_the_simulated_model_caches_nothing_by_default_and_checks_the_share():
    sim = SimProvider("sim:p=1,answer=42")
    request = SampleRequest("system", "q", 0.0)
    assert [sim.sample(request)[0].cached_tokens for _ in range(3)] == [0, 0, 0]
    assert parse_sim("sim:cached=0.8").cached == 0.8
    with pytest.raises(UsageError, match="cached must be between 0 and 1"):
        parse_sim("sim:cached=1.5")
    no_rate = SimProvider("sim:p=1,answer=42,cached=1", price_in=1.0)
    no_rate.sample(request)
    again = no_rate.sample(request)[0]
    assert again.cached_tokens == again.input_tokens
    assert again.cost_usd == pytest.approx(again.input_tokens * 1.0 / 1e6)  # no cache rate: the input price
