"""`maker runs report` in a real browser: headless Chromium (Debian's `chromium`, /usr/bin/chromium)
driven by Playwright opens the page from a file:// URL and checks that every chart rendered (an SVG
with one drawn trace per trace of the figure), that no script failed, that nothing broke the page's
Content-Security-Policy, and that the page requested nothing but its own file.

Skipped, with the reason, where chromium or playwright is missing; but where the environment
variable CI is set (.ci/run sets it, and installs both) a missing browser fails the test, so CI
cannot skip it silently."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _browser_missing() -> str | None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[test]')")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (Debian: apt-get install chromium)")
    return " and ".join(missing) or None


@pytest.fixture(scope="module")
def needs_browser() -> None:
    missing = _browser_missing()
    if missing:
        message = f"the real-browser test needs {missing}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run it (.ci/run installs both)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def reports(needs_browser, tmp_path_factory) -> dict[str, Path]:
    """A Hanoi run's report (red flags, per-call latency, a price) and a workflow's, written before
    the browser starts (Playwright's sync API runs an event loop of its own, and maker's runs use
    asyncio.run)."""
    tmp = tmp_path_factory.mktemp("reports")
    store = tmp / "s.sqlite"
    hanoi = run_json("run", "hanoi", "--disks", "5", "--model", "sim:p=0.85,invalid=0.1,latency_ms=1,seed=3",
                     "--k", "3", "--log-samples", "all", "--price-in", "1", "--price-out", "2", "--store", str(store))  # fmt: skip
    shutil.copy(ROOT / "examples" / "workflows" / "order_total.yaml", tmp / "order_total.yaml")
    flow = run_json("run", "task", str(tmp / "order_total.yaml"), "--model", "sim:p=0.9,seed=1", "--store", str(store))
    assert flow["status"] == "solved", flow
    pages = {}
    for name, run_id in (("hanoi", hanoi["run_id"]), ("workflow", flow["run_id"])):
        pages[name] = tmp / f"{name}.html"
        r = cli("runs", "report", run_id, "--store", str(store), "-o", str(pages[name]))
        assert r.exit_code == 0, r.output
    return pages


@pytest.fixture(scope="module")
def browser(reports):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> dict:
    r = cli(*args, "--json")
    assert r.stdout.lstrip().startswith("{"), r.output
    return json.loads(r.stdout)


def open_page(browser, html: Path) -> tuple[object, dict]:
    """The page loaded, and what it did: script errors, console errors and every request."""
    url = html.resolve().as_uri()
    seen: dict = {"requests": [], "errors": [], "console": []}
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("console", lambda msg: seen["console"].append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda request: seen["requests"].append(request.url))

    def only_the_file(route):
        if route.request.url == url:
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_the_file)
    page.goto(url, wait_until="load")
    page.wait_for_function("document.querySelectorAll('.plotly-graph-div .main-svg').length > 0")
    seen["url"] = url
    return page, seen


CHARTS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => ({
  id: div.id,
  svg: div.querySelectorAll('.main-svg').length,
  traces: (div.data || []).length,
  drawn: div.querySelectorAll('.overplot g.trace').length,
  paths: Array.from(div.querySelectorAll('.overplot g.trace path'))
              .filter(p => (p.getAttribute('d') || '').length > 2).length,
}))"""


def check_page(browser, html: Path, expected: set[str]) -> list[dict]:
    page, seen = open_page(browser, html)
    try:
        charts = page.evaluate(CHARTS)
    finally:
        page.close()
    assert seen["errors"] == [], seen["errors"]
    assert seen["console"] == [], seen["console"]  # a blocked request or a CSP violation would be here
    assert seen["requests"] and set(seen["requests"]) == {seen["url"]}, seen["requests"]
    assert {c["id"] for c in charts} == expected, charts
    for chart in charts:
        assert chart["svg"] >= 1 and chart["traces"] >= 1, chart
        assert chart["drawn"] == chart["traces"] and chart["paths"] >= 1, chart
    return charts


def test_a_hanoi_report_renders_every_chart_offline(browser, reports):
    charts = check_page(browser, reports["hanoi"], {"fig-votes", "fig-progress", "fig-red-flags", "fig-latency"})
    votes = next(c for c in charts if c["id"] == "fig-votes")
    assert votes["traces"] == 3  # the steps, the exact distribution for p̂ and for the configured p


def test_a_workflow_report_renders_offline(browser, reports):
    check_page(browser, reports["workflow"], {"fig-nodes"})
