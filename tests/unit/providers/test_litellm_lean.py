"""The lean litellm path (issue 15): what every call passes litellm, that litellm's own retries and
callbacks stay off, and that all calls of a provider go through one HTTP client.

Every call goes to a FakeOpenAIServer on 127.0.0.1 (or to a stand-in for `litellm.acompletion`).
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import aiohttp
import httpx
import pytest

from maker_cli.errors import ProviderError
from maker_cli.providers.base import CallResult, SampleRequest
from maker_cli.providers.litellm_provider import LiteLLMProvider
from maker_cli.providers.litellm_support import DUMMY_API_KEY, load_litellm
from maker_cli.providers.retrying import RetryPolicy
from maker_cli.testing import FakeOpenAIServer

MODEL = "openai/fake-model"
ONE_ATTEMPT = RetryPolicy(max_attempts=1)
FAST = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=1, jitter=0.01)


def ask(n: int = 1, temperature: float = 0.1, max_output_tokens: int | None = 50) -> SampleRequest:
    return SampleRequest("You solve one step.", "Current state: [[2, 1], [], []]", temperature, n, max_output_tokens)


def run_calls(provider: LiteLLMProvider, *requests: SampleRequest) -> list[CallResult]:
    async def go() -> list[CallResult]:
        try:
            return [await provider.complete(request) for request in requests]
        finally:
            await provider.aclose()

    return asyncio.run(go())


@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Import litellm once (its first call is slow), outside the tests."""
    load_litellm()


@pytest.fixture
def captured(monkeypatch):
    """Replace litellm.acompletion with a stand-in that records its keyword arguments."""
    litellm = load_litellm()
    calls: list[dict[str, object]] = []
    response = litellm.ModelResponse(
        choices=[
            {"index": 0, "message": {"role": "assistant", "content": "move = [1, 0, 2]"}, "finish_reason": "stop"}
        ],
        usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    )

    async def acompletion(**kwargs: object) -> object:
        calls.append(kwargs)
        return response

    monkeypatch.setattr(litellm, "acompletion", acompletion)
    return calls


# -- what each call passes litellm ------------------------------------------------------------------


def test_every_call_passes_the_same_fixed_arguments(captured):
    provider = LiteLLMProvider(MODEL, api_base="http://127.0.0.1:9/v1", timeout=7, supports_n=False)
    run_calls(provider, ask(), ask(temperature=0.7, max_output_tokens=None))
    first, second = captured
    fixed = {
        "model": MODEL,
        "timeout": 7.0,
        "max_retries": 0,  # the OpenAI SDK's retries
        "num_retries": 0,  # litellm's own retry wrapper
        "api_base": "http://127.0.0.1:9/v1",
        "api_key": DUMMY_API_KEY,
    }
    assert {k: first[k] for k in fixed} == fixed == {k: second[k] for k in fixed}
    assert (first["temperature"], first["max_tokens"]) == (0.1, 50)
    assert second["temperature"] == 0.7 and "max_tokens" not in second
    assert "n" not in first and "n" not in second
    assert set(first) == set(fixed) | {"messages", "temperature", "max_tokens"}


def test_n_and_an_explicit_key_are_passed(captured):
    provider = LiteLLMProvider(MODEL, api_base="http://127.0.0.1:9/v1", api_key="sk-lean-test-key-0123456789")
    [result] = run_calls(provider, ask(n=3))  # the stand-in answers one choice: topped up with single requests
    assert len(result.completions) == 3 and len(captured) == 3
    assert captured[0]["n"] == 3 and captured[0]["api_key"] == "sk-lean-test-key-0123456789"
    assert all("n" not in call for call in captured[1:])


def test_without_api_base_or_key_none_is_passed(captured, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-0123456789")
    run_calls(LiteLLMProvider("openai/gpt-4o-mini"), ask())
    [call] = captured
    assert "api_base" not in call and "api_key" not in call  # litellm reads the environment itself
    assert call["num_retries"] == 0 and call["max_retries"] == 0


def test_a_router_gets_the_group_and_no_per_call_retry_setting(tmp_path: Path):
    config = tmp_path / "router.yaml"
    with FakeOpenAIServer() as srv:
        config.write_text(
            textwrap.dedent(
                f"""\
                model_list:
                  - model_name: group
                    litellm_params: {{model: openai/fake-model, api_base: "{srv.base_url}"}}
                """
            )
        )
        provider = LiteLLMProvider("group", router_config=config, timeout=5, retry_policy=FAST)
        seen: list[dict[str, object]] = []
        assert provider._router is not None
        real = provider._router.acompletion

        async def acompletion(**kwargs: object) -> object:
            seen.append(kwargs)
            return await real(**kwargs)

        provider._router.acompletion = acompletion
        [result] = run_calls(provider, ask())
        assert result.completions[0].text == "Hello from the fake server."
        assert srv.requests == 1
    [call] = seen
    assert call["model"] == "group" and call["max_retries"] == 0 and call["timeout"] == 5.0
    assert "num_retries" not in call and "api_key" not in call  # the Router has num_retries=0 and its keys


# -- litellm's own retries and callbacks stay off ---------------------------------------------------


def test_litellm_never_retries_even_when_set_to_globally(monkeypatch):
    litellm = load_litellm()
    monkeypatch.setattr(litellm, "num_retries", 3)
    with FakeOpenAIServer() as srv:
        srv.inject("500")
        provider = LiteLLMProvider(MODEL, api_base=srv.base_url, timeout=5, retry_policy=ONE_ATTEMPT)
        with pytest.raises(ProviderError) as caught:
            run_calls(provider, ask())
        assert srv.requests == 1  # one attempt means one request: litellm did not try again
    assert caught.value.status == 500 and caught.value.retries == 0


def test_retries_are_maker_s_and_counted(monkeypatch):
    litellm = load_litellm()
    monkeypatch.setattr(litellm, "num_retries", 3)
    with FakeOpenAIServer() as srv:
        srv.inject("500")
        srv.inject("503")
        provider = LiteLLMProvider(MODEL, api_base=srv.base_url, timeout=5, retry_policy=FAST)
        [result] = run_calls(provider, ask())
        assert srv.requests == 3
    assert result.retries == 2


def test_no_litellm_callbacks_are_added():
    litellm = load_litellm()
    names = ("callbacks", "success_callback", "failure_callback", "_async_success_callback", "_async_failure_callback")
    before = {name: list(getattr(litellm, name, [])) for name in names}
    with FakeOpenAIServer() as srv:
        run_calls(LiteLLMProvider(MODEL, api_base=srv.base_url, timeout=5), ask(), ask(n=2))
    assert {name: list(getattr(litellm, name, [])) for name in names} == before


def test_no_litellm_only_argument_reaches_the_wire():
    with FakeOpenAIServer() as srv:
        provider = LiteLLMProvider(MODEL, api_base=srv.base_url, timeout=5, retry_policy=FAST)
        run_calls(provider, ask(), ask(n=2, max_output_tokens=None))
        one, two = srv.bodies
    assert set(one) == {"model", "messages", "temperature", "max_tokens"}
    assert set(two) == {"model", "messages", "temperature", "n"} and two["n"] == 2


# -- one HTTP client for all calls ------------------------------------------------------------------


def test_all_calls_of_a_provider_share_one_http_client(monkeypatch):
    """litellm caches its OpenAI client (and the aiohttp session under it) by key, base and timeout:
    the provider passes the same ones on every call, so no call builds a client of its own."""
    made = {"aiohttp": 0, "httpx": 0}
    session_init = aiohttp.ClientSession.__init__
    client_init = httpx.AsyncClient.__init__

    def counting_session(self, *args, **kwargs):
        made["aiohttp"] += 1
        session_init(self, *args, **kwargs)

    def counting_client(self, *args, **kwargs):
        made["httpx"] += 1
        client_init(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting_session)
    monkeypatch.setattr(httpx.AsyncClient, "__init__", counting_client)
    with FakeOpenAIServer() as srv:
        # a timeout no other test uses: litellm's process-wide client cache has nothing for it yet
        provider = LiteLLMProvider(MODEL, api_base=srv.base_url, timeout=17.25, retry_policy=FAST)

        async def go() -> list[CallResult]:
            try:
                first = [await provider.complete(ask())]
                return first + list(await asyncio.gather(*(provider.complete(ask()) for _ in range(8))))
            finally:
                await provider.aclose()

        results = asyncio.run(go())
        assert srv.requests == 9
    assert all(r.completions[0].text for r in results)
    assert made["httpx"] <= 1 and made["aiohttp"] <= 1, made
