"""`--events FILE`: every engine event as one JSON line that adds up to the `--json` totals; the API's
listeners get the same events; `-v`/`--log-level` say retries and steps on stderr, never on stdout."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.core.events import CallFailed, SampleFinished, StepDecided
from maker_cli.jobs.event_log import EVENT_NAMES, EventLog, event_record
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMMON = ("v", "t", "event", "run_id", "node", "step")


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def read(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        assert list(record)[: len(COMMON)] == list(COMMON), record
        assert record["v"] == 1 and record["event"] in EVENT_NAMES and isinstance(record["t"], float)
    return records


def of(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r["event"] == kind]


def check_totals(records: list[dict], out: dict) -> None:
    """The lines add up to the --json totals (docs/events.md, "The log adds up to the result")."""
    samples = of(records, "sample_finished")
    flagged = [r for r in samples if r["red_flag"] is not None]
    assert len(samples) == out["samples"]
    assert len(flagged) == out["red_flagged"]
    assert dict(Counter(r["red_flag"] for r in flagged)) == out["red_flag_reasons"]
    assert sum(r["input_tokens"] for r in samples) == out["input_tokens"]
    assert sum(r["output_tokens"] for r in samples) == out["output_tokens"]
    assert sum(r["cost_usd"] for r in samples) == pytest.approx(out["cost_usd"])
    assert len(of(records, "round_finished")) == out["rounds"]
    retries = sum(r["retries"] for r in of(records, "retried") + of(records, "call_failed"))
    assert retries == out["retries"]


PRICED = ("--price-in", "3", "--price-out", "15")


def test_a_vote_writes_lines_that_add_up_to_its_json(tmp_path):
    log = tmp_path / "vote.jsonl"
    model = "sim:p=0.7,invalid=0.2,errors=spread,seed=5,answer=42"
    r = cli("vote", "--prompt", "q", "--model", model, "--k", "3", *PRICED, "--events", str(log), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    records = read(log)
    check_totals(records, out)
    assert out["red_flagged"] > 0 and out["cost_usd"] > 0 and out["rounds"] > 1
    assert len(of(records, "call_failed")) == out["errors"] == 0
    (decided,) = of(records, "step_decided")
    assert decided["decision"] == "decided" and decided["answer"] == out["winner"] and decided["votes"] == out["votes"]
    assert {r["run_id"] for r in records} == {decided["run_id"]} and decided["run_id"].startswith("vote-")
    assert all(r["node"] is None and r["step"] == 0 for r in records)
    assert [r["sample"] for r in of(records, "sample_finished")] == list(range(1, out["samples"] + 1))
    assert "text" not in records[1] and all("text" not in r for r in records)  # model text only when asked


def test_a_simulated_run_writes_lines_that_add_up_to_its_json(tmp_path):
    log = tmp_path / "run.jsonl"
    store = ["--store", str(tmp_path / "s.sqlite")]
    model = "sim:p=0.9,invalid=0.1,seed=5"
    r = cli(
        "run", "hanoi", "--disks", "5", "--model", model, "--k", "2", *PRICED, *store, "--events", str(log), "--json"
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    records = read(log)
    check_totals(records, out)
    decided = of(records, "step_decided")
    assert len(decided) == out["steps_done"] == 31 and all(d["decision"] == "decided" for d in decided)
    assert [d["step"] for d in decided] == list(range(31))
    assert {rec["run_id"] for rec in records} == {out["run_id"]}
    assert out["red_flagged"] > 0 and out["cost_usd"] > 0


def test_a_speculating_run_says_which_votes_it_discarded(tmp_path):
    log = tmp_path / "run.jsonl"
    store = ["--store", str(tmp_path / "s.sqlite")]
    model = "sim:p=0.85,seed=2,latency_ms=2"
    args = ("--disks", "5", "--model", model, "--k", "3", "--speculate", "3", "--keep-going", *PRICED)
    r = cli("run", "hanoi", *args, *store, "--events", str(log), "--json")
    assert r.exit_code in (0, 1), r.output  # solved, or failed at a wrong step and kept going
    out = json.loads(r.stdout)
    records = read(log)
    discarded = of(records, "branch_discarded")
    assert discarded and sum(d["samples"] for d in discarded) == out["speculative_waste"]["samples"]
    decided = [d for d in of(records, "step_decided") if d["decision"] == "decided"]
    assert len(decided) - sum(d["decided"] is True for d in discarded) == out["steps_done"]
    samples = of(records, "sample_finished")
    assert len(samples) == out["samples"]
    assert sum(s["cost_usd"] for s in samples) == pytest.approx(out["cost_usd"])


def test_a_workflows_lines_name_their_node_and_run(tmp_path):
    log = tmp_path / "flow.jsonl"
    spec = str(EXAMPLES / "workflows" / "order_total.yaml")
    r = cli(
        "run",
        "task",
        spec,
        "--model",
        "sim:p=0.9",
        "--store",
        str(tmp_path / "s.sqlite"),
        "--events",
        str(log),
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    records = read(log)
    assert len(of(records, "sample_finished")) == out["samples"]
    nodes = {n["id"]: n for n in out["nodes"]}
    for node_id, node in nodes.items():
        mine = [rec for rec in of(records, "sample_finished") if rec["node"] == node_id]
        assert len(mine) == node["samples"], node_id
        runs = {rec["run_id"] for rec in mine}
        assert runs == {node["child_run"] or out["run_id"]}, node_id  # a sequence node's steps are its own run's
    assert {rec["node"] for rec in records} <= set(nodes) | {"compose"}


def test_calibrate_writes_each_sample_with_its_verdict(tmp_path):
    log = tmp_path / "cal.jsonl"
    args = ("--model", "sim:p=0.8,invalid=0.1,seed=2", "--disks", "4", "--samples", "60", *PRICED)
    r = cli("calibrate", "hanoi", *args, "--events", str(log), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    records = read(log)
    samples = of(records, "sample_finished")
    assert len(samples) == out["samples"] == 60 and len(of(records, "sample_started")) == 60
    assert sum(s["correct"] is True for s in samples) == out["correct"]
    assert sum(s["red_flag"] is not None for s in samples) == out["red_flagged"] > 0
    assert all(s["correct"] is None for s in samples if s["red_flag"] is not None)
    assert sum(s["cost_usd"] for s in samples) == pytest.approx(out["cost_usd"])
    assert {s["run_id"] for s in records} == {records[0]["run_id"]} and records[0]["run_id"].startswith("calibration-")


def test_calibrate_comparing_prompts_names_each_prompt(tmp_path):
    log = tmp_path / "cmp.jsonl"
    prompts = ["--prompt", "default", "--prompt", str(EXAMPLES / "prompts" / "hanoi_terse.yaml")]
    if not Path(prompts[-1]).is_file():
        pytest.skip("no example prompt file")
    r = cli(
        "calibrate",
        "hanoi",
        "--model",
        "sim:p=0.9",
        "--disks",
        "3",
        "--samples",
        "20",
        *prompts,
        "--events",
        str(log),
        "--json",
    )
    assert r.exit_code == 0, r.output
    records = read(log)
    assert len({rec["run_id"] for rec in records}) == 1
    assert Counter(rec["node"] for rec in of(records, "sample_finished")) == {"built-in": 20, "terse": 20}


def test_the_log_is_appended_to_and_the_text_comes_only_when_asked(tmp_path):
    log = tmp_path / "votes.jsonl"
    for extra in ((), ("--events-text",)):
        r = cli("vote", "--prompt", "q", "--model", "sim:p=1,answer=42", "--k", "1", "--events", str(log), *extra)
        assert r.exit_code == 0, r.output
    records = read(log)
    first, second = (of(records, "sample_finished")[i] for i in (0, 1))
    assert first["run_id"] != second["run_id"]
    assert "text" not in first and second["text"] == "42" and second["text_truncated"] is False


def test_events_on_stdout_leave_stdout_to_them(tmp_path):
    r = cli("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42", "--k", "2", "--events", "-")
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in r.stdout.splitlines()]  # nothing else on stdout
    assert of(records, "step_decided")[0]["answer"] == "42"
    assert "42" in r.stderr  # the tally and the result went to stderr


def test_events_on_stdout_are_refused_with_json():
    r = cli("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42", "--events", "-", "--json")
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "--json keeps" in r.stderr


@pytest.mark.parametrize(
    "command", [["vote", "--prompt", "q"], ["run", "hanoi", "--disks", "2"], ["calibrate", "hanoi", "--samples", "2"]]
)
def test_a_log_that_cannot_be_opened_is_one_line_and_exit_2(tmp_path, command):
    r = cli(*command, "--model", "sim:p=0.9", "--events", str(tmp_path / "no" / "such" / "dir.jsonl"), "--json")
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: --events")
    r = cli(*command, "--model", "sim:p=0.9", "--events", str(tmp_path), "--json")  # a folder
    assert r.exit_code == 2 and r.stderr.startswith("error: --events"), r.output
    r = cli(*command, "--model", "sim:p=0.9", "--events-text")
    assert r.exit_code == 2 and "--events-text goes with --events" in r.stderr


def test_the_api_listener_gets_the_events_the_log_holds(tmp_path):
    seen, log = [], io.StringIO()
    result = maker_cli.vote(
        "q", model="sim:p=0.8,invalid=0.2,seed=3,answer=7", k=3, listeners=[seen.append], events=log
    )
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [event_record(e)["event"] for e in seen]
    assert sum(isinstance(e, SampleFinished) for e in seen) == result.samples
    path = tmp_path / "run.jsonl"
    seen.clear()
    run = maker_cli.run(
        maker_cli.Hanoi(disks=3),
        model="sim:p=0.95,seed=1",
        k=2,
        store=tmp_path / "s.sqlite",
        listeners=[seen.append],
        events=path,
    )
    lines = read(path)
    assert [line["event"] for line in lines] == [event_record(e)["event"] for e in seen]
    assert sum(isinstance(e, StepDecided) for e in seen) == run.steps_done == 7
    assert {line["run_id"] for line in lines} == {run.run_id}
    seen.clear()
    cal = maker_cli.calibrate("hanoi", disks=3, model="sim:p=0.9", samples=10, listeners=[seen.append])
    assert sum(isinstance(e, SampleFinished) for e in seen) == cal.samples == 10


def test_messages_are_one_redacted_line():
    record = event_record(CallFailed(3, "HTTP 401: bad key sk-abcdefghijklmnop\nsecond line", 2))
    assert record["message"] == "HTTP 401: bad key [redacted] second line" and record["retries"] == 2


def test_an_answer_that_echoes_a_key_is_redacted_in_every_field(tmp_path, monkeypatch):
    """The sample's text was redacted but the same value stood in clear in `answer` and `votes`."""
    monkeypatch.setenv("MY_API_KEY", "supersecretvalue123")
    path = tmp_path / "e.jsonl"
    r = cli("vote", "--prompt", "q", "--model", "sim:p=1,answer=supersecretvalue123", "--k", "2",
            "--events", str(path), "--events-text")  # fmt: skip
    assert r.exit_code == 0, r.output
    text = path.read_text(encoding="utf-8")
    assert "supersecretvalue123" not in text and text.count("[redacted]") >= 4


def test_each_line_is_in_the_file_as_its_event_happens(tmp_path):
    """What `tail -f` needs: when a listener after the log hears an event, its line is on disk."""
    path = tmp_path / "e.jsonl"
    on_disk: list[int] = []
    with path.open("a", encoding="utf-8") as stream:
        log = EventLog(stream)
        maker_cli.vote(
            "q",
            model="sim:p=0.9,answer=42,latency_ms=1",
            k=2,
            listeners=[log, lambda e: on_disk.append(len(read(path)))],
        )
    assert on_disk == list(range(1, len(on_disk) + 1)) and len(on_disk) >= 4


def test_a_log_that_cannot_be_written_stops_but_the_job_goes_on(caplog):
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    caplog.set_level("WARNING", logger="maker")
    result = maker_cli.vote("q", model="sim:p=0.9,answer=42", k=2, events=Full())
    assert result.decided
    (said,) = [rec.getMessage() for rec in caplog.records if rec.name == "maker"]
    assert "cannot write (No space left on device): no more events are written" in said


# --------------------------------------------------------------------------- logging


def test_verbose_shows_retries_and_steps_on_stderr_only(monkeypatch):
    monkeypatch.setenv("MAKER_MAX_ATTEMPTS", "2")
    with FakeOpenAIServer(responder=sim_responder("sim:p=1,answer=42")) as srv:
        srv.inject("429", times=3, retry_after=0)  # one call retried and failed, the next retried and answered
        args = ("vote", "--prompt", "q", "--model", "openai/fake", "--api-base", srv.base_url, "--k", "1", "--json")
        r = cli("-v", *args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # stdout stays one JSON object
    lines = r.stderr.splitlines()
    assert sum(line.startswith("warning: retrying a call") for line in lines) == 2, r.stderr
    assert any(line.startswith("warning: step 0: a call failed after 1 retries") for line in lines), r.stderr
    assert any(line.startswith("info: step 0 decided: '42'") for line in lines), r.stderr
    assert out["retries"] == 2 and out["errors"] == 1


def test_log_levels(monkeypatch):
    vote = ("vote", "--prompt", "q", "--model", "sim:p=0.9,answer=42", "--k", "2", "--json")
    quiet = cli(*vote)
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
    debug = cli("-v", "-v", *vote)
    assert "debug: step 0 sample 1: '42" in debug.stderr and json.loads(debug.stdout)["decided"]
    assert "debug: step 0" in cli("--log-level", "DEBUG", *vote).stderr and "debug: step 0" in cli("-vv", *vote).stderr
    monkeypatch.setenv("MAKER_LOG_LEVEL", "info")
    assert "info: step 0 decided" in cli(*vote).stderr
    assert "debug:" in cli("-vv", *vote).stderr  # a flag beats the variable
    bad = cli("--log-level", "loud", *vote)
    assert bad.exit_code == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1, bad.output


def test_warnings_go_through_the_log_level():
    args = ("estimate", "--steps", "1000", "--p", "0.6", "--k", "1", "--json")  # k below k_min: a warning
    shown = cli(*args)
    hidden = cli("--log-level", "error", *args)
    assert shown.stderr.startswith("warning: k = 1 is below k_min") and hidden.stderr == "", shown.stderr
    assert json.loads(shown.stdout) == json.loads(hidden.stdout)
