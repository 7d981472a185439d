"""Helpers for tests that run jobs in a subprocess and watch the run store."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from maker_cli.store.run_store import RunStore


def wait_for_progress(store: Path, proc: subprocess.Popen, min_steps: int, timeout: float = 180) -> str:
    """The id of the newest run once it has committed `min_steps` steps (the process still alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if store.exists():
            try:
                with RunStore(store) as s:
                    runs = s.list_runs(1)
                    if runs and runs[0].steps_done >= min_steps:
                        return runs[0].id
            except Exception:  # the file may be mid-creation
                pass
        time.sleep(0.1)
    raise AssertionError("the run made no progress")


def solved_fraction(task, p: float, k: int, runs: int) -> float:
    """Run `task` `runs` times in-process on the simulated model (collide mode, seeds 0..runs-1, no
    store) and return the share that ends solved — to compare with maths.p_full."""
    import asyncio

    from maker_cli.core.engine import Engine, VoteConfig
    from maker_cli.jobs.run_state import RunPoint, RunTotals
    from maker_cli.jobs.runner import Runner, RunOptions
    from maker_cli.providers.sim import SimProvider

    class NullStore:
        def write_batch(self, *a, **kw):
            return 0

    async def one(seed: int) -> bool:
        engine = Engine(SimProvider(f"sim:p={p},errors=collide,seed={seed}"))
        runner = Runner(task, engine, VoteConfig(k=k), NullStore(), "x", RunOptions())
        state, previous = task.start()
        outcome = await runner.run(RunPoint(0, state, previous), RunTotals())
        return outcome.status == "solved"

    async def all_runs() -> int:
        return sum([await one(seed) for seed in range(runs)])

    return asyncio.run(all_runs()) / runs
