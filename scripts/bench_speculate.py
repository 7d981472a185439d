"""Benchmark speculative step pipelining (`--speculate D`) on latency-bound Hanoi.

    python scripts/bench_speculate.py [--disks 10] [--latency-ms 20] [--sigma 0.5] [--runs 3]

10-disk Hanoi (1,023 steps) on the simulated model with a lognormal call latency (median
`--latency-ms`, sigma `--sigma`: a p95 about 2.3x the median, as real APIs show), k = 3, at
p = 0.99 and p = 0.9 (collide mode), for D = 0, 1, 2, 4, 8. For each: steps/s (median of runs,
`steps_done / wall_s` of the run), its ratio to D = 0, the floor of one median call latency per
step (1 / latency), the extra samples drawn on discarded branches (waste, as a share of all
samples) and their cost at gpt-4.1-mini's prices ($0.40 / $1.60 per million tokens, the simulated
model's token counts), the run's whole cost against D = 0 (a speculating run sends a step's first
round as k separate calls, so the prompt is billed per call), and how many runs had every step
right (p = 0.9 with k = 3 is not enough for 1,023 steps: the runs keep going past errors). Concurrency 64 (enough for D = 8).
`maker estimate`'s model of the same job is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import maker_cli

DEPTHS = (0, 1, 2, 4, 8)


def one(disks: int, p: float, depth: int, latency_ms: float, sigma: float, seed: int, store: Path) -> dict:
    model = f"sim:p={p},latency_ms={latency_ms:g},latency_dist=lognormal,sigma={sigma:g},seed={seed}"
    r = maker_cli.run(
        "hanoi",
        disks=disks,
        model=model,
        k=3,
        concurrency=64,
        speculate=depth,
        keep_going=True,
        price_in=0.4,
        price_out=1.6,
        store=store,
    )
    waste = r.speculative_waste
    return {
        "steps_s": r.steps_done / r.wall_s,
        "samples": r.samples,
        "waste_samples": waste.samples if waste else 0,
        "waste_usd": (waste.cost_usd or 0.0) if waste else 0.0,
        "cost": r.cost_usd or 0.0,
        "wrong": r.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--disks", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    floor = 1000.0 / args.latency_ms
    steps = (1 << args.disks) - 1
    with tempfile.TemporaryDirectory() as tmp:
        for p in (0.99, 0.9):
            print(f"\np = {p}, k = 3, {steps:,} steps, lognormal latency median {args.latency_ms:g} ms, "
                  f"sigma {args.sigma:g}; floor of one median call per step: {floor:.1f} steps/s")  # fmt: skip
            print("   D   steps/s  (min-max)      x D=0   x floor   waste samples   waste $   cost x D=0   solved")
            base = base_cost = None
            for depth in DEPTHS:
                runs = [
                    one(args.disks, p, depth, args.latency_ms, args.sigma, seed, Path(tmp) / f"{p}-{depth}-{seed}.db")
                    for seed in range(args.runs)
                ]
                rate = statistics.median(r["steps_s"] for r in runs)
                base = base or rate
                share = statistics.median(r["waste_samples"] / r["samples"] for r in runs)
                usd = statistics.median(r["waste_usd"] for r in runs)
                cost = statistics.median(r["cost"] for r in runs)
                base_cost = base_cost or cost
                solved = sum(r["wrong"] == 0 for r in runs)
                low, high = min(r["steps_s"] for r in runs), max(r["steps_s"] for r in runs)
                print(
                    f"  {depth:>2}  {rate:8.2f}  ({low:.1f}-{high:.1f})  {rate / base:6.2f}  {rate / floor:7.2f}"
                    f"   {share * 100:10.2f}%   {usd:8.5f}   {cost / base_cost:10.3f}   {solved}/{len(runs)}"
                )
            for depth in DEPTHS[1:]:
                est = maker_cli.estimate(
                    steps=steps, p=p, k=3, latency=args.latency_ms / 1000,
                    latency_p95=args.latency_ms / 1000 * 2.718281828 ** (1.6448536 * args.sigma), speculate=depth,
                )  # fmt: skip
                assert est.expected_wall_s and est.expected_wall_speculative_s
                print(
                    f"  estimate D={depth}: {est.expected_wall_s / est.expected_wall_speculative_s:.2f}x, "
                    f"waste {(est.expected_waste_share or 0) * 100:.2f}% of samples"
                )


if __name__ == "__main__":
    main()
