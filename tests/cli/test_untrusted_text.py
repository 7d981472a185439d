"""Text from a model, a spec or a stored run is shown as text: never rich markup, never terminal
control sequences, never a crash after a vote was decided."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.cli.output import printable
from maker_cli.store.rows import SampleRow, StepRow
from maker_cli.store.run_store import RunStore

NASTY = [
    "[/x]",  # closes a tag that is not open: a MarkupError when rendered as markup
    "[link=https://evil.example]click[/link]",
    "[bold red]alarm[/bold red]",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x07link\x1b]8;;\x07",
    "\x1b[2J\x1b[H",  # clear the screen, cursor home
]


@pytest.mark.parametrize("answer", NASTY)
def test_a_decided_answer_is_printed_literally(answer):
    """The regression: a reply containing `[/x]` crashed `maker vote` after it decided (exit 1)."""
    r = CliRunner().invoke(app, ["vote", "--prompt", "q", "--model", f"sim:p=1,answer={answer}"])
    assert r.exit_code == 0, r.output
    assert "decided" in r.stdout and printable(answer) in r.stdout
    assert "\x1b" not in r.stdout and "Traceback" not in r.output
    json_out = CliRunner().invoke(app, ["vote", "--prompt", "q", "--model", f"sim:p=1,answer={answer}", "--json"])
    assert json.loads(json_out.stdout)["winner"] == " ".join(answer.split())  # JSON carries the data as it is


def test_stored_samples_names_and_messages_are_shown_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    store = tmp_path / "s.sqlite"
    nasty = "".join(NASTY)
    with RunStore(store) as s:
        run_id = s.create_run("hanoi", f"name{NASTY[0]}", f"model{NASTY[3]}", {}, 1)
        s.write_batch(
            run_id,
            [StepRow(idx=0, input_state=None, winner_key=nasty, tallies={nasty: 2, "b": 1}, samples=3, valid=3)],
            [SampleRow(idx=0, seq=1, temperature=0.1, text=nasty, answer_key=nasty, red_flag=None)],
            {"status": "undecided", "message": f"why: {nasty}"},
        )
    for args in (["runs", "list"], ["runs", "show", run_id, "--steps", "1", "--step", "0"]):
        r = CliRunner().invoke(app, [*args, "--store", str(store)])
        assert r.exit_code == 0, r.output
        assert "\x1b" not in r.stdout and "[/x]" in r.stdout


def test_printable_keeps_newlines_and_tabs_and_drops_the_rest():
    assert printable("a\tb\nc\rd\x07e\x1b[1mf\x1b]0;title\x07g") == "a\tb\ncdefg"


def test_a_reply_with_a_lone_surrogate_is_voted_and_stored_not_a_crash(tmp_path):
    """A JSON reply may carry "\\ud800", which no UTF-8 store, file or terminal takes: it crashed a run
    at its store write (internal error, exit 1) and a vote before it printed its answer."""
    from maker_cli.testing import FakeOpenAIServer
    from maker_cli.testing.fake_server import fixed_responder

    spec = tmp_path / "q.yaml"
    spec.write_text("name: q\nuser: say it\nanswer: {regex: '(?s)(?P<answer>.+)'}\n", encoding="utf-8")
    store = tmp_path / "s.sqlite"
    with FakeOpenAIServer(responder=fixed_responder("ans \ud800 x")) as srv:
        base = ("--model", "openai/fake", "--api-base", srv.base_url, "--k", "1", "--price-in", "1", "--price-out", "1")
        voted = CliRunner().invoke(app, ["vote", "--task", str(spec), *base, "--json"])
        shown = CliRunner().invoke(app, ["vote", "--task", str(spec), *base])
        assert srv.requests >= 2
    assert voted.exit_code == 0, voted.output
    assert json.loads(voted.stdout)["winner"] == "ans \ufffd x"
    assert shown.exit_code == 0 and "ans \ufffd x" in shown.stdout, shown.output
    flow = tmp_path / "wf.yaml"
    flow.write_text(
        "kind: workflow\nname: w\nnodes:\n  - id: a\n    user: say it\n"
        "    answer: {regex: '(?s)(?P<answer>.+)'}\ncompose: {function: last_only}\n",
        encoding="utf-8",
    )
    with FakeOpenAIServer(responder=fixed_responder("ans \ud800 x")) as srv:
        base = ("--model", "openai/fake", "--api-base", srv.base_url, "--k", "1", "--price-in", "1", "--price-out", "1")
        ran = CliRunner().invoke(app, ["run", "task", str(flow), *base, "--store", str(store), "--log-samples", "all", "--json"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    out = json.loads(ran.stdout)
    assert out["status"] == "solved" and out["result"] == "ans \ufffd x"
    with RunStore(store) as s:
        assert [row.text for row in s.get_samples(out["run_id"], 0)] == ["ans \ufffd x"]


def test_a_spec_name_reaches_the_run_header_as_text(tmp_path):
    """The pre-run header printed a spec's `name` with its ANSI sequences intact."""
    flow = tmp_path / "wf.yaml"
    flow.write_text(
        'kind: workflow\nname: "evil \\e[31mRED \\e]0;title\\a[/x]"\nnodes:\n  - id: a\n    user: say it\n'
        "    answer: {regex: 'Answer: *(?P<answer>\\S+)'}\n    expected: '1'\n    sim_response: 'Answer: {{answer}}'\n"
        "compose: {function: last_only}\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(app, ["run", "task", str(flow), "--model", "sim:p=0.99", "--store", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "evil RED [/x]" in r.stdout
