#!/usr/bin/env python
"""Start-up benchmark: wall time of `maker --help`, `maker estimate ...` and `python -c pass`.

Runs each command several times as a subprocess (the interpreter running this script, and the
`maker` script next to it), prints median / min / max seconds, then checks in a fresh interpreter
that importing the CLI and running `maker estimate` in-process loads neither litellm nor mcp, and
lists the heaviest imports of the estimate path (python -X importtime) to show where time goes.

    python scripts/bench_startup.py            # 7 runs each
    python scripts/bench_startup.py --runs 15  # more runs
Exit status 1 if litellm or mcp gets imported, or a median exceeds --limit seconds (default 0.4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
MAKER = str(Path(sys.executable).with_name("maker"))
ESTIMATE = ["estimate", "--steps", "1023", "--p", "0.85"]

CHECK = """
import sys
from typer.testing import CliRunner
from maker_cli.cli.app import app
after_import = sorted(m for m in ("litellm", "mcp", "yaml") if m in sys.modules)
r = CliRunner().invoke(app, %r)
assert r.exit_code == 0, r.output
r = CliRunner().invoke(app, ["--help"])
assert r.exit_code == 0, r.output
after_run = sorted(m for m in ("litellm", "mcp", "yaml") if m in sys.modules)
print(after_import, after_run)
"""


def timed(cmd: list[str], runs: int) -> list[float]:
    env = {**os.environ, "COLUMNS": "100"}
    subprocess.run(cmd, capture_output=True, env=env, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - start)
    return times


def heaviest_imports(cmd_args: list[str], top: int = 8) -> list[tuple[int, str]]:
    code = f"from maker_cli.cli.app import main; import sys; sys.argv = ['maker', *{cmd_args!r}]; main()"
    out = subprocess.run([PY, "-X", "importtime", "-c", code], capture_output=True, text=True)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split(":", 1)[1].split("|")
        if parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--limit", type=float, default=0.4, help="target median seconds for maker commands")
    args = ap.parse_args()

    print(f"date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, {platform.system()} {platform.release()}")
    print(f"python: {platform.python_version()} ({PY})")
    print(f"runs per command: {args.runs} (after one warm-up)\n")

    cases = [
        ("maker --help", [MAKER, "--help"]),
        ("maker " + " ".join(ESTIMATE), [MAKER, *ESTIMATE]),
        ("python -c pass", [PY, "-c", "pass"]),
    ]
    failed = False
    print(f"{'command':<45} {'median':>8} {'min':>8} {'max':>8}")
    for name, cmd in cases:
        times = timed(cmd, args.runs)
        med = statistics.median(times)
        print(f"{name:<45} {med:8.3f} {min(times):8.3f} {max(times):8.3f}")
        if cmd[0] == MAKER and med > args.limit:
            failed = True
            print(f"  over the {args.limit} s target")

    out = subprocess.run([PY, "-c", CHECK % (ESTIMATE,)], capture_output=True, text=True)
    print(f"\nheavy modules loaded [after import] [after estimate + --help]: {out.stdout.strip() or out.stderr}")
    if out.returncode != 0 or out.stdout.strip() != "[] []":
        failed = True

    print("\nheaviest imports of `maker estimate` (cumulative ms, nested modules included):")
    for micros, name in heaviest_imports(ESTIMATE):
        print(f"  {micros / 1000:7.1f}  {name.strip()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
