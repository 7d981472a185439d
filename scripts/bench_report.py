"""Benchmark of `maker runs report` on a long run: the time, the page's size and the memory.

    python scripts/bench_report.py [--steps 20000] [--keep PATH]

Writes a Hanoi-like run of N steps into a temporary store (the rows of scripts/bench_store.py: a
contested, red-flagged step every 50), then times `maker runs report` (HTML, then Markdown) as a
subprocess, with the `maker` next to this interpreter. Prints seconds, bytes and the peak resident
memory of the report process.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scripts folder is not a package
from bench_store import make_rows

from maker_cli.store.run_store import RunStore

MAKER = str(Path(sys.executable).with_name("maker"))
BATCH = 10_000


def write_run(store: Path, steps: int, disks: int = 20) -> str:
    config = {"task": {"kind": "hanoi", "disks": disks}, "job": {"k": 3, "p": 0.99, "method": "ahead-by-k"}}
    with RunStore(store) as s:
        run_id = s.create_run("hanoi", f"hanoi-{disks}", "sim:p=0.99", config, 2**disks - 1)
        for start in range(0, steps, BATCH):
            rows, _ = make_rows(disks, start, min(BATCH, steps - start))
            s.write_batch(run_id, rows)
        s.update_run(run_id, {"status": "solved"})
    return run_id


def timed(words: list[str]) -> tuple[float, int]:
    """Seconds the command took, and the peak RSS (kB) of the children so far."""
    started = time.perf_counter()
    subprocess.run([MAKER, *words], check=True, capture_output=True)
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the store and the reports in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        store = folder / "bench-report.sqlite"
        started = time.perf_counter()
        run_id = write_run(store, args.steps)
        print(f"{args.steps:,} steps written in {time.perf_counter() - started:.1f} s ({store.stat().st_size:,} bytes)")
        for fmt in ("html", "md"):
            out = folder / f"report.{fmt}"
            seconds, rss = timed(["runs", "report", run_id, "--store", str(store), "-o", str(out)])
            print(f"{fmt}: {seconds:.2f} s, {out.stat().st_size:,} bytes, peak RSS so far {rss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
