"""A sequence spec as a task: fixed step counts from a number or an input, chunked texts, specs
without a solver, and the misuses (a question spec, a bad count, an unreadable chunk index) said in
one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import SpecError, UsageError
from maker_cli.tasks.sequence import SequenceTask

ROOT = Path(__file__).resolve().parents[3]
ARITHMETIC = ROOT / "examples" / "arithmetic.yaml"

COUNT = {  # count up from a start; a fixed number of steps
    "name": "count",
    "inputs": {"start": {"type": "int", "default": "0"}, "n": {"default": "3"}},
    "initial_state": {"value": "{{start}}", "seen": ["{{start}}", "from {{start}}"]},
    "system": "Step {{step}}.",
    "user": "State: {{state}}",
    "answer": {"next_state": {"json_path": "next", "type": "object"}},
    "termination": {"steps": 3},
    "sim_response": '{"next": {{next_state}}}',
}


def task_of(tmp_path: Path, data: dict, inputs=None, steps=None, solver: str | None = None) -> SequenceTask:
    if solver is not None:
        (tmp_path / "solver.py").write_text(solver, encoding="utf-8")
        data = {**data, "reference": "solver.py:solve"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return SequenceTask.from_file(path, inputs or {}, steps, trust_code=True)


def test_a_question_spec_is_not_run_as_a_sequence():
    r = CliRunner().invoke(app, ["run", "task", str(ARITHMETIC), "--model", "sim:p=0.9"])
    assert r.exit_code == 2 and "is a question spec (no initial_state): ask it with `maker vote --task" in r.output
    with pytest.raises(UsageError, match=f"ask it with `maker vote --task {re.escape(str(ARITHMETIC))}`$"):
        SequenceTask.from_file(ARITHMETIC)


@pytest.mark.parametrize(
    ("initial", "next_state", "solver", "final"),
    [
        ({"value": 0}, {"json_path": "next", "type": "object"}, "{'value': state['value'] + 1}", {"value": 3}),
        ("abcd", {"json_path": "next"}, "state[1:]", "d"),
        ("abcd", {"regex": "rest: (?P<value>\\w*)"}, "state[1:]", "d"),
    ],
)
def test_a_spec_whose_answer_is_only_the_next_state_runs(tmp_path, initial, next_state, solver, final):
    """The regression: with `next_state` as the only answer part (`action` is optional), every reply
    of an object state was red-flagged ('next_state is str, expected object') and a decided step
    crashed the run ('internal error: KeyError')."""
    data = {**COUNT, "initial_state": initial, "answer": {"next_state": next_state}, "sim_response": None}
    if "regex" in next_state:
        data["sim_response"] = "rest: {{next_state}}"
    task_of(tmp_path, data, solver=f"def solve(state, step, inputs):\n    return None, {solver}\n")
    r = CliRunner().invoke(
        app,
        ["run", "task", str(tmp_path / "spec.yaml"), "--trust-spec-code", "--model", "sim:p=0.9,seed=1"]
        + ["--store", str(tmp_path / "s.sqlite"), "--json"],
    )
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["status"] == "solved" and out["final_state"] == final, r.output


def test_the_initial_state_takes_typed_inputs_and_renders_text_inside_lists(tmp_path):
    task = task_of(tmp_path, COUNT, {"start": "5"})
    assert task.start() == ({"value": 5, "seen": [5, "from 5"]}, None)
    assert task.steps_total == 3 and task.fixed_steps == 3


def test_without_a_solver_nothing_is_verified_and_nothing_is_solved(tmp_path):
    task = task_of(tmp_path, COUNT)
    state, _ = task.start()
    assert not task.has_solver and task.verify(0, state, {}, state) is None
    assert not task.finished(1, state, {})  # a fixed count: only the count ends it
    with pytest.raises(UsageError, match="^task 'count' has no reference solver$"):
        task.solve(0, state)
    assert task.simulation_problem() == "the spec names no reference solver (the simulated model answers from it)"


FROM_INPUT = {**COUNT, "termination": {"steps": "{{n}}"}}


@pytest.mark.parametrize(
    ("inputs", "steps", "total"), [({"n": "4"}, None, 4), ({"n": " 7 "}, None, 7), ({"n": "4"}, 2, 2)]
)
def test_a_step_count_from_an_input_or_the_steps_option(tmp_path, inputs, steps, total):
    assert task_of(tmp_path, FROM_INPUT, inputs, steps).steps_total == total


@pytest.mark.parametrize(
    ("inputs", "steps", "message"),
    [
        ({"n": "0"}, None, "termination.steps: needs a whole number of steps of at least 1 (input 'n' is 0)"),
        ({"n": "many"}, None, "termination.steps: needs a whole number of steps of at least 1 (input 'n' is 'many')"),
        ({"n": "4"}, 0, "--steps must be at least 1"),
    ],
)
def test_a_step_count_that_is_not_one(tmp_path, inputs, steps, message):
    with pytest.raises(UsageError, match=f"^{re.escape(message)}$"):
        task_of(tmp_path, FROM_INPUT, inputs, steps)


CHUNKED = {
    "name": "words",
    "inputs": {"text": {"default": "one two three four five"}},
    "initial_state": {"piece": 0},
    "chunks": {"input": "text", "by": "words", "size": 2, "index": "piece"},
    "system": "Piece {{chunk_text}} of {{chunks_total}}.",
    "user": "State: {{state}}",
    "answer": {"next_state": {"json_path": "next", "type": "object"}},
    "termination": {"steps": "{{chunks_total}}"},
}


def test_a_chunked_text_shows_each_step_its_piece(tmp_path):
    task = task_of(tmp_path, CHUNKED)
    assert task.steps_total == 3  # "one two", "three four", "five"
    assert task.prompt(1, {"piece": 2}, None, simulated=False).system == "Piece five of 3."
    assert (
        task.prompt(1, {"piece": 9}, None, simulated=False).system
        == "Piece (no piece 9: the text has pieces 0 to 2) of 3."
    )


def test_a_chunked_spec_needs_the_piece_number_in_its_initial_state(tmp_path):
    with pytest.raises(SpecError) as error:
        task_of(tmp_path, {**CHUNKED, "initial_state": {"piece": "first"}})
    assert str(error.value).endswith("spec.yaml: chunks.index: the initial state has no whole number at 'piece'")


def test_a_spec_whose_steps_cannot_be_answered_wrongly_is_refused_for_the_simulated_model(tmp_path):
    only_true = {
        **COUNT,
        "initial_state": True,
        "answer": {"next_state": {"json_path": "next", "type": "bool", "allowed": [True]}},
        "sim_response": None,
    }
    solver = "def solve(state, step, inputs):\n    return None, True\n"
    task = task_of(tmp_path, only_true, solver=solver)
    with pytest.raises(SpecError) as error:
        task.reference(0, True)
    assert str(error.value).endswith(
        "spec.yaml: cannot build a well-formed wrong answer at step 0 under this spec's answer rules (for the "
        "simulated model)"
    )
