"""Answers that vote together without being equal: clusters of canonical keys.

Exact matching puts "Paris" and "The city of Paris" in different races, so paraphrases of one
answer split its votes. A matching rule (a number tolerance, an embedding similarity) instead
assigns each canonical key to a *cluster*, and the race counts votes per cluster.

The rule, deterministic and documented (docs/specs/answers.md):

- The engine hands a round's valid votes over at the end of the round (`AnswerMatcher.assign`),
  so the order of arrivals inside a round never matters, as for exact keys.
- A key already seen votes for its cluster. New distinct keys are placed one by one, the most
  frequent in the round first (ties: the shorter text, then code-point order; this order is what
  "first seen" means inside a round): each joins the cluster
  whose *representative* it is most similar to, if that similarity reaches the threshold (ties:
  the older cluster), else it founds a new cluster.
- A cluster's representative is its most frequent member (ties: the first seen). It can change
  as votes arrive; the cluster's identity in the race cannot: the race counts votes under the
  founding key and nothing is ever re-keyed or merged, so the race's counts stay consistent.
  Results show each cluster under its representative.

`AnswerClusters` is the pure state; `NumberMatcher` is a rule with no model calls;
`maker_cli.core.embedding_match.EmbeddingMatcher` embeds answers first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

Score = Callable[[str, str], "float | None"]  # (new key, representative) -> similarity, None: no match


@dataclass(slots=True)
class MatchUsage:
    """What matching has cost so far (embedding calls; zero for a number tolerance)."""

    calls: int = 0
    input_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    retries: int = 0
    texts: int = 0  # distinct texts embedded


class AnswerMatcher(Protocol):
    """Maps a round's canonical keys to cluster keys (see the module doc)."""

    usage: MatchUsage

    async def assign(self, keys: Sequence[str]) -> list[str]:
        """The cluster key of each of `keys` (one round's votes), in the same order."""
        ...

    def representative(self, cluster: str) -> str:
        """The key a cluster is shown as: its most frequent member (ties: the first seen)."""
        ...

    def members(self, cluster: str) -> dict[str, int]:
        """A cluster's members and their votes, first seen first."""
        ...


class AnswerClusters:
    """The clusters of one race: which cluster each key is in and each cluster's members."""

    __slots__ = ("_cluster_of", "_members")

    def __init__(self) -> None:
        self._cluster_of: dict[str, str] = {}
        self._members: dict[str, Counter[str]] = {}  # founding key -> member votes (first seen first)

    def assign(self, keys: Sequence[str], score: Score) -> list[str]:
        """Place one round's votes (see the module doc) and return each vote's cluster key."""
        in_round = Counter(keys)
        new = sorted((key for key in in_round if key not in self._cluster_of), key=lambda k: (-in_round[k], len(k), k))
        for key in new:
            cluster = self._best(key, score)
            if cluster is None:
                cluster = key
                self._members[cluster] = Counter()
            self._cluster_of[key] = cluster
            self._members[cluster][key] += in_round[key]
        for key, n in in_round.items():
            if key not in new:
                self._members[self._cluster_of[key]][key] += n
        return [self._cluster_of[key] for key in keys]

    def _best(self, key: str, score: Score) -> str | None:
        best: str | None = None
        best_score = 0.0
        for cluster in self._members:  # oldest first: a tie keeps the older cluster
            similarity = score(key, self.representative(cluster))
            if similarity is not None and (best is None or similarity > best_score):
                best, best_score = cluster, similarity
        return best

    def representative(self, cluster: str) -> str:
        members = self._members.get(cluster)
        if not members:
            return cluster
        top = max(members.values())
        return next(key for key, n in members.items() if n == top)  # first seen among the most frequent

    def members(self, cluster: str) -> dict[str, int]:
        return dict(self._members.get(cluster, {}))

    def representatives(self) -> dict[str, str]:
        """Each cluster key -> its representative."""
        return {cluster: self.representative(cluster) for cluster in self._members}


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0 when either vector is zero or their lengths differ."""
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0


def shown(counts: Mapping[str, int], matcher: AnswerMatcher) -> dict[str, int]:
    """Race counts (by cluster key) keyed by each cluster's representative instead."""
    return {matcher.representative(cluster): n for cluster, n in counts.items()}


class NumberMatcher:
    """Canonical numbers within `tolerance` (absolute) of a cluster's representative vote with it;
    the nearest representative wins. No model calls, no cost."""

    def __init__(self, tolerance: float) -> None:
        if tolerance < 0:
            raise ValueError("tolerance must be at least 0")
        self.tolerance = Decimal(str(tolerance))
        self.usage = MatchUsage()
        self.clusters = AnswerClusters()

    def _score(self, key: str, representative: str) -> float | None:
        try:
            distance = abs(Decimal(key) - Decimal(representative))
        except InvalidOperation:  # not numbers (the `number` step runs first, so never in a spec)
            return None
        return -float(distance) if distance <= self.tolerance else None

    async def assign(self, keys: Sequence[str]) -> list[str]:
        return self.clusters.assign(keys, self._score)

    def representative(self, cluster: str) -> str:
        return self.clusters.representative(cluster)

    def members(self, cluster: str) -> dict[str, int]:
        return self.clusters.members(cluster)
