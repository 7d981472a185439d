"""The simulated model's answers for a spec (`maker_cli.tasks.simulated`): wrong candidates that are
really wrong, nearest first and bounded in number; responses the judge reads back; and a spec whose
answers cannot be simulated said in one line."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maker_cli.core.redflags import Answer, RedFlag, RedFlagRules
from maker_cli.errors import SpecError
from maker_cli.specs.fields import AnswerField
from maker_cli.tasks.simulated import build_reference, response_problem, response_text, wrong_candidates

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(-1e6, 1e6, allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)


@given(value=JSON, variant=st.integers(0, 10**6))
def test_every_candidate_is_a_different_answer(value, variant):
    candidates = list(wrong_candidates({"answer": value, "other": 1}, variant, {}, ["answer"]))
    assert all(c["answer"] != value and c["other"] == 1 for c in candidates)  # only the named field changes
    if value is not None and value != [] and value != {}:
        assert candidates  # anything but an empty answer has a wrong neighbour


def test_candidates_come_nearest_first():
    expected = {"date": "2024-05-17"}
    assert [c["date"] for c in wrong_candidates(expected, 0, {}, ["date"])] == [
        "2024-05-18",  # the last digits, same width
        "2024-05-17-1",  # then appended text
        "2024-05-17x",
    ]
    options = [c["label"] for c in wrong_candidates({"label": "b"}, 1, {"label": ["a", "b", "c"]}, ["label"])]
    assert options[:3] == ["b", "c", "a"]  # the allowed values first, rotated by the variant
    assert [c["n"] for c in wrong_candidates({"n": [True, 2.5]}, 0, {}, ["n"])] == [
        [False, 2.5],
        [True, 3.5],
        [True, 2.5, 0],
    ]
    assert [c["o"] for c in wrong_candidates({"o": {}}, 3, {}, ["o"])] == [{"wrong": 3}]


def test_a_digit_change_that_wraps_to_the_same_digits_is_skipped():
    assert [c["a"] for c in wrong_candidates({"a": "9"}, 9, {}, ["a"])] == ["19", "9-10", "9zx"]


def test_a_huge_answer_gives_a_bounded_number_of_candidates():
    candidates = list(wrong_candidates({"a": list(range(1000))}, 0, {}, ["a"]))
    assert len(candidates) == 64 * 2 + 1  # +/- 1 on the first 64 leaves, then one appended item


def test_the_appended_suffixes_differ_for_every_variant():
    suffixes = [list(wrong_candidates({"a": "--"}, v, {}, ["a"]))[-1]["a"][2:] for v in range(500)]
    assert len(set(suffixes)) == 500 and all(re.fullmatch("[xyz]+", s) for s in suffixes)


# --- responses ----------------------------------------------------------------------------------


def fields(**paths: str) -> dict[str, AnswerField]:
    return {name: AnswerField(json_path=path) for name, path in paths.items()}


def test_responses_that_need_a_template_say_so():
    regexes = {"a": AnswerField(regex=r"A=(?P<answer>\d+)"), "b": AnswerField(regex=r"B=(?P<answer>\d+)")}
    assert response_problem(regexes, None) == "sim_response is needed when the answer is read with regexes"
    assert response_problem(regexes, "A={{a}} B={{b}}") is None
    assert response_text(regexes, {"a": 1, "b": 2}, "A={{a}} B={{b}}") == "A=1 B=2"
    clash = fields(a="x.y", b="x[0]")  # x cannot be an object and a list at once
    assert response_problem(clash, None) == "sim_response is needed when answer JSON paths use list indexes or overlap"
    with pytest.raises(SpecError, match="^cannot build a simulated response: give sim_response$"):
        response_text(clash, {"a": 1, "b": 2}, None)
    assert response_text(fields(a="x.y", b="x.z"), {"a": 1, "b": [2]}, None) == '{"x":{"y":1,"z":[2]}}'


# --- the reference ------------------------------------------------------------------------------


def digit_judge(text: str) -> Answer | RedFlag:
    """Reads one digit 0-4 (a narrow answer space: most numbers are not answers)."""
    return Answer(text) if re.fullmatch("[0-4]", text) else RedFlag("format", "not 0-4")


def reference(expected: int, judge=digit_judge, respond=lambda v: str(v["n"]), rules=None, **kw):
    return build_reference(
        judge=judge, respond=respond, expected={"n": expected}, expected_key=str(expected), rules=rules, **kw
    )


def test_a_variant_without_a_wrong_answer_of_its_own_reuses_variant_0():
    ref = reference(2)
    assert ref.correct == "2" and ref.wrong(0) == "3"
    assert ref.wrong(5) == "3"  # 2 +/- 6 are not answers: variant 5 has nothing of its own


def test_candidates_that_cannot_be_written_are_skipped():
    def respond(values):
        if values["n"] == 3:
            raise ValueError("cannot write 3")
        return str(values["n"])

    assert reference(2, respond=respond).wrong(0) == "1"


def test_a_spec_whose_answers_cannot_be_made_wrong_is_one_line():
    with pytest.raises(
        SpecError, match=r"^cannot build a well-formed wrong answer for '0' under this spec's answer rules"
    ):
        reference(0, judge=lambda text: Answer("0") if text.lstrip("-").isdigit() else RedFlag("format"))


def test_a_correct_response_the_judge_reads_otherwise_is_one_line_naming_the_place():
    with pytest.raises(SpecError) as error:
        reference(2, respond=lambda v: str(v["n"] + 1), where="spec.yaml: sim_response", hint=" (a hint)")
    assert (
        str(error.value)
        == "spec.yaml: sim_response: the simulated correct response '3' parses to '3', not '2' (a hint)"
    )
    rules = RedFlagRules(max_output_tokens=None, must_not_match=("2",))
    with pytest.raises(
        SpecError, match=r"^sim_response: the simulated correct response '2' is red-flagged \(forbidden"
    ):
        reference(2, rules=rules)
