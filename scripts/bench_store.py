"""Write benchmark for the run store: N small Hanoi-like step rows in batches, store time only.

    python scripts/bench_store.py [--rows 1000000] [--batch 2000] [--disks 20] [--keep PATH]

Prints rows/s of `RunStore.write_batch` (the time spent building the rows is not counted), the
file size, and read figures. Each batch also updates the run row (totals and resume point), as
the runner does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from maker_cli.store.run_store import RunStore, StepRow
from maker_cli.tasks import hanoi


def make_rows(n: int, start: int, count: int) -> tuple[list[StepRow], str]:
    rows = []
    state = hanoi.optimal_state(n, start)
    for i in range(start, start + count):
        move = hanoi.optimal_move(n, i)
        nxt = hanoi.apply_move(state, move)
        contested = i % 50 == 0  # a few contested steps carry real tallies
        key = hanoi.answer_key(move, nxt)
        tallies = {key: 4, f"{move[0]},{move[1]},{(move[2] + 1) % 3}|x": 1} if contested else {key: 3}
        rows.append(
            StepRow(
                idx=i,
                input_state=hanoi.encode_state(state),
                winner_key=key,
                decided=True,
                tallies=tallies,
                samples=6 if contested else 3,
                valid=5 if contested else 3,
                red_flagged=1 if contested else 0,
                red_flag_reasons={"format": 1} if contested else {},
                rounds=2 if contested else 1,
                input_tokens=1500 * 3,
                output_tokens=550 * 3,
                cost_usd=0.0031,
                latency_s=1.234,
                correct=True,
            )
        )
        state = nxt
    return rows, hanoi.encode_state(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--disks", type=int, default=20)
    parser.add_argument("--keep", type=Path, default=None, help="write here instead of a temporary file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.sqlite"
        with RunStore(path) as store:
            run_id = store.create_run("hanoi", "bench", "sim:perfect", {"disks": args.disks}, args.rows, None)
            store_s = 0.0
            wall0 = time.perf_counter()
            done = 0
            while done < args.rows:
                count = min(args.batch, args.rows - done)
                rows, last_state = make_rows(args.disks, done, count)
                update = {"samples": done * 3, "valid": done * 3, "last_state": last_state, "wall_s": 1.0}
                t0 = time.perf_counter()
                store.write_batch(run_id, rows, (), update)
                store_s += time.perf_counter() - t0
                done += count
            wall = time.perf_counter() - wall0
            run = store.get_run(run_id)
            assert run.steps_done == args.rows == store.count_steps(run_id)
            t0 = time.perf_counter()
            read = sum(1 for _ in store.iter_steps(run_id))
            read_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(path).parent.glob(Path(path).name + "*"))
        print(f"rows written      {args.rows:,} in batches of {args.batch:,} ({args.disks} disks)")
        print(f"store time        {store_s:.2f} s  ->  {args.rows / store_s:,.0f} rows/s")
        print(f"wall (with rows)  {wall:.2f} s")
        print(f"read back         {read:,} rows in {read_s:.2f} s  ->  {read / read_s:,.0f} rows/s")
        print(f"file size         {size / 1e6:.1f} MB ({size / args.rows:.0f} B/row)")


if __name__ == "__main__":
    main()
