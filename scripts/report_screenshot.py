#!/usr/bin/env python
"""Take the screenshot of `maker runs report` that the docs show (docs/img/report.png).

It runs a simulated 8-disk Hanoi (p = 0.9, some malformed samples, a lognormal latency, prices so
that the cost is not zero, every raw sample kept) into a temporary store, writes its report, and
photographs the top of the page in headless Chromium (Debian's `chromium`, /usr/bin/chromium),
driven by Playwright (`pip install playwright`; its own browser download is not needed).

    python scripts/report_screenshot.py                       # writes docs/img/report.png
    python scripts/report_screenshot.py --out /tmp/r.png --html /tmp/r.html --full-page
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKER = str(Path(sys.executable).with_name("maker"))
CHROMIUM = "/usr/bin/chromium"
MODEL = "sim:p=0.9,invalid=0.04,latency_ms=4,latency_dist=lognormal,seed=7"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "report.png")
    parser.add_argument("--html", type=Path, help="also keep the report here")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not its top 1,450 pixels")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright  # only this script and the browser test need it

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "runs.sqlite"
        html = args.html or Path(tmp) / "report.html"
        run = subprocess.run(
            [MAKER, "run", "hanoi", "--disks", "8", "--model", MODEL, "--k", "3", "--log-samples", "all",
             "--price-in", "0.4", "--price-out", "1.6", "--store", str(store), "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        run_id = json.loads(run.stdout)["run_id"]
        subprocess.run([MAKER, "runs", "report", run_id, "--store", str(store), "-o", str(html)], check=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 1450}, device_scale_factor=1)
            page.goto(html.resolve().as_uri())
            page.wait_for_selector(".plotly-graph-div .main-svg")
            page.wait_for_timeout(500)  # the last chart's layout settles
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=args.full_page)
            browser.close()
    print(f"wrote {args.out} (run {run_id}, {MODEL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
