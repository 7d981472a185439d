"""Adaptive k that keeps the guarantee (`--adaptive-k`): p estimated from the run's own votes, no
ground truth needed, and k re-chosen for the steps that are left. Pure, stdlib only.

**The estimate.** Worst case (the paper's): each valid vote of a step is right with probability p,
every wrong vote goes to one rival answer. A step that ended with w votes for its leader and l for
the rest (l = every other valid vote), after the votes V_1..V_n in some order, has probability

    P(votes) = N(path) * (p^w q^l + p^l q^w),   q = 1 - p,

where N(path) counts the orders the race allows (none may decide before the last vote) and the two
terms are "the leader is right" and "the leader is wrong" (we do not know which). N does not depend
on p: the stopping rule drops out of the likelihood (the likelihood principle), so the run's
log-likelihood is

    l(p) = W ln p + L ln q + sum_i ln(1 + (q/p)^(d_i)),   W = sum w_i, L = sum l_i, d_i = w_i - l_i,

and (W, L, the histogram of margins d) is all it needs. The maximum is near W / (W + L) (the
correction matters only when margins are small). The gambler's-ruin distribution of the votes a
step needs is this likelihood summed over orders: the same p that best explains the margins
explains the vote counts.

**The bound.** The posterior of p on (1/2, 1) under a uniform prior (or, from `--p`/a calibration,
a Beta prior of `prior_votes` pseudo-votes at that p), on a grid in z = ln(p/q); `p_low` is its
`level` quantile. A step before any vote uses the prior alone: uniform gives a low p_low, so the
first steps vote with a large k, which the data then brings down (this costs a few hundred votes
once, not a wrong step).

**The choice of k.** The job's failure budget 1 - t is split in two: `level` = (1 - t) / 2 for the
bound being wrong, the rest for the votes. Before a step, with s steps done, R = steps - s left and
the done steps' planned success P_s = prod_i p_step(p_low_i, k_i):

    k = max(floor, k_min(p_low, R, t_votes / P_s)),   t_votes = 1 - (1 - t) / 2,

so P(every step right) >= t_votes whenever p >= p_low at every step, and the job succeeds with
probability >= t when p is the same for every step (union bound over the two halves). Steps whose p
differs (the simulated model's `hard=`) lower p̂ and so raise k; the guarantee then holds for the
mixture's per-vote p, not step by step. The bound is Bayesian and is recomputed as the run goes
(at every step for the first `EVERY_STEP` steps, then every ~1% of the steps done); its frequentist
coverage is measured in tests/statistical/test_adaptive_k.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from maker_cli._types import JSONObject
from maker_cli.core.maths import k_min, p_step
from maker_cli.errors import CannotConverge

GRID = 600  # points of the posterior grid in z = ln(p/q)
Z_LOW, Z_HIGH = 4e-4, 23.0  # p from 0.5001 to 1 - 1e-10
EVERY_STEP = 100  # steps that each recompute the bound; later every ~1% of the steps done
K_CAP = 1_000  # the largest k adaptive k chooses (a bound this low means: measure p first)
K_START = 32  # the largest k of the first step when no prior p is given (module doc)
PRIOR_VOTES = 50.0  # weight of a prior p from --p or a calibration, in votes (module doc)


def _p_of(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


_STEP = (Z_HIGH - Z_LOW) / (GRID - 1)
_ZS = [Z_LOW + i * _STEP for i in range(GRID)]
_LOG_P = [-math.log1p(math.exp(-z)) for z in _ZS]  # ln p at each grid point
_LOG_Q = [-math.log1p(math.exp(z)) for z in _ZS]  # ln q
_LOG_R = [-z for z in _ZS]  # ln(q/p)


@dataclass
class AdaptiveK:
    """The run's votes so far and the k for the next step (module doc).

    `steps`: the job's steps (the planning bound when the total is unknown); `target`: the job's
    P(success); `floor`: the smallest k; `prior_p`: a measured p to start from (None: uniform)."""

    steps: int
    target: float = 0.95
    floor: int = 2
    prior_p: float | None = None
    prior_votes: float = PRIOR_VOTES
    wins: int = 0  # W: votes for the leaders
    losses: int = 0  # L: every other valid vote
    margins: dict[int, int] = field(default_factory=dict)  # d -> steps
    steps_seen: int = 0
    ks: dict[int, int] = field(default_factory=dict)  # k -> done steps voted with it
    k: int = 0  # the k chosen for the next step (0: not chosen yet)
    p_hat: float | None = None
    p_low: float | None = None
    # what the next step's confidence (at p_low) must reach for the steps left to meet the votes'
    # half of the target: exp(goal / steps left); a step decided ahead by the k chosen reaches it
    needed: float | None = None
    _next_update: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("adaptive k needs at least one step")
        if not 0.0 < self.target < 1.0:
            raise ValueError("target must be in (0, 1)")
        if self.floor < 1:
            raise ValueError("--k-min-floor must be at least 1")
        if self.prior_p is not None and not 0.5 < self.prior_p <= 1.0:
            raise ValueError("the prior p must be in (0.5, 1]")

    @property
    def level(self) -> float:
        """The bound's level: half the job's failure budget."""
        return (1.0 - self.target) / 2.0

    @property
    def vote_target(self) -> float:
        """P(every step right) the votes must reach: the other half of the budget."""
        return 1.0 - (1.0 - self.target) / 2.0

    def observe(self, tallies: Mapping[str, int]) -> None:
        """Count one finished step's valid votes (decided or not); its k is the one next_k gave."""
        counts = sorted(tallies.values(), reverse=True)
        n = sum(counts)
        w = counts[0] if counts else 0
        self.wins += w
        self.losses += n - w
        d = 2 * w - n
        if n:
            self.margins[d] = self.margins.get(d, 0) + 1
        if self.k:
            self.ks[self.k] = self.ks.get(self.k, 0) + 1
        self.steps_seen += 1

    def next_k(self) -> int:
        """The k for the next step (recomputing the bound on the schedule of the module doc)."""
        if self.k == 0 or self.steps_seen >= self._next_update:
            self._update()
            seen = self.steps_seen
            self._next_update = seen + 1 if seen < EVERY_STEP else seen + max(1, seen // 100)
        return self.k

    def log_done(self, p: float | None = None) -> float:
        """ln P(every done step right) if p per vote is `p` (default: p_low): sum of ln p_step(p, k_i)."""
        p = self.p_low if p is None else p
        if p is None or p >= 1.0:
            return 0.0
        return sum(n * math.log(p_step(p, k)) for k, n in self.ks.items())

    def planned_success(self) -> float | None:
        """P(every done step right) at the current bound: the votes' half of the guarantee, so far."""
        return math.exp(self.log_done()) if self.p_low is not None else None

    def _update(self) -> None:
        self.p_hat, self.p_low = self.estimate()
        left = max(1, self.steps - self.steps_seen)
        goal = math.log(self.vote_target) - self.log_done()  # ln of what the steps left must reach
        if goal >= 0.0:  # the done steps already spent the budget at this bound: the largest k
            self.k = K_CAP
            self.needed = 1.0  # no step can reach it any more
            return
        self.needed = math.exp(goal / left)
        try:
            k = k_min(self.p_low, left, math.exp(goal))
        except CannotConverge:
            k = K_CAP
        cap = K_START if self.steps_seen == 0 and self.prior_p is None else K_CAP
        self.k = min(cap, max(self.floor, k))

    def estimate(self) -> tuple[float, float]:
        """(p̂, p_low): the maximum-likelihood p and the posterior's `level` quantile, on the grid."""
        a, b = float(self.wins), float(self.losses)
        if self.prior_p is not None:
            prior = min(self.prior_p, 1.0 - 1e-9)
            a += self.prior_votes * prior
            b += self.prior_votes * (1.0 - prior)
        margins = [(d, n) for d, n in self.margins.items() if 0 < d < 700]  # d = 0: ln 2, a constant
        logs = []
        for lp, lq, lr in zip(_LOG_P, _LOG_Q, _LOG_R, strict=True):
            value = a * lp + b * lq
            for d, n in margins:
                value += n * math.log1p(math.exp(lr * d))
            logs.append(value)
        mode = _ZS[logs.index(max(logs))]  # the maximum likelihood
        # the posterior density of z: the likelihood times dp/dz = pq (a uniform prior on p)
        dens = [v + lp + lq for v, lp, lq in zip(logs, _LOG_P, _LOG_Q, strict=True)]
        top = max(dens)
        weights = [math.exp(v - top) for v in dens]
        total = sum(weights)
        acc = 0.0
        low = _ZS[0]
        for z, w in zip(_ZS, weights, strict=True):
            acc += w
            if acc >= self.level * total:
                break
            low = z  # the grid point below the quantile: conservative
        return _p_of(mode), _p_of(low)

    def state(self) -> JSONObject:
        """What a resumed run carries on from (stored in the resume point)."""
        return {
            "wins": self.wins,
            "losses": self.losses,
            "margins": {str(d): n for d, n in self.margins.items()},
            "steps_seen": self.steps_seen,
            "ks": {str(k): n for k, n in self.ks.items()},
        }

    def restore(self, saved: JSONObject) -> None:
        """Carry on from `state()` of a stored run."""
        self.wins = int(saved.get("wins", 0))
        self.losses = int(saved.get("losses", 0))
        margins = saved.get("margins")
        self.margins = {int(d): int(n) for d, n in margins.items()} if isinstance(margins, dict) else {}
        self.steps_seen = int(saved.get("steps_seen", 0))
        ks = saved.get("ks")
        self.ks = {int(k): int(n) for k, n in ks.items()} if isinstance(ks, dict) else {}
        self.k = 0

    def report(self) -> JSONObject:
        return {
            "p_hat": self.p_hat,
            "p_low": self.p_low,
            "k": self.k,
            "level": self.level,
            "floor": self.floor,
            "prior_p": self.prior_p,
            "votes": self.wins + self.losses,
            "planned_success": self.planned_success(),
        }


__all__ = ["AdaptiveK"]
