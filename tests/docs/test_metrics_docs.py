"""docs/metrics.md and the Grafana dashboard against the real thing: every metric their PromQL names
is in the exposition of a run, every metric a run exposes is in the docs' table, the alert rule is
valid YAML, and the dashboard is a Grafana dashboard whose queries are the docs' own kind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

import maker_cli

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
DASHBOARD = json.loads((ROOT / "examples" / "grafana" / "maker-dashboard.json").read_text(encoding="utf-8"))
NAME = re.compile(r"\bmaker_[a-z0-9_]+\b")
_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def fenced_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the fenced code blocks of language `lang` in `text`."""
    return [m.group("body") for m in _FENCE.finditer(text) if m.group("lang") == lang]


def exposed(tmp_path: Path) -> tuple[set[str], set[str]]:
    """The sample names and the family names a simulated run exposes."""
    metrics = maker_cli.MetricsListener()
    maker_cli.run(
        maker_cli.Hanoi(disks=3),
        model="sim:p=0.9,invalid=0.1,seed=1",
        k=2,
        store=tmp_path / "s.sqlite",
        listeners=[metrics],
    )
    samples = {s.name for f in text_string_to_metric_families(metrics.exposition()) for s in f.samples}
    suffix = {"counter": "_total", "info": "_info"}  # the families' names lack what their samples' have
    return samples, {f.name + suffix.get(f.type, "") for f in metrics.registry.collect()}


def alert_rules() -> list[dict]:
    (block,) = [b for b in fenced_blocks(DOC, "yaml") if "alert:" in b]
    return yaml.safe_load(block)["groups"][0]["rules"]


def dashboard_queries() -> list[str]:
    return [t["expr"] for panel in DASHBOARD["panels"] for t in panel["targets"]]


def test_every_metric_the_queries_name_is_exposed(tmp_path):
    samples, _ = exposed(tmp_path)
    promql = fenced_blocks(DOC, "promql")
    assert len(promql) >= 5
    queries = [*promql, *(rule["expr"] for rule in alert_rules()), *dashboard_queries()]
    named = {name for query in queries for name in NAME.findall(query)}
    assert {"maker_red_flags_total", "maker_cost_usd_total", "maker_call_latency_seconds_bucket"} <= named
    assert named <= samples, sorted(named - samples)


def test_the_table_lists_every_metric_a_run_exposes(tmp_path):
    _, families = exposed(tmp_path)
    table = set(re.findall(r"^\| `(maker_[a-z0-9_]+)` \|", DOC, re.MULTILINE))
    assert families == table


def test_the_alert_rule_and_the_dashboard_are_what_prometheus_and_grafana_read():
    (rule,) = alert_rules()
    assert rule["alert"] == "MakerRedFlagRateHigh" and rule["for"] == "10m" and "summary" in rule["annotations"]
    assert DASHBOARD["uid"] == "maker-jobs" and DASHBOARD["schemaVersion"] >= 36
    assert {v["name"] for v in DASHBOARD["templating"]["list"]} == {"datasource", "instance"}
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all('instance=~"$instance"' in t["expr"] for t in panel["targets"]), panel["title"]
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    titles = {panel["title"] for panel in DASHBOARD["panels"]}
    assert {"Samples per second", "Red-flag rate by reason", "Cost per hour", "Call latency", "Progress"} <= titles
