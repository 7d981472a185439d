"""Semantic matching: answers whose embeddings are close vote together (see maker_cli.core.clusters).

Each distinct canonical key is embedded once (`cache`, shared by every step of a run when the
caller passes one in): the new keys of a round go to the embedding model in one call, in sorted
order, and the call's tokens and cost are counted in `usage` (the engine adds them to the step's).
Two keys match when the cosine similarity of their embeddings reaches `threshold`.
"""

from __future__ import annotations

from collections.abc import Sequence

from maker_cli.core.clusters import AnswerClusters, MatchUsage, cosine
from maker_cli.errors import ProviderError
from maker_cli.providers.base import Embedder


class EmbeddingMatcher:
    """Clusters keys by the cosine similarity of their embeddings (>= `threshold`, in (0, 1])."""

    def __init__(self, embedder: Embedder, threshold: float, cache: dict[str, list[float]] | None = None) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.embedder = embedder
        self.threshold = threshold
        self.cache: dict[str, list[float]] = cache if cache is not None else {}
        self.usage = MatchUsage()
        self.clusters = AnswerClusters()

    async def assign(self, keys: Sequence[str]) -> list[str]:
        texts = sorted(set(keys) - self.cache.keys())
        if texts:
            batch = await self.embedder.embed(texts)
            if len(batch.vectors) != len(texts):
                raise ProviderError(f"{self.embedder.model}: {len(batch.vectors)} embeddings for {len(texts)} texts")
            self.cache.update(zip(texts, batch.vectors, strict=True))
            usage = self.usage
            usage.calls += 1
            usage.texts += len(texts)
            usage.retries += batch.retries
            usage.input_tokens += batch.input_tokens or 0
            if batch.cost_usd is None:
                usage.cost_known = False
            else:
                usage.cost_usd += batch.cost_usd
        return self.clusters.assign(keys, self._score)

    def _score(self, key: str, representative: str) -> float | None:
        similarity = cosine(self.cache[key], self.cache[representative])
        return similarity if similarity >= self.threshold - 1e-12 else None

    def representative(self, cluster: str) -> str:
        return self.clusters.representative(cluster)

    def members(self, cluster: str) -> dict[str, int]:
        return self.clusters.members(cluster)
