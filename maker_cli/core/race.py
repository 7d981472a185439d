"""The pure state of one race over canonical answers, for each voting method.

- `ahead-by-k` (the default, the paper's first-to-ahead-by-k): an answer wins when it leads every
  other answer by at least k votes. The only method with the paper's guarantee (k_min, P(success)).
- `first-to-k`: the first answer to collect k votes wins (fewer samples at the same k, and no
  margin: two answers can race neck and neck and the luckier one wins).
- `cisc` (confidence-weighted, after CISC, arXiv:2502.06233): each valid vote weighs its sample's
  confidence w in [MIN_WEIGHT, 1] (`maker_cli.core.sample_confidence`); an answer wins when its
  weight leads every other answer's by at least k, in units of one full-confidence vote. With every
  w = 1 it is ahead-by-k exactly. The paper normalises confidences with a softmax over a fixed set
  of N samples and takes the weighted plurality; a sequential race has no fixed N, so the weights
  are the confidences themselves (a softmax with temperature T would weigh exp(w/T), a monotone
  change that also leaves the units of k undefined).
- `borda` (ranked voting, after arXiv:2505.10772): each valid sample ranks up to `depth` candidates;
  the candidate in place i (0 first) scores (depth-1-i)/(depth-1) points, so a first place is one
  point and the last place none; an answer wins when its points lead every other's by k. A sample's
  first choice is also counted as its vote (`counts`).

The engine adds whole rounds of votes and asks for a decision only at round boundaries, so the
order of votes inside a round can never change the outcome (the state is a multiset of votes).

**Loss of hope**: with r samples left under the cap, a race is hopeless when no answer can win
even if all r are valid votes for the best-placed answer (ahead-by-k: leader's margin + r < k;
first-to-k: leader's votes + r < k). It holds for the weighted methods too: one sample adds at most
1 to any answer's weight or points and takes nothing from the others, so no answer's lead grows by
more than 1 per sample and the leader's margin + r < k is again a proof that no answer can win.
The engine then stops at once: the step ends undecided as it would at the cap, with r samples saved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

MIN_WEIGHT = 0.1
"""The smallest weight a `cisc` vote carries: a near-zero confidence still moves the race (and no
more than ten times as many votes as ahead-by-k's can be needed for the same margin)."""

_EPS = 1e-9  # float sums of weights: a margin of k - 1e-12 is a margin of k


class VotingMethod(StrEnum):
    AHEAD_BY_K = "ahead-by-k"
    FIRST_TO_K = "first-to-k"
    CISC = "cisc"
    BORDA = "borda"

    @property
    def weighted(self) -> bool:
        """True when the race is decided on weights or points, not on vote counts."""
        return self in (VotingMethod.CISC, VotingMethod.BORDA)


def borda_points(place: int, depth: int) -> float:
    """The points of the candidate in `place` (0 first) of a ranking `depth` long: (depth-1-place)/(depth-1)."""
    if depth < 2:
        raise ValueError("a ranking needs a depth of at least 2")
    if not 0 <= place < depth:
        return 0.0
    return (depth - 1 - place) / (depth - 1)


class VoteRace:
    """First-to-ahead-by-k (and, with `method`, first-to-k, cisc or borda) over canonical answer keys."""

    __slots__ = ("_weighted", "counts", "depth", "k", "method", "votes", "weights")

    def __init__(self, k: int, method: VotingMethod = VotingMethod.AHEAD_BY_K, *, depth: int = 3) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.method = method if isinstance(method, VotingMethod) else VotingMethod(method)
        self._weighted = self.method.weighted  # read for every vote and standing: kept, not recomputed
        self.depth = depth
        self.counts: dict[str, int] = {}
        self.weights: dict[str, float] = {}  # cisc: summed confidences; borda: points
        self.votes = 0

    def add(self, key: str, weight: float = 1.0, ranking: Sequence[str] = ()) -> None:
        """Count one valid vote for the canonical answer `key`; cisc weighs it `weight` (clamped to
        [MIN_WEIGHT, 1]); borda scores `ranking` (the sample's candidates in order, `key` first;
        empty: `key` alone)."""
        self.counts[key] = self.counts.get(key, 0) + 1
        self.votes += 1
        if not self._weighted:
            return
        if self.method is VotingMethod.CISC:
            w = min(1.0, max(MIN_WEIGHT, weight)) if not math.isnan(weight) else MIN_WEIGHT
            self.weights[key] = self.weights.get(key, 0.0) + w
        elif self.method is VotingMethod.BORDA:
            seen: set[str] = set()
            for place, candidate in enumerate(ranking or (key,)):
                if candidate in seen or place >= self.depth:
                    continue
                seen.add(candidate)
                self.weights[candidate] = self.weights.get(candidate, 0.0) + borda_points(place, self.depth)
            self.weights.setdefault(key, 0.0)

    def standing(self) -> tuple[str | None, float]:
        """(leader, margin over the runner-up): in votes, or in weight/points for cisc and borda.
        The leader among equals is the first seen."""
        if not self._weighted:
            best_key: str | None = None
            best = second = 0
            for key, n in self.counts.items():
                if n > best:
                    second, best, best_key = best, n, key
                elif n > second:
                    second = n
            return best_key, best - second
        lead: str | None = None
        top = runner = 0.0
        for key, w in self.weights.items():
            if lead is None or w > top:
                runner, top, lead = (top if lead is not None else 0.0), w, key
            elif w > runner:
                runner = w
        return lead, top - runner

    def winner(self) -> str | None:
        """The answer that leads every other by >= k (first-to-k: that has k votes), or None."""
        leader, margin = self.standing()
        if self.method is VotingMethod.FIRST_TO_K:
            return leader if leader is not None and self.counts[leader] >= self.k else None
        return leader if leader is not None and margin >= self.k - _EPS else None

    def needed(self) -> int:
        """Votes that must still arrive before any answer can win: k - margin (first-to-k: k - the
        leader's votes; cisc and borda: k - margin rounded up, a vote adding at most 1), at least 1."""
        leader, margin = self.standing()
        if self.method is VotingMethod.FIRST_TO_K:
            return max(1, self.k - (self.counts[leader] if leader is not None else 0))
        return max(1, math.ceil(self.k - margin - _EPS))

    def hopeless(self, remaining: int) -> bool:
        """True when no answer can win with `remaining` more votes (see loss of hope above)."""
        return self.needed() > remaining

    def ranked(self) -> list[tuple[str, int]]:
        """Candidates by votes, most first (stable for ties: first seen first)."""
        return sorted(self.counts.items(), key=lambda kv: -kv[1])
