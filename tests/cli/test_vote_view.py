"""`maker vote` for people: the live tally on a terminal agrees with the result, retries and an
unknown price are said, and an undecided vote says which limit stopped it."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

import maker_cli.cli.vote as vote_command
from maker_cli.cli.app import app
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def terminal(monkeypatch) -> Console:
    """`maker vote` believes it is on a terminal and draws into this recording console."""
    console = Console(file=io.StringIO(), force_terminal=True, width=160, record=True, color_system=None)
    monkeypatch.setattr(vote_command, "is_terminal", lambda: True)
    monkeypatch.setattr(vote_command, "out_console", lambda: console)
    return console


def last_frame(console: Console, head: str) -> str:
    text = console.export_text()
    assert text.count(head) >= 2, text  # the first frame, then (at least) the final one
    return text[text.rindex(head) :]


def test_the_live_tally_ends_on_the_final_counts(terminal):
    model = "sim:p=0.51,errors=spread,answer=42,invalid=0.2,seed=5"  # many different wrong answers
    args = ["vote", "--prompt", "6*7?", "--model", model, "--k", "4", "--price-in", "1", "--price-out", "2"]
    shown = cli(*args)
    result = json.loads(cli(*args, "--json").stdout)  # the same seeded vote, as data
    assert shown.exit_code == 0 and result["decided"] and result["winner"] == "42"
    assert len(result["votes"]) > 8 and result["red_flagged"] > 0  # enough to fill the table and flag some

    frame = last_frame(terminal, f"voting · first answer ahead by 4 wins · {model}")
    rows = {m[1]: int(m[2]) for m in re.finditer(r"^(.+?)\s+│\s+(\d+) │", frame, re.M)}
    ranked = sorted(result["votes"].items(), key=lambda kv: -kv[1])
    assert rows == dict(ranked[:8])  # the eight leading answers with their votes
    assert f"… {len(ranked) - 8} more" in frame
    assert re.search(r"^42\s+│\s+6 │ █{12}\s*$", frame, re.M)  # the leader's bar is the full width
    flags = ", ".join(f"{r} {n}" for r, n in result["red_flag_reasons"].items())
    summary = (
        f"margin 4/4  ·  samples {result['samples']}  ·  rounds {result['rounds']}  ·  "
        f"red flags {result['red_flagged']} ({flags})  ·  errors 0  ·  retries 0  ·  "
        f"tokens {result['input_tokens']:,} in / {result['output_tokens']:,} out  ·  cost ${result['cost_usd']:.4f}"
    )
    assert summary in frame
    assert "decided (k=4): 42" in frame and f"cost ${result['cost_usd']:.6f} [simulated]" in frame


def test_retries_and_an_unknown_price_are_shown_live_and_at_the_end(terminal):
    with FakeOpenAIServer(responder=sim_responder("sim:p=1,answer=42")) as srv:
        srv.inject("429", retry_after=0)  # retried at once: the server asks for no wait
        r = cli("vote", "--prompt", "q", "--model", "openai/fake", "--api-base", srv.base_url, "--k", "2")
    assert r.exit_code == 0, r.output
    frame = last_frame(terminal, "voting · first answer ahead by 2 wins · openai/fake")
    assert "margin 2/2  ·  samples 2  ·" in frame and "retries 1  ·" in frame and "cost unknown" in frame
    assert "decided (k=2): 42" in frame
    assert "cost unknown (no price for this model; pass --price-in/--price-out)" in frame


@pytest.mark.parametrize(
    ("limit", "said"),
    [
        (["--max-samples", "6"], "undecided: no answer reached a lead of 5 within 6 samples (the cap); tallies above"),
        (["--max-red-flags", "2"], "undecided: too many samples were red-flagged; tallies above"),
        (["--max-cost", "0.000001"], "undecided: the --max-cost limit was reached; tallies above"),
    ],
)
def test_an_undecided_vote_says_which_limit_stopped_it(limit, said):
    model = "sim:p=0.51,invalid=0.5,answer=42,seed=1"
    r = cli("vote", "--prompt", "q", "--model", model, "--k", "5", "--price-in", "10", "--price-out", "10", *limit)
    assert r.exit_code == 3, r.output
    assert said in r.stdout
    assert re.search(r"^round 1: leader '.+' with margin \d+/5; \d+ samples, \d+ red-flagged$", r.stdout, re.M)


@pytest.mark.parametrize(
    ("method", "said"),
    [
        ("ahead-by-k", "leader '42' with margin 1/3"),
        ("first-to-k", "leader '42' with votes 2/3"),  # its rule counts the leader's votes, not a margin
        ("cisc", "leader '7' with weighted lead 1.25/3"),  # the engine's leader and lead, in weight
        ("borda", "leader '7' with lead 1.25/3 points"),
    ],
)
def test_each_method_shows_what_its_rule_measures(method, said):
    from maker_cli.cli.display.vote_view import LiveVoteView, summary_line
    from maker_cli.core.events import RoundFinished

    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    view = LiveVoteView(console, 3, model="m", live=False, method=method)
    leader = "7" if method in ("cisc", "borda") else "42"
    view(RoundFinished(step=0, round=1, tallies={"42": 2, "7": 1}, leader=leader, margin=1.25, k=3))
    line = console.export_text().strip()
    assert line == f"round 1: {said}; 0 samples, 0 red-flagged", line
    assert summary_line(view.stats).plain.startswith(said.split(" with ", 1)[1] + "  ·  ")  # and the live summary


def test_first_to_k_ends_on_k_votes_of_k():
    r = cli("vote", "--prompt", "q", "--model", "sim:p=0.8,answer=42,seed=1", "--method", "first-to-k", "--k", "3")
    assert r.exit_code == 0, r.output
    last_round = [line for line in r.stdout.splitlines() if line.startswith("round ")][-1]
    assert "with votes 3/3;" in last_round and "margin" not in r.stdout, r.stdout
