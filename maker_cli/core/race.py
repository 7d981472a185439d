"""The pure state of one race over canonical answers, for each voting method.

- `ahead-by-k` (the default, the paper's first-to-ahead-by-k): an answer wins when it leads every
  other answer by at least k votes. The only method with the paper's guarantee (k_min, P(success)).
- `first-to-k`: the first answer to collect k votes wins (fewer samples at the same k, and no
  margin: two answers can race neck and neck and the luckier one wins).

The engine adds whole rounds of votes and asks for a decision only at round boundaries, so the
order of votes inside a round can never change the outcome (the state is a multiset of votes).

**Loss of hope**: with r samples left under the cap, a race is hopeless when no answer can win
even if all r are valid votes for the best-placed answer (ahead-by-k: leader's margin + r < k;
first-to-k: leader's votes + r < k). The engine then stops at once: the step ends undecided as it
would at the cap, with r samples saved.
"""

from __future__ import annotations

from enum import StrEnum


class VotingMethod(StrEnum):
    AHEAD_BY_K = "ahead-by-k"
    FIRST_TO_K = "first-to-k"


class VoteRace:
    """First-to-ahead-by-k (and, with `method`, first-to-k) over canonical answer keys."""

    __slots__ = ("counts", "k", "method", "votes")

    def __init__(self, k: int, method: VotingMethod = VotingMethod.AHEAD_BY_K) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.method = VotingMethod(method)
        self.counts: dict[str, int] = {}
        self.votes = 0

    def add(self, key: str) -> None:
        """Count one valid vote for the canonical answer `key`."""
        self.counts[key] = self.counts.get(key, 0) + 1
        self.votes += 1

    def standing(self) -> tuple[str | None, int]:
        """(leader, margin over the runner-up). The leader among equals is the first seen."""
        best_key: str | None = None
        best = second = 0
        for key, n in self.counts.items():
            if n > best:
                second, best, best_key = best, n, key
            elif n > second:
                second = n
        return best_key, best - second

    def winner(self) -> str | None:
        """The answer that leads every other by >= k (first-to-k: that has k votes), or None."""
        leader, margin = self.standing()
        if self.method is VotingMethod.FIRST_TO_K:
            return leader if leader is not None and self.counts[leader] >= self.k else None
        return leader if margin >= self.k else None

    def needed(self) -> int:
        """Votes that must still arrive before any answer can win: k - margin (first-to-k: k - the
        leader's votes), at least 1."""
        leader, margin = self.standing()
        if self.method is VotingMethod.FIRST_TO_K:
            return max(1, self.k - (self.counts[leader] if leader is not None else 0))
        return max(1, self.k - margin)

    def hopeless(self, remaining: int) -> bool:
        """True when no answer can win with `remaining` more votes (see loss of hope above)."""
        return self.needed() > remaining

    def ranked(self) -> list[tuple[str, int]]:
        """Candidates by votes, most first (stable for ties: first seen first)."""
        return sorted(self.counts.items(), key=lambda kv: -kv[1])
