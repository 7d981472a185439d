"""Towers of Hanoi as a MAKER task: prompts, the strict parser, the solver and the verifier.

n disks (1 = smallest .. n), three pegs 0..2, each peg listed bottom -> top; the tower starts on peg 0
and must end on peg 2, which takes 2^n - 1 moves. Disk 1 moves in a fixed cyclic direction:
0 -> 1 -> 2 -> 0 for an even number of disks, 0 -> 2 -> 1 -> 0 for an odd number.

Each step is one microagent call that sees the strategy, the previous move and the current state,
and answers the move and the resulting state (`move = [...]`, `next_state = [[...], [...], [...]]`).
The parser only checks the format, never legality: judging answers against the state or the known
solution inside the vote would be an oracle. `verify` compares a *decided* step with the optimal
solution, apart from the voting. Pure module: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.core.step import Judge
from maker_cli.errors import UsageError
from maker_cli.tasks.hanoi_prompt import BUILTIN, BoundPrompt

Move = tuple[int, int, int]
State = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]

MIN_DISKS = 1
MAX_DISKS = 25
REASONING_LINE = "Applying the strategy to the current state."


# --------------------------------------------------------------------------- basics


def check_disks(n: int) -> int:
    """n itself if 1 <= n <= 25, else UsageError."""
    if not isinstance(n, int) or isinstance(n, bool) or not MIN_DISKS <= n <= MAX_DISKS:
        raise UsageError(f"the number of disks must be an integer from {MIN_DISKS} to {MAX_DISKS}, not {n!r}")
    return n


def steps_total(n: int) -> int:
    """Moves in the optimal solution: 2^n - 1."""
    return (1 << check_disks(n)) - 1


def disk1_direction(n: int) -> int:
    """+1 (0 -> 1 -> 2 -> 0) for an even number of disks, -1 (0 -> 2 -> 1 -> 0) for odd."""
    return 1 if n % 2 == 0 else -1


def start_state(n: int) -> State:
    return (tuple(range(check_disks(n), 0, -1)), (), ())


def final_state(n: int) -> State:
    return ((), (), tuple(range(check_disks(n), 0, -1)))


def is_solved(n: int, state: Sequence[Sequence[int]]) -> bool:
    return tuple(map(tuple, state)) == final_state(n)


def state_text(state: Sequence[Sequence[int]]) -> str:
    """`[[3, 2], [], [1]]`, as prompts and responses write a state."""
    return "[" + ", ".join(["[" + ", ".join(map(str, peg)) + "]" for peg in state]) + "]"


def move_text(move: Sequence[int] | None) -> str:
    """`[1, 0, 2]`, or `none` before the first move."""
    return "none" if move is None else "[" + ", ".join(map(str, move)) + "]"


def encode_state(state: Sequence[Sequence[int]]) -> str:
    """Compact text for storage: `3,2;;1` (pegs joined by ';', disks bottom -> top by ',')."""
    return ";".join([",".join(map(str, peg)) for peg in state])


def decode_state(text: str) -> State:
    """The inverse of `encode_state`."""
    pegs = text.split(";")
    if len(pegs) != 3:
        raise ValueError(f"not an encoded Hanoi state: {text!r}")
    a, b, c = (tuple(int(x) for x in peg.split(",")) if peg else () for peg in pegs)
    return (a, b, c)


def answer_key(move: Sequence[int], next_state: Sequence[Sequence[int]]) -> str:
    """The canonical vote key of an answer: `1,0,2|3,2;;1`."""
    return f"{move[0]},{move[1]},{move[2]}|{encode_state(next_state)}"


# --------------------------------------------------------------------------- prompts


_BUILTIN: dict[int, BoundPrompt] = {}


def _builtin(n: int) -> BoundPrompt:
    bound = _BUILTIN.get(n)
    if bound is None:
        bound = _BUILTIN[n] = BUILTIN.bind(check_disks(n))
    return bound


def system_prompt(n: int) -> str:
    """The built-in prompt's constant system part for n disks: the puzzle, the rules, an example
    and the output format (`maker_cli.tasks.hanoi_prompt` holds the template)."""
    return _builtin(n).system


def user_prompt(n: int, state: Sequence[Sequence[int]], previous_move: Sequence[int] | None) -> str:
    """The built-in prompt's per-step user part: the strategy for this n, the previous move and
    the current state."""
    return _builtin(n).user(state_text(state), move_text(previous_move))


# --------------------------------------------------------------------------- the strict parser

# As the authors' strict parser: the last `move = [...]` (no nested brackets) and the last
# `next_state = [[..], [..], [..]]`, case-insensitive; then the contents must be plain decimal
# integers (no leading zeros, trailing commas, underscores or floats; a minus sign only in the move).
_MOVE_RE = re.compile(r"\bmove\b\s*=\s*\[([^\[\]]*)\]", re.IGNORECASE | re.ASCII)
_STATE_RE = re.compile(
    r"\bnext_state\b\s*=\s*\[\s*\[([^\[\]]*)\]\s*,\s*\[([^\[\]]*)\]\s*,\s*\[([^\[\]]*)\]\s*\]",
    re.IGNORECASE | re.ASCII,
)
_INT = r"-?(?:0|[1-9]\d*)"
_NAT = r"(?:0|[1-9]\d*)"
_MOVE_INTS = re.compile(rf"\s*({_INT})\s*,\s*({_INT})\s*,\s*({_INT})\s*", re.ASCII)
_PEG_BODY = rf"\s*((?:{_NAT}\s*,\s*)*{_NAT})?\s*"
_PEG = rf"\[{_PEG_BODY}\]"
_PEG_STRICT = re.compile(_PEG_BODY, re.ASCII)
_DISK_TOKENS = {str(d): d for d in range(1, MAX_DISKS + 1)}
_DISK_SETS = tuple(frozenset(range(1, k + 1)) for k in range(MAX_DISKS + 1))

_NO_MOVE = RedFlag(FORMAT, "no move line")
_NO_STATE = RedFlag(FORMAT, "no next_state line")
_BAD_MOVE = RedFlag(FORMAT, "move is not 3 integers")
_BAD_STATE = RedFlag(FORMAT, "next_state holds a non-integer")
_BAD_DISKS = RedFlag(FORMAT, "next_state does not hold each disk exactly once")


def _last(pattern: re.Pattern[str], text: str, keyword: str) -> re.Match[str] | None:
    """The last match of `pattern` (which starts with `keyword`, any case)."""
    pos = text.rfind(keyword)
    if pos >= 0:
        found = pattern.match(text, pos)
        # the fast path holds only if no later occurrence (in any case) could match
        if found is not None and keyword not in text[found.end() :].lower():
            return found
    matches = list(pattern.finditer(text))
    return matches[-1] if matches else None


def _ints(group: str | None) -> tuple[int, ...]:
    return tuple(map(int, group.split(","))) if group else ()


def _peg(group: str, tokens: Mapping[str, int] = _DISK_TOKENS) -> tuple[tuple[int, ...], str] | None:
    """(disks, canonical text) of one peg's list body, or None if it is not a list of integers."""
    canon = group.replace(", ", ",")
    if " " not in canon:  # fast path: the usual `20, 19, 18` spelling of disk numbers
        if not canon:
            return (), ""
        try:
            return tuple(map(tokens.__getitem__, canon.split(","))), canon
        except KeyError:
            pass
    strict = _PEG_STRICT.fullmatch(group)
    if strict is None:
        return None
    body = strict[1]
    return (tuple(map(int, body.split(","))), "".join(body.split())) if body else ((), "")


def parse_response(text: str, n: int) -> Answer | RedFlag:
    """Answer(key, (move, next_state)) or RedFlag(FORMAT, detail). Format only; never raises."""
    if not isinstance(text, str):
        return RedFlag(FORMAT, "not text")
    m = _last(_MOVE_RE, text, "move")
    if m is None:
        return _NO_MOVE
    s = _last(_STATE_RE, text, "next_state")
    if s is None:
        return _NO_STATE
    mi = _MOVE_INTS.fullmatch(m[1])
    if mi is None:
        return _BAD_MOVE
    g1, g2, g3 = s.groups()
    p1, p2, p3 = _peg(g1), _peg(g2), _peg(g3)
    if p1 is None or p2 is None or p3 is None:
        return _BAD_STATE
    a, b, c = p1[0], p2[0], p3[0]
    disks = a + b + c
    if len(disks) != n or n >= len(_DISK_SETS) or _DISK_SETS[n] != set(disks):
        return _BAD_DISKS
    move = (int(mi[1]), int(mi[2]), int(mi[3]))
    return Answer(f"{move[0]},{move[1]},{move[2]}|{p1[1]};{p2[1]};{p3[1]}", (move, (a, b, c)))


def make_judge(n: int) -> Judge:
    """The engine's judge for n disks: parse_response bound to n."""
    check_disks(n)

    def judge(text: str) -> Answer | RedFlag:
        return parse_response(text, n)

    return judge


# --------------------------------------------------------------------------- the optimal solution


def _disk_direction(n: int, disk: int) -> int:
    # Disk n moves once, 0 -> 2 (direction -1); directions alternate with the disk's parity.
    return -1 if (n - disk) % 2 == 0 else 1


def optimal_move(n: int, i: int) -> Move:
    """The move of step i (0-based) of the optimal solution, computed from i alone in O(1)."""
    if not 0 <= i < (1 << n) - 1:
        raise ValueError(f"step {i} is outside 0..{(1 << n) - 2} for {n} disks")
    m = i + 1
    disk = (m & -m).bit_length()  # the lowest set bit of the move number
    moved_before = (i + (1 << (disk - 1))) >> disk
    d = _disk_direction(n, disk)
    src = (moved_before * d) % 3
    return (disk, src, (src + d) % 3)


def optimal_state(n: int, i: int) -> State:
    """The state before step i (i = 2^n - 1: the solved state), from i alone in O(n)."""
    if not 0 <= i <= (1 << n) - 1:
        raise ValueError(f"step {i} is outside 0..{(1 << n) - 1} for {n} disks")
    pegs: tuple[list[int], list[int], list[int]] = ([], [], [])
    for disk in range(n, 0, -1):
        moves = (i + (1 << (disk - 1))) >> disk
        pegs[(moves * _disk_direction(n, disk)) % 3].append(disk)
    return (tuple(pegs[0]), tuple(pegs[1]), tuple(pegs[2]))


def verify(
    n: int,
    i: int,
    move: Sequence[int],
    next_state: Sequence[Sequence[int]],
    *,
    state: Sequence[Sequence[int]] | None = None,
    previous: Sequence[int] | None = None,
) -> bool:
    """Whether a decided step i is right (move and resulting state). Never feeds the vote.

    On the optimal path (or without `state`): the optimal solution's step i. Off the path (a run
    that went on past a wrong step, `--keep-going`): what the strategy the prompt states gives for
    that state and previous move (`strategy_answer`, which is the optimal step on the path), so a
    run's wrong steps count its wrong decisions, not how far it ended from the path; a state the
    strategy has no move for (a broken one) makes every step wrong."""
    try:
        if state is None or tuple(map(tuple, state)) == optimal_state(n, i):
            return tuple(move) == optimal_move(n, i) and tuple(map(tuple, next_state)) == optimal_state(n, i + 1)
    except (ValueError, TypeError):
        return False
    found = strategy_answer(n, state, previous)
    return found is not None and (tuple(move), tuple(map(tuple, next_state))) == found


def apply_move(state: Sequence[Sequence[int]], move: Sequence[int]) -> State | None:
    """The state after a legal move, or None if the move is illegal in `state`."""
    disk, src, dst = move
    if not (0 <= src <= 2 and 0 <= dst <= 2) or src == dst:
        return None
    pegs = [tuple(p) for p in state]
    if not pegs[src] or pegs[src][-1] != disk or (pegs[dst] and pegs[dst][-1] < disk):
        return None
    pegs[src] = pegs[src][:-1]
    pegs[dst] = pegs[dst] + (disk,)
    return (pegs[0], pegs[1], pegs[2])


# --------------------------------------------------------------------------- the strategy (reference solver)


def strategy_answer(
    n: int, state: Sequence[Sequence[int]], previous_move: Sequence[int] | None
) -> tuple[Move, State] | None:
    """What a perfect microagent answers for the state it sees (right or not), or None if stuck."""
    pegs = [tuple(p) for p in state]
    tops = [p[-1] if p else 0 for p in pegs]
    if previous_move is None or previous_move[0] != 1:
        if 1 not in tops:
            return None  # disk 1 is buried (a broken state) or missing
        src = tops.index(1)
        move: Move = (1, src, (src + disk1_direction(n)) % 3)
    else:
        others = [p for p in range(3) if tops[p] != 1]
        if len(others) != 2:
            return None  # disk 1 is not on top of exactly one peg
        x, y = others
        if not tops[x] and not tops[y]:
            return None
        if not tops[y] or (tops[x] and tops[x] < tops[y]):
            move = (tops[x], x, y)
        else:
            move = (tops[y], y, x)
    disk, src, dst = move
    pegs[src] = pegs[src][:-1]
    pegs[dst] = pegs[dst] + (disk,)
    return move, (pegs[0], pegs[1], pegs[2])
