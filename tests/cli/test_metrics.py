"""`--metrics-port`: Prometheus metrics served over HTTP while a job runs, scraped and parsed with
prometheus_client's own parser; at the end the counters equal the job's `--json` totals. Every
job runs on the simulated model and every endpoint listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_helpers import calls, ok, server_for
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app

PRICED = ("--price-in", "3", "--price-out", "15")
Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def scrape(url: str) -> Scrape:
    """Every sample of the exposition at `url`: (name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode("utf-8")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(m: Scrape, name: str, **labels: str) -> float:
    return m[(name, tuple(sorted(labels.items())))]


def by_label(m: Scrape, name: str, label: str, *, nonzero: bool = True) -> dict[str, float]:
    return {dict(labels)[label]: v for (n, labels), v in m.items() if n == name and (v or not nonzero) and labels}


def check_spend(m: Scrape, out: dict) -> None:
    """What every job's --json says it spent: samples, tokens, cost."""
    assert value(m, "maker_samples_total") == out["samples"]
    assert value(m, "maker_cost_usd_total") == pytest.approx(out["cost_usd"], rel=1e-9)
    assert value(m, "maker_call_latency_seconds_count") == out["samples"]


def check_run(m: Scrape, out: dict) -> None:
    """A run's counters against its --json totals (docs/metrics.md, "They add up")."""
    check_spend(m, out)
    assert value(m, "maker_valid_votes_total") == out["valid"]
    assert by_label(m, "maker_red_flags_total", "reason") == out["red_flag_reasons"]
    assert sum(by_label(m, "maker_red_flags_total", "reason").values()) == out["red_flagged"]
    assert value(m, "maker_input_tokens_total") == out["input_tokens"]
    assert value(m, "maker_output_tokens_total") == out["output_tokens"]
    assert value(m, "maker_cached_tokens_total") == out["cached_tokens"]
    assert sum(by_label(m, "maker_call_errors_total", "kind").values()) == out["call_errors"]
    assert value(m, "maker_retries_total") == out["retries"]
    assert value(m, "maker_rounds_per_step_sum") == out["rounds"]
    assert value(m, "maker_steps_done") == value(m, "maker_steps_decided_total") == out["steps_done"]
    assert value(m, "maker_steps_total") == out["steps_total"]
    assert value(m, "maker_k") == out["k"]


class Served:
    """`maker ...` in a subprocess, its stderr and stdout read by threads as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maker_cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.stderr: queue.Queue[str] = queue.Queue()
        self.stdout: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []
        for stream, lines in ((self.proc.stderr, self.stderr), (self.proc.stdout, self.stdout)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream, lines: queue.Queue[str]) -> None:
        for line in stream:
            lines.put(line)

    def url(self, timeout: float = 60) -> str:
        """The URL of its `metrics: URL` line on stderr."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stderr.get(timeout=0.1)
            except queue.Empty:
                assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.said}"
                continue
            self.said.append(line)
            if line.startswith("metrics: http://"):
                return line.split(" ", 1)[1].strip()
        raise AssertionError(f"no metrics line on stderr: {self.said}")

    def json(self, timeout: float = 120) -> dict:
        """Its --json object, once printed whole (the process may still be serving)."""
        text, deadline = "", time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stdout.get(timeout=0.1)
            except queue.Empty:
                continue
            text += line
            if line == "}\n":
                return json.loads(text)
        raise AssertionError(f"no JSON on stdout: {text!r}")

    def running(self) -> bool:
        return self.proc.poll() is None and self.stdout.empty()

    def stop(self) -> int:
        """Ctrl-C: ends --metrics-linger early; the exit code is the job's."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        while not self.stderr.empty():
            self.said.append(self.stderr.get())
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def served():
    started: list[Served] = []

    def start(*args: str) -> Served:
        started.append(Served(*args))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def test_a_run_is_scraped_while_it_runs_and_adds_up_to_its_json_at_the_end(served, tmp_path):
    model = "sim:p=0.95,invalid=0.05,seed=4,latency_ms=20"
    run = served(
        *("run", "hanoi", "--disks", "6", "--model", model, "--k", "3", *PRICED),
        *("--store", str(tmp_path / "s.sqlite"), "--metrics-port", "0", "--metrics-linger", "120", "--json"),
    )
    url = run.url()
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/metrics")
    during = None
    deadline = time.monotonic() + 120
    while during is None and time.monotonic() < deadline:  # scrape until samples show, the run still going
        m = scrape(url)
        if m[("maker_samples_total", ())] > 0 and run.running():
            during = m
        time.sleep(0.02)
    assert during is not None, "no scrape caught the run while it ran"
    assert 0 <= value(during, "maker_steps_done") < 63 and value(during, "maker_steps_total") == 63
    out = run.json()  # the run has ended and reported; the endpoint lingers with the final metrics
    end = scrape(url)
    assert out["metrics_url"] == url and out["status"] == "solved" and out["red_flagged"] > 0
    check_run(end, out)
    assert value(during, "maker_samples_total") <= value(end, "maker_samples_total")
    assert value(end, "maker_seconds_left_estimate") == 0
    assert 0.8 < value(end, "maker_estimated_p") <= 1
    (info,) = [labels for (name, labels), _ in end.items() if name == "maker_job_info"]
    assert dict(info) == {"kind": "run", "run_id": out["run_id"], "task": "hanoi-6", "model": model}
    assert run.stop() == 0  # Ctrl-C ended the linger; the run's own exit code
    assert any("serving the final metrics for 120 s more" in line for line in run.said), run.said
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)  # closed


def test_a_vote_serves_its_metrics(served):
    vote = served(
        *("vote", "--prompt", "q", "--model", "sim:p=0.7,invalid=0.2,errors=spread,seed=5,answer=42", "--k", "3"),
        *PRICED,
        *("--metrics-port", "0", "--metrics-linger", "60", "--json"),
    )
    url = vote.url()
    out = vote.json()
    m = scrape(url)
    check_spend(m, out)
    assert value(m, "maker_valid_votes_total") == out["valid"]
    assert by_label(m, "maker_red_flags_total", "reason") == out["red_flag_reasons"] != {}
    assert value(m, "maker_input_tokens_total") == out["input_tokens"]
    assert value(m, "maker_output_tokens_total") == out["output_tokens"]
    assert (
        value(m, "maker_rounds_per_step_sum") == out["rounds"] and value(m, "maker_votes_per_step_sum") == out["valid"]
    )
    assert value(m, "maker_steps_done") == value(m, "maker_steps_total") == value(m, "maker_steps_decided_total") == 1
    assert value(m, "maker_k") == 3 and out["metrics_url"] == url
    assert vote.stop() == 0


def test_a_calibration_serves_its_metrics(served):
    cal = served(
        *("calibrate", "hanoi", "--model", "sim:p=0.8,invalid=0.1,seed=2", "--disks", "4", "--samples", "60"),
        *PRICED,
        *("--metrics-port", "0", "--metrics-linger", "60", "--json"),
    )
    url = cal.url()
    out = cal.json()
    m = scrape(url)
    check_spend(m, out)
    assert value(m, "maker_valid_votes_total") == out["valid"]
    assert value(m, "maker_correct_samples_total") == out["correct"]
    assert by_label(m, "maker_red_flags_total", "reason") == out["red_flags"] != {}
    assert value(m, "maker_estimated_p") == pytest.approx(out["p"], rel=1e-12)
    assert value(m, "maker_steps_done") == value(m, "maker_steps_total") == out["requested"] == 60
    assert value(m, "maker_steps_decided_total") == 0 and out["metrics_url"] == url
    assert cal.stop() == 0


def test_a_speculating_run_adds_up_where_its_totals_do(tmp_path):
    """With --speculate, samples, tokens, cost and steps done equal the totals; valid votes and red flags
    count the discarded branches' ones too (docs/metrics.md), and the waste is counted apart."""
    with maker_cli.serve_metrics(port=0) as endpoint:
        result = maker_cli.run(
            maker_cli.Hanoi(disks=5),
            model="sim:p=0.85,invalid=0.05,seed=2,latency_ms=2",
            k=3,
            speculate=3,
            keep_going=True,
            price_in=3,
            price_out=15,
            store=tmp_path / "s.sqlite",
            listeners=[endpoint.listener],
        )
        m = scrape(endpoint.url)
    out = result.model_dump(mode="json")
    waste = out["speculative_waste"]
    assert waste["branches"] > 0
    check_spend(m, out)
    assert value(m, "maker_input_tokens_total") == out["input_tokens"]
    assert value(m, "maker_output_tokens_total") == out["output_tokens"]
    assert value(m, "maker_steps_done") == out["steps_done"] == 31
    assert value(m, "maker_speculative_branches_discarded_total") == waste["branches"]
    assert value(m, "maker_speculative_wasted_samples_total") == waste["samples"]
    assert value(m, "maker_speculative_wasted_cost_usd_total") == pytest.approx(waste["cost_usd"], rel=1e-9)
    assert value(m, "maker_valid_votes_total") >= out["valid"]
    assert sum(by_label(m, "maker_red_flags_total", "reason").values()) >= out["red_flagged"]
    assert value(m, "maker_steps_decided_total") >= out["steps_done"]


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for command in (
            ["vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42", "--json"],
            ["run", "hanoi", "--disks", "2", "--model", "sim:p=0.9", "--store", str(tmp_path / "s.sqlite"), "--json"],
            ["calibrate", "hanoi", "--samples", "2", "--model", "sim:p=0.9", "--json"],
            ["serve-mcp"],
        ):
            r = cli(*command, "--metrics-port", port)
            assert r.exit_code == 2 and r.stdout == "", (command, r.output)
            assert r.stderr.strip().splitlines() == [
                f"error: --metrics-port {port}: cannot listen on 127.0.0.1:{port} (Address already in use): "
                "pick another --metrics-port (0: any free one) or --metrics-addr"
            ], command


def test_bad_metrics_options_are_one_line_and_exit_2():
    vote = ("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42", "--json")
    for extra, said in (
        (("--metrics-addr", "127.0.0.1"), "--metrics-addr and --metrics-linger go with --metrics-port PORT"),
        (("--metrics-linger", "5"), "--metrics-addr and --metrics-linger go with --metrics-port PORT"),
        (("--metrics-port", "0", "--metrics-addr", "no.such.host.invalid"), "cannot listen on no.such.host.invalid:0"),
        (("--metrics-port", "65536"), "Invalid value for '--metrics-port'"),
        (("--metrics-port", "0", "--metrics-linger", "-1"), "Invalid value for '--metrics-linger'"),
    ):
        r = cli(*vote, *extra)
        assert r.exit_code == 2 and r.stdout == "", (extra, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and said in r.stderr, (extra, r.stderr)


def test_without_metrics_port_nothing_is_served_and_json_has_no_url():
    r = cli("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42", "--json")
    assert r.exit_code == 0 and "metrics_url" not in json.loads(r.stdout) and "metrics:" not in r.stderr


def test_a_vote_in_process_reports_the_url_once_on_stderr():
    r = cli("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42", "--metrics-port", "0")
    assert r.exit_code == 0, r.output
    (line,) = [line for line in r.stderr.splitlines() if line.startswith("metrics:")]
    assert line.startswith("metrics: http://127.0.0.1:") and line.endswith("/metrics")
    assert "42" in r.stdout  # the tally and the result for people, as without metrics


def test_serve_mcp_serves_the_metrics_of_its_tool_calls(tmp_path):
    errlog = tmp_path / "stderr.txt"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "maker_cli", "serve-mcp", "--metrics-port", "0"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=str(tmp_path),
    )

    def metrics_url() -> str:
        lines = [line for line in errlog.read_text().splitlines() if line.startswith("metrics: ")]
        assert lines, errlog.read_text()
        return lines[0].split(" ", 1)[1]

    async def go():
        with open(errlog, "w") as stream, anyio.fail_after(60):
            async with Client(stdio_client(params, errlog=stream), read_timeout_seconds=30) as client:
                before = scrape(metrics_url())
                voted = await client.call_tool("maker_vote", {"prompt": "6*7?", "model": "sim:p=0.9,answer=42"})
                return before, ok(voted), scrape(metrics_url())

    before, vote, after = anyio.run(go)
    assert value(before, "maker_samples_total") == 0
    assert value(after, "maker_samples_total") == vote["samples"] > 0
    assert value(after, "maker_valid_votes_total") == vote["valid"]
    assert value(after, "maker_steps_decided_total") == 1


def test_serve_mcp_tools_feed_the_listeners_in_process(tmp_path):
    metrics = maker_cli.MetricsListener()
    server = server_for(tmp_path, listeners=[metrics])
    vote, cal = calls(
        server,
        ("maker_vote", {"prompt": "q", "model": "sim:p=0.8,invalid=0.1,seed=3,answer=7", "k": 2}),
        ("maker_calibrate", {"task": "hanoi", "disks": 3, "samples": 20, "model": "sim:p=0.9,seed=1"}),
    )
    vote, cal = ok(vote), ok(cal)
    m = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition())
        for s in family.samples
    }
    assert value(m, "maker_samples_total") == vote["samples"] + cal["samples"]
    assert value(m, "maker_correct_samples_total") == cal["correct"]
    assert value(m, "maker_steps_total") == cal["requested"]  # the gauges follow the latest job


def test_every_command_that_runs_jobs_offers_the_options():
    for command in (
        ["vote"],
        ["run", "hanoi"],
        ["run", "task"],
        ["calibrate", "hanoi"],
        ["calibrate", "task"],
        ["decompose"],
    ):
        r = cli(*command, "--help")
        assert "--metrics-port" in r.stdout and "--metrics-addr" in r.stdout and "--metrics-linger" in r.stdout
    r = cli("serve-mcp", "--help")
    assert "--metrics-port" in r.stdout and "--metrics-addr" in r.stdout


def test_a_workflows_progress_counts_its_voted_steps(tmp_path):
    metrics = maker_cli.MetricsListener()
    spec = maker_cli.example_path("order_total")
    result = maker_cli.run(spec, model="sim:p=0.9,seed=1", store=tmp_path / "s.sqlite", listeners=[metrics])
    m = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition())
        for s in family.samples
    }
    assert result.status == "solved" and value(m, "maker_samples_total") == result.samples
    assert value(m, "maker_steps_total") == result.voted_steps == value(m, "maker_steps_done")
    assert value(m, "maker_seconds_left_estimate") == 0
    (info,) = [dict(labels) for (name, labels), _ in m.items() if name == "maker_job_info"]
    assert info["kind"] == "workflow" and info["run_id"] == result.run_id


def test_a_resumed_workflows_progress_starts_from_its_stored_steps(tmp_path):
    """maker_steps_done of a resumed workflow counts the steps decided before it resumed (it started
    from 0 and never reached maker_steps_total)."""
    spec = tmp_path / "chain.yaml"
    nodes = "".join(
        f"  - id: n{i}\n    user: {'question ' * 20}{i}\n"
        '    answer: {regex: "Answer: *(?P<answer>\\\\S+)"}\n'
        f"    expected: '{i}'\n    sim_response: 'Answer: {{{{answer}}}}'\n"
        + (f"    depends_on: [n{i - 1}]\n" if i else "")
        for i in range(5)
    )
    spec.write_text(f"kind: workflow\nname: chain\nnodes:\n{nodes}compose: {{function: last_only}}\n", encoding="utf-8")
    store, prices = tmp_path / "s.sqlite", {"price_in": 1000.0, "price_out": 1000.0}
    first = maker_cli.run(spec, model="sim:p=0.99", store=store, max_cost=0.2, yes=True, **prices)
    assert first.status == "budget_exhausted" and 0 < first.steps_done < 5, first.message
    metrics = maker_cli.MetricsListener()
    done = maker_cli.run(resume=first.run_id, store=store, max_cost=100.0, listeners=[metrics])
    m = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition())
        for s in family.samples
    }
    assert done.status == "solved" and done.resumed
    assert value(m, "maker_steps_done") == value(m, "maker_steps_total") == done.voted_steps == 5


def test_maker_decompose_feeds_the_events_and_the_metrics(tmp_path):
    """`maker decompose` (and the MCP maker_decompose tool) spends samples: they reach the event log
    and the metrics like any other job's (they were in neither)."""
    log = tmp_path / "events.jsonl"
    r = cli("decompose", "Say hello", "--model", "sim:p=0.9,seed=1", "--dry-run", "--json", "--events", str(log),
            "--metrics-port", "0")  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    finished = [e for e in events if e["event"] == "sample_finished"]
    decided = [e for e in events if e["event"] == "step_decided"]
    assert len(finished) == out["samples"] > 0 and len(decided) == len(out["decisions"])
    assert {e["run_id"] for e in events} == {events[0]["run_id"]} and events[0]["run_id"].startswith("decompose-")
    assert out["metrics_url"].startswith("http://127.0.0.1:")
    metrics = maker_cli.MetricsListener()
    server = server_for(tmp_path, listeners=[metrics])
    (tool,) = calls(server, ("maker_decompose", {"task": "Say hello", "model": "sim:p=0.9,seed=1"}))
    tool = ok(tool)
    m = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition())
        for s in family.samples
    }
    assert value(m, "maker_samples_total") == tool["samples"] > 0
    (info,) = [dict(labels) for (name, labels), _ in m.items() if name == "maker_job_info"]
    assert info["kind"] == "decomposition"
