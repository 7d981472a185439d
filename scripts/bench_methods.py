"""Benchmark the voting methods, with and without early stopping, on the simulated model.

    python scripts/bench_methods.py [--k 3] [--steps 2000] [--seed 1]

For every method (ahead-by-k, first-to-k, cisc, borda), each without and with early stopping
(min_votes = k, min_confidence = 0.85), on three models of errors: p = 0.7 with every wrong sample
the same answer (`errors=collide`, the worst case the maths assumes), p = 0.7 with wrong samples
that differ (`errors=spread`), and p = 0.95 with 10% hard steps at p = 0.45 (`hard=`). Per cell:
P(wrong step) with its standard error, P(undecided), samples per step, and the exact prediction
where one exists (ahead-by-k and first-to-k without early stopping; collide and hard only: spread
errors are better than the worst case the formulas assume). A fourth model repeats the first with
uninformative confidences (`conf_wrong=0.9`: wrong replies as confident as right ones), where
confidence can only cost.

The simulated model's confidences are informative (`conf=0.9,conf_wrong=0.6,conf_spread=0.1`, its
defaults): a right reply's tokens are more probable than a wrong one's. borda needs ranked replies,
which the simulated model does not write: here each sample ranks its own answer first and, second,
the right answer when its own is wrong (else the collide wrong answer) — an assumption about how
a model ranks, labelled in the table. With depth 3 the second place scores 1/2 point, so in a race
of two answers each sample moves the margin by 1/2: borda is then ahead-by-2k in votes. Steps are independent races (no Hanoi state), each with the
engine's default sample cap (none) and red-flag limit; the figures are Monte Carlo.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import time

from maker_cli.core import maths
from maker_cli.core.engine import EarlyStop, Engine, StepResult, VoteConfig
from maker_cli.core.race import VotingMethod
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.core.step import StepPrompt
from maker_cli.providers.base import Reference
from maker_cli.providers.sim import SimProvider

REF = Reference("right", lambda v: "wrong" if v == 0 else f"wrong{v}")
MODELS = [
    ("p=0.7, collide", "p=0.7,errors=collide", (0.7, None)),
    ("p=0.7, spread", "p=0.7,errors=spread", None),
    ("p=0.95, 10% hard at 0.45", "p=0.95,errors=collide,hard=0.1,hard_p=0.45", (0.95, (0.1, 0.45))),
    ("p=0.7, collide, uninformative conf.", "p=0.7,errors=collide,conf_wrong=0.9", (0.7, None)),
]
METHODS = [VotingMethod.AHEAD_BY_K, VotingMethod.FIRST_TO_K, VotingMethod.CISC, VotingMethod.BORDA]


def judge(text: str) -> Answer | RedFlag:
    return Answer(text) if text.startswith(("right", "wrong")) else RedFlag(FORMAT)


def ranked_judge(text: str) -> Answer | RedFlag:
    """borda's assumed ranking: the sample's answer, then the right one (or the common wrong one)."""
    if not text.startswith(("right", "wrong")):
        return RedFlag(FORMAT)
    second = "wrong" if text == "right" else "right"
    return Answer(text, text, ((text, text), (second, second)))


def first_to_k_right(p: float, k: int) -> float:
    return sum(math.comb(k - 1 + j, j) * p**k * (1 - p) ** j for j in range(k))


def exact(method: VotingMethod, model: tuple[float, tuple[float, float] | None] | None, k: int) -> float | None:
    """P(wrong step), worst case (collide), for the methods with a formula; None otherwise. borda with
    this benchmark's two-candidate rankings at depth 3 moves the margin by 1/2 point per sample:
    ahead-by-2k in votes."""
    if model is None or method is VotingMethod.CISC:
        return None
    if method is VotingMethod.FIRST_TO_K:
        right = first_to_k_right
    elif method is VotingMethod.BORDA:
        right = lambda p, k: maths.p_step(p, 2 * k)  # noqa: E731 - the one-line rule
    else:
        right = maths.p_step
    p, hard = model
    if hard is None:
        return 1 - right(p, k)
    share, hard_p = hard
    return share * (1 - right(hard_p, k)) + (1 - share) * (1 - right(p, k))


def cell(sim: str, method: VotingMethod, k: int, early: bool, steps: int, seed: int) -> list[StepResult]:
    engine = Engine(SimProvider(f"sim:{sim},seed={seed}"))
    cfg = VoteConfig(
        k=k,
        method=method,
        early_stop=EarlyStop(k, 0.85) if early else None,
        ranking_depth=3,
    )
    the_judge = ranked_judge if method is VotingMethod.BORDA else judge

    async def go() -> list[StepResult]:
        return [await engine.vote(StepPrompt(i, "", "q", REF), the_judge, cfg) for i in range(steps)]

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000, help="steps (races) per cell")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    k, n = args.k, args.steps
    t0 = time.perf_counter()
    print(f"k = {k}, {n:,} steps per cell, seed {args.seed}; {platform.python_version()} on {platform.machine()}\n")
    print(
        "| model | method | early stop | P(wrong step) | ± s.e. | exact | P(undecided) | samples/step | vs ahead-by-k samples |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for label, sim, model in MODELS:
        base_samples: float | None = None
        for method in METHODS:
            for early in (False, True):
                results = cell(sim, method, k, early, n, args.seed)
                wrong = sum(r.decided and r.winner != "right" for r in results) / n
                undecided = sum(not r.decided for r in results) / n
                samples = sum(r.samples for r in results) / n
                if base_samples is None:
                    base_samples = samples
                se = math.sqrt(max(wrong, 1 / n) * (1 - wrong) / n)
                want = exact(method, model, k) if not early else None
                name = f"{method.value}{' (assumed ranking)' if method is VotingMethod.BORDA else ''}"
                print(
                    f"| {label} | {name} | {'yes' if early else 'no'} | {wrong:.4f} | {se:.4f} | "
                    f"{'' if want is None else f'{want:.4f}'} | {undecided:.4f} | {samples:.2f} | "
                    f"{samples / base_samples:.2f}× |"
                )
    print(f"\n{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
