"""The litellm provider through the real litellm code path, against the fake server on 127.0.0.1.

No test reaches the internet: every call goes to a FakeOpenAIServer the test starts, and litellm's
price map is the copy installed with it. Waits are kept short (Retry-After 0.15-0.3 s, timeout 0.5 s).
"""

from __future__ import annotations

import asyncio
import email.utils
import textwrap
import time
from pathlib import Path

import pytest

from maker_cli.errors import MissingApiKey, ProviderError, SpecError
from maker_cli.providers.base import CallResult, Provider, SampleRequest
from maker_cli.providers.litellm_provider import LiteLLMProvider
from maker_cli.providers.litellm_support import apportion, load_litellm
from maker_cli.providers.litellm_support import one_line as _one_line
from maker_cli.providers.retrying import Attempts, RetryPolicy, call_with_retries, retry_after_seconds
from maker_cli.testing import FakeChoice, FakeOpenAIServer

MODEL = "openai/fake-model"
SYSTEM = "You solve one step."
USER = "Previous move: none. Current state: [[3, 2, 1], [], []]"
PROMPT_WORDS = len(SYSTEM.split()) + len(USER.split())  # the fake server's prompt_tokens
# Quick backoff: a test that waits seconds has ignored a server hint (see SLOW_BACKOFF).
FAST = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=5, jitter=0.01)
SLOW_BACKOFF = RetryPolicy(max_attempts=4, initial_wait=5, max_wait=10, jitter=0)


def ask(n: int = 1, temperature: float = 0.1, max_output_tokens: int | None = 750) -> SampleRequest:
    return SampleRequest(SYSTEM, USER, temperature, n=n, max_output_tokens=max_output_tokens)


def run(provider: LiteLLMProvider, request: SampleRequest) -> CallResult:
    async def go() -> CallResult:
        try:
            return await provider.complete(request)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def timed(provider: LiteLLMProvider, request: SampleRequest) -> tuple[CallResult, float]:
    start = time.perf_counter()
    result = run(provider, request)
    return result, time.perf_counter() - start


@pytest.fixture
def srv():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def make(srv):
    def build(model: str = MODEL, **kwargs) -> LiteLLMProvider:
        kwargs.setdefault("retry_policy", FAST)
        kwargs.setdefault("timeout", 5.0)
        return LiteLLMProvider(model, api_base=srv.base_url, **kwargs)

    return build


@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Import litellm once, and make its first (slow) call outside every timed test."""
    load_litellm()
    with FakeOpenAIServer() as server:
        run(LiteLLMProvider(MODEL, api_base=server.base_url, retry_policy=FAST), ask())


# -- plain calls and n -----------------------------------------------------------------------------


def test_plain_call(srv, make):
    provider = make()
    assert isinstance(provider, Provider)
    assert provider.info.name == MODEL and not provider.info.simulated
    result = run(provider, ask(temperature=0.0, max_output_tokens=123))
    assert result.retries == 0
    [c] = result.completions
    assert c.text == "Hello from the fake server."
    assert c.input_tokens == PROMPT_WORDS
    assert c.output_tokens == 5
    assert c.finish_reason == "stop"
    assert 0 < c.latency_s < 5
    assert c.cost_usd is None
    [body] = srv.bodies
    assert body["model"] == "fake-model"
    assert body["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 123
    assert "n" not in body
    assert (srv.requests, srv.ok, srv.choices) == (1, 1, 1)


def test_empty_content_and_length_finish():
    with FakeOpenAIServer(lambda m, t, n, mt: [FakeChoice("", "length", completion_tokens=750)] * n) as srv:
        [c] = run(LiteLLMProvider(MODEL, api_base=srv.base_url, retry_policy=FAST), ask()).completions
    assert (c.text, c.finish_reason, c.output_tokens) == ("", "length", 750)


def test_n_is_one_request_billing_the_prompt_once():
    texts = ["move = [1, 0, 2]", "move = [1, 0, 2] and a much longer explanation of why this is right", "ok"]

    def responder(messages, temperature, n, max_tokens):
        return [FakeChoice(texts[i], "stop", completion_tokens=10 * (i + 1)) for i in range(n)]

    with FakeOpenAIServer(responder) as srv:
        provider = LiteLLMProvider(MODEL, api_base=srv.base_url, retry_policy=FAST)
        assert provider.info.supports_n
        result = run(provider, ask(n=3))
        assert srv.requests == 1 and srv.bodies[0]["n"] == 3
        assert len(result.completions) == 3 == srv.choices
    assert [c.text for c in result.completions] == texts
    assert [c.input_tokens for c in result.completions] == [PROMPT_WORDS, 0, 0]
    outputs = [c.output_tokens for c in result.completions]
    assert sum(outputs) == 10 + 20 + 30  # usage.completion_tokens, split over the choices
    assert outputs[1] > outputs[0] > outputs[2]  # by each text's real token count, not its position
    assert len({c.latency_s for c in result.completions}) == 1


def test_without_n_support_n_separate_requests(srv, make):
    provider = make(supports_n=False)
    assert not provider.info.supports_n
    result = run(provider, ask(n=3))
    assert srv.requests == 3 and all("n" not in body for body in srv.bodies)
    assert len(result.completions) == 3 == srv.choices
    assert [c.input_tokens for c in result.completions] == [PROMPT_WORDS] * 3  # each call bills the prompt
    assert result.retries == 0


def test_providers_without_n_are_detected():
    provider = LiteLLMProvider("ollama_chat/llama3", api_base="http://127.0.0.1:9", retry_policy=FAST)
    assert not provider.info.supports_n
    assert LiteLLMProvider("hosted_vllm/qwen", api_base="http://127.0.0.1:9").info.supports_n


def test_server_ignoring_n_is_topped_up_with_single_requests():
    with FakeOpenAIServer(lambda messages, t, n, mt: [FakeChoice("only one")]) as srv:
        provider = LiteLLMProvider(MODEL, api_base=srv.base_url, retry_policy=FAST)
        result = run(provider, ask(n=3))
        assert len(result.completions) == 3 == srv.choices
        assert srv.requests == 3  # one n-request answered with 1 choice, then 2 single requests
    assert not provider.info.supports_n and "n" in provider.info.notes


def test_server_rejecting_n_falls_back_to_single_requests(srv, make):
    srv.inject("400")
    provider = make()
    result = run(provider, ask(n=2))
    assert len(result.completions) == 2 == srv.choices
    assert srv.requests == 3 and srv.bodies[0]["n"] == 2 and "n" not in srv.bodies[1]
    assert not provider.info.supports_n


# -- retries ---------------------------------------------------------------------------------------


def test_429_waits_the_retry_after_seconds(srv, make):
    srv.inject("429", retry_after=0.3)
    result, elapsed = timed(make(retry_policy=SLOW_BACKOFF), ask())
    assert result.retries == 1 and srv.requests == 2 and srv.faults == {"429": 1}
    assert len(result.completions) == 1 == srv.choices
    assert 0.3 <= elapsed < 3  # the hint, not the 5 s backoff


def test_429_waits_the_retry_after_ms(srv, make):
    srv.inject("429", retry_after_ms=150)
    result, elapsed = timed(make(retry_policy=SLOW_BACKOFF), ask())
    assert result.retries == 1 and srv.requests == 2
    assert 0.15 <= elapsed < 3


def test_429_retry_after_as_http_date(srv, make):
    srv.inject("429", retry_after=email.utils.formatdate(time.time() - 5, usegmt=True))  # already past: no wait
    result, elapsed = timed(make(retry_policy=SLOW_BACKOFF), ask())
    assert result.retries == 1 and elapsed < 3


def test_backoff_without_a_hint(srv, make):
    srv.inject("500")
    policy = RetryPolicy(max_attempts=3, initial_wait=0.4, max_wait=5, jitter=0)
    result, elapsed = timed(make(retry_policy=policy), ask())
    assert result.retries == 1 and elapsed >= 0.4


@pytest.mark.parametrize("kind", ["500", "502", "503", "drop", "malformed"])
def test_transient_faults_are_retried(srv, make, kind):
    srv.inject(kind)
    result = run(make(), ask(n=2))
    assert result.retries == 1
    assert srv.requests == 2 and srv.faults == {kind: 1}
    assert len(result.completions) == 2 == srv.choices


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic, on litellm's model of the bad body
@pytest.mark.parametrize("body", ['{"object": "chat.completion"}', '{"choices": []}', '{"choices": "x"}'])
def test_wrong_shaped_bodies_are_retried(srv, make, body):
    srv.inject("malformed", body=body)
    result = run(make(), ask())
    assert result.retries == 1 and srv.requests == 2 and len(result.completions) == 1


def test_more_choices_than_asked_is_malformed():
    with FakeOpenAIServer(lambda m, t, n, mt: [FakeChoice("x")] * 2) as srv:
        with pytest.raises(ProviderError, match="malformed") as err:
            run(LiteLLMProvider(MODEL, api_base=srv.base_url, retry_policy=FAST), ask())
        assert srv.requests == FAST.max_attempts and err.value.retries == FAST.max_attempts - 1


def test_slow_answer_past_the_timeout_is_retried(srv, make):
    srv.inject("slow", delay=1.5)
    result, elapsed = timed(make(timeout=0.5), ask())
    assert result.retries == 1 and srv.requests == 2
    assert 0.5 <= elapsed < 1.5
    assert len(result.completions) == 1


@pytest.mark.parametrize("kind", ["400", "401", "403", "404"])
def test_client_errors_fail_at_once(srv, make, kind):
    srv.inject(kind)
    with pytest.raises(ProviderError) as err:
        run(make(), ask())
    assert srv.requests == 1
    assert err.value.status == int(kind) and err.value.retries == 0 and err.value.fatal
    message = str(err.value)
    assert "\n" not in message and MODEL in message and f"HTTP {kind}" in message


def test_attempts_are_bounded(srv, make):
    srv.inject("500", times=10)
    policy = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=1, jitter=0)
    with pytest.raises(ProviderError) as err:
        run(make(retry_policy=policy), ask())
    assert srv.requests == 3
    assert err.value.retries == 2 and err.value.status == 500 and not err.value.fatal
    assert "after 3 attempts" in str(err.value)


def test_max_attempts_from_the_argument(srv):
    srv.inject("503", times=10)
    provider = LiteLLMProvider(MODEL, api_base=srv.base_url, max_attempts=2)
    assert provider.policy.max_attempts == 2
    with pytest.raises(ProviderError) as err:
        run(provider, ask())
    assert srv.requests == 2 and err.value.retries == 1


def test_timeouts_exhausted(srv, make):
    srv.inject("slow", delay=1.0, times=2)
    policy = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=1, jitter=0)
    with pytest.raises(ProviderError, match="timeout 0.3s") as err:
        run(make(timeout=0.3, retry_policy=policy), ask())
    assert err.value.retries == 1 and srv.requests == 2


def test_nothing_is_counted_twice_under_random_faults():
    policy = RetryPolicy(max_attempts=12, initial_wait=0.005, max_wait=0.05, jitter=0.005)
    with FakeOpenAIServer(fault_rate=0.3, faults=("429", "500", "503", "drop", "malformed"), seed=3) as srv:
        provider = LiteLLMProvider(MODEL, api_base=srv.base_url, retry_policy=policy)

        async def many() -> list[CallResult]:
            return await asyncio.gather(*(provider.complete(ask(n=1 + i % 3)) for i in range(24)))

        results = asyncio.run(many())
        assert sum(len(r.completions) for r in results) == srv.choices == sum(1 + i % 3 for i in range(24))
        assert sum(r.retries for r in results) + len(results) == srv.requests  # one request per attempt
        assert sum(r.retries for r in results) == sum(srv.faults.values()) > 0


# -- cost ------------------------------------------------------------------------------------------


def test_cost_from_given_prices(srv, make):
    provider = make(price_in=0.4, price_out=1.6)
    assert provider.info.prices_known
    result = run(provider, ask(n=2))
    first, second = result.completions
    assert first.cost_usd == pytest.approx((PROMPT_WORDS * 0.4 + 5 * 1.6) / 1e6)
    assert second.cost_usd == pytest.approx(5 * 1.6 / 1e6)


def test_unknown_model_cost_is_none(srv, make):
    provider = make()
    assert not provider.info.prices_known
    assert all(c.cost_usd is None for c in run(provider, ask(n=2)).completions)


def test_known_model_priced_from_the_local_map(srv, make):
    litellm = load_litellm()
    prices = litellm.model_cost["gpt-4.1-mini"]
    provider = make("gpt-4.1-mini")
    assert provider.info.prices_known
    [c] = run(provider, ask()).completions
    expected = PROMPT_WORDS * prices["input_cost_per_token"] + 5 * prices["output_cost_per_token"]
    assert c.cost_usd == pytest.approx(expected) and c.cost_usd > 0
    assert srv.bodies[0]["model"] == "gpt-4.1-mini"


def test_one_given_price_and_the_map_for_the_other(srv, make):
    litellm = load_litellm()
    [c] = run(make("gpt-4.1-mini", price_in=10.0), ask()).completions
    assert c.cost_usd == pytest.approx(
        PROMPT_WORDS * 10.0 / 1e6 + 5 * litellm.model_cost["gpt-4.1-mini"]["output_cost_per_token"]
    )
    assert not make(price_in=10.0).info.prices_known  # unknown model: the output price is unknown


# -- keys ------------------------------------------------------------------------------------------


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingApiKey, match="OPENAI_API_KEY is not set") as err:
        LiteLLMProvider("gpt-4.1-mini")
    assert "gpt-4.1-mini" in str(err.value) and err.value.fatal
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingApiKey, match="ANTHROPIC_API_KEY"):
        LiteLLMProvider("anthropic/claude-haiku-4-5")


def test_no_key_needed_for_a_local_server(monkeypatch, srv, make):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    LiteLLMProvider("ollama_chat/llama3")  # local by default: no key check
    assert run(make(), ask()).completions[0].text


def test_key_is_sent_and_never_shown(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(api_key="sk-local-secret-123") as srv:
        good = LiteLLMProvider(MODEL, api_base=srv.base_url, api_key="sk-local-secret-123", retry_policy=FAST)
        assert run(good, ask()).completions
        bad = LiteLLMProvider(MODEL, api_base=srv.base_url, api_key="sk-wrong-secret-456", retry_policy=FAST)
        with pytest.raises(ProviderError) as err:
            run(bad, ask())
    assert err.value.status == 401 and "secret" not in str(err.value)
    assert (
        _one_line(RuntimeError("Incorrect API key provided: sk-abcdefghijkl\nmore"))
        == "Incorrect API key provided: [redacted]"
    )
    assert "abc" not in _one_line(ValueError("header Authorization: Bearer abcdefgh"))


# -- router ----------------------------------------------------------------------------------------


def write_router(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_router_with_two_deployments(tmp_path):
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        path = write_router(
            tmp_path,
            f"""
            model_list:
              - model_name: fake
                litellm_params: {{model: {MODEL}, api_base: "{a.base_url}", rpm: 6000, tpm: 1000000}}
              - model_name: fake
                litellm_params: {{model: {MODEL}, api_base: "{b.base_url}"}}
                rpm: 6000
            """,
        )
        provider = LiteLLMProvider("fake", router_config=path, retry_policy=FAST, price_in=1.0, price_out=2.0)
        assert provider.info.name == "fake" and provider.info.supports_n and provider.info.prices_known
        assert "2 deployments" in provider.info.notes["router"]

        async def many() -> list[CallResult]:
            return await asyncio.gather(*(provider.complete(ask(n=2)) for _ in range(24)))

        results = asyncio.run(many())
        assert a.requests > 0 and b.requests > 0 and a.requests + b.requests == 24  # P(one idle) = 2^-23
        assert sum(len(r.completions) for r in results) == a.choices + b.choices == 48
        first = results[0].completions[0]
        assert first.cost_usd == pytest.approx((PROMPT_WORDS * 1.0 + 5 * 2.0) / 1e6)


def test_router_prices_unknown_models_as_unknown_and_reads_deployment_prices(tmp_path, srv):
    path = write_router(
        tmp_path,
        f"""
        model_list:
          - model_name: local
            litellm_params: {{model: hosted_vllm/not-in-any-map, api_base: "{srv.base_url}"}}
          - model_name: priced
            litellm_params:
              model: hosted_vllm/also-not-in-any-map
              api_base: "{srv.base_url}"
              input_cost_per_token: 0.000001
              output_cost_per_token: 0.000002
        """,
    )
    local = LiteLLMProvider("local", router_config=path, retry_policy=FAST)
    assert not local.info.prices_known
    assert run(local, ask()).completions[0].cost_usd is None
    priced = LiteLLMProvider("priced", router_config=path, retry_policy=FAST)
    assert priced.info.prices_known
    [c] = run(priced, ask()).completions
    assert c.cost_usd == pytest.approx((PROMPT_WORDS * 1 + 5 * 2) / 1e6)
    # litellm.Router put zero-price entries for these models in litellm's map: still unknown
    assert not LiteLLMProvider("hosted_vllm/not-in-any-map", api_base=srv.base_url).info.prices_known


def test_router_retries_a_429(tmp_path):
    with FakeOpenAIServer() as srv:
        path = write_router(
            tmp_path,
            f"""
            model_list:
              - model_name: fake
                litellm_params: {{model: {MODEL}, api_base: "{srv.base_url}"}}
            """,
        )
        srv.inject("429", retry_after=0.2)
        provider = LiteLLMProvider("anything", router_config=path, retry_policy=SLOW_BACKOFF)
        result, elapsed = timed(provider, ask())
        assert provider.info.name == "fake"  # the file's only model_name
        assert result.retries == 1 and srv.requests == 2 and 0.2 <= elapsed < 3


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model_list: [unclosed", "YAML syntax error"),
        ("- just a list", "model_list"),
        ("model_list: []", "non-empty list"),
        ("model_list:\n  - model_name: m\n", r"model_list\[0\]\.litellm_params"),
        ("model_list:\n  - model_name: m\n    litellm_params: {api_base: x}\n", r"litellm_params\.model"),
        ("model_list:\n  - litellm_params: {model: openai/m}\n", r"model_list\[0\]\.model_name"),
        ("model_list:\n  - {model_name: m, rpm: -1, litellm_params: {model: openai/m}}\n", r"\.rpm"),
        ("model_list:\n  - {model_name: m, model_info: 3, litellm_params: {model: openai/m}}\n", r"\.model_info"),
        ("model_list:\n  - {model_name: m, litellm_params: {model: openai/m}}\nextra: 1\n", "unknown key 'extra'"),
        (
            "model_list:\n  - {model_name: m, litellm_params: {model: openai/m}}\nrouter_settings: {num_retries: 3}\n",
            "router_settings.num_retries",
        ),
        (
            "model_list:\n  - {model_name: a, litellm_params: {model: openai/m}}\n"
            "  - {model_name: b, litellm_params: {model: openai/m}}\n",
            "not a model_name",
        ),
    ],
)
def test_bad_router_files_name_the_file(tmp_path, text, match):
    path = write_router(tmp_path, text)
    with pytest.raises(SpecError, match=match) as err:
        LiteLLMProvider("gpt-4.1-mini", router_config=path)
    assert str(path) in str(err.value)


def test_missing_router_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        LiteLLMProvider("m", router_config=tmp_path / "nope.yaml")


# -- pieces ----------------------------------------------------------------------------------------


def test_apportion():
    assert apportion(60, [1, 2, 3]) == [10, 20, 30]
    assert apportion(10, [1, 1, 1]) in ([4, 3, 3], [3, 4, 3], [3, 3, 4])
    assert apportion(7, [0, 0]) in ([4, 3], [3, 4])
    assert apportion(5, [0, 9]) == [0, 5]
    assert apportion(0, [3, 1]) == [0, 0]
    for total in range(40):
        for weights in ([1], [5, 1, 1], [2, 3, 7, 11], [0, 4]):
            shares = apportion(total, weights)
            assert sum(shares) == total and min(shares) >= 0


def test_retry_after_parsing():
    now = 1_700_000_000.0
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": "0.25"}) == 0.25
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    assert retry_after_seconds({"retry-after": email.utils.formatdate(now + 12, usegmt=True)}, now=now) == 12.0
    assert retry_after_seconds({"retry-after": email.utils.formatdate(now - 12, usegmt=True)}, now=now) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "-1"}) is None
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None


def test_call_with_retries_caps_the_server_wait_and_counts():
    class Busy(Exception):
        pass

    calls = []

    async def flaky():
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise Busy()
        return "done"

    policy = RetryPolicy(max_attempts=5, initial_wait=5, max_wait=0.05, jitter=0)
    attempts = Attempts()
    result = asyncio.run(
        call_with_retries(
            flaky, policy, is_retryable=lambda e: isinstance(e, Busy), server_wait=lambda e: 100.0, attempts=attempts
        )
    )
    assert result == "done" and attempts.count == 3 and attempts.retries == 2
    assert calls[-1] - calls[0] < 1  # 100 s asked, capped at 0.05 s per wait

    attempts = Attempts()
    with pytest.raises(KeyError):
        asyncio.run(
            call_with_retries(lambda: _raise(KeyError("x")), policy, is_retryable=lambda e: False, attempts=attempts)
        )
    assert attempts.count == 1 and attempts.retries == 0


async def _raise(exc: BaseException):
    raise exc
