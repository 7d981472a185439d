"""The pure state of one first-to-ahead-by-k race over canonical answers.

An answer wins when it leads every other answer by at least k votes. The engine adds whole rounds
of votes and asks for a decision only at round boundaries, so the order of votes inside a round can
never change the outcome (the state is a multiset of votes).
"""

from __future__ import annotations


class VoteRace:
    __slots__ = ("counts", "k", "votes")

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
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
        """The answer that leads every other by >= k, or None."""
        leader, margin = self.standing()
        return leader if margin >= self.k else None

    def needed(self) -> int:
        """Votes that must still arrive before any answer can win: k - margin (at least 1)."""
        _, margin = self.standing()
        return max(1, self.k - margin)

    def ranked(self) -> list[tuple[str, int]]:
        """Candidates by votes, most first (stable for ties: first seen first)."""
        return sorted(self.counts.items(), key=lambda kv: -kv[1])
