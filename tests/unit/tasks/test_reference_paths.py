"""A sequence spec's reference path, as `--validate` and calibration walk it: a path that never meets
its termination, an empty one, a solver that answers differently on a second walk, replies over the
spec's token limit, and a spec the simulated model cannot answer — each said plainly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import UsageError
from maker_cli.tasks.sequence import SequenceTask
from maker_cli.tasks.sequence_path import reference_path, sequence_probes

# Drop the first letter of a word each step until nothing is left.
SHRINK = {
    "name": "shrink",
    "inputs": {"word": {"default": "abcde"}},
    "initial_state": "{{word}}",
    "system": "Step {{step}}.",
    "user": "Word: {{state}}",
    "answer": {"action": {"json_path": "dropped"}, "next_state": {"json_path": "rest"}},
    "termination": {"until_state": {"empty": True}, "max_steps": 50},
    "reference": "solver.py:solve",
}
SHRINKS = "def solve(state, step, inputs):\n    return state[0], state[1:]\n"


def spec(tmp_path: Path, solver: str = SHRINKS, **changes) -> Path:
    (tmp_path / "solver.py").write_text(solver, encoding="utf-8")
    path = tmp_path / "shrink.yaml"
    path.write_text(yaml.safe_dump({**SHRINK, **changes}), encoding="utf-8")
    return path


def task(path: Path, **inputs) -> SequenceTask:
    return SequenceTask.from_file(path, inputs, trust_code=True)


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_path_that_reaches_the_bound_without_terminating_is_noted(tmp_path):
    stuck = "def solve(state, step, inputs):\n    return state[0], state\n"  # never shortens the word
    path = spec(tmp_path, stuck, termination={"until_state": {"empty": True}, "max_steps": 4})
    walked = reference_path(task(path))
    assert (walked.steps, walked.capped, walked.terminated) == (4, False, False)
    assert walked.notes() == [
        "the reference path stops at the spec's bound of 4 steps without meeting its termination rule: a run "
        "of this spec would fail there"
    ]
    r = cli("run", "task", str(path), "--validate", "--trust-spec-code")
    assert r.exit_code == 2 and "the solver's path does not end within max_steps (4)" in r.output


def test_a_walk_needs_a_cap_and_a_path_needs_a_step(tmp_path):
    path = spec(tmp_path)
    with pytest.raises(UsageError, match="^the walk cap must be a whole number >= 1, got 0$"):
        reference_path(task(path), cap=0)
    with pytest.raises(UsageError, match=r"the reference path has no steps \(the task is finished at its start\)$"):
        reference_path(task(path, word=""))


def test_a_solver_that_answers_differently_on_a_second_walk_is_refused(tmp_path):
    forgetful = (
        "calls = [0]\n"
        "def solve(state, step, inputs):\n"
        "    calls[0] += 1\n"
        "    return state[0], state[1:] if calls[0] <= 5 else ''\n"  # the second walk ends at once
    )
    the_task = task(spec(tmp_path, forgetful))
    walked = reference_path(the_task)
    assert walked.steps == 5
    with pytest.raises(UsageError, match=r"the reference path changed between two walks \(step \d is gone\)"):
        sequence_probes(the_task, 20, seed=1, simulated=False, path=walked)


def test_a_correct_reply_over_the_token_limit_is_a_warning_of_validate(tmp_path):
    path = spec(tmp_path, red_flags={"max_output_tokens": 2})
    r = cli("run", "task", str(path), "--validate", "--trust-spec-code", "--json")
    assert r.exit_code == 0, r.output
    assert any(
        w.startswith("the correct reply to step 0 is about ") and "over red_flags.max_output_tokens (2)" in w
        for w in json.loads(r.stdout)["warnings"]
    )


def test_a_spec_the_simulated_model_cannot_answer_is_said_by_validate_and_calibrate(tmp_path):
    regexes = {"action": {"regex": r"dropped: (?P<value>\w)"}, "next_state": {"regex": r"rest: (?P<value>\w*)"}}
    path = spec(tmp_path, answer=regexes)  # two regexes and no sim_response: no reply to build
    r = cli("run", "task", str(path), "--validate", "--trust-spec-code")
    assert r.exit_code == 0 and "the simulated model cannot run this spec: sim_response is needed" in r.output
    r = cli("calibrate", "task", str(path), "--trust-spec-code", "--model", "sim:p=0.9", "--samples", "5")
    assert r.exit_code == 2 and r.output.startswith(
        "error: the simulated model cannot answer 'shrink': sim_response is needed when the answer is read with regexes"
    )
