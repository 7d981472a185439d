"""The Hanoi task: prompts, the strict parser, the solver, the strategy and the simulated answers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.errors import UsageError
from maker_cli.tasks import hanoi, hanoi_sim
from maker_cli.tasks.hanoi_task import Hanoi


def brute_force_moves(n: int) -> list[tuple[int, int, int]]:
    """The classic recursive solution: tower 0 -> 2."""
    moves: list[tuple[int, int, int]] = []

    def solve(k: int, src: int, dst: int, via: int) -> None:
        if k == 0:
            return
        solve(k - 1, src, via, dst)
        moves.append((k, src, dst))
        solve(k - 1, via, dst, src)

    solve(n, 0, 2, 1)
    return moves


def replay(n: int, moves: list[tuple[int, int, int]]) -> list[hanoi.State]:
    """States before each move, plus the final state; asserts every move is legal."""
    state = hanoi.start_state(n)
    states = [state]
    for move in moves:
        nxt = hanoi.apply_move(state, move)
        assert nxt is not None, (state, move)
        state = nxt
        states.append(state)
    return states


def text(move, state, before: str = "") -> str:
    return f"{before}move = {list(move)}\nnext_state = {[list(p) for p in state]}"


# --------------------------------------------------------------------------- prompts


@pytest.mark.parametrize("n", [1, 3, 4, 20])
def test_system_prompt_has_rules_example_and_required_lines(n):
    system = hanoi.system_prompt(n)
    assert f"{n} disks" in system
    assert "move = [disk id, from peg, to peg]" in system
    assert "next_state = [[...], [...], [...]]" in system
    assert "[[1, 0, 2], [2, 0, 1], [1, 2, 1], [3, 0, 2], [1, 1, 0], [2, 1, 2], [1, 0, 2]]" in system
    assert "[[3, 2, 1], [], []]" in system
    assert hanoi.system_prompt(n) is system  # cached


@pytest.mark.parametrize(("n", "cycle"), [(1, "0 -> 2 -> 1 -> 0"), (3, "0 -> 2 -> 1 -> 0"), (20, "0 -> 1 -> 2 -> 0")])
def test_user_prompt_direction_previous_move_and_state(n, cycle):
    first = hanoi.user_prompt(n, hanoi.start_state(n), None)
    assert cycle in first
    other = "0 -> 1 -> 2 -> 0" if cycle.startswith("0 -> 2") else "0 -> 2 -> 1 -> 0"
    assert other not in first
    assert "Previous move: none" in first
    assert f"Current State: [[{', '.join(map(str, range(n, 0, -1)))}], [], []]" in first
    later = hanoi.user_prompt(n, hanoi.optimal_state(n, 1), hanoi.optimal_move(n, 0))
    assert f"Previous move: [1, 0, {2 if n % 2 else 1}]" in later


def test_disk_count_is_checked():
    for bad in (0, 26, -1):
        with pytest.raises(UsageError):
            hanoi.system_prompt(bad)
        with pytest.raises(UsageError):
            hanoi.steps_total(bad)
    assert hanoi.steps_total(20) == 1_048_575
    assert hanoi.steps_total(1) == 1


# --------------------------------------------------------------------------- the parser


def test_parser_accepts_the_required_format_with_text_before():
    response = "Disk 1 moved last, so I move the other disk.\nmove = [2, 0, 1]\nnext_state = [[3], [2], [1]]"
    result = hanoi.parse_response(response, 3)
    assert result == Answer("2,0,1|3;2;1", ((2, 0, 1), ((3,), (2,), (1,))))


def test_parser_takes_the_last_move_and_state_and_canonicalises():
    response = (
        "First idea: move = [1, 0, 1]\nnext_state = [[3, 2], [1], []]\n"
        "No, wait.\nMOVE =[ 1 ,0, 2 ]\nnext_state=[ [3 ,2] ,[ ], [ 1] ]\nDone."
    )
    result = hanoi.parse_response(response, 3)
    assert isinstance(result, Answer)
    assert result.key == "1,0,2|3,2;;1"
    assert result.value == ((1, 0, 2), ((3, 2), (), (1,)))
    # spelling does not change the vote key
    assert hanoi.parse_response(text((1, 0, 2), ((3, 2), (), (1,))), 3).key == result.key


def test_parser_takes_the_last_match_when_a_later_one_is_in_other_case():
    response = "move = [1, 0, 1]\nnext_state = [[3, 2], [1], []]\nMove = [1, 0, 2]\nNEXT_STATE = [[3, 2], [], [1]]"
    assert hanoi.parse_response(response, 3).key == "1,0,2|3,2;;1"


@pytest.mark.parametrize(
    ("response", "detail"),
    [
        ("", "no move line"),
        ("next_state = [[3, 2], [], [1]]", "no move line"),
        ("move = [1, 0, 2]", "no next_state line"),
        ("move = [1, 0, 2]\nnext_state = [[3, 2], [1]]", "no next_state line"),
        ("move = [1, 0]\nnext_state = [[3, 2], [], [1]]", "move is not 3 integers"),
        ("move = [1, 0, 2, 2]\nnext_state = [[3, 2], [], [1]]", "move is not 3 integers"),
        ("move = [1, 0, 2.0]\nnext_state = [[3, 2], [], [1]]", "move is not 3 integers"),
        ("move = [one, 0, 2]\nnext_state = [[3, 2], [], [1]]", "move is not 3 integers"),
        ("move = [disk id, from peg, to peg]\nnext_state = [[3, 2], [], [1]]", "move is not 3 integers"),
        ("move = [1, 0, 2]\nnext_state = [[3, 2.0], [], [1]]", "next_state holds a non-integer"),
        ("move = [1, 0, 2]\nnext_state = [[3, 2], [], ['1']]", "next_state holds a non-integer"),
        ("move = [1, 0, 2]\nnext_state = [[3 2], [], [1]]", "next_state holds a non-integer"),
        ("move = [1, 0, 2]\nnext_state = [[3, 02], [], [1]]", "next_state holds a non-integer"),
        ("move = [1, 0, 2]\nnext_state = [[3, 2,], [], [1]]", "next_state holds a non-integer"),
        ("move = [1, 0, 2]\nnext_state = [[3, 2], [], [1, 1]]", "next_state does not hold each disk exactly once"),
        ("move = [1, 0, 2]\nnext_state = [[3], [], [1]]", "next_state does not hold each disk exactly once"),
        ("move = [1, 0, 2]\nnext_state = [[3, 2], [4], [1]]", "next_state does not hold each disk exactly once"),
        ("move = [1, 0, 2]\nnext_state = [[3, 2], [0], [1]]", "next_state does not hold each disk exactly once"),
        ("move = [1, 0, 2]\nnext_state = [[3, 3], [], [1]]", "next_state does not hold each disk exactly once"),
    ],
)
def test_parser_red_flags_malformed_answers(response, detail):
    assert hanoi.parse_response(response, 3) == RedFlag(FORMAT, detail)


def test_parser_checks_format_not_legality():
    # Illegal (disk 3 onto 1, disk 1 under 2) but well-formed: voting decides, the verifier judges.
    result = hanoi.parse_response("move = [3, 0, 2]\nnext_state = [[], [1, 2], [3]]", 3)
    assert isinstance(result, Answer)
    assert result.value == ((3, 0, 2), ((), (1, 2), (3,)))
    assert isinstance(hanoi.parse_response("move = [-1, 7, 9]\nnext_state = [[3, 2, 1], [], []]", 3), Answer)


def test_parser_needs_word_boundaries():
    assert hanoi.parse_response("remove = [1, 0, 2]\nnext_state = [[3, 2], [], [1]]", 3) == RedFlag(
        FORMAT, "no move line"
    )
    assert hanoi.parse_response("move = [1, 0, 2]\nmy_next_state = [[3, 2], [], [1]]", 3) == RedFlag(
        FORMAT, "no next_state line"
    )


def test_judge_is_bound_to_n():
    judge = hanoi.make_judge(3)
    assert isinstance(judge(text((1, 0, 2), ((3, 2), (), (1,)))), Answer)
    assert isinstance(judge(text((1, 0, 2), ((4, 3, 2), (), (1,)))), RedFlag)


@settings(max_examples=400, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=25))
def test_arbitrary_text_never_crashes_the_parser(garbage, n):
    result = hanoi.parse_response(garbage, n)
    assert isinstance(result, (Answer, RedFlag))


_FRAGMENTS = st.sampled_from(
    ["move", "MOVE", "next_state", "=", "[", "]", ",", " ", "\n", "1", "2", "3", "-", "0", "01", "x", "[[", "]]"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40).map("".join))
def test_near_miss_text_never_crashes_the_parser(garbage):
    result = hanoi.parse_response(garbage, 3)
    assert isinstance(result, (Answer, RedFlag))
    if isinstance(result, Answer):
        move, state = result.value
        assert len(move) == 3 and sorted(state[0] + state[1] + state[2]) == [1, 2, 3]


@st.composite
def states_and_moves(draw):
    n = draw(st.integers(min_value=1, max_value=25))
    disks = draw(st.permutations(list(range(1, n + 1))))
    cut1 = draw(st.integers(min_value=0, max_value=n))
    cut2 = draw(st.integers(min_value=cut1, max_value=n))
    state = (tuple(disks[:cut1]), tuple(disks[cut1:cut2]), tuple(disks[cut2:]))
    move = tuple(draw(st.integers(min_value=-3, max_value=30)) for _ in range(3))
    return n, state, move


@settings(max_examples=300, deadline=None)
@given(states_and_moves(), st.sampled_from(["", "Reasoning first.\n", "move = [9, 9, 9]\n"]))
def test_format_then_parse_round_trips(case, before):
    n, state, move = case
    result = hanoi.parse_response(before + hanoi_sim.format_answer(move, state), n)
    assert isinstance(result, Answer)
    assert result.value == (move, state)
    assert result.key == hanoi.answer_key(move, state)
    assert hanoi.decode_state(hanoi.encode_state(state)) == state


# --------------------------------------------------------------------------- the solver


@pytest.mark.parametrize("n", range(1, 11))
def test_solver_matches_brute_force_replay(n):
    moves = brute_force_moves(n)
    states = replay(n, moves)
    assert len(moves) == hanoi.steps_total(n)
    assert states[-1] == hanoi.final_state(n)
    for i, move in enumerate(moves):
        assert hanoi.optimal_move(n, i) == move
        assert hanoi.optimal_state(n, i) == states[i]
    assert hanoi.optimal_state(n, len(moves)) == hanoi.final_state(n)


@pytest.mark.parametrize("n", [11, 16, 20, 25])
def test_solver_move_and_state_agree(n):
    total = hanoi.steps_total(n)
    for i in list(range(300)) + list(range(total - 300, total)) + [total // 3, total // 2, 2 * total // 3]:
        state = hanoi.optimal_state(n, i)
        move = hanoi.optimal_move(n, i)
        assert hanoi.apply_move(state, move) == hanoi.optimal_state(n, i + 1)
        assert hanoi.verify(n, i, move, hanoi.optimal_state(n, i + 1))
    assert hanoi.optimal_state(n, total) == hanoi.final_state(n)


def test_solver_rejects_out_of_range_steps():
    with pytest.raises(ValueError):
        hanoi.optimal_move(3, 7)
    with pytest.raises(ValueError):
        hanoi.optimal_state(3, 8)
    assert not hanoi.verify(3, 7, (1, 0, 2), hanoi.final_state(3))


def test_verify_flags_wrong_steps():
    n = 5
    good_state = hanoi.optimal_state(n, 4)
    assert hanoi.verify(n, 3, hanoi.optimal_move(n, 3), good_state)
    assert not hanoi.verify(n, 3, (9, 9, 9), good_state)
    assert not hanoi.verify(n, 3, hanoi.optimal_move(n, 3), hanoi.optimal_state(n, 3))


# --------------------------------------------------------------------------- the strategy


@pytest.mark.parametrize("n", range(1, 13))
def test_following_the_strategy_solves_the_puzzle_optimally(n):
    state, previous = hanoi.start_state(n), None
    for i in range(hanoi.steps_total(n)):
        found = hanoi.strategy_answer(n, state, previous)
        assert found is not None
        move, state = found
        assert move == hanoi.optimal_move(n, i)
        assert hanoi.verify(n, i, move, state)
        previous = move
    assert state == hanoi.final_state(n)
    assert hanoi.is_solved(n, state)


def test_strategy_answers_for_the_state_it_sees():
    # a wrong (but well-formed) state: the strategy still answers for it
    state = ((3,), (2, 1), ())
    assert hanoi.strategy_answer(3, state, None) == ((1, 1, 0), ((3, 1), (2,), ()))
    assert hanoi.strategy_answer(3, state, (1, 0, 1)) == ((3, 0, 2), ((), (2, 1), (3,)))
    # stuck: disk 1 is buried, or every other peg is empty
    assert hanoi.strategy_answer(3, ((3, 1, 2), (), ()), None) is None
    assert hanoi.strategy_answer(3, ((3, 2, 1), (), ()), (1, 2, 0)) is None


# --------------------------------------------------------------------------- simulated answers


def _positions(n: int) -> list[tuple[hanoi.State, tuple[int, int, int] | None]]:
    total = hanoi.steps_total(n)
    picks = sorted({i for i in (0, 1, 2, total // 2, total - 1) if i < total})
    return [(hanoi.optimal_state(n, i), hanoi.optimal_move(n, i - 1) if i else None) for i in picks]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 20])
def test_wrong_answers_are_well_formed_distinct_and_wrong(n):
    span = min((2 * n + 1) * 6 * n - 2, 400)
    for state, previous in _positions(n):
        correct = hanoi.parse_response(hanoi_sim.reference(n, state, previous).correct, n)
        assert isinstance(correct, Answer)
        keys = {correct.key}
        for variant in range(span + 1):
            result = hanoi.parse_response(hanoi_sim.wrong_answer(n, state, previous, variant), n)
            assert isinstance(result, Answer), variant
            assert result.key not in keys, (variant, result.key)
            keys.add(result.key)


def test_wrong_variant_zero_is_the_right_disk_to_the_other_peg():
    n = 3
    state, previous = hanoi.start_state(n), None
    zero = hanoi_sim.wrong_answer(n, state, previous, 0)
    assert zero == hanoi_sim.wrong_answer(n, state, previous, 0)
    result = hanoi.parse_response(zero, n)
    assert result.value == ((1, 0, 1), ((3, 2), (1,), ()))
    assert hanoi_sim.reference(n, state, previous).wrong(0) == zero


def test_reference_correct_text_is_the_strategy_answer():
    n = 6
    for i in (0, 1, 17, 62):
        state, previous = hanoi.optimal_state(n, i), hanoi.optimal_move(n, i - 1) if i else None
        result = hanoi.parse_response(hanoi_sim.reference(n, state, previous).correct, n)
        assert result.value == (hanoi.optimal_move(n, i), hanoi.optimal_state(n, i + 1))


def test_reference_for_a_stuck_state_is_red_flagged():
    ref = hanoi_sim.reference(3, ((3, 1, 2), (), ()), None)
    assert isinstance(hanoi.parse_response(ref.correct, 3), RedFlag)
    assert isinstance(hanoi.parse_response(ref.wrong(0), 3), Answer)
    assert isinstance(hanoi.parse_response(ref.wrong(5), 3), Answer)


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_reference_from_prompt_round_trip(n):
    for state, previous in _positions(n):
        system, user = hanoi.system_prompt(n), hanoi.user_prompt(n, state, previous)
        assert hanoi_sim.parse_prompt(system, user) == (n, state, previous)
        ref = hanoi_sim.reference_from_prompt(system, user)
        expected = hanoi_sim.reference(n, state, previous)
        assert ref is not None
        assert ref.correct == expected.correct
        assert ref.wrong(0) == expected.wrong(0) and ref.wrong(9) == expected.wrong(9)


def test_reference_from_prompt_rejects_other_prompts():
    assert hanoi_sim.reference_from_prompt("You are a helpful assistant.", "What is 2 + 2?") is None
    user = hanoi.user_prompt(3, hanoi.start_state(3), None)
    assert hanoi_sim.reference_from_prompt(hanoi.system_prompt(4), user) is None  # disk count mismatch


def test_step_prompt_attaches_a_reference_only_for_simulated_models():
    n = 4
    real = Hanoi(n).prompt(0, hanoi.start_state(n), None, simulated=False)
    assert real.reference is None and real.system == hanoi.system_prompt(n)
    simulated = Hanoi(n).prompt(0, hanoi.start_state(n), None, simulated=True)
    assert simulated.reference is not None
    assert re.search(r"move = \[1, 0, 1\]", simulated.reference.correct)
