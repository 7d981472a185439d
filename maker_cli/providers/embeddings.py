"""Embedding models for semantic answer matching: the simulated one and any litellm model.

- `sim` (or `sim:dim=N`): in-process, deterministic (`maker_cli.providers.paraphrase.sim_vector`:
  paraphrases of one answer land close together); about 4 characters a token; free unless a
  price is given.
- anything else is a litellm model string (`openai/text-embedding-3-small`, or `openai/NAME` on an
  OpenAI-compatible `api_base`), called with `litellm.aembedding`. litellm is imported on first use
  and never retries itself (`max_retries=0`, `num_retries=0`, and `litellm.DEFAULT_MAX_RETRIES=0`,
  which its OpenAI embedding path falls back to for a 0); `retrying.call_with_retries` does,
  with the same policy and error classes as chat calls.

Cost: the price given (USD per million input tokens), else litellm's local price map (its input
price), else the simulated model's 0, else unknown (None, never 0).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from maker_cli._types import LiteLLMResponse
from maker_cli.core.clusters import AnswerMatcher, NumberMatcher
from maker_cli.core.embedding_match import EmbeddingMatcher
from maker_cli.errors import ConfigError, ProviderError
from maker_cli.providers import is_sim
from maker_cli.providers.base import Embedder, EmbeddingBatch
from maker_cli.providers.paraphrase import DIMENSIONS, sim_vector
from maker_cli.providers.prices import PER_MILLION, resolve_prices
from maker_cli.providers.retrying import Attempts, RetryPolicy, call_with_retries
from maker_cli.secrets import redact
from maker_cli.specs.matching import EmbeddingMatch, NumberMatch


def _sim_dimensions(model: str) -> int:
    body = model[4:] if model.startswith("sim:") else ""
    dimensions = DIMENSIONS
    for part in filter(None, (x.strip() for x in body.split(","))):
        key, _, raw = part.partition("=")
        if key.strip() != "dim" or not raw.strip().isdigit() or not 2 <= int(raw) <= 4096:
            raise ConfigError(f"simulated embedding model: unknown option {part!r} (known: dim=2..4096)")
        dimensions = int(raw)
    return dimensions


class SimEmbedder:
    """The simulated embedding model (see the module doc)."""

    def __init__(self, model: str = "sim", *, price: float | None = None) -> None:
        self.model = model
        self.dimensions = _sim_dimensions(model)
        self.price = price or 0.0
        self.calls = 0
        self.texts: list[str] = []  # every text embedded, in order (tests count them)

    async def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        self.calls += 1
        self.texts.extend(texts)
        tokens = sum(len(text) // 4 + 1 for text in texts)
        vectors = [sim_vector(text, self.dimensions) for text in texts]
        return EmbeddingBatch(vectors, tokens, tokens * self.price / PER_MILLION)


class LiteLLMEmbedder:
    """A litellm embedding model behind the Embedder interface (see the module doc)."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        price: float | None = None,
        timeout: float = 60.0,
        max_attempts: int = 6,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        from maker_cli.providers.litellm_support import DUMMY_API_KEY, load_litellm  # imports litellm

        self._litellm = load_litellm()
        # no hidden retries: load_litellm sets litellm.DEFAULT_MAX_RETRIES to 0 (see there)
        self.model = model
        self.timeout = float(timeout)
        self.policy = retry_policy or RetryPolicy(max_attempts=max_attempts)
        self.price_in = embedding_price(model, price)
        self._kwargs: dict[str, object] = {"model": model, "timeout": self.timeout, "max_retries": 0, "num_retries": 0}
        if api_base is not None:
            self._kwargs["api_base"] = api_base
            if api_key is None and not self._keys_in_environment():
                api_key = DUMMY_API_KEY  # an OpenAI-compatible server that needs no key (litellm wants one)
        if api_key is not None:
            self._kwargs["api_key"] = api_key

    def _keys_in_environment(self) -> bool:
        try:
            return bool(self._litellm.validate_environment(model=self.model)["keys_in_environment"])
        except Exception:  # noqa: BLE001 - litellm's key check is best effort: assume none
            return False

    async def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        from maker_cli.providers.litellm_support import count_tokens, is_retryable, one_line, server_wait, status_of

        attempts = Attempts()
        try:
            response = await call_with_retries(
                lambda: self._aembedding(list(texts)),
                self.policy,
                is_retryable=is_retryable,
                server_wait=server_wait,
                attempts=attempts,
            )
        except Exception as exc:  # noqa: BLE001 - any failure after the retries is a ProviderError
            tries = f" after {attempts.count} attempts" if attempts.count > 1 else ""
            raise ProviderError(
                redact(f"embedding model {self.model}: {one_line(exc)}{tries}"),
                retries=attempts.retries,
                status=status_of(exc),
            ) from None
        vectors = _vectors(response, len(texts))
        usage = getattr(response, "usage", None)
        tokens = count_tokens(getattr(usage, "prompt_tokens", None))
        cost = None if tokens is None or self.price_in is None else tokens * self.price_in / PER_MILLION
        return EmbeddingBatch(vectors, tokens, cost, attempts.retries)

    async def _aembedding(self, texts: list[str]) -> LiteLLMResponse:
        async with asyncio.timeout(self.timeout * 1.5 + 5.0):  # in case a backend ignores `timeout`
            response = await self._litellm.aembedding(input=texts, **self._kwargs)
        _vectors(response, len(texts))  # a malformed body is retried like a 5xx
        return response


def _vectors(response: LiteLLMResponse, count: int) -> list[list[float]]:
    from maker_cli.providers.litellm_support import Malformed

    data = getattr(response, "data", None)
    if not isinstance(data, list) or len(data) != count:
        raise Malformed(f"expected {count} embeddings, got {len(data) if isinstance(data, list) else 'none'}")
    items = sorted(data, key=_index)
    vectors: list[list[float]] = []
    for item in items:
        vector = _get(item, "embedding")
        if isinstance(vector, list) and vector and all(isinstance(row, list) for row in vector):
            vector = _mean_pool(vector)  # one vector per token (llama.cpp without pooling): their mean
        if not isinstance(vector, list) or not vector or not all(_is_number(x) for x in vector):
            raise Malformed("an embedding is not a list of numbers")
        vectors.append([float(x) for x in vector])
    return vectors


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _mean_pool(rows: list[list[object]]) -> list[float] | None:
    """The mean of per-token vectors (all of one length and numeric), else None (malformed)."""
    width = len(rows[0])
    if not width or any(len(row) != width or not all(_is_number(x) for x in row) for row in rows):
        return None
    return [math.fsum(float(row[i]) for row in rows) / len(rows) for i in range(width)]  # type: ignore[arg-type]


def _index(item: object) -> int:
    index = _get(item, "index")
    return index if isinstance(index, int) else 0


def _get(item: object, name: str) -> object:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def embedding_price(model: str, given: float | None) -> float | None:
    """USD per million input tokens: litellm's map's price when it has one (a given price never
    replaces it: a spec cannot make a priced model look cheaper), else `given`, else None."""
    known = resolve_prices(model, None, 0.0).price_in
    return known if known is not None else given


def make_embedder(
    model: str,
    *,
    price: float | None = None,
    api_base: str | None = None,
    timeout: float = 60.0,
    max_attempts: int = 6,
) -> Embedder:
    """The embedding model a spec's `embedding` step names."""
    if is_sim(model):
        return SimEmbedder(model, price=price)
    return LiteLLMEmbedder(model, api_base=api_base, price=price, timeout=timeout, max_attempts=max_attempts)


def make_matcher(
    rule: NumberMatch | EmbeddingMatch,
    *,
    api_base: str | None = None,
    timeout: float = 60.0,
    max_attempts: int = 6,
    cache: dict[str, list[float]] | None = None,
) -> AnswerMatcher:
    """The matcher a spec's matching step declares; an embedding step without its own `api_base`
    uses the run's (`api_base`). `cache` (text -> embedding) may be shared by the steps of a run."""
    if isinstance(rule, NumberMatch):
        return NumberMatcher(rule.tolerance)
    embedder = make_embedder(
        rule.model,
        price=rule.price,
        api_base=api_base,
        timeout=timeout,
        max_attempts=max_attempts,
    )
    return EmbeddingMatcher(embedder, rule.threshold, cache)
