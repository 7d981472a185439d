"""A spec's pattern that backtracks on a reply: the sample is red-flagged `regex_timeout` within the
bound, whichever pattern it is (must_not_match, require, answer.regex, a ranked line), never a hang
or a crash; an input `pattern` that backtracks on a value is a usage error. Under `re` these tests
would run for minutes: the timeout marks make them fail instead."""

from __future__ import annotations

import time

import pytest

from maker_cli.core.redflags import FORBIDDEN, REGEX_TIMEOUT, RedFlag, RedFlagRules
from maker_cli.errors import UsageError
from maker_cli.jobs.metrics import RED_FLAG_REASONS
from maker_cli.providers.base import Completion
from maker_cli.specs import QuestionSpec
from maker_cli.untrusted_regex import MATCH_TIMEOUT_S

BACKTRACKS = r"^(a|aa)+$"
HOSTILE = "a" * 40 + "!"
BOUND = 10 * MATCH_TIMEOUT_S  # `regex` checks its clock every so often: a cut-off match ends a little late

pytestmark = pytest.mark.timeout(30)


def reply(text: str) -> Completion:
    return Completion(text, None, None, "stop", 0.0, None)


def spec(**changes) -> QuestionSpec:
    base = {"name": "t", "user": "Q", "answer": {"regex": r"(?P<answer>\S+)"}}
    return QuestionSpec.model_validate({**base, **changes})


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def test_a_must_not_match_pattern_that_backtracks_red_flags_the_sample():
    rules = RedFlagRules(must_not_match=(BACKTRACKS,))
    flag, seconds = timed(rules.check, reply(HOSTILE))
    assert flag == RedFlag(REGEX_TIMEOUT, "must_not_match pattern '^(a|aa)+$'") and seconds < BOUND
    assert rules.check(reply("aaaa")) == RedFlag(FORBIDDEN, BACKTRACKS)  # a pattern that answers still works
    assert rules.check(reply("b")) is None


def test_after_one_pattern_runs_out_of_time_the_others_are_not_tried():
    rules = RedFlagRules(must_not_match=(BACKTRACKS, r"^(a|aa)+\b$", "(a|aa)+!$x"))
    flags, seconds = timed(rules.check_all, reply(HOSTILE))
    assert [flag.reason for flag in flags] == [REGEX_TIMEOUT] and seconds < BOUND


@pytest.mark.parametrize(
    "changes",
    [
        {"answer": {"regex": r"^(?P<answer>(a|aa)+)$"}},
        {"answer": {"regex": r"^(?P<answer>(a|aa)+)$", "match": "first"}},
        {"red_flags": {"require": BACKTRACKS}},
        {"answer": {"regex": r"^(?P<answer>(a|aa)+)$", "ranked": 2}, "voting": {"method": "borda"}},
        {"answer": {"regex": r"(?P<answer>\S+)", "ranked": 2}, "red_flags": {"require": BACKTRACKS}},
    ],
    ids=["answer-regex-last", "answer-regex-first", "require", "ranked-line", "ranked-require"],
)
def test_an_answer_pattern_that_backtracks_red_flags_the_sample(changes):
    judge = spec(**changes).judge()
    verdict, seconds = timed(judge, HOSTILE)
    assert isinstance(verdict, RedFlag) and verdict.reason == REGEX_TIMEOUT and seconds < BOUND
    assert "(a|aa)+" in verdict.detail


def test_an_input_pattern_that_backtracks_is_a_usage_error():
    question = spec(inputs={"q": {"pattern": BACKTRACKS}}, user="Q: {{q}}")
    assert question.input_values({"q": "aaaa"}) == {"q": "aaaa"}
    with pytest.raises(UsageError, match=r"input 'q': .*ran longer than"):
        question.input_values({"q": HOSTILE})


def test_the_metrics_know_the_reason():
    assert REGEX_TIMEOUT in RED_FLAG_REASONS
