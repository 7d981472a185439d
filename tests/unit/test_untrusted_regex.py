"""Patterns from specs and MCP callers (`maker_cli.untrusted_regex`): compiled by `regex`, every match
cut off at MATCH_TIMEOUT_S, counted repeats that `regex` would write out by the million refused, and
the syntax the docs promise (named groups, inline flags) read as `re` reads it.

A test of a pattern that backtracks would hang for minutes under `re`; the timeout marks make such a
test fail instead."""

from __future__ import annotations

import re
import time

import pytest

from maker_cli.untrusted_regex import MATCH_TIMEOUT_S, MAX_REPEAT_ITEMS, PatternTimeout, UntrustedPattern

BACKTRACKS = r"^(a|aa)+$"  # exponential in the a's before a character that fails it, under re and regex
HOSTILE = "a" * 40 + "!"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("method", ["search", "fullmatch", "last"])
def test_a_backtracking_pattern_is_cut_off_after_the_bound(method):
    pattern = UntrustedPattern(BACKTRACKS, "must_not_match pattern")
    start = time.perf_counter()
    with pytest.raises(PatternTimeout) as caught:
        getattr(pattern, method)(HOSTILE)
    assert time.perf_counter() - start < 10 * MATCH_TIMEOUT_S  # the bound, and `regex` checks its clock late
    assert str(caught.value) == (
        f"must_not_match pattern '^(a|aa)+$' ran longer than {MATCH_TIMEOUT_S:g} s (it backtracks)"
    )
    assert isinstance(caught.value, TimeoutError) and caught.value.what == "must_not_match pattern"


@pytest.mark.timeout(20)
def test_the_nested_quantifier_of_the_report_no_longer_backtracks():
    """`^(a+)+$` is what the reviewer hung `maker vote` with; `regex` answers it at once."""
    assert UntrustedPattern(r"^(a+)+$").search(HOSTILE) is None


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"(?m)^Answer: *(?P<answer>-?[0-9]+) *$", "work\nAnswer: 42 \nthanks", "42"),
        (r"(?s)\A(?P<answer>.*)\Z", "two\nlines", "two\nlines"),
        (r"(?i)answer: (?P<value>\w+)", "ANSWER: Yes", "Yes"),
        (r"(?ms)^Answer:.*^Answer:", "Answer: 1\nAnswer: 2", "Answer: 1\nAnswer:"),
        (r"(?x) (?P<answer> \d{4} ) - \d{2}  # a year", "2026-05", "2026"),
    ],
)
def test_the_documented_syntax_reads_as_re_reads_it(pattern, text, expected):
    found = UntrustedPattern(pattern).search(text)
    assert found is not None and re.search(pattern, text) is not None
    group = next((name for name in ("answer", "value") if name in found.groupdict()), 0)
    assert found.group(group) == expected == re.search(pattern, text).group(group)
    assert UntrustedPattern(pattern).groupindex == dict(re.compile(pattern).groupindex)


def test_last_is_the_last_match_and_fullmatch_the_whole_text():
    pattern = UntrustedPattern(r"Answer: (?P<answer>\d+)")
    assert pattern.last("Answer: 1\nAnswer: 2\nAnswer: 3")["answer"] == "3"
    assert pattern.last("nothing") is None
    assert UntrustedPattern(r"[0-9]+").fullmatch("123") is not None
    assert UntrustedPattern(r"[0-9]+").fullmatch("123x") is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(", "missing )"),
        ("(?P<answer>", "missing"),
        ("x{4294967294}", f"more than {MAX_REPEAT_ITEMS} items"),  # re compiles it; regex would take gigabytes
        ("(?:(?:x{100}){100}){100}", f"more than {MAX_REPEAT_ITEMS} items"),
        ("(?:x|y{1000}){1000}", f"more than {MAX_REPEAT_ITEMS} items"),
    ],
)
def test_a_pattern_that_does_not_compile_is_one_value_error_naming_the_field(pattern, why):
    with pytest.raises(ValueError) as caught:
        UntrustedPattern(pattern, "regex")
    message = str(caught.value)
    assert message.startswith(f"invalid regex {pattern!r}: ") and why in message and "\n" not in message


@pytest.mark.parametrize(
    "pattern", [r"[0-9a-f]{64}", r"x{0,4294967294}", r"(?:x{1,1000}){1,1000}", r"\d{4}-\d{2}-\d{2}", "x" * 5000]
)
def test_counts_that_regex_does_not_write_out_are_fine(pattern):
    assert UntrustedPattern(pattern).pattern == pattern  # compiled
