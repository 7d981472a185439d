"""Benchmark a 200-node workflow: wall time against its critical-path floor, and overhead per node.

    python scripts/bench_workflow.py [--layers 25] [--width 8] [--latency-ms 50] [--runs 5]

The workflow is `layers` x `width` question nodes; every node of a layer depends on two nodes of
the layer before (a lattice, so the critical path is `layers` nodes long and `width` nodes are
ready at once). It runs on the simulated model with p = 1 and k = 2: one call (n = 2) decides each
node, so every node costs exactly one round trip and the **floor** of the wall time is
`layers x latency`. Part 1 measures the run's wall time (`wall_s` of `--json`, median of runs)
against that floor with `--latency-ms` per call and `--concurrency` 2 x width (a vote of k = 2
makes two calls: its first sample at the first temperature, the second at the other, so a layer
needs 2 x width calls in flight to be one round trip). Part 2
runs it at zero latency: the wall time per node is the runner's own overhead (spec rendering,
voting, one store transaction per decided node). Each run is `python -m maker_cli run task ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_workflow(folder: Path, layers: int, width: int) -> Path:
    lines = ["kind: workflow", "name: lattice", "nodes:"]
    for layer in range(layers):
        for i in range(width):
            node = f"n{layer}_{i}"
            lines.append(f"  - id: {node}")
            if layer:
                deps = sorted({f"n{layer - 1}_{i}", f"n{layer - 1}_{(i + 1) % width}"})
                lines.append(f"    depends_on: [{', '.join(deps)}]")
                refs = " ".join("{{nodes." + d + ".answer}}" for d in deps)
                lines.append(f'    user: "Combine {refs}. Answer: <n>"')
            else:
                lines.append(f'    user: "Start {i}. Answer: <n>"')
            lines.append('    answer: {regex: "Answer: *(?P<answer>\\\\d+)"}')
            lines.append(f'    expected: "{layer * width + i}"')
            lines.append('    sim_response: "Answer: {{answer}}"')
    last = [f"n{layers - 1}_{i}" for i in range(width)]
    lines.append(f"compose: {{function: reduce, operation: sum, nodes: [{', '.join(last)}]}}")
    path = folder / "lattice.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(path: Path, store: Path, latency_ms: float, concurrency: int) -> tuple[float, float, dict]:
    model = f"sim:p=1,latency_ms={latency_ms:g}"
    cmd = [sys.executable, "-m", "maker_cli", "run", "task", str(path), "--store", str(store), "--json"]
    cmd += ["--model", model, "--k", "2", "--concurrency", str(concurrency)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "200"})
    whole = time.perf_counter() - t0
    out = json.loads(done.stdout)
    assert out["status"] == "solved", out
    return out["wall_s"], whole, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=25)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    nodes = args.layers * args.width
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_workflow(folder, args.layers, args.width)
        floor = args.layers * args.latency_ms / 1000
        walls, wholes = [], []
        for i in range(args.runs):
            wall, whole, out = run(path, folder / f"latency{i}.sqlite", args.latency_ms, 2 * args.width)
            walls.append(wall)
            wholes.append(whole)
        wall = statistics.median(walls)
        print(
            f"{nodes} nodes ({args.layers} layers x {args.width}), {args.latency_ms:g} ms per call, k=2, p=1: "
            f"median run wall {wall:.2f} s (min {min(walls):.2f}, max {max(walls):.2f}) against the critical-path "
            f"floor {floor:.2f} s: ratio {floor / wall:.3f}; whole command {statistics.median(wholes):.2f} s; "
            f"samples {out['samples']}, result {out['result']}"
        )
        zero = [run(path, folder / f"zero{i}.sqlite", 0, 2 * args.width)[0] for i in range(args.runs)]
        per_node = statistics.median(zero) / nodes
        print(
            f"{nodes} nodes at zero latency: median run wall {statistics.median(zero):.3f} s "
            f"(min {min(zero):.3f}, max {max(zero):.3f}): {per_node * 1000:.2f} ms of overhead per node"
        )


if __name__ == "__main__":
    main()
