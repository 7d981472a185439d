"""Answer clusters: the matching rule, representatives by frequency, order independence, and the
engine counting votes per cluster (with the embedding calls' cost and tokens)."""

from __future__ import annotations

import asyncio

import pytest
from engine_fixtures import judge
from hypothesis import given, settings
from hypothesis import strategies as st

from maker_cli.core.clusters import AnswerClusters, NumberMatcher, cosine, shown
from maker_cli.core.embedding_match import EmbeddingMatcher
from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.events import RoundFinished
from maker_cli.core.step import StepPrompt
from maker_cli.errors import ProviderError
from maker_cli.providers.base import CallResult, Completion, EmbeddingBatch, ProviderInfo, SampleRequest
from maker_cli.providers.embeddings import SimEmbedder


def letters(key: str, representative: str) -> float | None:
    """Keys match when they start with the same letter; a longer common prefix scores higher."""
    if key[0] != representative[0]:
        return None
    common = 0
    for a, b in zip(key, representative, strict=False):
        if a != b:
            break
        common += 1
    return float(common)


def test_a_new_key_joins_the_most_similar_cluster_else_founds_one():
    clusters = AnswerClusters()
    assert clusters.assign(["apple", "banana"], letters) == ["apple", "banana"]
    assert clusters.assign(["avocado", "cherry", "bandana"], letters) == ["apple", "cherry", "banana"]
    assert clusters.members("apple") == {"apple": 1, "avocado": 1}
    assert clusters.representatives() == {"apple": "apple", "banana": "banana", "cherry": "cherry"}


def test_ties_in_similarity_keep_the_older_cluster():
    clusters = AnswerClusters()
    clusters.assign(["ab"], letters)
    clusters.assign(["ac"], lambda k, r: None)  # founded apart
    assert clusters.assign(["ad"], lambda k, r: 1.0) == ["ab"]


def test_the_representative_is_the_most_frequent_member_ties_first_seen():
    clusters = AnswerClusters()
    clusters.assign(["apple"], letters)
    clusters.assign(["apricot"], letters)
    assert clusters.representative("apple") == "apple"  # 1-1: the first seen
    clusters.assign(["apricot"], letters)
    assert clusters.representative("apple") == "apricot"  # 2-1
    assert clusters.assign(["apple"], letters) == ["apple"]  # the race key never changes
    assert clusters.representative("unknown") == "unknown"


def test_within_a_round_the_most_frequent_new_key_founds_the_cluster():
    clusters = AnswerClusters()
    assert clusters.assign(["ax", "ay", "ay"], letters) == ["ay", "ay", "ay"]
    assert clusters.representative("ay") == "ay" and clusters.members("ay") == {"ay": 2, "ax": 1}


def test_equally_frequent_new_keys_go_shortest_first():
    clusters = AnswerClusters()
    assert clusters.assign(["i would say paris", "paris", "the answer is paris"], lambda k, r: 1.0) == ["paris"] * 3
    assert clusters.representative("paris") == "paris"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a1", "a2", "b1", "b2", "c", "ab", "ba"]), min_size=1, max_size=12), st.randoms())
def test_the_order_of_a_round_never_matters(keys, rng):
    first, second = AnswerClusters(), AnswerClusters()
    shuffled = list(keys)
    rng.shuffle(shuffled)
    one = dict(zip(keys, first.assign(keys, letters), strict=True))
    two = dict(zip(shuffled, second.assign(shuffled, letters), strict=True))
    assert one == two
    assert first.representatives() == second.representatives()


def test_number_matcher_joins_numbers_within_the_tolerance_of_the_representative():
    matcher = NumberMatcher(0.01)
    assert asyncio.run(matcher.assign(["3.14", "3.141", "3.2", "3.15"])) == ["3.14", "3.14", "3.2", "3.14"]
    assert matcher.members("3.14") == {"3.14": 1, "3.141": 1, "3.15": 1}  # 3.15 is 0.01 from 3.14: in
    assert asyncio.run(matcher.assign(["3.205", "x"])) == ["3.2", "x"]  # nearest representative; text: apart
    assert matcher.usage.calls == 0 and matcher.usage.cost_usd == 0
    with pytest.raises(ValueError, match="tolerance"):
        NumberMatcher(-1)


def test_cosine():
    assert cosine([1.0, 0.0], [1.0, 0.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert cosine([1.0], [1.0, 0.0]) == 0.0 and cosine([0.0, 0.0], [1.0, 0.0]) == 0.0


def test_embedding_matcher_embeds_each_distinct_text_once_and_counts_the_cost():
    embedder = SimEmbedder(price=1.0)
    matcher = EmbeddingMatcher(embedder, 0.9)
    first = asyncio.run(matcher.assign(["paris", "the answer is paris", "parit", "paris"]))
    assert first == ["paris", "paris", "parit", "paris"]
    asyncio.run(matcher.assign(["paris", "it is paris", "the answer is paris"]))
    assert embedder.calls == 2 and sorted(embedder.texts) == sorted(
        ["paris", "the answer is paris", "parit", "it is paris"]
    )
    assert asyncio.run(matcher.assign(["paris"])) == ["paris"] and embedder.calls == 2  # cached: no call
    assert matcher.usage.calls == 2 and matcher.usage.texts == 4
    assert matcher.usage.input_tokens > 0
    assert matcher.usage.cost_usd == pytest.approx(matcher.usage.input_tokens / 1e6)
    assert matcher.representative("paris") == "paris" and matcher.members("parit") == {"parit": 1}
    with pytest.raises(ValueError, match="threshold"):
        EmbeddingMatcher(embedder, 0.0)


class _Broken:
    model = "broken"

    def __init__(self, vectors: int, cost: float | None = 0.5) -> None:
        self.vectors = vectors
        self.cost = cost

    async def embed(self, texts):
        return EmbeddingBatch([[1.0, 0.0]] * self.vectors, None, self.cost, retries=1)


def test_embedding_matcher_refuses_a_wrong_number_of_vectors_and_notes_an_unknown_price():
    with pytest.raises(ProviderError, match="1 embeddings for 2 texts"):
        asyncio.run(EmbeddingMatcher(_Broken(1), 0.9).assign(["a", "b"]))
    matcher = EmbeddingMatcher(_Broken(2, cost=None), 0.9)
    assert asyncio.run(matcher.assign(["a", "b"])) == ["a", "a"]  # identical vectors: one cluster
    assert not matcher.usage.cost_known and matcher.usage.retries == 1 and matcher.usage.input_tokens == 0


class Paraphraser:
    """A provider answering from a fixed cycle of texts (inline, like the simulated model)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.i = 0
        self.info = ProviderInfo("cycle", simulated=True, supports_n=True, prices_known=True, inline=True)

    async def complete(self, request: SampleRequest) -> CallResult:
        out = []
        for _ in range(request.n):
            out.append(Completion(self.texts[self.i % len(self.texts)], 10, 5, "stop", 0.0, 0.001))
            self.i += 1
        return CallResult(out)

    async def aclose(self) -> None:
        return None


PARAPHRASES = ["Answer: Paris", "Answer: the answer is Paris", "Answer: Paris, I believe", "Answer: Parit"]


def test_the_engine_counts_votes_per_cluster_and_adds_the_embedding_cost():
    events = []
    embedder = SimEmbedder(price=1000.0)
    matcher = EmbeddingMatcher(embedder, 0.9)
    engine = Engine(Paraphraser(PARAPHRASES), listeners=[events.append])
    result = asyncio.run(engine.vote(StepPrompt(0, "", "q"), judge, VoteConfig(k=3, max_samples=20), matcher=matcher))
    assert result.decided and result.winner == "paris"
    assert result.tallies == {"paris": 3} and result.valid == 3  # three paraphrases, one cluster
    assert result.clusters == {"paris": {"paris": 1, "the answer is paris": 1, "paris, i believe": 1}}
    assert result.value == "Paris"  # the representative's own value
    assert result.match_calls == 1 and result.match_tokens == matcher.usage.input_tokens
    assert result.input_tokens == 30 + result.match_tokens
    assert result.cost_usd == pytest.approx(0.003 + result.match_cost_usd)
    assert result.match_cost_usd == pytest.approx(result.match_tokens * 1000 / 1e6)
    rounds = [e for e in events if isinstance(e, RoundFinished)]
    assert rounds[-1].tallies == {"paris": 3} and rounds[-1].leader == "paris"


def test_without_matching_paraphrases_split_the_votes():
    engine = Engine(Paraphraser(PARAPHRASES))
    result = asyncio.run(engine.vote(StepPrompt(0, "", "q"), judge, VoteConfig(k=2, max_samples=20)))
    assert result.clusters is None and result.match_calls == 0
    assert len(result.tallies) == 4 and result.samples > 3


def test_embedding_cost_counts_against_the_spend_limit():
    matcher = EmbeddingMatcher(SimEmbedder(price=1e6), 0.9)  # a dollar a token: the first round is over the limit
    engine = Engine(Paraphraser(["Answer: a", "Answer: b", "Answer: c"]))
    result = asyncio.run(
        engine.vote(StepPrompt(0, "", "q"), judge, VoteConfig(k=3, max_samples=50), spend_limit=1.0, matcher=matcher)
    )
    assert not result.decided and str(result.stopped) == "budget"
    assert result.samples == 3 and result.cost_usd > 1.0


def test_an_unknown_embedding_price_makes_the_step_cost_unknown():
    engine = Engine(Paraphraser(["Answer: a"]))
    result = asyncio.run(
        engine.vote(StepPrompt(0, "", "q"), judge, VoteConfig(k=2), matcher=EmbeddingMatcher(_Broken(1, None), 0.5))
    )
    assert result.decided and result.cost_usd is None and result.match_cost_usd is None


def test_shown_keys_counts_by_representative():
    matcher = NumberMatcher(1)
    asyncio.run(matcher.assign(["1", "2", "2"]))
    assert shown({"2": 3}, matcher) == {"2": 3}
