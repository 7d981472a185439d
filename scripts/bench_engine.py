"""Benchmark the voting engine: overhead, and samples/rounds per step against the exact maths.

    python scripts/bench_engine.py [--steps 30000] [--runs 5]

1. Engine overhead with the simulated model at zero latency: samples per second (median of runs),
   for a one-line answer task and for 20-disk Hanoi steps (prompt building, reference, parsing).
2. Samples and rounds per step against the exact expectation (maths.expected_votes / valid rate
   and maths.round_stats), in collide mode: the ratio should be 1.00 within noise (the standard
   error is printed beside it).

The litellm path against plain httpx is `scripts/bench_litellm.py` (it needs a server process).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import time

from maker_cli.core import maths
from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.core.step import StepPrompt
from maker_cli.providers.base import Reference
from maker_cli.providers.sim import SimProvider
from maker_cli.tasks import hanoi, hanoi_sim

REF = Reference("Answer: 42", lambda v: f"Answer: {41 - v}")


def judge(text: str) -> Answer | RedFlag:
    i = text.rfind("Answer: ")
    return RedFlag(FORMAT) if i < 0 else Answer(text[i + 8 :].strip())


async def overhead(model: str, steps: int, k: int, task: str) -> tuple[float, list]:
    engine = Engine(SimProvider(model))
    cfg = VoteConfig(k=k)
    results = []
    t0 = time.perf_counter()
    if task == "answer":
        for s in range(steps):
            results.append(await engine.vote(StepPrompt(s, "sys", "user", REF), judge, cfg))
    else:
        n = 20
        j = hanoi.make_judge(n)
        system = hanoi.system_prompt(n)
        for s in range(steps):
            i = (s * 7919) % hanoi.steps_total(n)
            state = hanoi.optimal_state(n, i)
            prev = hanoi.optimal_move(n, i - 1) if i else None
            prompt = StepPrompt(s, system, hanoi.user_prompt(n, state, prev), hanoi_sim.reference(n, state, prev))
            results.append(await engine.vote(prompt, j, cfg))
    dt = time.perf_counter() - t0
    return sum(r.samples for r in results) / dt, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    for task, model in (("answer", "sim:p=0.99,seed=1"), ("hanoi-20", "sim:p=0.998,seed=1")):
        rates = [asyncio.run(overhead(model, args.steps, 3, task))[0] for _ in range(args.runs)]
        print(
            f"overhead ({task}, k=3, zero latency): median {statistics.median(rates):,.0f} samples/s "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f}) over {args.runs} runs of {args.steps:,} steps"
        )

    print("samples and rounds per step vs the exact expectation (collide mode):")
    for p, k, invalid in ((0.7, 3, 0.0), (0.85, 3, 0.1), (0.99, 3, 0.02), (0.6, 5, 0.0)):
        _, results = asyncio.run(
            overhead(f"sim:p={p},invalid={invalid},errors=collide,seed=11", args.steps, k, "answer")
        )
        v = 1 - invalid
        n = len(results)
        exp_samples = maths.expected_votes(p, k) / v
        got = [r.samples for r in results]
        mean = statistics.fmean(got)
        se = statistics.stdev(got) / math.sqrt(n)
        rounds = statistics.fmean(r.rounds for r in results)
        exp_rounds = maths.round_stats(p, k, valid_rate=1.0).rounds
        rounds_note = f"rounds/step {rounds:.4f} vs {exp_rounds:.4f} exact (ratio {rounds / exp_rounds:.3f})"
        if invalid:
            rounds_note = f"rounds/step {rounds:.4f} (red-flag replacements add no rounds)"
        print(
            f"  p={p}, k={k}, invalid={invalid}: samples/step {mean:.4f} vs {exp_samples:.4f} exact "
            f"(ratio {mean / exp_samples:.4f} ± {se / exp_samples:.4f}); {rounds_note}"
        )


if __name__ == "__main__":
    main()
