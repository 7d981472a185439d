"""The figures of `maker runs report` against the store they are read from: every count equals the
stored steps', the exact distributions sum to 1, the tables are the store's own top steps, a long
run gives figures of a bounded size, and keys and model text never reach a page unredacted or
unescaped."""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from pathlib import Path

import plotly
import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.core.confidence import margin_votes
from maker_cli.report import figures
from maker_cli.report.figures import build_report
from maker_cli.report.html_page import render_html
from maker_cli.report.markdown import cell, render_markdown
from maker_cli.store.run_store import RunStore, StepRow

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def hanoi_run(store: Path, *args: str) -> dict:
    r = CliRunner().invoke(app, ["run", "hanoi", "--store", str(store), "--json", *args])
    assert r.stdout.lstrip().startswith("{"), r.output
    return json.loads(r.stdout)


def report_of(store: Path, run_id: str):
    with RunStore(store, readonly=True) as s:
        return build_report(s, run_id), list(s.iter_steps(run_id))


def synthetic(store: Path, n: int, *, seed: int = 0, config: dict | None = None, kind: str = "sequence", **run) -> str:
    """A run of n made-up steps (votes of a race at k = 3, a few red flags, latencies, costs)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lose = 0
        while rng.random() < 0.15:
            lose += 1
        win = 3 + lose
        flagged = 1 if rng.random() < 0.05 else 0
        tallies = {f"answer {i}": win, **({f"wrong {i}": lose} if lose else {})}
        rows.append(
            StepRow(
                idx=i,
                input_state=f"state {i}",
                winner_key=f"answer {i}",
                tallies=tallies,
                samples=win + lose + flagged,
                valid=win + lose,
                red_flagged=flagged,
                red_flag_reasons={"format": flagged} if flagged else {},
                rounds=1 + lose,
                cost_usd=0.001 * (win + lose),
                latency_s=rng.lognormvariate(-3, 0.5),
                correct=True,
            )
        )
    config = config if config is not None else {"job": {"k": 3, "p": 0.85, "method": "ahead-by-k"}}
    with RunStore(store) as s:
        run_id = s.create_run(kind, "synthetic", "sim:p=0.85", config, n)
        for at in range(0, n, 5000):
            s.write_batch(run_id, rows[at : at + 5000])
        s.update_run(run_id, {"status": "solved", "samples": sum(r.samples for r in rows), **run})
    return run_id


# --------------------------------------------------------------------------- the figures equal the store


@pytest.fixture(scope="module")
def contested(tmp_path_factory) -> tuple[Path, str]:
    """A 6-disk run with contested steps, red flags, every raw sample kept and a p (confidences)."""
    store = tmp_path_factory.mktemp("contested") / "s.sqlite"
    out = hanoi_run(store, "--disks", "6", "--model", "sim:p=0.8,invalid=0.1,seed=3", "--k", "3",
                    "--log-samples", "all", "--price-in", "1", "--price-out", "2")  # fmt: skip
    assert out["status"] == "solved" and out["red_flagged"] > 0
    return store, out["run_id"]


def test_votes_per_step_are_the_stored_steps_votes(contested):
    report, steps = report_of(*contested)
    v = report.votes
    assert v is not None and v.k == 3 and v.method == "ahead-by-k" and v.p_config == 0.8 and v.bin_width == 1
    stored = Counter(st.valid for st in steps if st.decided)
    assert {n: c for n, c in zip(v.votes, v.steps, strict=True) if c} == dict(stored)
    assert v.decided == len(steps) == report.steps_stored == report.run.steps_done == 63
    winners = sum(margin_votes(st.tallies, st.winner_key)[0] for st in steps)
    assert v.p_hat == pytest.approx(winners / sum(st.valid for st in steps))
    assert v.mean_votes == pytest.approx(sum(st.valid for st in steps) / len(steps))
    for bars, beyond in ((v.exact_p_hat, v.beyond_p_hat), (v.exact_p_config, v.beyond_p_config)):
        assert bars is not None and math.fsum(bars) + beyond == pytest.approx(1.0, abs=1e-12)
        assert all(b == 0.0 for n, b in zip(v.votes, bars, strict=True) if (n - 3) % 2)  # ahead-by-k: k + even
    assert v.expected_mean_p_hat == pytest.approx(3 / (2 * v.p_hat - 1), rel=0.15)  # about k / (2p - 1)


def test_progress_red_flags_and_latency_add_up_to_the_store(contested):
    report, steps = report_of(*contested)
    p = report.progress
    assert p is not None and p.stride == 1 and p.steps == list(range(64))
    assert p.time_s[-1] == pytest.approx(sum(st.latency_s for st in steps))
    assert p.samples[-1] == sum(st.samples for st in steps) == report.run.samples
    assert p.cost_usd is not None and p.cost_usd[-1] == pytest.approx(report.run.cost_usd)
    assert p.time_s == sorted(p.time_s) and p.wall_s == report.run.wall_s
    r = report.red_flags
    assert r is not None and r.all_samples == sum(r.samples) == report.run.samples
    stored = Counter()
    for st in steps:
        stored.update(st.red_flag_reasons)
    assert r.totals == dict(stored) and r.red_flagged == report.run.red_flagged
    assert all(sum(counts) == stored[reason] for reason, counts in r.reasons.items())
    assert len(r.first_step) == math.ceil(63 / r.bin_size) <= figures.MAX_BINS
    lat = report.latency
    assert lat is not None and lat.source == "call" and "--log-samples all" in lat.why
    assert lat.count == report.run.samples == sum(lat.counts) + lat.above  # one latency per stored call
    assert lat.p50 <= lat.p90 <= lat.p99 <= lat.max and len(lat.edges) == figures.LATENCY_BINS + 1


def test_the_tables_are_the_stores_slowest_and_least_decided_steps(contested):
    store, run_id = contested
    report, steps = report_of(store, run_id)
    slowest = sorted(steps, key=lambda st: (-st.latency_s, st.idx))[: figures.TOP]
    assert [line.idx for line in report.slowest] == [st.idx for st in slowest]
    with RunStore(store, readonly=True) as s:
        weakest = s.least_confident(run_id, figures.TOP)
    # confidence order (the run had a p) is the margin order the report uses
    assert [line.idx for line in report.least_decided] == [st.idx for st in weakest]
    first = report.least_decided[0]
    assert first.confidence == weakest[0].confidence and first.winner == weakest[0].winner_key.split("|")[0]
    assert report.wrong == [] and report.wrong_total == 0 and report.stopped is None


def test_a_run_stored_only_for_contested_steps_has_a_per_step_latency(tmp_path):
    out = hanoi_run(tmp_path / "s.sqlite", "--disks", "4", "--model", "sim:p=0.85,seed=2", "--k", "3")
    assert out["status"] == "solved"
    report, steps = report_of(tmp_path / "s.sqlite", out["run_id"])
    lat = report.latency
    assert lat is not None and lat.source == "step" and lat.count == len(steps) == 15
    assert "--log-samples contested" in lat.why and "of 15 steps only" in lat.why
    none = hanoi_run(tmp_path / "s.sqlite", "--disks", "3", "--model", "sim:p=0.8,seed=2", "--log-samples", "none")
    assert "no raw samples are stored" in report_of(tmp_path / "s.sqlite", none["run_id"])[0].latency.why


def test_wrong_and_undecided_steps(tmp_path):
    store = tmp_path / "s.sqlite"
    failed = hanoi_run(store, "--disks", "6", "--model", "sim:p=0.7,seed=3", "--k", "1", "--keep-going")
    report, steps = report_of(store, failed["run_id"])
    assert report.wrong_total == failed["errors"] == sum(st.correct is False for st in steps) > 0
    assert [line.idx for line in report.wrong] == [st.idx for st in steps if st.correct is False][: figures.MAX_LISTED]
    assert all(line.correct is False for line in report.wrong) and report.stopped is None
    stuck = hanoi_run(store, "--disks", "4", "--model", "sim:p=0.55,invalid=0.3,seed=1", "--k", "4",
                      "--max-samples", "6")  # fmt: skip
    assert stuck["status"] == "undecided"
    report, steps = report_of(store, stuck["run_id"])
    s = report.stopped
    assert s is not None and s.idx == len(steps) == stuck["steps_done"] and s.status == "undecided"
    assert s.message and "undecided" in s.message and s.samples_stored > 0 and s.red_flags
    assert sum(n for _, n in s.tallies) + sum(s.red_flags.values()) == s.samples_stored
    for text in (render_markdown(report), render_html(report)):
        assert f"stopped at step {s.idx}" in text and "red flags" in text


def test_first_to_k_runs_are_drawn_against_first_to_k(tmp_path):
    out = hanoi_run(tmp_path / "s.sqlite", "--disks", "5", "--model", "sim:p=0.8,seed=1", "--k", "3",
                    "--method", "first-to-k")  # fmt: skip
    v = report_of(tmp_path / "s.sqlite", out["run_id"])[0].votes
    assert v is not None and v.method == "first-to-k"
    assert all(3 <= n <= 5 for n, c in zip(v.votes, v.steps, strict=True) if c)
    assert math.fsum(v.exact_p_hat) == pytest.approx(1.0) and v.beyond_p_hat == pytest.approx(0.0, abs=1e-15)
    report = report_of(tmp_path / "s.sqlite", out["run_id"])[0]
    assert "0 of the stored steps' " in render_markdown(report) and 'id="fig-red-flags"' not in render_html(report)


def test_extra_votes_in_a_round_are_noted(tmp_path):
    out = hanoi_run(tmp_path / "s.sqlite", "--disks", "3", "--model", "sim:p=0.9,seed=1", "--k", "2", "--eager", "1")
    report = report_of(tmp_path / "s.sqlite", out["run_id"])[0]
    assert any("--eager or --speculate" in note for note in report.notes)


def test_a_run_without_k_or_p_or_steps(tmp_path):
    store = tmp_path / "s.sqlite"
    run_id = synthetic(store, 50, config={})
    v = build_report(RunStore(store, readonly=True), run_id).votes
    assert v is not None and v.k is None and v.p_config is None and v.exact_p_hat is None and v.p_hat is not None
    assert "no exact distribution" in render_html(build_report(RunStore(store, readonly=True), run_id))
    with RunStore(store) as s:
        empty = s.create_run("hanoi", "hanoi-3", "sim", {"job": {"k": 2}}, 7)
        s.set_status(empty, "error", "step 0: the provider failed")
        report = build_report(s, empty)
    assert report.votes is None and report.progress is None and report.latency is None and report.red_flags is None
    assert report.stopped is not None and report.stopped.idx == 0 and report.stopped.samples_stored == 0
    page = render_html(report)
    assert "stopped at step 0: step 0: the provider failed" in page and "Plotly.newPlot" not in page
    assert "stopped at step 0" in render_markdown(report)


# --------------------------------------------------------------------------- a long run


def test_a_20000_step_run_gives_a_page_of_bounded_size(tmp_path):
    store = tmp_path / "s.sqlite"
    run_id = synthetic(store, 20_000)
    started = time.perf_counter()
    with RunStore(store, readonly=True) as s:
        report = build_report(s, run_id)
    page = render_html(report)
    took = time.perf_counter() - started
    data = json.dumps(report.to_dict())
    print(f"20,000 steps: {len(page.encode()):,} bytes of HTML ({len(data):,} of figures) in {took:.2f} s")
    assert report.votes.decided == 20_000 and report.progress.steps[-1] == 20_000
    assert len(report.progress.time_s) <= figures.MAX_POINTS + 1 and report.progress.stride == 20
    assert len(report.red_flags.samples) <= figures.MAX_BINS and report.red_flags.bin_size == 334
    assert len(report.votes.votes) <= figures.MAX_VOTE_BARS
    assert len(data) < 150_000
    assert len(page.encode()) < PLOTLY_JS.stat().st_size + 400_000  # plotly.js and a bounded rest
    assert page.count("Plotly.newPlot(") == 4 and page.count("plotly.js v") == 1  # plotly.js once
    assert any("per bin of 334 steps" in note for note in report.notes)


def test_a_run_that_grows_while_it_is_read_ends_at_its_last_step(tmp_path, monkeypatch):
    store = tmp_path / "s.sqlite"
    run_id = synthetic(store, 2500)
    monkeypatch.setattr(RunStore, "count_steps", lambda self, run_id: 2000)  # counted before 500 more landed
    with RunStore(store, readonly=True) as s:
        report = build_report(s, run_id)
    assert report.progress.steps[-1] == 2500 and sum(report.red_flags.samples) == report.run.samples


def test_very_many_votes_are_drawn_in_wider_bars(tmp_path):
    store = tmp_path / "s.sqlite"
    run_id = synthetic(store, 10)
    with RunStore(store) as s:
        s.write_batch(run_id, [StepRow(10, "x", "a", tallies={"a": 1003, "b": 1000}, samples=2003, valid=2003)])
        v = build_report(s, run_id).votes
    assert v.bin_width > 1 and len(v.votes) <= figures.MAX_VOTE_BARS and sum(v.steps) == 11
    assert v.votes[-1] <= 2003 < v.votes[-1] + v.bin_width


# --------------------------------------------------------------------------- secrets and model text


HOSTILE = "<script>alert('x')</script>"
IMG = "<img src=x onerror=alert(1)>"


def test_keys_are_redacted_and_model_text_escaped(tmp_path):
    store = tmp_path / "s.sqlite"
    key = "sk-live-abcdefghijklmnop123456"
    run_id = synthetic(store, 5, config={"job": {"k": 3, "api_base": f"https://user:{key}@example.com"}})
    with RunStore(store) as s:
        s.write_batch(run_id, [StepRow(5, HOSTILE, HOSTILE, tallies={HOSTILE: 3, "| *x* |": 1}, samples=5, valid=4,
                                       red_flagged=1, red_flag_reasons={IMG: 1}, latency_s=9.0, correct=False)])  # fmt: skip
        s.update_run(run_id, {"status": "failed", "message": f"bad key {key}", "wrong_steps": 1})
        report = build_report(s, run_id)
    page, md = render_html(report), render_markdown(report)
    for text in (page, md):
        assert key not in text and "[redacted]" in text
        assert HOSTILE not in text and IMG not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # shown, as text
    assert "\\| \\*x\\* \\|" in md and cell("a\nb|c") == "a b\\|c"
    assert report.wrong_total == 1 and report.slowest[0].idx == 5


def test_markdown_cells_carry_no_terminal_sequences_and_make_no_links():
    """The Markdown page is also printed to a terminal (`runs report --format md`): an answer's ESC
    and BEL bytes set the window title and cleared the screen; a bare URL became a link on GitHub."""
    hostile = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\x1b[0m http://evil.example/a www.evil.example x@evil.example"
    out = cell(hostile)
    assert not any(ord(c) < 32 or ord(c) == 127 for c in out) and "PWNED" not in out
    assert "http\\://evil.example/a" in out and "www\\.evil.example" in out and "x\\@evil.example" in out
    assert cell("3.14 and yes: ok") == "3.14 and yes: ok"


# --------------------------------------------------------------------------- workflows


def test_a_workflow_report_is_one_line_per_node(tmp_path):
    root = Path(__file__).resolve().parents[3]
    (tmp_path / "wf.yaml").write_text((root / "examples" / "workflows" / "order_total.yaml").read_text())
    r = CliRunner().invoke(app, ["run", "task", str(tmp_path / "wf.yaml"), "--model", "sim:p=0.9,seed=1",
                                 "--store", str(tmp_path / "s.sqlite"), "--json"])  # fmt: skip
    out = json.loads(r.stdout)
    report, steps = report_of(tmp_path / "s.sqlite", out["run_id"])
    assert report.votes is None and report.nodes is not None
    assert [n.id for n in report.nodes] == [st.input_state for st in steps] and len(steps) == 3
    assert sum(n.samples for n in report.nodes) == out["samples"]
    assert "Nodes" in render_markdown(report) and 'id="fig-nodes"' in render_html(report)


def test_a_workflow_node_whose_own_run_did_not_finish(tmp_path):
    store = tmp_path / "s.sqlite"
    child = synthetic(store, 4, status="interrupted")
    with RunStore(store) as s:
        flow = s.create_run("workflow", "wf", "sim", {"job": {"k": 2}}, 2)
        s.write_batch(flow, [StepRow(0, "first", "987", tallies={"987": 2}, samples=2, valid=2)],
                      run_update={"last_state": {"children": {"plus": child}}})  # fmt: skip
        report = build_report(s, flow)
    assert [(n.id, n.status, n.child_run) for n in report.nodes] == [
        ("first", "decided", None),
        ("plus", "interrupted", child),
    ]
    assert report.nodes[1].samples > 0 and "| plus | interrupted |" in render_markdown(report)
    with RunStore(store) as s:
        empty = build_report(s, s.create_run("workflow", "wf", "sim", {}, 2))
    assert empty.nodes == [] and "Plotly.newPlot" not in render_html(empty)
