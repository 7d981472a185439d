"""Benchmark adaptive k (`--adaptive-k`) against fixed k on the simulated model.

    python scripts/bench_adaptive.py [--disks 10] [--runs 30]

Each scenario is a Hanoi job on the simulated model whose true p the runner does not know. The
user believes p = 0.7 (pessimistic) and wants P(success) >= 0.95. Compared, over `--runs` seeded
runs each (runs continue past a wrong step, so every run counts its wrong steps):

- fixed k = k_min(0.7): what a fixed k from the pessimistic p costs;
- adaptive, starting from p = 0.7 (`--p 0.7 --adaptive-k`);
- adaptive, from nothing (`--adaptive-k` alone);
- fixed k = k_min(true p): the oracle, for reference (not available to a real user).

Per configuration: samples per step (mean over runs), the share of runs with every step right
(the job's success rate) with its exact prediction for fixed k, and the k the adaptive runs used.
Scenarios: p = 0.99 and 0.95 (wrong answers collide: the worst case), p = 0.99 with spread errors,
and p = 0.99 with 2% hard steps at p = 0.8 (steps of unequal difficulty: adaptive k raises k, but
its guarantee covers the average p only).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
from pathlib import Path

import maker_cli
from maker_cli.core import maths

SCENARIOS = [
    ("p=0.99, collide", "p=0.99,errors=collide", 0.99),
    ("p=0.95, collide", "p=0.95,errors=collide", 0.95),
    ("p=0.99, spread", "p=0.99,errors=spread", 0.99),
    ("p=0.99, 2% hard at 0.8", "p=0.99,errors=collide,hard=0.02,hard_p=0.8", None),
]
BELIEVED = 0.7
TARGET = 0.95


def one(disks: int, sim: str, seed: int, store: Path, **how: object) -> dict[str, object]:
    r = maker_cli.run(
        "hanoi", disks=disks, model=f"sim:{sim},seed={seed}", keep_going=True, target=TARGET, store=store, **how
    )
    return {
        "samples": r.samples,
        "steps": r.steps_done,
        "wrong": r.errors,
        "ks": r.adaptive.steps_by_k if r.adaptive else {str(r.k): r.steps_done},
        "p_hat": r.adaptive.p_hat if r.adaptive else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--disks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    steps = 2**args.disks - 1
    fixed_k = maths.k_min(BELIEVED, steps, TARGET)
    print(f"# adaptive k: {args.disks}-disk Hanoi ({steps:,} steps), {args.runs} runs per row, target {TARGET}")
    print(f"# machine: {platform.machine()}, Python {platform.python_version()}; believed p = {BELIEVED}")
    print("| scenario | configuration | samples/step | runs all right | predicted | k used | p̂ (median) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "runs.sqlite"
        for label, sim, true_p in SCENARIOS:
            configs: list[tuple[str, dict[str, object], int | None]] = [
                (f"fixed k = {fixed_k} (k_min at p = {BELIEVED})", {"k": fixed_k}, fixed_k),
                (f"adaptive from p = {BELIEVED}", {"p": BELIEVED, "adaptive_k": True}, None),
                ("adaptive from nothing", {"adaptive_k": True}, None),
            ]
            if true_p is not None:
                oracle = maths.k_min(true_p, steps, TARGET)
                configs.append((f"oracle: fixed k = {oracle} (k_min at the true p)", {"k": oracle}, oracle))
            for name, how, k in configs:
                rows = [one(args.disks, sim, seed, store, **how) for seed in range(args.runs)]
                per_step = statistics.mean(r["samples"] / r["steps"] for r in rows)  # type: ignore[operator]
                right = sum(r["wrong"] == 0 for r in rows) / len(rows)
                predicted = f"{maths.p_full(true_p, k, steps):.4f}" if k is not None and true_p is not None else "-"
                used: dict[int, int] = {}
                for r in rows:
                    for kk, n in r["ks"].items():  # type: ignore[attr-defined]
                        used[int(kk)] = used.get(int(kk), 0) + n
                total = sum(used.values())
                top = sorted(used.items(), key=lambda kv: -kv[1])[:3]
                k_text = ", ".join(f"{kk}: {n / total:.0%}" for kk, n in top) + (
                    f"; max {max(used)}" if len(used) > 3 else ""
                )
                hats = [r["p_hat"] for r in rows if r["p_hat"] is not None]
                hat = f"{statistics.median(hats):.4f}" if hats else "-"  # type: ignore[type-var]
                print(f"| {label} | {name} | {per_step:.2f} | {right:.0%} | {predicted} | {k_text} | {hat} |")


if __name__ == "__main__":
    main()
