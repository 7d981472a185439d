"""Draw a simulated run's scraped Prometheus metrics as a Grafana-style page: docs/img/metrics.png.

    python scripts/metrics_screenshot.py [--disks 8] [--out docs/img/metrics.png] [--html metrics.html]

A development tool, not part of maker (it needs plotly and playwright, which maker does not):

1. runs `maker run hanoi` on the simulated model (lognormal latency, a few red flags, prices) with
   `--metrics-port 0`, reads the URL from its stderr, and scrapes `/metrics` every 0.5 s until the
   run has reported (it lingers a few seconds with the final metrics);
2. computes from the scrapes what the PromQL of docs/metrics.md computes: samples per second and
   the red-flag rate over a 2 s window (`rate`), the cost so far and per hour, the call latency's
   p50 and p95 from the histogram's buckets (`histogram_quantile`, linear inside a bucket), and
   progress (`maker_steps_done / maker_steps_total`);
3. draws each as a panel with plotly in Grafana's dark colours, writes one offline HTML page
   (plotly.js included) and screenshots it with Playwright and the system's Chromium
   (`/usr/bin/chromium`; `apt-get install -y chromium`).

It is a drawing of the run's own metrics, not a screenshot of Grafana.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import plotly.graph_objects as go
from playwright.sync_api import sync_playwright
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
MODEL = "sim:p=0.985,invalid=0.04,latency_ms=60,latency_dist=lognormal,sigma=0.6,seed=7"
# Grafana's dark theme
BACKGROUND, PANEL, BORDER, TEXT, GRID = "#111217", "#181b1f", "#2c3235", "#ccccdc", "#2c3235"
GREEN, YELLOW, BLUE, ORANGE, RED, PURPLE = "#73bf69", "#fade2a", "#5794f2", "#ff9830", "#f2495c", "#b877d9"
WINDOW = 4  # scrapes in a rate's window (2 s)

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode("utf-8")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(m: Scrape, name: str) -> float:
    """The sum of a metric's series (every label value)."""
    return sum(v for (n, _), v in m.items() if n == name)


def buckets(m: Scrape, name: str) -> list[tuple[float, float]]:
    """A histogram's cumulative (upper bound, count) pairs, in order."""
    found = [(float(dict(labels)["le"]), v) for (n, labels), v in m.items() if n == f"{name}_bucket"]
    return sorted(found)


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket that holds rank q."""
    if not cumulative or cumulative[-1][1] <= 0:
        return math.nan
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-12)
        lower_bound, lower_count = bound, count
    return math.nan


def run_and_scrape(disks: int, every: float) -> tuple[list[float], list[Scrape], dict]:
    """Run the job with --metrics-port 0 and scrape it every `every` seconds until it reports."""
    with tempfile.TemporaryDirectory() as folder:
        args = [sys.executable, "-m", "maker_cli", "run", "hanoi", "--disks", str(disks), "--model", MODEL]
        args += ["--k", "3", "--price-in", "0.4", "--price-out", "1.6", "--store", str(Path(folder) / "s.sqlite")]
        args += ["--metrics-port", "0", "--metrics-linger", "30", "--json"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.stderr is not None and proc.stdout is not None
        url = None
        while url is None:
            line = proc.stderr.readline()
            if not line:
                raise SystemExit(f"maker exited before serving metrics (code {proc.wait()})")
            found = re.match(r"metrics: (\S+)", line)
            url = found.group(1) if found else None
        print(f"scraping {url} every {every} s", file=sys.stderr)
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.extend(proc.stdout or []), daemon=True)
        reader.start()
        times: list[float] = []
        scrapes: list[Scrape] = []
        t0 = time.monotonic()
        while True:
            scrapes.append(scrape(url))
            times.append(time.monotonic() - t0)
            if out and out[-1] == "}\n":  # the run has reported (its whole --json): this scrape has its totals
                break
            time.sleep(max(0.0, every - (time.monotonic() - t0 - times[-1])))
        proc.send_signal(signal.SIGINT)  # ends the linger
        proc.wait(timeout=60)
        reader.join(timeout=5)
    return times, scrapes, json.loads("".join(out))


def series(times: list[float], scrapes: list[Scrape]) -> dict[str, list[float]]:
    """What each panel shows, per scrape (rates over the WINDOW scrapes before)."""
    out: dict[str, list[float]] = {
        k: [] for k in ("samples_s", "red_flag", "cost", "cost_h", "p50", "p95", "progress", "t")
    }
    for i, m in enumerate(scrapes):
        j = max(0, i - WINDOW)
        dt = times[i] - times[j]
        ds = total(m, "maker_samples_total") - total(scrapes[j], "maker_samples_total")
        dr = total(m, "maker_red_flags_total") - total(scrapes[j], "maker_red_flags_total")
        dc = total(m, "maker_cost_usd_total") - total(scrapes[j], "maker_cost_usd_total")
        now, then = buckets(m, "maker_call_latency_seconds"), buckets(scrapes[j], "maker_call_latency_seconds")
        window = [(b, c - (then[k][1] if k < len(then) else 0.0)) for k, (b, c) in enumerate(now)]
        steps_total = total(m, "maker_steps_total")
        out["t"].append(times[i])
        out["samples_s"].append(ds / dt if dt > 0 else math.nan)
        out["red_flag"].append(100 * dr / ds if ds > 0 else math.nan)
        out["cost"].append(total(m, "maker_cost_usd_total"))
        out["cost_h"].append(3600 * dc / dt if dt > 0 else math.nan)
        out["p50"].append(1000 * quantile(0.5, window))
        out["p95"].append(1000 * quantile(0.95, window))
        out["progress"].append(100 * total(m, "maker_steps_done") / steps_total if steps_total else math.nan)
    return out


def panel(title: str, traces: list[tuple[str, list[float], str]], t: list[float], unit: str) -> go.Figure:
    fig = go.Figure()
    for name, values, colour in traces:
        fig.add_trace(
            go.Scatter(
                x=t,
                y=values,
                name=name,
                mode="lines",
                line={"color": colour, "width": 2},
                fill="tozeroy",
                fillcolor=colour + "22",
            )
        )
    fig.update_layout(
        title={"text": title, "font": {"size": 14, "color": TEXT}, "x": 0.01, "y": 0.97},
        paper_bgcolor=PANEL,
        plot_bgcolor=PANEL,
        font={"color": TEXT, "family": "Inter, Helvetica, Arial, sans-serif", "size": 11},
        margin={"l": 56, "r": 16, "t": 40, "b": 36},
        height=300,
        showlegend=True,
        legend={"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
        xaxis={"gridcolor": GRID, "zeroline": False, "ticksuffix": " s", "title": None},
        yaxis={"gridcolor": GRID, "zeroline": False, "ticksuffix": unit, "rangemode": "tozero"},
    )
    return fig


def page(data: dict[str, list[float]], out: dict) -> str:
    t = data["t"]
    figures = [
        panel("Samples per second", [("samples/s", data["samples_s"], GREEN)], t, ""),
        panel("Red-flag rate", [("red-flagged share of samples", data["red_flag"], ORANGE)], t, " %"),
        panel("Cost so far (USD)", [("maker_cost_usd_total", data["cost"], YELLOW)], t, ""),
        panel("Cost per hour (USD)", [("rate × 3600", data["cost_h"], PURPLE)], t, ""),
        panel("Call latency", [("p95", data["p95"], RED), ("p50", data["p50"], BLUE)], t, " ms"),
        panel("Progress", [("steps done / steps total", data["progress"], BLUE)], t, " %"),
    ]
    divs = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displayModeBar": False})
        for i, fig in enumerate(figures)
    ]
    stats = [
        ("Steps", f"{out['steps_done']:,} / {out['steps_total']:,}"),
        ("Samples", f"{out['samples']:,}"),
        ("Red-flagged", f"{out['red_flagged']:,}"),
        ("Cost", f"${out['cost_usd']:.4f}"),
        ("Wall time", f"{out['wall_s']:.1f} s"),
    ]
    boxes = "".join(
        f'<div class="stat"><div class="label">{k}</div><div class="value">{v}</div></div>' for k, v in stats
    )
    cells = "".join(f'<div class="panel">{d}</div>' for d in divs)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>maker metrics</title><style>
body {{ background: {BACKGROUND}; color: {TEXT}; font-family: Inter, Helvetica, Arial, sans-serif; margin: 0; padding: 16px; }}
.bar {{ display: flex; align-items: baseline; gap: 16px; margin: 0 0 12px 4px; }}
.bar h1 {{ font-size: 18px; font-weight: 500; margin: 0; }} .bar span {{ color: #8e8e8e; font-size: 12px; }}
.stats {{ display: grid; grid-template-columns: repeat(5, 1fr); gap: 8px; margin-bottom: 8px; }}
.stat {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 2px; padding: 10px 14px; }}
.stat .label {{ font-size: 12px; color: #8e8e8e; }} .stat .value {{ font-size: 26px; color: {GREEN}; margin-top: 4px; }}
.grid {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; }}
.panel {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 2px; overflow: hidden; }}
</style></head><body>
<div class="bar"><h1>maker jobs</h1><span>{out["task"]} · {out["model"]} · k={out["k"]} · scraped from /metrics every 0.5 s
 · drawn by scripts/metrics_screenshot.py, not Grafana</span></div>
<div class="stats">{boxes}</div><div class="grid">{cells}</div></body></html>"""


def screenshot(html: Path, png: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1500, "height": 745}, device_scale_factor=1)
        tab.goto(html.resolve().as_uri())
        tab.wait_for_selector(".main-svg")
        tab.wait_for_timeout(500)
        tab.screenshot(path=str(png), full_page=True)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--disks", type=int, default=8)
    ap.add_argument("--every", type=float, default=0.5, help="seconds between scrapes")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "metrics.png")
    ap.add_argument("--html", type=Path, default=None, help="keep the HTML page here (default: a temporary file)")
    args = ap.parse_args()
    times, scrapes, out = run_and_scrape(args.disks, args.every)
    print(f"{len(scrapes)} scrapes over {times[-1]:.1f} s; the run: {out['status']}, {out['samples']} samples")
    with tempfile.TemporaryDirectory() as folder:
        html = args.html or Path(folder) / "metrics.html"
        html.write_text(page(series(times, scrapes), out), encoding="utf-8")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(html, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
