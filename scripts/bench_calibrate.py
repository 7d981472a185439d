"""Benchmark `maker calibrate`: speed, interval coverage, and the --pairs correlation test.

    python scripts/bench_calibrate.py            # a few minutes on 2 cores

All in-process with the simulated model (latency 0) through the library's maker_cli.calibrate.
Prints: the time for 10,000 Hanoi samples; the share of seeds whose 95% Wilson interval covers the
simulator's true p and valid rate; the false-alarm rate of the --pairs test with independent errors;
and its power when a share of steps is much harder (correlated errors).
"""

from __future__ import annotations

import time

from maker_cli import calibrate


def cal(model: str, samples: int, seed: int, pairs: bool = False, disks: int = 20):
    return calibrate("hanoi", disks=disks, model=model, samples=samples, seed=seed, pairs=pairs)


def main() -> None:
    t = time.perf_counter()
    cal("sim:p=0.99,invalid=0.02,seed=1", 10000, 1)
    print(f"speed: 10,000 Hanoi samples (20 disks) in {time.perf_counter() - t:.2f} s in-process")

    for p, invalid, runs, samples in ((0.9, 0.1, 200, 200), (0.7, 0.3, 100, 200), (0.99, 0.02, 100, 400)):
        reps = [cal(f"sim:p={p},invalid={invalid},seed={s}", samples, s, disks=8) for s in range(runs)]
        cov_p = sum(r.p_ci[0] <= p <= r.p_ci[1] for r in reps) / runs
        cov_v = sum(r.valid_rate_ci[0] <= 1 - invalid <= r.valid_rate_ci[1] for r in reps) / runs
        print(
            f"coverage sim:p={p},invalid={invalid}: {runs} x {samples} samples: p {cov_p:.2f}, valid rate {cov_v:.2f}"
        )

    for model in ("sim:p=0.9,errors=collide", "sim:p=0.99,errors=collide", "sim:p=0.9,errors=spread"):
        for samples in (500, 2000):
            alarms = sum(cal(f"{model},seed={s}", samples, s, True).pairs.correlated for s in range(100)) / 100
            print(f"false alarms {model}: {samples // 2} pairs: {alarms:.2f}")
    for hard, hard_p in ((0.01, 0.5), (0.02, 0.5), (0.05, 0.5), (0.05, 0.8), (0.1, 0.8)):
        for samples in (500, 2000):
            model = f"sim:p=0.99,hard={hard},hard_p={hard_p},errors=collide"
            reps = [cal(f"{model},seed={s}", samples, s, True).pairs for s in range(50)]
            flagged = sum(r.correlated for r in reps) / 50
            ratio = sum(r.collisions for r in reps) / max(1e-9, sum(r.expected_collisions for r in reps))
            print(
                f"power hard={hard},hard_p={hard_p}: {samples // 2} pairs: flagged {flagged:.2f}, "
                f"collisions/expected {ratio:.1f}"
            )


if __name__ == "__main__":
    main()
