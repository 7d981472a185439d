"""The confidence of one decision: P(the winner is right | the step's tallies, p), worst case.

Pure functions (stdlib only). `maker vote` reports it per vote, `maker run` stores it per step and
`maker runs show` lists the least confident steps.

Assumptions (the worst case `maker_cli.core.maths` uses throughout)
- p is the probability that one *valid* sample (one not red-flagged) is correct, the same for
  every sample of the step; red-flagged samples are discarded and carry no evidence.
- Samples are independent given which answer is right.
- Worst case: every wrong sample gives the *same* wrong answer, so a step is a race between two
  answers, the winner W with a votes and the runner-up R (the largest other tally) with b votes;
  votes for any third answer are left out (the two-answer model has no room for them).
- A uniform prior over which of the two is right: P(W right) = P(R right) = 1/2.

Derivation. Let q = 1 - p and r = q / p. Under "W is right" the a votes for W are correct and the
b votes for R are the common wrong answer, so a given sequence of those a + b votes has likelihood
p^a q^b; under "R is right" the same sequence has likelihood p^b q^a. The stopping rule (first to
ahead by k, the sample cap, the parallel rounds) decides when to stop from the votes seen so far
only, so it multiplies both likelihoods by the same factor and cancels (as does the number of
orders in which the votes could have come). Bayes with the uniform prior:

    P(W right | a, b) = p^a q^b / (p^a q^b + p^b q^a) = 1 / (1 + r^(a - b))

Only the margin d = a - b matters. A two-answer race decided vote by vote (or in the engine's
zero-waste rounds of k - d samples) always ends at d = k, so its confidence is exactly
`maths.p_step(p, k)`, the prior probability that the race picks the right answer; the margin
passes k, and the confidence rises, when extra samples land in the deciding round (`--eager`).
With p = 1 a decided step is certain; with p <= 1/2 the winner is no more likely right than
wrong. When wrong samples disagree (the usual case) a wrong answer rarely gathers a lead, so the
real confidence is usually higher than this worst-case figure.

No p (a real model without `--p` or a calibration), or no decision: no confidence (None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from maker_cli.errors import UsageError

LEGACY_LOW_CONFIDENCE = 0.999999
"""The fixed line runs stored before `confidence_needed` existed counted their low-confidence steps against (no `needed`)."""


def _log_odds(a: int, b: int, p: float) -> float:
    """(a - b) ln(p / q): the log odds that the winner is right (infinite when p = 1 and a != b)."""
    for name, n in (("a", a), ("b", b)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise UsageError(f"{name} (votes) must be a whole number >= 0, got {n!r}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or math.isnan(p) or not 0.0 < p <= 1.0:
        raise UsageError(f"p must be a probability in (0, 1], got {p!r}")
    d = a - b
    if d == 0:
        return 0.0
    if p >= 1.0:
        return math.copysign(math.inf, d)
    return d * (math.log(p) - math.log1p(-p))


def posterior(a: int, b: int, p: float) -> float:
    """P(the winner is right) = 1 / (1 + ((1-p)/p)^(a-b)), with a votes for the winner and b for the
    runner-up (see the module doc for the assumptions); below 1/2 when a < b. UsageError unless a and b
    are whole numbers >= 0 and p is in (0, 1]."""
    z = _log_odds(a, b, p)
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def margin_votes(tallies: Mapping[str, int], winner: str) -> tuple[int, int]:
    """(a, b): the winner's votes and the largest other tally (0 when no other answer got a vote)."""
    a = int(tallies.get(winner, 0))
    b = max((int(n) for key, n in tallies.items() if key != winner), default=0)
    return a, b


def decision_confidence(tallies: Mapping[str, int], winner: str | None, p: float | None) -> float | None:
    """The confidence of a decided step (`posterior` of its winner over the runner-up), or None
    without a winner or without p."""
    if winner is None or p is None:
        return None
    a, b = margin_votes(tallies, winner)
    return posterior(a, b, p)


def needed_confidence(target: float, steps: int) -> float:
    """The confidence each of `steps` steps needs for the whole job to be right with probability
    `target`: target ** (1 / steps). A step decided ahead by k_min (the k the plan picks for p, `steps`
    and `target`) has at least this confidence, since its posterior at margin k is the paper's
    per-step success 1 / (1 + ((1-p)/p)^k); a step below it was decided on a smaller margin than the
    plan needs (a sample cap, early stopping, first-to-k, a k chosen below k_min)."""
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.0 < target < 1.0:
        raise UsageError(f"target must be a probability in (0, 1), got {target!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UsageError(f"steps must be a whole number >= 1, got {steps!r}")
    return math.exp(math.log(target) / steps)


def short_of(confidence: float, needed: float) -> bool:
    """True when a decision's confidence is below what its step needs (compared as doubts, 1 - x, with
    a relative tolerance of 1e-9, so a step decided exactly at k_min is never counted for a rounding)."""
    return (1.0 - confidence) > (1.0 - needed) * (1.0 + 1e-9)


__all__ = [
    "LEGACY_LOW_CONFIDENCE",
    "decision_confidence",
    "margin_votes",
    "needed_confidence",
    "posterior",
    "short_of",
]
