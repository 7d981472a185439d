"""Red-flag presets and the opt-in checks (issue 13, section 5): every check flagged and not
flagged, what each preset holds, how a spec's checks override a preset, the order reasons are
counted in, the spec fields' validation, the settings merge (flag > spec > default) and the cost
bound on 100 kB replies."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from pydantic import ValidationError

from maker_cli.config.job import merge_job_settings
from maker_cli.config.settings import Settings
from maker_cli.core.redflags import (
    EMPTY,
    EMPTY_LINES,
    FORBIDDEN,
    JSON_FIELDS,
    MAX_PHRASES,
    MISSING_MARKER,
    NOT_ONE_OF,
    PRESET_NAMES,
    PRESETS,
    SELF_CORRECTION,
    SELF_CORRECTION_PHRASES,
    TOO_LONG,
    TOO_SHORT,
    TRUNCATED,
    RedFlag,
    RedFlagChecks,
    RedFlagRules,
    json_fields_problem,
    phrase_pattern,
    preset_checks,
)
from maker_cli.errors import UsageError
from maker_cli.providers.base import Completion
from maker_cli.specs.fields import RedFlagSpec, VotingSpec, spec_settings
from maker_cli.specs.sequence import StepRedFlagSpec


def reply(text: str, *, tokens: int | None = None, finish: str = "stop") -> Completion:
    return Completion(text, None, tokens, finish, 0.0, None)


def reasons(rules: RedFlagRules, text: str) -> list[str]:
    return [flag.reason for flag in rules.check_all(reply(text))]


def first(rules: RedFlagRules, text: str, **kwargs) -> RedFlag:
    flag = rules.check(reply(text, **kwargs))
    assert flag is not None, text
    return flag


def only(**checks) -> RedFlagRules:
    return RedFlagRules(checks=RedFlagChecks(**checks))


# --------------------------------------------------------------------------- each check


@pytest.mark.parametrize(
    ("checks", "flagged", "passed", "reason"),
    [
        (dict(min_output_chars=1), ["...", "```\n```", " - ", "{}"], ["4", "a", "é", "٣", "  x  "], TOO_SHORT),
        (dict(min_output_chars=5), ["abcd", "a b c d ...", "1,2,3,4"], ["abcde", "1 2 3 4 5", "Answer: 4"], TOO_SHORT),
        (
            dict(max_empty_line_share=0.5),
            ["a\n\n\n\nb", "a\n \n\t\n\r\nb", "a\n\n\n\n\n\nb\nc"],
            ["a\n\nb", "a", "\n\n\na\n\n\n", "a\nb\n\nc"],
            EMPTY_LINES,
        ),
        (
            dict(max_empty_line_share=0.0),
            ["a\n\nb"],
            ["a\nb", "\n\na b\n\n"],
            EMPTY_LINES,
        ),
        (
            dict(self_correction=SELF_CORRECTION_PHRASES),
            [
                "Wait, the answer is 4",
                "WAIT, 4",
                "4. Actually, 5",
                "Let me reconsider.",
                "let  me\nreconsider",
                "I made a mistake",
                "On second thought: 5",
                "Hmm. 4",
                "hmm",
                "I think I see",
                "Let me correct that",
                "Sorry, I meant 5",
                "That's not right",
                "That’s not right",
                "THAT'S NOT RIGHT!",
            ],
            [
                "Answer: 4",
                "wait for it: 4",
                "await, 4",
                "Hmmm",
                "shmm",
                "I think it is 4",
                "I think Ian is right",
                "actually 4",
                "Let me reconsidering",
                "xI made a mistake",
            ],
            SELF_CORRECTION,
        ),
        (
            dict(self_correction=("oops", "a.b", "no wait")),
            ["Oops!", "see a.b", "No   wait"],
            ["Wait, 4", "axb", "oopsie", "nowait"],
            SELF_CORRECTION,
        ),
        (
            dict(starts_with="<answer>"),
            ["answer", "x <answer>4", "<ANSWER>4"],
            ["<answer>4", "  <answer>4\n"],
            MISSING_MARKER,
        ),
        (dict(ends_with="END"), ["4", "END 4", "4 end"], ["4 END", "4\nEND\n\n"], MISSING_MARKER),
        (
            dict(json_required=("label", "score")),
            ['{"label": "x"}', '["label", "score"]', "label: x, score: 1", '{"label": 1, "score": NaN}', ""],
            [
                '{"label": "x", "score": 1}',
                '  {"score": null, "label": "x", "other": 2}  ',
                'Here you go:\n```json\n{"label": "x", "score": 1}\n```\nDone.',
            ],
            JSON_FIELDS,
        ),
        (dict(json_required=()), ["[1]", "4", '"text"'], ["{}", '{"a": 1}'], JSON_FIELDS),
        (dict(one_of=("yes", "no")), ["Yes", "yes.", "maybe", "yes no"], ["yes", " no\n"], NOT_ONE_OF),
    ],
)
def test_each_check_flags_what_it_should_and_nothing_else(checks, flagged, passed, reason):
    rules = only(**checks)
    for text in flagged:
        if not text.strip():
            continue  # an empty reply is `empty`, whatever the checks
        flags = rules.check_all(reply(text))
        assert [f.reason for f in flags] == [reason], (text, flags)
        assert rules.check(reply(text)) == flags[0]
    for text in passed:
        assert rules.check_all(reply(text)) == [], text


def test_details_say_what_failed():
    assert first(only(min_output_chars=1), "...").label == "too_short: no letter or digit"
    assert first(only(min_output_chars=3), "ab").detail == "fewer than 3 letters or digits"
    flag = only(max_empty_line_share=0.5).check(reply("a\n\n\n\nb"))
    assert flag is not None and flag.detail == "3 of 5 lines empty (at most 50%)"
    flag = RedFlagRules.preset("strict").check(reply("Hmm, wait. WAIT, it is 5"))
    assert flag is not None and flag.label == "self_correction: 'Hmm'"
    flag = only(self_correction=("That's not right",)).check(reply("x That’s  not right"))
    assert flag is not None and flag.detail == "'That’s  not right'"  # the reply's own text
    assert first(only(starts_with="<a>"), "b").detail == "does not start with '<a>'"
    assert first(only(ends_with="</a>"), "b").detail == "does not end with '</a>'"
    flag = only(one_of=("yes",)).check(reply("no" * 100))
    assert flag is not None and flag.reason == NOT_ONE_OF and len(flag.detail) <= 40


def test_json_is_read_as_answers_are_and_never_repaired():
    assert json_fields_problem('{"a": 1}', ["a"]) is None
    assert json_fields_problem('```json\n{"a": 1}\n```', ["a"]) is None
    assert json_fields_problem('x ```JSON\n{"a": 1}\n``` y', ["a"]) is None
    assert json_fields_problem("{'a': 1}", ["a"]) == "not JSON and no ```json block"
    assert json_fields_problem('{"a": 1,}', ["a"]) == "not JSON and no ```json block"
    assert json_fields_problem('```json\n{"a": 1}\n```\n```json\n{"a": 2}\n```', ["a"]) == (
        "2 ```json blocks (expected one)"
    )
    assert json_fields_problem("```json\n{a: 1}\n```", ["a"]) == "the ```json block is not valid JSON"
    assert json_fields_problem('{"a": Infinity}', ["a"]) == "not JSON and no ```json block"
    assert json_fields_problem("[" * 100_000, ["a"]) == "not JSON and no ```json block"  # too deep: no crash
    assert json_fields_problem("{}", ["a", "b", "c", "d", "e"]) == "missing 'a', 'b', 'c' and 2 more"
    assert json_fields_problem('{"a": {"b": 1}}', ["b"]) == "missing 'b'"  # top-level fields only


# --------------------------------------------------------------------------- the presets


def test_presets_hold_exactly_what_the_docs_table_says():
    assert PRESET_NAMES == ("paper", "relaxed", "strict") and set(PRESETS) == set(PRESET_NAMES)
    assert PRESETS["paper"] == RedFlagChecks() and PRESETS["paper"].is_empty
    assert PRESETS["relaxed"] == RedFlagChecks(min_output_chars=1)
    assert PRESETS["strict"] == RedFlagChecks(
        min_output_chars=1, max_empty_line_share=0.5, self_correction=SELF_CORRECTION_PHRASES
    )
    assert SELF_CORRECTION_PHRASES == (
        "Wait,",
        "Actually,",
        "Let me reconsider",
        "I made a mistake",
        "On second thought",
        "Hmm",
        "I think I",
        "Let me correct",
        "Sorry, I meant",
        "That's not right",
    )


SAMPLES = [
    "Answer: 4",
    "Wait, Answer: 4",
    "...",
    "a\n\n\n\nb",
    "",
    "Answer: 4\n\nsorry",
]


def test_paper_is_todays_behaviour_and_each_preset_adds_to_the_one_below():
    today = RedFlagRules(max_output_tokens=750, must_not_match=("sorry",))
    paper = RedFlagRules.preset("paper", must_not_match=("sorry",))
    assert RedFlagRules.preset(None, must_not_match=("sorry",)) == paper
    for text in SAMPLES:
        assert paper.check_all(reply(text)) == today.check_all(reply(text))
    assert reasons(paper, "Answer: 4\n\nsorry") == [FORBIDDEN]
    assert reasons(paper, "") == [EMPTY]
    relaxed = RedFlagRules.preset("relaxed", must_not_match=("sorry",))
    strict = RedFlagRules.preset("strict", must_not_match=("sorry",))
    assert [reasons(relaxed, t) for t in SAMPLES[:4]] == [[], [], [TOO_SHORT], []]
    assert [reasons(strict, t) for t in SAMPLES[:4]] == [[], [SELF_CORRECTION], [TOO_SHORT], [EMPTY_LINES]]
    for text in SAMPLES:  # a stricter preset flags everything a looser one does
        assert set(reasons(paper, text)) <= set(reasons(relaxed, text)) <= set(reasons(strict, text))


def test_length_and_truncation_still_come_first_under_every_preset():
    for name in PRESET_NAMES:
        rules = RedFlagRules.preset(name, max_output_tokens=10)
        assert first(rules, "Wait, ...", tokens=50, finish="length").reason == TRUNCATED
        assert first(rules, "Wait, ...", tokens=50).reason == TOO_LONG


def test_a_specs_checks_override_and_extend_a_preset():
    own = RedFlagChecks(self_correction=(), ends_with="END", min_output_chars=3)
    checks = preset_checks("strict", own)
    assert checks == RedFlagChecks(min_output_chars=3, max_empty_line_share=0.5, self_correction=(), ends_with="END")
    rules = RedFlagRules(checks=checks)
    assert reasons(rules, "Wait, 42 END") == []  # self_correction turned off
    assert reasons(rules, "Wait, 42") == [MISSING_MARKER]  # ends_with added
    assert reasons(rules, "4 END") == []  # "4 END": four letters or digits
    assert reasons(rules, "4 E") == [TOO_SHORT, MISSING_MARKER]
    off = preset_checks("strict", RedFlagChecks(min_output_chars=0, max_empty_line_share=1.0, self_correction=()))
    assert reasons(RedFlagRules(checks=off), "...\n\n\n\nHmm") == []
    assert preset_checks("relaxed", None) == PRESETS["relaxed"] and preset_checks(None) == PRESETS["paper"]


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown red-flag preset 'harsh' \\(known: paper, relaxed, strict\\)"):
        preset_checks("harsh")
    with pytest.raises(ValueError, match="unknown red-flag preset"):
        RedFlagRules.preset("harsh")


def test_the_rules_keep_their_old_constructor():
    rules = RedFlagRules(100, ("(?i)sorry",))
    assert rules.checks == RedFlagChecks() and reasons(rules, "Sorry") == [FORBIDDEN]


def test_bad_phrase_lists_are_refused_by_the_rules_too():
    with pytest.raises(ValueError, match="blank"):
        only(self_correction=("  ",))
    with pytest.raises(ValueError, match=f"at most {MAX_PHRASES} phrases"):
        only(self_correction=tuple(f"p{i}" for i in range(MAX_PHRASES + 1)))
    assert only(self_correction=()).check_all(reply("Wait, 4")) == []  # () = off


def test_phrases_are_literal_text_not_regexes():
    pattern = phrase_pattern(["(a+)+$", "x.y", "[z]"])
    assert pattern.search("(a+)+$") and pattern.search("[z]") and pattern.search("x.y")
    assert not pattern.search("aaaa") and not pattern.search("xzy") and not pattern.search("z")
    assert phrase_pattern([]).search("anything") is None


# --------------------------------------------------------------------------- cost


BIG = 100_000
PATHOLOGICAL = [
    "a" * BIG,
    "\n" * BIG + "a",
    "x\n\n" * (BIG // 3),
    "wait" * (BIG // 4),
    "hmmm " * (BIG // 5),
    "I think " * (BIG // 8),
    "```json\n" * (BIG // 8),
    "[" * BIG,
    '{"a": ' * (BIG // 6),
    "The quick brown fox jumps over the lazy dog. " * (BIG // 45),
]


def test_every_check_is_cheap_on_100_kb_replies():
    """Measured about 25 ms per reply with every check and 100 phrases sharing their first words;
    the bound leaves a wide margin for slow machines while catching quadratic work (seconds)."""
    phrases = tuple(f"{w} thing {i}" for i, w in enumerate(["alpha", "the", "quick", "over", "i"] * 20))
    every = RedFlagRules(
        checks=RedFlagChecks(
            min_output_chars=BIG,
            max_empty_line_share=0.5,
            self_correction=phrases,
            starts_with="<",
            ends_with=">",
            json_required=("a",),
            one_of=tuple(str(i) for i in range(1000)),
        )
    )
    strict = RedFlagRules.preset("strict")
    for text in PATHOLOGICAL:
        for rules, bound in ((every, 1.0), (strict, 0.5)):
            start = time.perf_counter()
            rules.check_all(reply(text))
            elapsed = time.perf_counter() - start
            assert elapsed < bound, (text[:20], elapsed)


# --------------------------------------------------------------------------- the spec fields


def test_a_spec_names_a_preset_and_its_own_checks():
    spec = RedFlagSpec.model_validate({"preset": "strict", "self_correction": False, "ends_with": "END"})
    assert spec.checks() == RedFlagChecks(self_correction=(), ends_with="END")
    assert spec.rules().checks == RedFlagChecks(
        min_output_chars=1, max_empty_line_share=0.5, self_correction=(), ends_with="END"
    )
    assert RedFlagSpec.model_validate("relaxed") == RedFlagSpec(preset="relaxed")  # the short form
    assert RedFlagSpec.model_validate({"self_correction": True}).checks().self_correction == SELF_CORRECTION_PHRASES
    custom = RedFlagSpec.model_validate({"self_correction": ["oops"], "json_required": [], "one_of": ["a", "b"]})
    assert custom.checks() == RedFlagChecks(self_correction=("oops",), json_required=(), one_of=("a", "b"))
    assert RedFlagSpec().checks().is_empty and RedFlagSpec().rules() == RedFlagRules()
    step = StepRedFlagSpec.model_validate({"preset": "strict", "state_shape": False})
    assert step.state_shape is False and step.rules().checks == PRESETS["strict"]
    assert StepRedFlagSpec.model_validate("strict").preset == "strict"


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"preset": "harsh"}, "preset", "Input should be 'paper', 'relaxed' or 'strict'"),
        ("harsh", "preset", "Input should be 'paper', 'relaxed' or 'strict'"),
        ({"max_empty_line_share": 2}, "max_empty_line_share", "less than or equal to 1"),
        ({"max_empty_line_share": True}, "max_empty_line_share", "a number, not a boolean"),
        ({"min_output_chars": -1}, "min_output_chars", "greater than or equal to 0"),
        ({"min_output_chars": True}, "min_output_chars", "a number, not a boolean"),
        ({"self_correction": "Wait,"}, "self_correction", "true (the built-in phrases), false, or a list"),
        ({"self_correction": [1]}, "self_correction", "a list of phrases in quotes"),
        ({"self_correction": []}, "self_correction", "list at least one phrase"),
        ({"self_correction": [" "]}, "self_correction", "a phrase cannot be blank"),
        ({"self_correction": ["x" * 101]}, "self_correction", "at most 100 characters"),
        ({"starts_with": ""}, "starts_with", "at least 1 character"),
        ({"one_of": []}, "one_of", "at least 1 item"),
        ({"one_of": [1, 2]}, "one_of", "write 1 in quotes"),
        ({"one_of": ["yes "]}, "one_of", "no leading or trailing whitespace"),
        ({"json_required": [""]}, "json_required", "no blank entries"),
        ({"shout": True}, "shout", "Extra inputs are not permitted"),
    ],
)
def test_bad_spec_values_name_the_field(data, where, message):
    with pytest.raises(ValidationError) as info:
        RedFlagSpec.model_validate(data)
    error = info.value.errors()[0]
    assert error["loc"][0] == where and message in error["msg"], error


def test_the_spec_layer_carries_the_preset_and_the_checks_only_when_set():
    plain = spec_settings(None, VotingSpec(), RedFlagSpec())
    assert "red_flags" not in plain and "red_flag_checks" not in plain
    layer = spec_settings(None, VotingSpec(), RedFlagSpec(preset="strict", ends_with="END"))
    assert layer["red_flags"] == "strict" and layer["red_flag_checks"] == RedFlagChecks(ends_with="END")


# --------------------------------------------------------------------------- the settings merge


def test_the_preset_takes_the_flag_then_the_spec_then_the_default():
    settings = Settings()
    spec = spec_settings(None, VotingSpec(), RedFlagSpec(preset="relaxed", ends_with="END"))
    default = merge_job_settings(settings)
    assert default.red_flags == "paper" and default.source("red_flags") == "default"
    assert default.red_flag_checks is None and default.rules() == RedFlagRules(max_output_tokens=750)
    from_spec = merge_job_settings(settings, spec=spec)
    assert from_spec.red_flags == "relaxed" and from_spec.source("red_flags") == "spec"
    assert from_spec.source("red_flag_checks") == "spec"
    assert from_spec.rules().checks == RedFlagChecks(min_output_chars=1, ends_with="END")
    flagged = merge_job_settings(settings, flags={"red_flags": "strict"}, spec=spec)
    assert flagged.red_flags == "strict" and flagged.source("red_flags") == "flag"
    assert flagged.rules().checks == replace(PRESETS["strict"], ends_with="END")  # the spec's checks still apply
    calibrated = merge_job_settings(settings, flags={"red_flags": "paper"}, spec=spec, calibration={"k": 3})
    assert calibrated.red_flags == "paper" and calibrated.source("red_flags") == "flag"
    report = flagged.report()
    assert report["red_flags"] == "strict" and report["red_flag_checks"]["ends_with"] == "END"


def test_an_unknown_preset_flag_is_one_usage_error_naming_the_flag():
    with pytest.raises(UsageError) as info:
        merge_job_settings(Settings(), flags={"red_flags": "harsh"})
    message = str(info.value)
    assert message.startswith("--red-flags: ") and "'paper', 'relaxed' or 'strict'" in message and "\n" not in message
