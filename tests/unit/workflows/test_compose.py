"""Composing a workflow's final result from its node results: every function and operation, the
errors (one line, naming the function and the node), exact arithmetic, and properties (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from maker_cli.errors import UsageError
from maker_cli.workflows.compose import (
    COMPOSE_FUNCTIONS,
    MAX_INTEGER_DIGITS,
    REDUCE_OPERATIONS,
    ComposeError,
    NodeResult,
    check_compose,
    compose,
)


def node(value, node_id="n", answer=None, kind="question"):
    return NodeResult(id=node_id, kind=kind, answer=str(value) if answer is None else answer, value=value)


def nodes(*values):
    return [node(v, node_id=f"n{i}") for i, v in enumerate(values)]


def reduce(operation, *values):
    return compose("reduce", nodes(*values), operation=operation)


def error_of(function, results, operation=None):
    with pytest.raises(ComposeError) as caught:
        compose(function, results, operation=operation)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- the functions


def test_identity_is_the_one_value():
    assert compose("identity", [node({"a": [1, 2]})]) == {"a": [1, 2]}
    assert compose("identity", [node(None)]) is None


@pytest.mark.parametrize("count", [0, 2, 3])
def test_identity_says_how_many_it_got(count):
    message = error_of("identity", nodes(*range(count)))
    assert "identity" in message
    assert f"got {count}" in message


def test_concatenate_joins_the_answers():
    results = [node(1, "a", answer="one"), node(2, "b", answer="two"), node(3, "c", answer="three")]
    assert compose("concatenate", results) == "one\ntwo\nthree"
    assert compose("concatenate", results, separator=", ") == "one, two, three"
    assert compose("concatenate", results, separator="") == "onetwothree"


def test_sequence_is_the_values_in_order():
    assert compose("sequence", nodes(3, "x", [1], {"k": True}, None)) == [3, "x", [1], {"k": True}, None]


def test_object_merge_later_keys_win():
    results = nodes({"a": 1, "b": {"x": 1}}, {"b": {"y": 2}, "c": 3}, {"a": 9})
    assert compose("object_merge", results) == {"a": 9, "b": {"y": 2}, "c": 3}  # shallow
    assert results[0].value == {"a": 1, "b": {"x": 1}}  # the inputs are left as they were


def test_object_merge_without_objects_keys_the_values_by_node():
    results = [node(3, "count_a"), node("x", "label"), node([1, 2], "items")]
    assert compose("object_merge", results) == {"count_a": 3, "label": "x", "items": [1, 2]}


def test_object_merge_of_objects_and_others_names_the_node():
    message = error_of("object_merge", [node({"a": 1}, "first"), node([1, 2], "second"), node(3, "third")])
    assert "object_merge" in message
    assert "'second'" in message
    assert "[1, 2]" in message


def test_last_only_is_the_last_value():
    assert compose("last_only", nodes(1, "two", {"three": 3})) == {"three": 3}


@pytest.mark.parametrize("function", ["concatenate", "sequence", "object_merge", "last_only"])
def test_no_results_is_an_error(function):
    assert function in error_of(function, [])


@pytest.mark.parametrize("operation", REDUCE_OPERATIONS)
def test_reduce_of_no_results_is_an_error(operation):
    assert f"reduce {operation}" in error_of("reduce", [], operation)


def test_llm_is_for_the_runner():
    assert "runner" in error_of("llm", nodes(1))


def test_compose_error_is_a_usage_error():
    assert issubclass(ComposeError, UsageError)
    assert ComposeError.exit_code == 2


@pytest.mark.parametrize(
    ("function", "operation", "words"),
    [
        ("average", None, "must be one of"),
        ("reduce", None, "needs an operation"),
        ("reduce", "mean", "must be one of"),
        ("sequence", "sum", "reduce function only"),
    ],
)
def test_compose_checks_its_function_and_operation(function, operation, words):
    assert words in error_of(function, nodes(1), operation)


# --------------------------------------------------------------------------- reduce: numbers


def test_sum_of_ints_stays_an_int():
    result = reduce("sum", 1, 2, 3)
    assert result == 6
    assert type(result) is int


def test_sum_reads_numeric_strings():
    assert reduce("sum", "42", " -2 ", "+1") == 41
    assert type(reduce("sum", "42", 1)) is int
    assert reduce("sum", "4.5", 1) == 5.5
    assert reduce("sum", "1e3", ".5", "2.") == 1002.5


def test_sum_of_floats_is_exact():
    assert reduce("sum", *[0.1] * 10) == 1.0
    assert reduce("sum", *["0.1"] * 10) == 1.0
    assert reduce("sum", 1e100, 1.0, -1e100) == 1.0
    result = reduce("sum", 0.5, 0.5)
    assert result == 1.0
    assert type(result) is float


def test_sum_of_mixed_ints_and_floats_is_a_float():
    result = reduce("sum", 1, 2.5, 3)
    assert result == 6.5
    assert type(result) is float


def test_multiply():
    assert reduce("multiply", 2, 3, 7) == 42
    assert type(reduce("multiply", 2, "3")) is int
    assert reduce("multiply", 2, 0.5) == 1.0
    assert reduce("multiply", "-4", "2.5") == -10.0
    assert reduce("multiply", 5) == 5


def test_multiply_bounds_its_integers():
    big = 10 ** (MAX_INTEGER_DIGITS - 1)
    assert reduce("multiply", big, 0, big) == 0
    message = error_of("reduce", nodes(big, big), "multiply")
    assert f"more than {MAX_INTEGER_DIGITS} digits" in message
    assert "\n" not in message


def test_floats_that_overflow_are_errors():
    assert "too large" in error_of("reduce", nodes(1e308, 1e308), "sum")
    assert "too large" in error_of("reduce", nodes(1e308, 10.0), "multiply")
    assert "too large" in error_of("reduce", nodes(10 ** (MAX_INTEGER_DIGITS - 1), 1.5), "multiply")


def test_max_and_min_keep_the_value_as_given():
    assert reduce("max", 3, 7.5, "9", -1) == 9
    assert type(reduce("max", 3, 7.5, "9", -1)) is int
    assert reduce("min", 3, 7.5, "9", -1) == -1
    assert reduce("min", "2.5", 3) == 2.5
    assert reduce("max", 4) == 4


@pytest.mark.parametrize("operation", ["sum", "multiply", "max", "min"])
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True"),
        (None, "None"),
        ("forty-two", "'forty-two'"),
        ([1, 2], "[1, 2]"),
        ({"n": 1}, "{'n': 1}"),
        ("1_000", "'1_000'"),
        ("0x10", "'0x10'"),
        ("nan", "'nan'"),
        ("inf", "'inf'"),
        (math.inf, "inf"),
        (math.nan, "nan"),
        ("__import__('os')", "\"__import__('os')\""),
        ("٤٢", "'٤٢'"),  # Arabic-Indic digits: int() would read them, a decimal number is ASCII
    ],
)
def test_a_value_that_is_not_a_number_names_the_node(operation, value, shown):
    results = [node(1, "good"), node(value, "count_b", answer="whatever")]
    message = error_of("reduce", results, operation)
    assert message.startswith(f"compose reduce {operation}: node 'count_b' has ")
    assert shown in message


def test_error_messages_show_at_most_60_characters_of_a_value():
    long_text = "x" * 10_000 + "\n" + "y" * 10
    message = error_of("reduce", [node(long_text, "long")], "sum")
    shown = message.split(" has ", 1)[1].split(", which", 1)[0]
    assert len(shown) == 60
    assert shown.endswith("…")
    assert "\n" not in message
    nested = [{"key\n": ["v" * 100] * 100}] * 100
    shown = error_of("reduce", [node(nested, "nested")], "max").split(" has ", 1)[1].split(", which", 1)[0]
    assert len(shown) == 60
    assert shown.startswith("[{'key\\n': ['vvv")


def test_error_messages_show_values_of_other_types_by_their_type():
    assert "has <set>, which" in error_of("reduce", [node({1}, "odd", answer="odd")], "sum")
    wrapped: object = {"k": 1}
    for _ in range(60):
        wrapped = [wrapped]
    assert "has " + "[" * 59 + "…, which" in error_of("reduce", [node(wrapped, "deep", answer="deep")], "sum")


def test_a_deeply_nested_value_is_shown_without_recursing_through_it():
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    message = error_of("reduce", [node(deep, "deep", answer="deep")], "sum")
    assert "'deep' has [[[[" in message


def test_huge_numbers_are_refused_without_reading_them():
    message = error_of("reduce", [node("9" * 100_000, "huge")], "sum")
    assert f"at most {MAX_INTEGER_DIGITS} digits" in message
    message = error_of("reduce", [node(10**5000, "huge", answer="huge")], "max")
    assert "an integer of" in message
    assert f"more than {MAX_INTEGER_DIGITS} digits" in message


# --------------------------------------------------------------------------- reduce: booleans


@pytest.mark.parametrize(
    ("values", "expected_and", "expected_or"),
    [
        ((True, True), True, True),
        ((True, False), False, True),
        ((False, False), False, False),
        (("TRUE", " true ", 1), True, True),
        (("False", 0, True), False, True),
        ((0, "false"), False, False),
        ((True,), True, True),
    ],
)
def test_and_or(values, expected_and, expected_or):
    assert reduce("and", *values) is expected_and
    assert reduce("or", *values) is expected_or


@pytest.mark.parametrize("operation", ["and", "or"])
@pytest.mark.parametrize("value", [2, -1, 1.0, "yes", "", None, [True], "t" * 1000])
def test_a_value_that_is_not_a_boolean_names_the_node(operation, value):
    # checked even after the result is known (False for and, True for or)
    results = [node(operation == "or", "first"), node(value, "flag")]
    message = error_of("reduce", results, operation)
    assert message.startswith(f"compose reduce {operation}: node 'flag' has ")
    assert "not a boolean" in message


# --------------------------------------------------------------------------- reduce: concat


def test_concat_joins_answers_without_a_separator():
    results = [node(1, "a", answer="ab"), node(2, "b", answer="cd"), node("x", "c", answer="e")]
    assert compose("reduce", results, operation="concat") == "abcde"


def test_concat_of_lists_is_one_list():
    assert reduce("concat", [1, 2], [], [3, [4]]) == [1, 2, 3, [4]]


def test_concat_of_some_lists_joins_the_answers():
    results = [node([1], "a", answer="[1]"), node(2, "b", answer="2")]
    assert compose("reduce", results, operation="concat") == "[1]2"


# --------------------------------------------------------------------------- check_compose


@pytest.mark.parametrize("function", COMPOSE_FUNCTIONS)
def test_check_compose_accepts_every_function(function):
    if function == "reduce":
        for operation in REDUCE_OPERATIONS:
            check_compose(function, operation, None)
    else:
        check_compose(function, None, None)
    check_compose("concatenate", None, ", ")


@pytest.mark.parametrize(
    ("function", "operation", "separator", "words"),
    [
        ("average", None, None, "compose function must be one of identity, concatenate"),
        ("reduce", None, None, "reduce needs an operation: one of sum, multiply"),
        (
            "reduce",
            "mean",
            None,
            "reduce operation must be one of sum, multiply, max, min, and, or, concat, not 'mean'",
        ),
        ("sequence", "sum", None, "an operation ('sum') is for the reduce function only, not sequence"),
        ("identity", None, "\n", "a separator is for the concatenate function only, not identity"),
        ("reduce", "sum", ",", "a separator is for the concatenate function only, not reduce"),
    ],
)
def test_check_compose_refuses(function, operation, separator, words):
    with pytest.raises(ValueError) as caught:
        check_compose(function, operation, separator)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- properties

ints = st.integers(min_value=-(10**30), max_value=10**30)
finite_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
numbers = st.one_of(ints, finite_floats)


@given(st.lists(ints, min_size=1, max_size=50))
def test_sum_of_ints_is_pythons_sum(values):
    result = reduce("sum", *values)
    assert result == sum(values)
    assert type(result) is int


@given(st.lists(ints, min_size=1, max_size=50))
def test_sum_of_int_strings_is_pythons_sum(values):
    assert reduce("sum", *[str(v) for v in values]) == sum(values)


@given(st.lists(finite_floats, min_size=1, max_size=50))
def test_sum_of_floats_is_fsum(values):
    assert reduce("sum", *values) == math.fsum(values)


@given(st.lists(st.integers(min_value=-1000, max_value=1000), min_size=1, max_size=30))
def test_product_of_ints_is_pythons_product(values):
    assert reduce("multiply", *values) == math.prod(values)


@given(st.lists(numbers, min_size=1, max_size=50))
def test_max_and_min_agree_with_the_builtins(values):
    assert reduce("max", *values) == max(values)
    assert reduce("min", *values) == min(values)


@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_and_or_agree_with_all_any(values):
    assert reduce("and", *values) is all(values)
    assert reduce("or", *values) is any(values)


@given(st.lists(st.text(max_size=20), min_size=1, max_size=20), st.text(min_size=1, max_size=5))
def test_concatenate_then_split_gives_the_answers_back(answers, separator):
    assume(not any(separator in answer for answer in answers))
    results = [node(None, f"n{i}", answer=answer) for i, answer in enumerate(answers)]
    assert compose("concatenate", results, separator=separator).split(separator) == answers


@given(st.lists(st.lists(ints, max_size=5), min_size=1, max_size=10))
def test_concat_of_lists_is_the_lists_added(lists):
    assert reduce("concat", *lists) == [x for part in lists for x in part]
