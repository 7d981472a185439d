"""Embedding models for semantic matching: the simulated one (paraphrases close, answers far), the
simulated model's `paraphrase` knob, and litellm's `aembedding` against the fake server (retries,
malformed bodies, cost from a price or litellm's map, the key never shown)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from maker_cli.core.clusters import cosine
from maker_cli.errors import ConfigError, ProviderError, UsageError
from maker_cli.providers.base import Reference, SampleRequest
from maker_cli.providers.embeddings import LiteLLMEmbedder, SimEmbedder, make_embedder, make_matcher
from maker_cli.providers.paraphrase import TEMPLATES, core, paraphrase, sim_vector
from maker_cli.providers.retrying import RetryPolicy
from maker_cli.providers.sim import SimProvider, parse_sim
from maker_cli.specs.matching import EmbeddingMatch, NumberMatch
from maker_cli.testing.fake_server import FakeOpenAIServer

FAST = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.05, jitter=0.0)


def test_paraphrases_are_close_and_different_answers_far():
    for answer in ("Paris", "42", "red, green"):
        vectors = [sim_vector(paraphrase(answer, i)) for i in range(len(TEMPLATES))]
        assert all(core(paraphrase(answer, i)) == answer.lower() for i in range(len(TEMPLATES)))
        assert min(cosine(a, b) for a, b in itertools.combinations(vectors, 2)) > 0.95
    answers = ["paris", "parit", "london", "42", "43", "red", "green", "blue"]
    vectors = [sim_vector(a) for a in answers]
    assert max(cosine(a, b) for a, b in itertools.combinations(vectors, 2)) < 0.5
    assert sim_vector("Paris") == sim_vector("Paris")  # deterministic


def test_sim_embedder_counts_tokens_prices_and_options():
    embedder = make_embedder("sim:dim=8", price=2.0)
    assert isinstance(embedder, SimEmbedder)
    batch = asyncio.run(embedder.embed(["paris", "the answer is paris"]))
    assert len(batch.vectors) == 2 and len(batch.vectors[0]) == 8
    assert batch.input_tokens == 2 + 5 and batch.cost_usd == pytest.approx(7 * 2.0 / 1e6)
    assert asyncio.run(SimEmbedder().embed(["x"])).cost_usd == 0.0
    with pytest.raises(ConfigError, match="dim=2..4096"):
        SimEmbedder("sim:size=3")


def test_make_matcher_builds_the_declared_rule():
    assert make_matcher(NumberMatch(tolerance=0.5)).usage.calls == 0
    matcher = make_matcher(EmbeddingMatch(model="sim", threshold=0.8, price=1.0))
    assert asyncio.run(matcher.assign(["a", "it is a"])) == ["a", "a"]


def test_the_simulated_model_paraphrases_valid_answers():
    ref = Reference("Paris", lambda v: f"Parit{v}", lambda v, i: paraphrase("Paris" if v is None else f"Parit{v}", i))
    sim = SimProvider("sim:p=0.8,paraphrase=0.5,seed=3")
    texts = [c.text for c in sim.sample(SampleRequest("", "q", 0.1, n=400, reference=ref))]
    restated = [t for t in texts if t not in ("Paris", "Parit0")]
    assert 120 < len(restated) < 280  # about half
    assert {core(t) for t in texts} == {"paris", "parit0"}
    plain = SimProvider("sim:p=0.8,seed=3").sample(SampleRequest("", "q", 0.1, n=50, reference=ref))
    assert {c.text for c in plain} <= {"Paris", "Parit0"}
    with pytest.raises(UsageError, match="paraphrase must be between 0 and 1"):
        parse_sim("sim:paraphrase=2")
    fixed = SimProvider("sim:p=1,paraphrase=1,answer=42,seed=1").sample(SampleRequest("", "q", 0.1, n=20))
    assert {core(c.text) for c in fixed} == {"42"} and any(c.text != "42" for c in fixed)


# --- litellm against the fake server ------------------------------------------------------------


def test_litellm_embeddings_over_http_with_retries_and_a_given_price():
    with FakeOpenAIServer() as srv:
        srv.inject("429", retry_after=0.01)
        srv.inject("malformed", body='{"object": "list", "data": []}')
        embedder = LiteLLMEmbedder("openai/fake-embed", api_base=srv.base_url, price=10.0, retry_policy=FAST)
        batch = asyncio.run(embedder.embed(["paris", "the answer is paris", "parit"]))
        assert srv.embedding_requests == 3 and srv.embedded_texts == 3 and srv.requests == 0
    assert batch.retries == 2
    assert batch.input_tokens == 1 + 4 + 1  # the fake server counts words
    assert batch.cost_usd == pytest.approx(6 * 10.0 / 1e6)
    assert cosine(batch.vectors[0], batch.vectors[1]) > 0.95 > 0.5 > cosine(batch.vectors[0], batch.vectors[2])


def test_litellm_embedding_prices_come_from_the_map_else_unknown():
    with FakeOpenAIServer() as srv:
        mapped = LiteLLMEmbedder("openai/text-embedding-3-small", api_base=srv.base_url, retry_policy=FAST)
        batch = asyncio.run(mapped.embed(["a b c d"]))
        assert batch.cost_usd == pytest.approx(4 * 0.02 / 1e6)
        unknown = LiteLLMEmbedder("openai/fake-embed", api_base=srv.base_url, retry_policy=FAST)
        assert asyncio.run(unknown.embed(["x"])).cost_usd is None


def test_litellm_embedding_failures_are_provider_errors_without_the_key():
    secret = "sk-test-secret-123456789"
    with FakeOpenAIServer(api_key="the-right-key") as srv:
        embedder = LiteLLMEmbedder("openai/fake-embed", api_base=srv.base_url, api_key=secret, retry_policy=FAST)
        with pytest.raises(ProviderError) as error:
            asyncio.run(embedder.embed(["x"]))
    assert error.value.status == 401 and error.value.fatal
    assert secret not in str(error.value) and "embedding model openai/fake-embed" in str(error.value)
    with FakeOpenAIServer() as srv:
        srv.inject("malformed", times=3)
        embedder = LiteLLMEmbedder("openai/fake-embed", api_base=srv.base_url, retry_policy=FAST)
        with pytest.raises(ProviderError, match="after 3 attempts"):
            asyncio.run(embedder.embed(["x"]))


def test_the_fake_server_refuses_bad_embedding_input():
    import json
    import urllib.error
    import urllib.request

    with FakeOpenAIServer(embedder=lambda texts: 1 / 0) as srv:  # type: ignore[arg-type, return-value]
        for body, status in (({"input": [1, 2]}, 400), ({"input": "x"}, 500)):
            request = urllib.request.Request(
                srv.base_url + "/embeddings", json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(request, timeout=5)
            assert error.value.code == status


def test_vectors_are_read_in_index_order_and_checked():
    from maker_cli.providers.embeddings import _vectors
    from maker_cli.providers.litellm_support import Malformed

    class Item:
        def __init__(self, index, embedding):
            self.index, self.embedding = index, embedding

    class Response:
        def __init__(self, data):
            self.data = data

    assert _vectors(Response([Item(1, [0.0, 1.0]), {"embedding": [1, 0]}]), 2) == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(Malformed, match="not a list of numbers"):
        _vectors(Response([{"index": 0, "embedding": ["x"]}]), 1)
    with pytest.raises(Malformed, match="expected 2 embeddings, got none"):
        _vectors(Response(None), 2)


def test_a_failing_key_check_means_no_key(monkeypatch):
    from maker_cli.providers.litellm_support import DUMMY_API_KEY, load_litellm

    def broken(**kwargs):
        raise RuntimeError("cannot tell")

    monkeypatch.setattr(load_litellm(), "validate_environment", broken)
    embedder = LiteLLMEmbedder("openai/fake-embed", api_base="http://127.0.0.1:9/v1")
    assert embedder._kwargs["api_key"] == DUMMY_API_KEY


def test_a_restatement_the_judge_refuses_falls_back_to_the_plain_answer():
    from maker_cli.specs import parse_spec
    from maker_cli.tasks.question import QuestionTask

    spec = parse_spec(
        "name: n\nuser: q\ninputs: [expected]\nexpected: '{{expected}}'\n"
        "answer: {regex: 'Answer: (?P<answer>.+)', canonical: [number]}\nsim_response: 'Answer: {{answer}}'\n"
    )
    ref = QuestionTask(spec, {"expected": "42"}).reference({"expected": "42"})
    assert ref is not None and ref.restate is not None
    assert ref.restate(None, 1) == ref.correct == "Answer: 42"  # "the answer is 42" is not a number
    assert ref.restate(0, 1) == ref.wrong(0)


def test_per_token_embeddings_are_mean_pooled():
    """A server without pooling (llama.cpp's, seen with llama-cpp-python) answers one vector per
    token: their mean is the text's vector; ragged or non-numeric rows are malformed."""
    from types import SimpleNamespace

    from maker_cli.providers.embeddings import _vectors
    from maker_cli.providers.litellm_support import Malformed

    def response(*embeddings):
        return SimpleNamespace(data=[{"index": i, "embedding": e} for i, e in enumerate(embeddings)])

    assert _vectors(response([[1.0, 2.0], [3.0, 4.0]], [0.5, 0.5]), 2) == [[2.0, 3.0], [0.5, 0.5]]
    for bad in ([[1.0, 2.0], [3.0]], [[1.0, "x"]], [[]], [[float("nan"), 1.0]], [True, 1.0]):
        with pytest.raises(Malformed):
            _vectors(response(bad), 1)
