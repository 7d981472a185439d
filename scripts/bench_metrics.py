"""Benchmark the Prometheus metrics: what `--metrics-port` costs a run.

    python scripts/bench_metrics.py [--runs 5] [--disks 10]

Side by side, the variants interleaved run by run so that drift of the machine hits them alike,
median of `--runs` each, the simulated model at zero latency (the engine's own work is all there
is: the worst case for any listener):

1. the command, `maker run hanoi --disks 10 --model sim:p=0.99,seed=N --k 3 --json`, as a process
   (wall time, start-up included): without metrics; with `--metrics-port 0`; and with
   `--metrics-port 0` while a scraper reads /metrics every 0.02 s (a busy Prometheus scrapes every
   15 s);
2. the run in-process (`maker_cli.run`, the runner and the store, no start-up): without a listener,
   and with a `MetricsListener` (served on port 0), and the time each sample gained;
3. the listener alone: a run's recorded events (about 2.3 per sample) replayed into a fresh
   `MetricsListener`, the time per sample (the steadiest figure on a busy machine), and what one
   scrape of the exposition takes;
4. the fixed cost: `maker vote` on the simulated model (one step, k = 1) with and without
   `--metrics-port 0`: importing prometheus_client and starting and stopping the endpoint.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import maker_cli

MODEL = "sim:p=0.99,seed={seed}"


def command(disks: int, seed: int, store: Path, metrics: bool, scrape: bool) -> tuple[float, int]:
    """Wall seconds of one `maker run hanoi` process, and the scrapes made while it ran."""
    args = [sys.executable, "-m", "maker_cli", "run", "hanoi", "--disks", str(disks), "--k", "3"]
    args += ["--model", MODEL.format(seed=seed), "--store", str(store), "--json"]
    if metrics:
        args += ["--metrics-port", "0"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    scrapes = 0
    if metrics and scrape:
        assert proc.stderr is not None
        found = re.search(r"metrics: (\S+)", proc.stderr.readline())
        assert found is not None
        url, done = found.group(1), threading.Event()

        def scraper() -> None:
            nonlocal scrapes
            while not done.wait(0.02):
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        response.read()
                    scrapes += 1
                except (OSError, http.client.HTTPException):  # the run ended mid-scrape
                    return

        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        proc.wait()
        done.set()
        thread.join()
    else:
        proc.communicate()
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.returncode
    return wall, scrapes


def in_process(disks: int, seed: int, store: Path, metrics: bool) -> tuple[float, int]:
    """Seconds of one `maker_cli.run`, and its samples."""
    if metrics:
        with maker_cli.serve_metrics(port=0) as endpoint:
            t0 = time.perf_counter()
            result = maker_cli.run(
                maker_cli.Hanoi(disks=disks),
                model=MODEL.format(seed=seed),
                k=3,
                store=store,
                listeners=[endpoint.listener],
            )
            return time.perf_counter() - t0, result.samples
    t0 = time.perf_counter()
    result = maker_cli.run(maker_cli.Hanoi(disks=disks), model=MODEL.format(seed=seed), k=3, store=store)
    return time.perf_counter() - t0, result.samples


def replay(disks: int, runs: int) -> tuple[float, float, int]:
    """Microseconds of counting per sample (median of `runs` replays of one run's events), the
    milliseconds one exposition takes, and the events per sample."""
    from maker_cli.core.events import Event, SampleFinished

    events: list[Event] = []
    with tempfile.TemporaryDirectory() as folder:
        maker_cli.run(
            maker_cli.Hanoi(disks=disks),
            model=MODEL.format(seed=0),
            k=3,
            store=Path(folder) / "r.sqlite",
            listeners=[events.append],
        )
    samples = sum(isinstance(e, SampleFinished) for e in events)
    per_sample, scrape = [], []
    for _ in range(runs):
        listener = maker_cli.MetricsListener()
        t0 = time.perf_counter()
        for event in events:
            listener(event)
        per_sample.append((time.perf_counter() - t0) / samples * 1e6)
        t0 = time.perf_counter()
        listener.exposition()
        scrape.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(per_sample), statistics.median(scrape), round(len(events) / samples, 2)


def vote_wall(metrics: bool) -> float:
    args = [sys.executable, "-m", "maker_cli", "vote", "--prompt", "q", "--model", "sim:p=1,answer=42", "--k", "1"]
    args += ["--json", *(["--metrics-port", "0"] if metrics else [])]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--disks", type=int, default=10)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.2f}"
    )
    variants = {"off": (False, False), "--metrics-port 0": (True, False), "--metrics-port 0, scraped": (True, True)}
    walls: dict[str, list[float]] = {name: [] for name in variants}
    scraped: list[int] = []
    inproc: dict[str, list[float]] = {"off": [], "MetricsListener": []}
    samples = 0
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            for name, (metrics, scrape) in variants.items():
                wall, scrapes = command(args.disks, run, Path(folder) / f"c{run}{len(name)}.sqlite", metrics, scrape)
                walls[name].append(wall)
                if scrape:
                    scraped.append(scrapes)
            for name in inproc:
                seconds, samples = in_process(
                    args.disks, run, Path(folder) / f"i{run}{len(name)}.sqlite", name != "off"
                )
                inproc[name].append(seconds)
    steps = 2**args.disks - 1
    print(f"`maker run hanoi --disks {args.disks}` ({steps:,} steps), k=3, zero latency, median of {args.runs}:")
    base = statistics.median(walls["off"])
    for name, found in walls.items():
        med = statistics.median(found)
        note = f"; {statistics.median(scraped):.0f} scrapes a run" if name.endswith("scraped") else ""
        print(
            f"  {name:<26} {med:6.3f} s (min {min(found):.3f}, max {max(found):.3f}); "
            f"{med / base:.3f} of off's time{note}"
        )
    print(f"in-process `maker_cli.run` (about {samples:,} samples), median of {args.runs}:")
    base = statistics.median(inproc["off"])
    for name, found in inproc.items():
        med = statistics.median(found)
        print(
            f"  {name:<26} {med:6.3f} s (min {min(found):.3f}, max {max(found):.3f}); "
            f"{med / base:.3f} of off's time, {(med - base) / samples * 1e6:+.1f} us/sample"
        )
    starts: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(2 * args.runs):
        for metrics in starts:
            starts[metrics].append(vote_wall(metrics))
    off, on = (statistics.median(starts[m]) for m in (False, True))
    print(
        f"start-up, `maker vote` of one step, median of {2 * args.runs}: {off:.3f} s without, {on:.3f} s with "
        f"--metrics-port 0 ({(on - off) * 1e3:+.0f} ms)"
    )
    us, ms, per = replay(args.disks, 3 * args.runs)
    print(
        f"the listener alone, a run's events replayed ({per} events a sample), median of {3 * args.runs}: "
        f"{us:.2f} us a sample; one exposition (a scrape's work) {ms:.2f} ms"
    )


if __name__ == "__main__":
    main()
