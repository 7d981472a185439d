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
