"""Benchmark `maker run hanoi`: the 20-disk (1,048,575-step) run and the latency-bound rate.

    python scripts/bench_hanoi.py                 # both parts (the 20-disk run takes a few minutes)
    python scripts/bench_hanoi.py --disks 16      # a smaller scale run
    python scripts/bench_hanoi.py --skip-scale    # only the latency part

Part 1 runs `maker run hanoi --disks N --model "sim:p=0.998" --k 3 --json` as a subprocess and
reports wall time, peak RSS and RSS sampled over the run (it must stay flat: nothing is kept per
step in memory). Part 2 runs with a simulated latency (50 ms per call, k=3, p=0.99) and compares
steps/s with the floor of one round trip per zero-waste round: 1 / (rounds per step x latency).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from maker_cli.core import maths


def maker_cmd() -> list[str]:
    return [sys.executable, "-m", "maker_cli"]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_job(args: list[str], sample_every: float = 5.0) -> tuple[dict, float, float | None, list[tuple[float, float]]]:
    """Run maker with --json; return (report, wall seconds, peak RSS MB, [(t, rss MB)])."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.sqlite"
        cmd = [*maker_cmd(), "run", "hanoi", "--store", str(store), "--json", *args]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[float, float]] = []
        peak = None
        next_sample = t0
        while proc.poll() is None:
            now = time.perf_counter()
            if now >= next_sample:
                rss = rss_mb(proc.pid)
                if rss is not None:
                    samples.append((now - t0, rss))
                peak = peak_mb(proc.pid) or peak
                next_sample = now + sample_every
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        out, err = proc.communicate()
        if not out.strip():
            raise SystemExit(f"maker failed ({proc.returncode}): {err}")
        return json.loads(out), wall, peak, samples


def scale(disks: int) -> dict:
    report, wall, peak, samples = run_job(["--disks", str(disks), "--model", "sim:p=0.998", "--k", "3"])
    mid = [rss for t, rss in samples if t > 10]
    print(
        f"scale: {disks} disks, status {report['status']}, {report['steps_done']:,}/{report['steps_total']:,} steps, "
        f"{report['errors']} wrong, {report['samples']:,} samples"
    )
    print(
        f"  wall {wall:.1f} s ({report['steps_done'] / wall:,.0f} steps/s, {report['samples'] / wall:,.0f} samples/s), "
        f"peak RSS {peak:.0f} MB"
        if peak
        else f"  wall {wall:.1f} s"
    )
    if mid:
        print(
            f"  RSS after 10 s: min {min(mid):.0f} MB, max {max(mid):.0f} MB over {len(mid)} samples (flat = no growth)"
        )
    return {"disks": disks, "wall_s": wall, "peak_rss_mb": peak, "rss_samples": samples, "report": report}


def latency(disks: int, latency_ms: float, runs: int) -> dict:
    k, p = 3, 0.99
    rounds = maths.round_stats(p, k).rounds
    floor = 1.0 / (rounds * latency_ms / 1000.0)
    rates = []
    for _ in range(runs):
        report, _, _, _ = run_job(
            ["--disks", str(disks), "--model", f"sim:p={p},latency_ms={latency_ms},seed={len(rates)}", "--k", str(k)]
        )
        rates.append(report["steps_done"] / report["wall_s"])
    rates.sort()
    med = rates[len(rates) // 2]
    print(
        f"latency: {disks} disks, {latency_ms:g} ms per call, k={k}, p={p}: median {med:.2f} steps/s over {runs} runs "
        f"(min {rates[0]:.2f}, max {rates[-1]:.2f}); floor of one round trip per round "
        f"(exact {rounds:.4f} rounds/step): {floor:.2f} steps/s; ratio {med / floor:.3f}"
    )
    return {"rates": rates, "median": med, "floor": floor, "ratio": med / floor, "rounds_per_step": rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--disks", type=int, default=20)
    ap.add_argument("--latency-disks", type=int, default=7)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    if not args.skip_scale:
        scale(args.disks)
    if not args.skip_latency:
        latency(args.latency_disks, args.latency_ms, args.runs)


if __name__ == "__main__":
    main()
