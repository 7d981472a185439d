"""What the simulated model answers to a Hanoi step: the strategy's response and wrong ones.

`reference(n, state, previous)` gives the correct response (what a perfect microagent answers for
the state it sees) and `wrong(variant)`, well-formed wrong responses that the strict parser reads
as different answers: variant 0 moves the right disk to the other peg (the answer every wrong
sample shares in `errors=collide`); other variants enumerate distinct wrong (move, state) pairs.
`reference_from_prompt` rebuilds a reference from a prompt's messages alone (for the fake HTTP
server). Only simulated models read these; the voting never does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from maker_cli.providers.base import Reference
from maker_cli.tasks.hanoi import (
    _PEG,
    MAX_DISKS,
    MIN_DISKS,
    REASONING_LINE,
    Move,
    State,
    _ints,
    disk1_direction,
    move_text,
    state_text,
    strategy_answer,
)

NO_MOVE_TEXT = "There is no legal move under the strategy from this state."


def format_answer(move: Sequence[int], next_state: Sequence[Sequence[int]]) -> str:
    """The response text a model gives: a short reasoning line, then the two required lines."""
    return f"{REASONING_LINE}\nmove = {move_text(move)}\nnext_state = {state_text(next_state)}"


def _base_answer(n: int, state: Sequence[Sequence[int]], previous_move: Sequence[int] | None) -> tuple[Move, State]:
    """The strategy's answer, or for a stuck state a stand-in to derive wrong answers from."""
    found = strategy_answer(n, state, previous_move)
    if found is not None:
        return found
    pegs = tuple(tuple(p) for p in state)
    src = next((p for p in range(3) if 1 in pegs[p]), 0)
    return (1, src, (src + disk1_direction(n)) % 3), (pegs[0], pegs[1], pegs[2])


def _move_at(base: int, j: int, count: int) -> Move:
    """The j-th move of the 6n moves (disk, src, dst != src), rotated so that j = 0 is `base`."""
    b = (base + j) % count
    disk, rest = divmod(b, 6)
    src, r = divmod(rest, 2)
    return (disk + 1, src, (src + 1 + r) % 3)


def _move_index(move: Move) -> int:
    disk, src, dst = move
    return (disk - 1) * 6 + src * 2 + (dst - src - 1) % 3


def _relocate(state: State, disk: int, peg: int) -> State:
    pegs = [tuple(x for x in p if x != disk) for p in state]
    pegs[peg] = pegs[peg] + (disk,)
    return (pegs[0], pegs[1], pegs[2])


def _peg_of(state: State, disk: int) -> int:
    return next(p for p in range(3) if disk in state[p])


def _wrong_pair(n: int, move: Move, next_state: State, variant: int) -> tuple[Move, State]:
    """Variant 0: the right disk to the other peg. Others: an enumeration of (move, state) pairs.

    Pairs are indexed u = s + S * j, where j picks a move (j = 0: the right one) and s picks a state
    (s = 0: the right one; s = 1 + 2(d-1) + r moves disk d to one of its two other pegs). u = 0 is the
    right answer and u0 is variant 0; variants 1.. walk the rest, so the first S*M - 2 are distinct.
    """
    disk, src, dst = move
    other = 3 - src - dst
    zero = ((disk, src, other), _relocate(next_state, disk, other))
    if variant == 0:
        return zero
    s_count, m_count = 2 * n + 1, 6 * n
    base = _move_index(move)
    j0 = (_move_index(zero[0]) - base) % m_count
    r0 = (other - _peg_of(next_state, disk) - 1) % 3
    u0 = (1 + 2 * (disk - 1) + r0) + s_count * j0
    u = 1 + (variant - 1) % (s_count * m_count - 2)
    if u >= u0:
        u += 1
    j, s = divmod(u, s_count)
    wrong_state = next_state
    if s:
        d, r = divmod(s - 1, 2)
        d += 1
        wrong_state = _relocate(next_state, d, (_peg_of(next_state, d) + 1 + r) % 3)
    return _move_at(base, j, m_count), wrong_state


def wrong_answer(n: int, state: Sequence[Sequence[int]], previous_move: Sequence[int] | None, variant: int) -> str:
    """A well-formed wrong response, deterministic in (state, previous move, variant).

    Variant 0 moves the right disk to the other peg (with the matching next_state); variants
    1 .. (2n+1)*6n - 2 differ from each other, from variant 0 and from the correct answer.
    """
    move, next_state = _base_answer(n, state, previous_move)
    return format_answer(*_wrong_pair(n, move, next_state, variant))


def reference(n: int, state: Sequence[Sequence[int]], previous_move: Sequence[int] | None) -> Reference:
    """What the simulated model answers: the strategy's response, and lazily built wrong ones.

    For a stuck (broken) state the correct text is a refusal, which the parser red-flags.
    """
    found = strategy_answer(n, state, previous_move)
    correct = format_answer(*found) if found is not None else NO_MOVE_TEXT
    frozen_state = tuple(tuple(p) for p in state)
    prev = tuple(previous_move) if previous_move is not None else None

    def wrong(variant: int) -> str:
        return wrong_answer(n, frozen_state, prev, variant)

    return Reference(correct, wrong)


# --------------------------------------------------------------------------- prompts back to a reference

_PROMPT_N = re.compile(r"puzzle with (\d+) disks", re.ASCII)
_PROMPT_PREV = re.compile(
    r"^Previous move: (none|\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\])\s*$", re.MULTILINE | re.ASCII
)
_PROMPT_STATE = re.compile(rf"^Current State: \[\s*{_PEG}\s*,\s*{_PEG}\s*,\s*{_PEG}\s*\]\s*$", re.MULTILINE | re.ASCII)


def parse_prompt(system: str, user: str) -> tuple[int, State, Move | None] | None:
    """(n, current state, previous move) from a prompt built by this module, or None."""
    found_n = _PROMPT_N.search(system or "")
    prev_m = _PROMPT_PREV.search(user or "")
    state_m = _PROMPT_STATE.search(user or "")
    if found_n is None or prev_m is None or state_m is None:
        return None
    n = int(found_n[1])
    if not MIN_DISKS <= n <= MAX_DISKS:
        return None
    g1, g2, g3 = state_m.groups()
    state: State = (_ints(g1), _ints(g2), _ints(g3))
    if sorted(state[0] + state[1] + state[2]) != list(range(1, n + 1)):
        return None
    prev = None if prev_m[1] == "none" else (int(prev_m[2]), int(prev_m[3]), int(prev_m[4]))
    return n, state, prev


def reference_from_prompt(system: str, user: str) -> Reference | None:
    """The simulated model's reference for a Hanoi prompt seen only as messages, or None."""
    parsed = parse_prompt(system, user)
    return None if parsed is None else reference(*parsed)
