"""Sequence specs and SequenceTask in process: typed inputs, the judge (format only, never raises),
state shape, predicates, placeholders, chunks, the simulated model's responses, termination."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.errors import SpecError, UsageError
from maker_cli.specs import parse_spec
from maker_cli.specs.fields import typed_value
from maker_cli.specs.judge import shape_problem
from maker_cli.specs.sequence import ChunkSpec, StatePredicate
from maker_cli.tasks import task_from_config
from maker_cli.tasks.sequence import SequenceTask as SpecTask

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples" / "sequential").glob("*.yaml"))

# A string state: drop the first letter each step until nothing is left (regex answer lines).
SHRINK = {
    "name": "shrink",
    "inputs": {"word": {"default": "abcde"}},
    "initial_state": "{{word}}",
    "system": "Step {{step}}. Previous: {{previous_action}}.",
    "user": "Word: {{state}}",
    "answer": {
        "action": {"regex": r"(?m)^dropped: (?P<value>\w)$"},
        "next_state": {"regex": r"(?m)^rest: (?P<value>\w*)$"},
    },
    "termination": {"until_state": {"empty": True}, "max_steps": 50},
    "reference": "seq_shrink_solver.py:solve",
    "sim_response": "dropped: {{action}}\nrest: {{next_state}}",
}


@pytest.fixture
def shrink_solver(tmp_path, monkeypatch):
    (tmp_path / "seq_shrink_solver.py").write_text(
        "def solve(state, step, inputs):\n    return state[0], state[1:]\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)  # a spec read from text: its solver file is found in the working directory


def task_of(data: dict, **inputs) -> SpecTask:
    return SpecTask(parse_spec(yaml.safe_dump(data)), inputs=inputs, trust_code=True)


def test_a_string_state_renders_as_plain_text_and_step_numbers_start_at_0(shrink_solver):
    task = task_of(SHRINK)
    state, previous = task.start()
    first = task.prompt(0, state, previous, simulated=False)
    assert first.system == "Step 0. Previous: none." and first.user == "Word: abcde"
    assert first.reference is None
    ref = task.prompt(0, state, previous, simulated=True).reference
    assert ref.correct == "dropped: a\nrest: bcde"
    answer = task.judge()(ref.correct)
    action, next_state = task.advance(answer.value)
    assert action == {"action": "a"} and next_state == "bcde"
    assert task.verify(0, state, action, next_state) is True
    wrong = task.judge()(ref.wrong(0))
    assert isinstance(wrong, Answer) and wrong.key != answer.key
    assert task.verify(0, state, *task.advance(wrong.value)) is False
    second = task.prompt(1, next_state, action, simulated=False)
    assert second.system == "Step 1. Previous: a." and second.user == "Word: bcde"
    assert task.steps_total == 5 and not task.finished(1, next_state, action) and task.finished(5, "", action)


def test_the_string_state_spec_runs_end_to_end(tmp_path, shrink_solver):
    path = tmp_path / "shrink.yaml"
    path.write_text(yaml.safe_dump(SHRINK), encoding="utf-8")
    r = CliRunner().invoke(
        app,
        [
            "run",
            "task",
            str(path),
            "--trust-spec-code",
            "--input",
            "word=maker",
            "--model",
            "sim:p=0.9,invalid=0.1,seed=2",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--json",
        ],
    )
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["status"] == "solved" and out["steps_done"] == 5 and out["final_state"] == ""


def test_config_recreates_the_task_and_guards_the_file(tmp_path, shrink_solver):
    path = tmp_path / "shrink.yaml"
    path.write_text(yaml.safe_dump(SHRINK), encoding="utf-8")
    task = SpecTask.from_file(path, {"word": "xyz"}, trust_code=True)
    stored = json.loads(json.dumps(task.config()))
    with pytest.raises(SpecError, match="--trust-spec-code"):  # trust is given again on every resume
        task_from_config(stored)
    again = task_from_config({**stored, "trust_code": True})
    assert again.values == {"word": "xyz"} and again.steps_total == 3 and again.name == "shrink"
    path.write_text(yaml.safe_dump({**SHRINK, "name": "other"}), encoding="utf-8")
    with pytest.raises(UsageError, match="changed since this run started"):
        task_from_config({**stored, "trust_code": True})


def test_judge_red_flags_format_problems_and_never_looks_at_the_answer(shrink_solver):
    judge = task_of(SHRINK).judge()
    assert isinstance(judge("dropped: a\nrest: bcde"), Answer)
    assert isinstance(judge("dropped: q\nrest: zzz"), Answer)  # wrong but well-formed: a vote
    for text in ("rest: bcde", "dropped: a", "", "dropped: ab\nrest: c"):
        result = judge(text)
        assert isinstance(result, RedFlag) and result.reason == FORMAT, text


SORT = ROOT / "examples" / "sequential" / "bubble_sort.yaml"


def test_shape_types_allowed_and_canonical_steps():
    judge = SpecTask.from_file(SORT).judge()
    good = {"action": " SWAP ", "done": False, "next_state": {"items": [1, 2], "position": 1, "swapped": True}}
    answer = judge(json.dumps(good))
    assert isinstance(answer, Answer) and answer.value["action"] == "swap"
    assert answer.key == judge(json.dumps({**good, "action": "swap"})).key  # same vote after canonicalising
    bad = [
        {**good, "action": "flip"},  # not allowed
        {**good, "done": "no"},  # not a bool
        {**good, "next_state": {"items": [1, 2], "position": 1}},  # a key missing
        {**good, "next_state": {"items": [1, 2], "position": 1, "swapped": True, "x": 0}},  # a key too many
        {**good, "next_state": {"items": [1, "2"], "position": 1, "swapped": True}},  # item of another type
        {**good, "next_state": {"items": [1, 2], "position": 1.5, "swapped": True}},  # float for an int
        {"action": "swap", "next_state": good["next_state"]},  # the done field missing
    ]
    for data in bad:
        result = judge(json.dumps(data))
        assert isinstance(result, RedFlag) and result.reason == FORMAT, data
    fenced = "Thinking...\n```json\n" + json.dumps(good) + "\n```"
    assert judge(fenced).key == answer.key


def shipped_judges():
    return [SpecTask.from_file(path).judge() for path in EXAMPLES]


JUDGES = shipped_judges()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
near_answers = st.fixed_dictionaries(
    {"digit": json_values, "action": json_values, "done": json_values, "next_state": json_values}
).map(json.dumps)


@settings(max_examples=300, deadline=None)
@given(st.text() | json_values.map(json.dumps) | near_answers | st.text().map(lambda t: f"found: 1\nnext_state: {t}"))
def test_shipped_judges_never_raise(text):
    for judge in JUDGES:
        assert isinstance(judge(text), (Answer, RedFlag))


@pytest.mark.parametrize(
    ("predicate", "state", "holds"),
    [
        ({"equals": [1, 2]}, [1, 2], True),
        ({"equals": [1, 2]}, [1, 2.0], True),
        ({"equals": 1}, True, False),
        ({"empty": True}, "", True),
        ({"empty": True}, {}, True),
        ({"empty": True}, 0, False),
        ({"length_at_most": 2}, [1, 2], True),
        ({"length_at_most": 2}, "abc", False),
        ({"field_equals": {"path": "a.b[1]", "value": "x"}}, {"a": {"b": ["w", "x"]}}, True),
        ({"field_equals": {"path": "a.c", "value": None}}, {"a": {}}, False),
        ({"field_at_least": {"path": "n", "value": 3}}, {"n": 3}, True),
        ({"field_at_least": {"path": "n", "value": 3}}, {"n": True}, False),
        ({"field_at_most": {"path": "n", "value": 3}}, {"n": 4}, False),
        (
            {"all": [{"field_equals": {"path": "a", "value": ""}}, {"field_equals": {"path": "c", "value": 0}}]},
            {"a": "", "c": 0},
            True,
        ),
        ({"any": [{"empty": True}, {"equals": "stop"}]}, "stop", True),
    ],
)
def test_state_predicates(predicate, state, holds):
    assert StatePredicate.model_validate(predicate).holds(state) is holds


def test_shape_problem_names_where():
    model = {"items": [1], "pos": 0, "rate": 0.5}
    assert shape_problem({"items": [], "pos": 1, "rate": 1}, model) is None
    assert shape_problem({"items": [1, "x"], "pos": 1, "rate": 1}, model) == "next_state.items[1] is str, expected int"
    assert shape_problem([], model) == "next_state is list, expected object"


@pytest.mark.parametrize(
    ("raw", "type_", "value"),
    [
        ("12", "int", 12),
        (" -3 ", "int", -3),
        ("1.50", "float", 1.5),
        ("TRUE", "bool", True),
        ("[1, 2]", "list", [1, 2]),
        ('{"a": 1}', "object", {"a": 1}),
        (7, "str", "7"),
        ([1], "list", [1]),
    ],
)
def test_typed_inputs(raw, type_, value):
    assert typed_value(raw, type_) == value


@pytest.mark.parametrize(
    ("raw", "type_"), [("1.5", "int"), ("yes", "bool"), ("[1", "list"), ("[1]", "object"), (True, "str"), (True, "int")]
)
def test_typed_inputs_reject(raw, type_):
    with pytest.raises(ValueError):
        typed_value(raw, type_)


def test_chunks_cut_whole_words_lines_or_characters():
    text = "one two  three\nfour five\n\nsix"
    assert ChunkSpec(input="t", size=2, index="i").cut(text) == ["one two", "three four", "five six"]
    assert ChunkSpec(input="t", by="lines", size=1, index="i").cut(text) == ["one two  three", "four five", "six"]
    assert ChunkSpec(input="t", by="chars", size=10, index="i").cut("abcdefghijkl") == ["abcdefghij", "kl"]


def test_json_sim_responses_follow_the_paths_and_need_a_template_only_when_they_collide(tmp_path):
    data = yaml.safe_load(SORT.read_text(encoding="utf-8"))
    data["answer"]["fields"]["done"]["json_path"] = "flags[0]"
    task = task_of(data)
    assert task.sim_problem is None  # list indexes are filled in: {"flags": [false], ...}
    ref = task.prompt(0, *task.start(), simulated=True).reference
    assert task.judge()(ref.correct).value["done"] is False
    data["answer"]["fields"]["done"]["json_path"] = "next_state.items"  # inside another field's value
    task = task_of(data)
    assert "sim_response is needed" in task.sim_problem
    with pytest.raises(SpecError, match="cannot simulate this spec"):
        task.prompt(0, *task.start(), simulated=True)
    data["sim_response"] = '{"action": {{action}}, "done": {{done}}, "next_state": {{next_state}}}'
    data["answer"]["fields"]["done"]["json_path"] = "done"
    task = task_of(data)
    ref = task.prompt(0, *task.start(), simulated=True).reference
    assert task.judge()(ref.correct).value["done"] is False


def test_a_sim_response_the_judge_cannot_read_back_is_a_spec_error(shrink_solver):
    task = task_of({**SHRINK, "sim_response": "dropped: {{action}} rest: {{next_state}}"})
    with pytest.raises(SpecError, match="sim_response: the simulated correct response .* is red-flagged"):
        task.prompt(0, *task.start(), simulated=True)


def test_missing_and_unknown_inputs(shrink_solver):
    data = {**SHRINK, "inputs": {"word": {"description": "no default"}}}
    with pytest.raises(UsageError, match="missing input 'word'"):
        task_of(data)
    with pytest.raises(UsageError, match="unknown input 'colour'"):
        task_of(SHRINK, colour="red")
