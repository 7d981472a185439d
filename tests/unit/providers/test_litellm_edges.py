"""The litellm provider's edges, against the fake server on 127.0.0.1: models without a provider
prefix, a failed capability or key lookup, a failure among separate requests, bodies that are not
completions, a Router litellm refuses; and how errors are classified for the retry policy."""

from __future__ import annotations

import asyncio
import textwrap
import types
from pathlib import Path

import pytest

from maker_cli.errors import ConfigError, MissingApiKey, ProviderError, SpecError
from maker_cli.providers import prices
from maker_cli.providers.base import SampleRequest
from maker_cli.providers.litellm_provider import LiteLLMProvider
from maker_cli.providers.litellm_support import (
    DUMMY_API_KEY,
    Malformed,
    is_connection_error,
    is_retryable,
    load_litellm,
    load_router_config,
    one_line,
    server_wait,
    status_of,
    with_local_key,
)
from maker_cli.providers.retrying import RetryPolicy
from maker_cli.testing import FakeChoice, FakeOpenAIServer

FAST = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=1, jitter=0.01)


def ask(n: int = 1, max_output_tokens: int | None = 100) -> SampleRequest:
    return SampleRequest("system", "user says hi", 0.1, n=n, max_output_tokens=max_output_tokens)


async def complete(provider: LiteLLMProvider, request: SampleRequest):
    try:
        return await provider.complete(request)
    finally:
        await provider.aclose()


@pytest.fixture
def srv():
    with FakeOpenAIServer() as server:
        yield server


def test_a_bare_model_name_on_a_server_is_sent_as_an_openai_compatible_model(srv):
    provider = LiteLLMProvider("my-local-model", api_base=srv.base_url, retry_policy=FAST)
    assert provider.info.notes["model"] == "sent as openai/my-local-model to the OpenAI-compatible server"
    result = asyncio.run(complete(provider, ask(max_output_tokens=None)))
    assert result.completions[0].text == "Hello from the fake server."
    assert srv.bodies[0]["model"] == "my-local-model" and "max_tokens" not in srv.bodies[0]  # no cap: none sent


def test_a_timeout_must_be_positive():
    with pytest.raises(ConfigError, match="^timeout must be positive$"):
        LiteLLMProvider("openai/fake", api_base="http://127.0.0.1:9/v1", timeout=0)


def test_lookups_litellm_cannot_do_are_left_to_the_first_call(monkeypatch):
    litellm = load_litellm()

    def cannot(**kwargs):
        raise RuntimeError("no idea")

    monkeypatch.setattr(litellm, "get_supported_openai_params", cannot)
    monkeypatch.setattr(litellm, "validate_environment", cannot)
    provider = LiteLLMProvider("openai/gpt-4.1-mini")  # no api_base: the key check would run, and cannot
    assert not provider.info.supports_n  # capability unknown: one request per sample
    deployment = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1"}}
    assert with_local_key(litellm, deployment, "d0")["litellm_params"]["api_key"] == DUMMY_API_KEY


def test_a_missing_base_url_is_not_a_missing_key(monkeypatch):
    litellm = load_litellm()
    monkeypatch.setattr(litellm, "validate_environment", lambda **kw: {"missing_keys": ["AZURE_API_BASE"]})
    assert LiteLLMProvider("azure/my-deployment").info.name == "azure/my-deployment"  # no MissingApiKey
    monkeypatch.setattr(litellm, "validate_environment", lambda **kw: {"missing_keys": ["AZURE_API_KEY"]})
    with pytest.raises(MissingApiKey, match="^AZURE_API_KEY is not set"):
        LiteLLMProvider("azure/my-deployment")


def test_a_closed_provider_and_a_request_for_no_samples_are_refused(srv):
    provider = LiteLLMProvider("openai/fake", api_base=srv.base_url, retry_policy=FAST)
    with pytest.raises(ValueError, match="n must be at least 1"):
        asyncio.run(provider.complete(ask(n=0)))
    asyncio.run(provider.aclose())
    with pytest.raises(ProviderError, match="^openai/fake: provider is closed$"):
        asyncio.run(provider.complete(ask()))
    assert srv.requests == 0


@pytest.mark.parametrize("supports_n", [True, False])
def test_a_fatal_error_for_several_samples_is_raised_as_it_is(srv, supports_n):
    """A 401 is not the server refusing `n`: no fallback to single requests, and with separate
    requests the first failure is the one raised."""
    srv.inject("401")
    provider = LiteLLMProvider("openai/fake", api_base=srv.base_url, retry_policy=FAST, supports_n=supports_n)
    with pytest.raises(ProviderError) as error:
        asyncio.run(complete(provider, ask(n=2)))
    assert error.value.status == 401 and error.value.fatal
    # with n: one request, no fallback to single ones; without: two at once, and the second may not
    # have reached the server when the first one's failure cancels it (never a retry either way)
    assert srv.requests == 1 if supports_n else srv.requests in (1, 2)


@pytest.mark.parametrize(
    "body",
    [
        '{"id": "x", "object": "chat.completion", "model": "fake", "choices": [{"index": 0, "message": null, '
        '"finish_reason": "stop"}]}',
        '{"id": "x", "object": "chat.completion", "model": "fake", "choices": []}',
    ],
)
def test_a_body_without_a_text_message_is_retried(srv, body):
    srv.inject("malformed", body=body)
    result = asyncio.run(complete(LiteLLMProvider("openai/fake", api_base=srv.base_url, retry_policy=FAST), ask()))
    assert result.retries == 1 and result.completions[0].text == "Hello from the fake server."


def test_a_reply_whose_output_tokens_the_server_did_not_send_is_counted_not_free():
    """usage with prompt_tokens only: litellm fills completion_tokens with 0; a non-empty reply has
    tokens, so they are counted with litellm's tokenizer (and priced), the prompt billed once."""
    with FakeOpenAIServer(lambda m, t, n, mt: [FakeChoice("a b")] * n) as srv:
        srv.inject("malformed", body=_completion_without_completion_tokens(2))
        provider = LiteLLMProvider("openai/fake", api_base=srv.base_url, retry_policy=FAST, price_in=1, price_out=1)
        result = asyncio.run(complete(provider, ask(n=2)))
    first, second = result.completions
    assert (first.input_tokens, second.input_tokens) == (7, 0)
    assert first.output_tokens == second.output_tokens > 0  # the same text: the same share
    assert first.cost_usd == pytest.approx((7 + first.output_tokens) / 1e6)
    assert "partial" in provider.info.notes["usage"]


def _completion_without_completion_tokens(n: int) -> str:
    choices = ", ".join(
        f'{{"index": {i}, "message": {{"role": "assistant", "content": "a b"}}, "finish_reason": "stop"}}'
        for i in range(n)
    )
    return (
        f'{{"id": "x", "object": "chat.completion", "created": 1, "model": "fake", "choices": [{choices}], '
        '"usage": {"prompt_tokens": 7}}'
    )


# -- router files ----------------------------------------------------------------------------------


def write_router(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_list:\n  - just a string\n", "model_list[0]: a deployment is a mapping with model_name and litellm_params"),
        ("model_list:\n  - {model_name: m, litellm_params: {model: openai/m}}\nrouter_settings: [1]\n", "'router_settings' must be a mapping"),
        ("model_list:\n  - {model_name: m, litellm_params: {model: no-such-provider-model}}\n", "litellm does not know the provider of model 'no-such-provider-model'"),
        ("model_list:\n  - {model_name: m, litellm_params: {model: openai/m}}\nrouter_settings: {routing_strategy: nonsense}\n", "litellm.Router rejected the config: "),
    ],
)  # fmt: skip
def test_a_router_file_litellm_cannot_use_names_the_file(tmp_path, text, message):
    path = write_router(tmp_path, text)
    with pytest.raises(SpecError) as error:
        LiteLLMProvider("m", router_config=path)
    assert str(error.value).startswith(f"{path}: {message}"), str(error.value)


def test_a_router_file_s_deployments_are_checked_before_litellm_sees_them(tmp_path):
    path = write_router(tmp_path, "model_list:\n  - {model_name: m, litellm_params: {model: openai/m}}\n")
    model_list, settings = load_router_config(path)
    assert model_list == [{"model_name": "m", "litellm_params": {"model": "openai/m"}}] and settings == {}


# -- classifying errors ----------------------------------------------------------------------------


class HTTPError(Exception):
    def __init__(self, status=None, response=None, **attributes):
        super().__init__("boom")
        self.status_code = status
        self.response = response
        self.__dict__.update(attributes)


def test_statuses_come_from_the_error_or_its_response_and_nonsense_is_none():
    assert status_of(HTTPError(503)) == 503
    assert status_of(HTTPError(None, types.SimpleNamespace(status_code="429"))) == 429
    assert status_of(HTTPError("teapot")) is None


def test_a_long_chain_of_causes_without_a_connection_error_is_not_one():
    error: BaseException = ValueError("root")
    for depth in range(20):
        try:
            raise KeyError(depth) from error
        except KeyError as exc:
            error = exc
    assert not is_connection_error(error)
    chained = KeyError("outer")
    chained.__cause__ = ConnectionRefusedError("refused")
    assert is_connection_error(chained) and status_of(chained) is None


def test_what_is_retried():
    assert is_retryable(Malformed("no choices")) and is_retryable(HTTPError(429)) and is_retryable(HTTPError(502))
    assert not is_retryable(HTTPError(400)) and not is_retryable(HTTPError(404))
    router_busy = type("RouterRateLimitError", (Exception,), {})("every deployment is cooling down")
    assert is_retryable(router_busy)
    assert not is_retryable(ValueError("a bug"))


def test_the_wait_a_server_asks_for_and_headers_of_an_odd_shape():
    assert server_wait(HTTPError(429, litellm_response_headers={"retry-after": "2"})) == 2.0
    assert server_wait(HTTPError(429, headers=["not", "a", "mapping"])) is None
    assert server_wait(HTTPError(429, cooldown_time=5)) == 5.0
    assert server_wait(HTTPError(429, cooldown_time="soon")) is None


def test_a_refused_parameter_other_than_temperature_is_said_plainly():
    line = one_line(Exception("litellm.BadRequestError: OpenAIException - top_p is not supported with this model."))
    assert line == (
        "top_p is not supported with this model: this model refuses a request parameter maker sends; please "
        "report it with the model name"
    )


# -- the price map without litellm -----------------------------------------------------------------


@pytest.fixture
def fresh_map():
    prices._bundled_map.cache_clear()
    yield
    prices._bundled_map.cache_clear()


def test_the_bundled_price_map_is_the_first_readable_one(fresh_map, monkeypatch, tmp_path):
    empty, broken, listed, good = (tmp_path / name for name in ("empty", "broken", "listed", "good"))
    for folder in (empty, broken, listed, good):
        folder.mkdir()
    (broken / prices._MAP_FILE).write_text("{not json", encoding="utf-8")
    (listed / prices._MAP_FILE).write_text("[1, 2]", encoding="utf-8")
    entry = {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-7}
    (good / prices._MAP_FILE).write_text(f'{{"acme/tiny": {str(entry).replace(chr(39), chr(34))}}}', encoding="utf-8")
    locations = [str(empty), str(broken), str(listed), str(good)]
    monkeypatch.setattr(
        prices.importlib.util, "find_spec", lambda name: types.SimpleNamespace(submodule_search_locations=locations)
    )
    monkeypatch.delitem(prices.sys.modules, "litellm", raising=False)  # as in a process that never imported it
    assert prices.model_prices("acme/tiny") == (1.0, 0.4)


@pytest.mark.parametrize("find", [lambda name: None, lambda name: (_ for _ in ()).throw(ValueError("bad spec"))])
def test_without_a_findable_litellm_package_there_is_no_bundled_map(fresh_map, monkeypatch, find):
    monkeypatch.setattr(prices.importlib.util, "find_spec", find)
    assert prices._bundled_map() is None
