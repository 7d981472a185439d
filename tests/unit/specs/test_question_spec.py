"""Answer extraction, task specs (loading, errors, judge, reference) and the shipped examples."""

from __future__ import annotations

import functools
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.errors import SpecError, UsageError
from maker_cli.specs import QuestionSpec, load_spec
from maker_cli.specs.extract import parse_json_path
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.judge import AnswerJudge
from maker_cli.tasks.question import QuestionTask
from maker_cli.tasks.simulated import response_text

ROOT = Path(__file__).resolve().parents[3]
PROMPT_FILES = {"hanoi_prompt.yaml"}  # configs/ also holds Hanoi's prompt template: not a task spec
SPEC_FILES = sorted((ROOT / "examples").glob("*.yaml")) + sorted(
    p for p in (ROOT / "configs").glob("*.yaml") if p.name not in PROMPT_FILES
)

BASE = {
    "name": "t",
    "inputs": {"q": {"description": "the question"}},
    "user": "Q: {{q}}",
    "answer": {"regex": r"(?m)^A: (?P<answer>\d+)$"},
}


def spec_of(**changes) -> QuestionSpec:
    return QuestionSpec.model_validate({**BASE, **changes})


def reference(spec: QuestionSpec, inputs: dict):
    return QuestionTask(spec, inputs).reference(inputs)


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def is_flag(result) -> bool:
    return isinstance(result, RedFlag) and result.reason == FORMAT


def extractor(regex=None, first=False, json_path=None, type_=None):
    """The one judge with a single answer field, returning the extracted value (or the red flag)."""
    rules = {"regex": regex, "json_path": json_path, "type": type_} | ({"match": "first"} if first else {})
    field = AnswerField(**{key: value for key, value in rules.items() if value is not None})
    judge = AnswerJudge({"answer": field})

    def extract(text):
        result = judge(text)
        return result.value if isinstance(result, Answer) else result

    extract.field = field
    return extract


# --- regex extraction ----------------------------------------------------------------------------


def test_regex_last_match_wins_by_default_and_first_on_request():
    text = "A: 1\nthinking...\nA: 2\n"
    assert extractor(r"(?m)^A: (?P<answer>\d+)$")(text) == "2"
    assert extractor(r"(?m)^A: (?P<answer>\d+)$", first=True)(text) == "1"


def test_regex_misses_are_format_red_flags():
    ex = extractor(r"A: (?P<answer>\d+)|B")
    assert is_flag(ex("nothing here"))
    assert is_flag(ex("B"))  # the answer group did not take part


def test_regex_needs_an_answer_group():
    with pytest.raises(ValueError, match="answer"):
        AnswerField(regex=r"(\d+)")


# --- JSON path extraction ------------------------------------------------------------------------


def test_json_path_parsing():
    assert parse_json_path("result.value") == ("result", "value")
    assert parse_json_path("items[0].name") == ("items", 0, "name")
    assert parse_json_path("[2][0]") == (2, 0)
    for bad in ["", ".a", "a.", "a..b", "a[x]", "a[0]b", "a b", "a[-1]"]:
        with pytest.raises(ValueError):
            parse_json_path(bad)


def test_json_path_values_and_types():
    text = '{"result": {"value": 3, "ok": true, "name": "x", "xs": [1, {"n": 2.5}], "o": {}}}'
    assert extractor(json_path="result.value")(text) == 3
    assert extractor(json_path="result.value", type_="int")(text) == 3
    assert extractor(json_path="result.value", type_="float")(text) == 3.0  # an int is a valid float
    assert extractor(json_path="result.xs[1].n", type_="float")(text) == 2.5
    assert extractor(json_path="result.ok", type_="bool")(text) is True
    assert extractor(json_path="result.xs", type_="list")(text) == [1, {"n": 2.5}]
    assert extractor(json_path="result.o", type_="object")(text) == {}
    assert is_flag(extractor(json_path="result.ok", type_="int")(text))  # bool is not an int
    assert is_flag(extractor(json_path="result.value", type_="str")(text))
    assert is_flag(extractor(json_path="result.name", type_="int")(text))
    assert is_flag(extractor(json_path="result.missing")(text))
    assert is_flag(extractor(json_path="result.xs[5]")(text))
    assert is_flag(extractor(json_path="result.value.deeper")(text))


def test_json_fenced_block_is_accepted_but_nothing_else_is_repaired():
    ex = extractor(json_path="label", type_="str")
    assert ex('Sure:\n```json\n{"label": "positive"}\n```\nHope that helps.') == "positive"
    assert ex('```JSON\n{"label": "neutral"}```') == "neutral"
    assert is_flag(ex('The answer is {"label": "positive"}'))  # JSON in prose, no fence
    assert is_flag(ex("{'label': 'positive'}"))  # single quotes
    assert is_flag(ex('{"label": "positive",}'))  # trailing comma
    assert is_flag(ex('```\n{"label": "positive"}\n```'))  # not a json fence
    assert is_flag(ex('```json\n{"label": "a"}\n```\n```json\n{"label": "b"}\n```'))  # two blocks
    assert is_flag(ex('```json\n{"label": \n```'))


@functools.cache
def shipped_judges() -> list:
    return [load_spec(path).judge() for path in SPEC_FILES]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200)
@given(st.text() | json_values.map(json.dumps) | st.text().map(lambda t: f"```json\n{t}\n```"))
def test_extractors_never_raise(text):
    for extract in (
        extractor(r"(?P<answer>\d+)"),
        extractor(json_path="a.b[0]", type_="int"),
        extractor(json_path="[0]"),
    ):
        extract(text)
    for judge in shipped_judges():
        assert isinstance(judge(text), (Answer, RedFlag))


@given(
    st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True) | st.integers(0, 3), min_size=1, max_size=4),
    json_values,
)
def test_json_path_respond_round_trips(parts, value):
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    ex = extractor(json_path=path)
    text = response_text({"answer": ex.field}, {"answer": value}, None)
    assert ex(text) == value or value == ""  # an empty answer is a red flag


# --- spec loading and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"voting": {"k": 0}}, "voting.k: Input should be greater than or equal to 1"),
        ({"voting": {"k": 3, "max_samples": 2}}, "voting: max_samples (2) must be at least k (3)"),
        ({"voting": {"kk": 3}}, "voting.kk: unknown field (known: k, method, max_samples"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"answer": {"regex": "(?P<answer>"}}, "answer.regex: invalid regex"),
        ({"answer": {"regex": r"(\d+)"}}, "answer.regex: the regex needs a named group"),
        ({"answer": {"regex": "(?P<answer>x)", "json_path": "a"}}, "answer: give exactly one of regex or json_path"),
        ({"answer": {}}, "answer: give exactly one of regex or json_path"),
        ({"answer": {"json_path": "a..b"}}, "answer.json_path: invalid JSON path"),
        ({"answer": {"regex": "(?P<answer>x)", "type": "int"}}, "answer: type applies to json_path only"),
        ({"answer": {"json_path": "a", "type": "number"}}, "answer.type: Input should be"),
        (
            {"answer": {"json_path": "a", "allowed": ["X", "x"]}, "canonical": ["lowercase"]},
            "answer.allowed: needs at least two",
        ),
        (
            {"answer": {"regex": "(?P<answer>.+)", "allowed": ["a", "b"]}, "canonical": ["number"]},
            "answer.allowed: 'a' fails",
        ),
        ({"answer": {"json_path": "a", "allowed": [True, False]}}, "answer: allowed: write True in quotes"),
        ({"user": "{{q}} {{nope}}"}, "user: unknown placeholder {{nope}} (declared: q)"),
        ({"system": "{{q.__class__}}"}, "system: invalid placeholder"),
        ({"expected": "{{answer}}"}, "expected: unknown placeholder"),
        ({"sim_response": "A: 1"}, "sim_response: must contain {{answer}}"),
        ({"sim_response": "A: {{q}} {{answer}}"}, "sim_response: unknown placeholder {{q}}"),
        ({"canonical": ["strip", "upper"]}, "canonical[1]: Input should be"),
        ({"red_flags": {"must_not_match": ["ok", "("]}}, "red_flags.must_not_match: invalid pattern '('"),
        ({"red_flags": {"require": "["}}, "red_flags.require: invalid pattern"),
        ({"red_flags": {"max_output_tokens": 0}}, "red_flags.max_output_tokens: Input should be greater"),
        ({"inputs": {"a.b": {}}}, "inputs: invalid input name 'a.b'"),
        ({"inputs": {"q": {"default": True}}}, "inputs.q.default: write the default in quotes"),
        ({"inputs": {"q": {"desc": "x"}}}, "inputs.q.desc: unknown field (known: description, type, default"),
        ({"name": ""}, "name: String should have at least 1 character"),
    ],
)
def test_spec_errors_name_the_file_and_the_field(tmp_path, change, message):
    path = write(tmp_path, {**BASE, **change})
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_required_field(tmp_path):
    data = dict(BASE)
    del data["answer"]
    with pytest.raises(SpecError, match=r"x\.yaml: answer: Field required"):
        load_spec(write(tmp_path, data))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed\n", "YAML syntax error at line 2"),
        ("name: a\nname: b\n", "duplicate key 'name'"),
        ("", "not an empty file"),
        ("- a\n- b\n", "not a list"),
    ],
)
def test_yaml_problems(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SpecError, match=re.escape(f"{tmp_path / 'nope.yaml'}: no such file")):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match=re.escape(str(tmp_path))):
        load_spec(tmp_path)


def test_inputs_shorthands():
    spec = spec_of(inputs=["q"])
    assert spec.inputs["q"].default is None
    spec = spec_of(inputs={"q": "the question", "n": {"default": 3}}, user="{{q}} {{n}}")
    assert spec.inputs["q"].description == "the question"
    assert spec.inputs["n"].default == 3 and spec.input_values({"q": "x"})["n"] == "3"


# --- rendering, judging, red flags ---------------------------------------------------------------


def test_render_with_defaults_and_input_errors():
    spec = spec_of(inputs={"q": {}, "n": {"default": "5"}}, system="n={{n}}", user="{{q}}")
    assert spec.render({"q": "{{n}} stays"}) == ("n=5", "{{n}} stays")
    assert spec.render({"q": "x", "n": 7}) == ("n=7", "x")
    with pytest.raises(UsageError, match="missing input 'q'"):
        spec.render({})
    with pytest.raises(UsageError, match="unknown input 'z'"):
        spec.render({"q": "x", "z": "y"})


def test_judge_require_extract_canonical_allowed():
    spec = spec_of(
        answer={"json_path": "label", "type": "str", "allowed": ["Yes", "No"]},
        canonical=["strip", "lowercase"],
        red_flags={"require": r"\A\s*[{`]"},
    )
    judge = spec.judge()
    assert judge('{"label": " YES "}') == Answer("yes", " YES ")
    assert judge('{"label": "no"}').key == "no"
    assert is_flag(judge('{"label": "maybe"}'))  # not allowed
    assert is_flag(judge('Here: {"label": "no"}'))  # require fails before extraction
    assert is_flag(judge('{"label": 1}'))  # wrong type


def test_judge_number_canonical_makes_equal_numbers_one_vote():
    judge = spec_of(answer={"regex": r"= (?P<answer>\S+)"}, canonical=["number"]).judge()
    assert judge("x = 42").key == judge("x = 42.0").key == judge("y = 042").key == "42"
    assert is_flag(judge("x = 42!"))


def test_red_flag_rules():
    spec = spec_of(red_flags={"must_not_match": ["(?i)sorry"]})
    rules = spec.red_flag_rules(500)
    assert rules.max_output_tokens == 500 and rules.must_not_match == ("(?i)sorry",)
    assert spec_of(red_flags={"max_output_tokens": 80}).red_flag_rules(500).max_output_tokens == 80


def test_voting_fields_unset_fall_back_to_the_run():
    assert spec_of().voting.k is None
    assert spec_of(voting={"k": 4, "temperature": 0.3}).voting.k == 4


# --- reference for the simulated model -----------------------------------------------------------


def check_reference(spec: QuestionSpec, inputs: dict, variants=(0, 1, 2, 3, 7, 1 << 29)) -> None:
    """The spec's own judge parses correct to the expected key and every wrong to another answer."""
    ref = reference(spec, inputs)
    assert ref is not None
    judge = spec.judge()
    expected = spec.expected_key(inputs)
    got = judge(ref.correct)
    assert isinstance(got, Answer) and got.key == expected, (ref.correct, got)
    rules = spec.red_flag_rules()
    assert not any(re.search(p, ref.correct) for p in rules.must_not_match)
    assert ref.wrong(0) == ref.wrong(0)  # variant 0 is fixed
    for variant in variants:
        text = ref.wrong(variant)
        result = judge(text)
        assert isinstance(result, Answer), (text, result)
        assert result.key != expected
        assert not any(re.search(p, text) for p in rules.must_not_match)


def test_reference_regex_spec():
    spec = spec_of(
        inputs={"q": {}, "expected": {"default": ""}},
        expected="{{expected}}",
        sim_response="A: {{answer}}",
        canonical=["number"],
    )
    check_reference(spec, {"q": "?", "expected": "41"})
    assert reference(spec, {"q": "?", "expected": "41"}).wrong(0) == "A: 42"
    assert reference(spec, {"q": "?"}) is None  # no expected answer: nothing for a simulated model
    assert reference(spec_of(), {"q": "?"}) is None


@pytest.mark.parametrize(
    ("type_", "expected", "correct"),
    [
        ("int", "7", '{"result":{"items":[null,{"value":7}]}}'),
        ("float", "2.5", '{"result":{"items":[null,{"value":2.5}]}}'),
        ("bool", "true", '{"result":{"items":[null,{"value":true}]}}'),
        ("str", "Paris", '{"result":{"items":[null,{"value":"Paris"}]}}'),
        ("list", "[1, 2]", '{"result":{"items":[null,{"value":[1,2]}]}}'),
        ("object", '{"a": 1}', '{"result":{"items":[null,{"value":{"a":1}}]}}'),
        (None, "x y", '{"result":{"items":[null,{"value":"x y"}]}}'),
    ],
)
def test_reference_json_path_builds_the_object_from_the_path(type_, expected, correct):
    answer = {"json_path": "result.items[1].value"} | ({"type": type_} if type_ else {})
    spec = spec_of(answer=answer, inputs={"e": {}}, user="go", expected="{{e}}")
    assert reference(spec, {"e": expected}).correct == correct
    check_reference(spec, {"e": expected})


def test_reference_json_with_a_sim_response_template():
    spec = spec_of(
        answer={"json_path": "label", "type": "str", "allowed": ["a", "b", "c"]},
        inputs={"e": {}},
        user="go",
        expected="{{e}}",
        sim_response='```json\n{"label": {{answer}}}\n```',
    )
    ref = reference(spec, {"e": "b"})
    assert ref.correct == '```json\n{"label": "b"}\n```'
    check_reference(spec, {"e": "b"})
    assert {spec.judge()(ref.wrong(v)).key for v in range(6)} == {"a", "c"}


def test_reference_problems_are_reported():
    spec = spec_of(inputs={"e": {}}, user="go", expected="{{e}}", sim_response="Answer {{answer}}")
    with pytest.raises(SpecError, match="sim_response: the simulated correct response"):
        reference(spec, {"e": "4"})
    spec = spec_of(inputs={"e": {}}, user="go", expected="{{e}}")  # default sim_response "{{answer}}" lacks "A: "
    with pytest.raises(SpecError, match="red-flagged"):
        reference(spec, {"e": "4"})
    spec = spec_of(inputs={"e": {}}, user="go", expected="{{e}}", answer={"json_path": "v", "type": "int"})
    with pytest.raises(UsageError, match="not a valid int"):
        reference(spec, {"e": "four"})
    spec = spec_of(
        inputs={"e": {}},
        user="go",
        expected="{{e}}",
        sim_response="A: {{answer}}",
        red_flags={"must_not_match": ["A: 4"]},
    )
    with pytest.raises(SpecError, match="forbidden"):
        reference(spec, {"e": "4"})


# --- the shipped specs ---------------------------------------------------------------------------


def test_there_are_examples_and_a_template():
    names = {p.name for p in SPEC_FILES}
    assert {"arithmetic.yaml", "classify_sentiment.yaml", "task_template.yaml"} <= names


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_spec_file_loads(path):
    spec = load_spec(path)
    assert spec.name and spec.user


def header_sim_inputs(path: Path) -> dict[str, str]:
    """The --input pairs of the simulated-model command in a spec's comment header."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    commands = " ".join(lines).replace("\\ ", " ").split("maker vote ")
    words = shlex.split(next(c for c in commands if "sim:" in c))
    return dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--input")


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_header_sim_command_gives_a_reference_the_judge_reads_back(path):
    spec = load_spec(path)
    inputs = header_sim_inputs(path)
    spec.render(inputs)  # every required input is in the documented command
    check_reference(spec, inputs)


def test_header_parser_reads_the_documented_command():
    inputs = header_sim_inputs(ROOT / "examples" / "arithmetic.yaml")
    assert inputs == {"a": "123", "b": "456", "expected": "56088"}
