"""Benchmark the event log: what `--events FILE` costs the engine, in the worst case.

    python scripts/bench_events.py [--steps 20000] [--runs 7]

The simulated model at zero latency (no I/O: the engine's own work is all there is), k = 3, as in
scripts/bench_engine.py; samples per second, median of runs, the variants interleaved run by run
so that drift of the machine hits them alike:

- off: no listener (the engine builds no event at all);
- no-op listener: events built and handed to a listener that does nothing;
- event log: `maker_cli.jobs.event_log.EventLog` writing to a file, as `--events FILE` does (each
  line flushed, a write system call, so that `tail -f` sees it at once);
- event log, unflushed: the same without the flushes (a lower bound, not shipped: what the
  serialising alone costs).

Then the same with 1 ms of simulated latency per call (a tenth of the steps), and a whole run
(`maker_cli.run`, 12-disk Hanoi at zero latency: the runner, the store) with `events=` a file or
not. With any real model a sample takes 0.1-10 s, against the microseconds measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.core.events import Listener
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.core.step import StepPrompt
from maker_cli.jobs.event_log import EventLog
from maker_cli.providers.base import Reference
from maker_cli.providers.sim import SimProvider
from maker_cli.tasks import hanoi, hanoi_sim

REF = Reference("Answer: 42", lambda v: f"Answer: {41 - v}")


def judge(text: str) -> Answer | RedFlag:
    i = text.rfind("Answer: ")
    return RedFlag(FORMAT) if i < 0 else Answer(text[i + 8 :].strip())


class Unflushed(EventLog):
    """The event log without its flush after every line (not shipped: lines would wait in a buffer)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream, owned=True)
        self._flush = lambda: None


async def rate(task: str, steps: int, listeners: list[Listener]) -> float:
    """Samples per second deciding `steps` steps."""
    model = "sim:p=0.99,seed=1" if task.startswith("answer") else "sim:p=0.998,seed=1"
    if task.endswith("1 ms"):
        model += ",latency_ms=1"
    engine = Engine(SimProvider(model), listeners=listeners)
    cfg = VoteConfig(k=3)
    samples = 0
    t0 = time.perf_counter()
    if task.startswith("answer"):
        for s in range(steps):
            samples += (await engine.vote(StepPrompt(s, "sys", "user", REF), judge, cfg)).samples
    else:
        n = 20
        j = hanoi.make_judge(n)
        system = hanoi.system_prompt(n)
        for s in range(steps):
            i = (s * 7919) % hanoi.steps_total(n)
            state = hanoi.optimal_state(n, i)
            prev = hanoi.optimal_move(n, i - 1) if i else None
            prompt = StepPrompt(s, system, hanoi.user_prompt(n, state, prev), hanoi_sim.reference(n, state, prev))
            samples += (await engine.vote(prompt, j, cfg)).samples
    return samples / (time.perf_counter() - t0)


def measure(task: str, steps: int, make: Callable[[Path], tuple[list[Listener], EventLog | None]]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        listeners, log = make(path)
        try:
            r = asyncio.run(rate(task, steps, listeners))
        finally:
            if log is not None:
                log.close()
        lines = sum(1 for _ in path.open()) if path.exists() else 0
    return r, lines


def off(path: Path) -> tuple[list[Listener], EventLog | None]:
    return [], None


def noop(path: Path) -> tuple[list[Listener], EventLog | None]:
    return [lambda event: None], None


def shipped(path: Path) -> tuple[list[Listener], EventLog | None]:
    log = EventLog(path.open("a", encoding="utf-8"), owned=True)
    return [log], log


def unflushed(path: Path) -> tuple[list[Listener], EventLog | None]:
    log = Unflushed(path.open("a", encoding="utf-8"))
    return [log], log


VARIANTS = {"off": off, "no-op listener": noop, "event log": shipped, "event log, unflushed": unflushed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    for task in ("answer", "hanoi-20", "answer, 1 ms"):
        steps = args.steps // 10 if task.endswith("1 ms") else args.steps
        rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
        lines: dict[str, int] = {}
        for _ in range(args.runs):
            for name, make in VARIANTS.items():
                r, n = measure(task, steps, make)
                rates[name].append(r)
                lines[name] = n
        base = statistics.median(rates["off"])
        latency = "1 ms latency" if task.endswith("1 ms") else "zero latency"
        print(f"{task.split(',')[0]}, k=3, {latency}, {steps:,} steps, median of {args.runs} runs:")
        for name, found in rates.items():
            med = statistics.median(found)
            extra = f", {lines[name] / steps:.2f} lines/step" if lines[name] else ""
            print(
                f"  {name:<28} {med:>9,.0f} samples/s (min {min(found):,.0f}, max {max(found):,.0f}); "
                f"{med / base:.2f} of off, {1e6 / med - 1e6 / base:+.2f} us/sample{extra}"
            )
    whole_run(args.runs)


def whole_run(runs: int) -> None:
    import maker_cli  # the library's own entry point, as a user calls it

    walls: dict[str, list[float]] = {"off": [], "events=FILE": []}
    samples = 0
    for _ in range(runs):
        for name in walls:
            with tempfile.TemporaryDirectory() as folder:
                events = Path(folder) / "run.jsonl" if name != "off" else None
                t0 = time.perf_counter()
                result = maker_cli.run(
                    maker_cli.Hanoi(disks=12),
                    model="sim:p=0.999,seed=1",
                    k=3,
                    store=Path(folder) / "s.sqlite",
                    events=events,
                )
                walls[name].append(time.perf_counter() - t0)
                samples = result.samples
    base = statistics.median(walls["off"])
    print(f"whole run, 12-disk Hanoi (4,095 steps, {samples:,} samples), zero latency, median of {runs} runs:")
    for name, found in walls.items():
        med = statistics.median(found)
        print(
            f"  {name:<28} {med:>6.2f} s (min {min(found):.2f}, max {max(found):.2f}); {base / med:.2f} of off's speed"
        )


if __name__ == "__main__":
    main()
