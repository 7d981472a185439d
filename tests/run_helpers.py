"""Helpers for tests that run jobs in a subprocess and watch the run store."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from maker_cli.store import RunStore


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
