"""The run dashboard: live on a terminal (its last frame is the run's final tally), plain progress
lines elsewhere, and never a crash when the counters change while a frame renders."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import re

from rich.console import Console
from typer.testing import CliRunner

import maker_cli.cli.run as run_command
from maker_cli.cli.app import app
from maker_cli.cli.display.run_view import RunView
from maker_cli.core.engine import Engine, VoteConfig
from maker_cli.jobs.run_state import RunPoint, RunTotals
from maker_cli.jobs.runner import Runner, RunOptions
from maker_cli.providers.sim import SimProvider
from maker_cli.tasks import Hanoi

MODEL = "sim:p=0.8,seed=2,invalid=0.1"  # with k=2 this run red-flags samples and fails at a wrong step


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=110, record=True, color_system=None)


class NullStore:
    def write_batch(self, *args, **kwargs):
        return 0


def drive(view: RunView, *, disks: int, model: str, k: int) -> RunTotals:
    """Run Hanoi in-process on the simulated model with `view` listening, as `maker run` wires it."""
    task = Hanoi(disks=disks)

    async def go() -> RunTotals:
        engine = Engine(SimProvider(model), listeners=[view.on_event])
        runner = Runner(task, engine, VoteConfig(k=k), NullStore(), "r-test", RunOptions(), on_step=view.on_step)
        state, previous = task.start()
        with view:
            outcome = await runner.run(RunPoint(0, state, previous), RunTotals())
        return outcome.totals

    return asyncio.run(go())


def test_a_terminal_gets_a_live_dashboard_whose_last_frame_is_the_final_tally(tmp_path, monkeypatch):
    console = terminal()
    monkeypatch.setattr(run_command, "is_terminal", lambda: True)
    monkeypatch.setattr(run_command, "out_console", lambda: console)
    args = ["run", "hanoi", "--disks", "4", "--k", "2", "--model", MODEL]
    live = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "a.sqlite")])
    monkeypatch.setattr(run_command, "is_terminal", lambda: False)
    plain = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "b.sqlite"), "--json"])
    result = json.loads(plain.stdout)
    assert live.exit_code == plain.exit_code == 1 and result["status"] == "failed"
    assert result["red_flagged"] > 0  # the frame below has red flags to show

    text = console.export_text()
    title = f"hanoi-4 · {MODEL} · k=2"
    assert text.count(title) >= 2  # a first frame, then at least the final one
    last = text[text.rindex(title) : text.index("failed:")]
    done, total = result["steps_done"], result["steps_total"]
    assert re.search(rf"steps .*\b{done}/{total}\b", last), last
    assert re.search(rf"samples\s+{result['samples']}\s", last)
    share = result["red_flagged"] / result["samples"]
    assert re.search(rf"red flags\s+{share:.2%} \(format {result['red_flagged']}\)", last), last
    assert re.search(rf"votes/step\s+{result['valid'] / done:.3f} \(max \d+\)", last)
    assert re.search(r"wrong steps\s+1\b", last) and "of ~$0.0000 expected" in last
    # the race of the last step decided: its round, its margin against k, its leading answers
    failed = result["failed_step"]
    assert re.search(rf"step {failed['step']} round \d+: margin 2/2 ", last), last
    for key, votes in failed["tallies"].items():
        assert f"{key} ×{votes}" in last


def test_without_a_terminal_progress_is_one_plain_line_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(run_command, "RunView", functools.partial(RunView, plain_every_s=0.0))  # a line per step
    r = CliRunner().invoke(
        app, ["run", "hanoi", "--disks", "3", "--k", "1", "--model", "sim:p=1", "--store", str(tmp_path / "s.sqlite")]
    )
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stdout.splitlines() if line.startswith("hanoi-3 · sim:p=1 · k=1: step ")]
    assert len(lines) == 7 and "\x1b" not in r.stdout  # no live display, no escape codes in a pipe
    assert lines[0].startswith("hanoi-3 · sim:p=1 · k=1: step 1/7 (14.3%), ")
    assert re.fullmatch(
        r"hanoi-3 · sim:p=1 · k=1: step 7/7 \(100\.0%\), [\d,]+ steps/s, votes/step 1\.000 \(max 1\), "
        r"red-flagged 0, errors 0, retries 0, wrong 0, cost \$0\.0000",
        lines[-1],
    ), lines[-1]


def test_a_job_without_a_known_length_shows_no_total():
    out = io.StringIO()
    view = RunView(
        Console(file=out, width=200),
        title="job",
        steps_total=None,
        start_step=0,
        k=1,
        expected_cost=None,
        live=False,
        plain_every_s=0.0,
    )
    totals = drive(view, disks=2, model="sim:p=1", k=1)
    lines = out.getvalue().splitlines()
    assert totals.steps_done == 3 and len(lines) == 3
    assert lines[-1].startswith("job: step 3, ") and "%" not in lines[-1]


def test_a_frame_that_keeps_failing_while_counters_change_falls_back_to_the_plain_line():
    """The runner mutates the totals on the main thread while rich renders on its own; a render that
    raises RuntimeError (a dict changed size) is retried, and after three tries shows the plain line."""
    console = terminal()
    view = RunView(console, title="job", steps_total=10, start_step=0, k=1, expected_cost=1.5, live=False)
    calls = []

    def changing() -> None:
        calls.append(1)
        raise RuntimeError("dictionary changed size during iteration")

    view._render = changing
    console.print(view)
    assert len(calls) == 3 and console.export_text().strip() == "job: starting"
