"""`maker vote` with a spec pattern that backtracks on the replies: the samples it runs out of time on
are red-flagged `regex_timeout` and counted, the vote goes on and ends within seconds; a pattern
`regex` cannot compile is one `error:` line, exit 2. Under `re` the votes below ran for minutes at
100% CPU; the timeout marks make them fail instead."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from typer.testing import CliRunner

from maker_cli.cli.app import app

pytestmark = pytest.mark.timeout(60)

HOSTILE = "a" * 40 + "!"
# The simulated model's correct reply is 120 a's and a wrong one ends in 'b'; the lookahead turns both
# away at once. Its unparseable replies ('a' * 40 + ' ... I am not sure', drawn with `invalid`) pass
# the lookahead, and `(a|aa)+!` then backtracks on them for minutes under `re`.
ONLY_UNPARSEABLE = r"^(?=.*sure$)(a|aa)+!"
ANSWER = "a" * 120


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def spec_file(tmp_path, **changes) -> str:
    data = {
        "name": "backtrack",
        "inputs": {"expected": {"default": ""}},
        "user": "Say it.",
        "answer": {"regex": r"(?P<answer>\S+)"},
        "voting": {"k": 2},
        "expected": "{{expected}}",
        "sim_response": "{{answer}}",
        **changes,
    }
    path = tmp_path / "backtrack.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def vote(task: str, expected: str, model: str = "sim:p=1,invalid=0.3,seed=2"):
    start = time.perf_counter()
    result = run("vote", "--task", task, "--input", f"expected={expected}", "--model", model, "--json")
    return result, time.perf_counter() - start


@pytest.mark.parametrize(
    "changes",
    [
        {"red_flags": {"must_not_match": [ONLY_UNPARSEABLE]}},
        {"answer": {"regex": ONLY_UNPARSEABLE + r"|(?P<answer>^[a-z]+$)"}},
    ],
    ids=["must_not_match", "answer.regex"],
)
def test_samples_a_pattern_backtracks_on_are_red_flagged_and_counted(tmp_path, changes):
    result, seconds = vote(spec_file(tmp_path, **changes), ANSWER)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decided"] is True and out["winner"] == ANSWER
    assert out["red_flag_reasons"] == {"regex_timeout": 1} and out["red_flagged"] == 1
    assert seconds < 15  # one timed-out match (a quarter of a second) and a few fast samples


def test_a_spec_whose_own_simulated_reply_runs_out_of_time_is_refused_at_once(tmp_path):
    result, seconds = vote(spec_file(tmp_path, red_flags={"must_not_match": [r"^(a|aa)+$"]}), HOSTILE)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "is red-flagged (regex_timeout: must_not_match pattern" in line
    assert seconds < 15


def test_answer_regex_that_runs_out_of_time_on_every_reply_leaves_the_vote_undecided():
    """A free prompt has no reference to check first: every sample is drawn, judged within the bound,
    red-flagged and counted, until the sample cap ends the vote undecided (exit 3)."""
    start = time.perf_counter()
    result = run(
        "vote",
        "--prompt",
        "q",
        "--answer-regex",
        r"^(?P<answer>(a|aa)+)$",
        "--model",
        f"sim:answer={HOSTILE}",
        "--max-samples",
        "4",
        "--json",
    )
    assert result.exit_code == 3, result.output
    out = json.loads(result.stdout)
    assert out["decided"] is False and out["samples"] == 4 and out["red_flag_reasons"] == {"regex_timeout": 4}
    assert time.perf_counter() - start < 20  # four timed-out matches


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"red_flags": {"must_not_match": ["ok", "x{4294967294}"]}}, "red_flags.must_not_match"),
        ({"answer": {"regex": "(?P<answer>x{4294967294})"}}, "answer.regex"),
        ({"red_flags": {"require": "(?:(?:x{100}){100}){100}"}}, "red_flags.require"),
        ({"inputs": {"expected": {"default": "", "pattern": "("}}}, "inputs.expected.pattern"),
    ],
)
def test_a_pattern_regex_cannot_compile_is_one_line_naming_the_field(tmp_path, changes, field):
    """`re` compiles a repeat of four billion at no cost; `regex` would write it out (gigabytes)."""
    result, _ = vote(spec_file(tmp_path, **changes), ANSWER)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"{field}: invalid " in line and "Traceback" not in result.output
