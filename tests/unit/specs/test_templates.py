"""Templates ({{name}} substitution only) and canonicalisation steps."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maker_cli.core.redflags import FORMAT, RedFlag
from maker_cli.errors import UsageError
from maker_cli.specs.canonical import (
    STEPS,
    CanonicalError,
    canonical_number,
    canonicalize,
)
from maker_cli.specs.templates import TemplateError, check_template, placeholders, render

# --- templates ------------------------------------------------------------------------------------


def canonical_key(value, steps):
    """A failed step is a FORMAT red flag in the judge; here, the flag it becomes."""
    try:
        return canonicalize(value, steps)
    except CanonicalError as exc:
        return RedFlag(FORMAT, str(exc))


def test_placeholders_in_order_once_with_spaces_inside_braces():
    assert placeholders("{{b}} {{ a }} {{b}} {{  c\t}}") == ("b", "a", "c")
    assert placeholders("no placeholders, {single} braces, {{ unclosed") == ()


def test_render_substitutes_and_allows_spaces():
    assert render("{{a}} x {{ b }}!", {"a": "1", "b": 2}) == "1 x 2!"


def test_render_keeps_other_braces_literal():
    template = 'Reply {"label": "x"} and {{ unclosed; then {{a}}'
    assert render(template, {"a": "A"}) == 'Reply {"label": "x"} and {{ unclosed; then A'


def test_values_are_never_re_expanded():
    out = render("{{a}}|{{b}}", {"a": "{{b}}", "b": "{{a}}"})
    assert out == "{{b}}|{{a}}"


@given(st.text())
def test_any_value_is_inserted_verbatim(value):
    assert render("<{{ x }}>", {"x": value}) == f"<{value}>"


def test_missing_value_is_a_usage_error_naming_the_input():
    with pytest.raises(UsageError, match="'b'"):
        render("{{a}} {{b}}", {"a": "1"})


@pytest.mark.parametrize(
    "template",
    ["{{a.b}}", "{{__class__}}", "{{ x | upper }}", "{{}}", "{{ }}", "{{1a}}", "{{a()}}", "{{a[0]}}", "{{a b}}"],
)
def test_anything_but_a_plain_name_is_a_template_error(template):
    with pytest.raises(TemplateError, match="invalid placeholder"):
        placeholders(template)
    with pytest.raises(TemplateError):
        render(template, {"a": "x", "x": "y", "__class__": "z"})


def test_no_attribute_access_or_code_even_for_dunder_values():
    # Names are looked up in the mapping only; nothing is evaluated.
    assert render("{{cls}}", {"cls": object}) == str(object)


def test_check_template_lists_unknown_names():
    assert check_template("{{a}}{{b}}", ["a", "b", "c"]) == ("a", "b")
    with pytest.raises(TemplateError, match=r"unknown placeholder \{\{b\}\} \(declared: a\)"):
        check_template("{{a}} {{b}}", ["a"])


# --- canonicalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("42", "42"),
        ("42.0", "42"),
        ("042", "42"),
        ("+42", "42"),
        (" 42 ", "42"),
        ("-0", "0"),
        ("0.000", "0"),
        ("-0.50", "-0.5"),
        (".5", "0.5"),
        ("1e3", "1000"),
        ("1.5E-2", "0.015"),
        ("1234567890123456789012345678901234.000", "1234567890123456789012345678901234"),
    ],
)
def test_number(text, canonical):
    assert canonical_number(text) == canonical


@pytest.mark.parametrize("text", ["", "abc", "1,000", "1 000", "NaN", "inf", "0x10", "1e99999", "42 apples", "--1"])
def test_not_a_number(text):
    with pytest.raises(CanonicalError):
        canonical_number(text)
    flag = canonical_key(text, ["number"])
    assert isinstance(flag, RedFlag) and flag.reason == FORMAT


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_number_is_canonical_for_equal_values(value):
    a = canonical_number(str(value))
    b = canonical_number(f"{value:f}0" if "." in f"{value:f}" else f"{value:f}.000")
    assert a == b
    assert Decimal(a) == value
    assert canonical_number(a) == a  # idempotent


def test_json_step_sorts_keys_and_compacts():
    assert canonicalize('{ "b": [1, 2], "a": {"y": 1, "x": "é"} }', ["json"]) == '{"a":{"x":"é","y":1},"b":[1,2]}'
    for bad in ["{'a': 1}", '{"a": 1,}', "NaN", "not json", ""]:
        flag = canonical_key(bad, ["json"])
        assert isinstance(flag, RedFlag) and flag.reason == FORMAT


def test_text_steps_and_their_order():
    assert canonicalize("  Hello \n\t World  ", ["collapse_whitespace"]) == " Hello World "
    assert canonicalize("  Hello \n\t World  ", ["collapse_whitespace", "strip", "lowercase"]) == "hello world"
    assert canonicalize(" 4.0 ", ["strip", "number"]) == "4"
    # Order matters: a step sees the output of the previous one.
    assert canonicalize('{"A": 1}', ["lowercase", "json"]) == '{"a":1}'
    assert canonicalize('{"A": 1}', ["json", "lowercase"]) == '{"a":1}'


def test_non_string_values_become_canonical_json_first():
    assert canonicalize({"b": 1, "a": [True, None]}, []) == '{"a":[true,null],"b":1}'
    assert canonicalize(42.0, ["number"]) == "42"


@given(st.text(), st.lists(st.sampled_from(sorted(STEPS)), max_size=4))
def test_canonical_key_never_raises(text, steps):
    result = canonical_key(text, steps)
    assert isinstance(result, (str, RedFlag))
