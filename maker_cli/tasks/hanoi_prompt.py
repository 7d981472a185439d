"""Hanoi's prompt as a template: the built-in one, prompt files users copy and edit, their checks.

A prompt file is YAML with a `system` and a `user` template (and optionally `name` and
`description`), written with the `{{name}}` placeholders of task specs (`maker_cli.specs.templates`):

- constant for a run: `disks`, `parity` (even/odd), `direction` (disk 1's cycle, `0 -> 2 -> 1 -> 0`),
  `direction_hops` (the same in words), `example_solution_3`, `move_line` and `state_line` (the two
  lines every answer must end with, exactly as the strict parser reads them);
- per step, in `user` only (the system part is the constant prefix of every call):
  `previous_move` (`[1, 0, 2]` or `none`) and `current_state` (`[[3, 2], [], [1]]`).

A template that cannot produce the required answer lines (no `{{move_line}}` or `{{state_line}}`)
or does not show the step (no `{{previous_move}}` or `{{current_state}}` in `user`) is refused when
it is loaded; so is any other placeholder. Few-shot examples and a reasoning section are plain text
around them. The parser, the verifier and the red-flag token limit (on the whole reply) are the
same whatever the prompt. `configs/hanoi_prompt.yaml` is the built-in prompt, to copy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from maker_cli._types import JSONValue
from maker_cli.errors import SpecError
from maker_cli.specs.prompt_file import PromptRecord, prompt_sha256, read_prompt_file
from maker_cli.specs.templates import TemplateError, check_template, placeholders

EXAMPLE_SOLUTION_3 = "[[1, 0, 2], [2, 0, 1], [1, 2, 1], [3, 0, 2], [1, 1, 0], [2, 1, 2], [1, 0, 2]]"
MOVE_LINE = "move = [disk id, from peg, to peg]"
STATE_LINE = "next_state = [[...], [...], [...]]"

CONSTANT_PLACEHOLDERS = {
    "disks": "the number of disks, e.g. 20",
    "parity": "even or odd (the number of disks)",
    "direction": "disk 1's fixed cyclic direction, e.g. 0 -> 2 -> 1 -> 0",
    "direction_hops": "the same in words, e.g. from peg 0 to peg 2, from peg 2 to peg 1, from peg 1 to peg 0",
    "example_solution_3": f"the optimal solution for 3 disks: {EXAMPLE_SOLUTION_3}",
    "move_line": f"the first required answer line: {MOVE_LINE}",
    "state_line": f"the second required answer line: {STATE_LINE}",
}
STEP_PLACEHOLDERS = {
    "previous_move": "the previous move, e.g. [1, 0, 2], or none before the first move",
    "current_state": "the state the step starts from, e.g. [[3, 2], [], [1]]",
}
PLACEHOLDERS = {**CONSTANT_PLACEHOLDERS, **STEP_PLACEHOLDERS}

BUILTIN_SYSTEM = (
    "You are solving the Towers of Hanoi puzzle with {{disks}} disks, numbered 1 (the smallest) to {{disks}} "
    "(the largest), on three pegs numbered 0, 1 and 2.\n"
    "A state is written as three lists, one per peg (peg 0 first); each list gives the disks on "
    "that peg from bottom to top. For example, the starting state with 3 disks is "
    "[[3, 2, 1], [], []].\n"
    "The goal is to move the whole tower from peg 0 to peg 2.\n\n"
    "Rules:\n"
    "1. Only one disk may be moved at a time.\n"
    "2. Each move takes the top disk of one peg and places it on top of another peg.\n"
    "3. A disk may never be placed on top of a smaller disk.\n\n"
    "A move is written [disk id, from peg, to peg]. For example, the optimal solution for "
    "3 disks is this sequence of moves:\n{{example_solution_3}}\n\n"
    "You will be given the previous move and the current state, and asked for the next move only. "
    "Think briefly if you need to, then end your response with exactly these two lines, "
    "filled in with integers:\n"
    "{{move_line}}\n"
    "{{state_line}}\n"
    "where next_state is the state after your move."
)
BUILTIN_USER = (
    "Strategy for {{disks}} disks (an {{parity}} number of disks):\n"
    "- If the previous move did not move disk 1 (or there is no previous move), move disk 1 one peg "
    "in the fixed cyclic direction {{direction}} ({{direction_hops}}).\n"
    "- If the previous move moved disk 1, make the only legal move that does not move disk 1.\n\n"
    "Previous move: {{previous_move}}\nCurrent State: {{current_state}}\n\n"
    "Apply the strategy to the current state. Give the single next move and the state that "
    "results from it, ending with the two required lines (move = ... and next_state = ...)."
)
BUILTIN_NAME = "built-in"

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class HanoiPrompt:
    """A checked Hanoi prompt template; `bind(n)` gives the renderer for n disks."""

    system: str
    user: str
    name: str = BUILTIN_NAME
    source: str | None = None  # the file it came from (None: built-in)
    description: str | None = None

    def __post_init__(self) -> None:
        where = self.source or self.name
        try:
            system_names = check_template(self.system, CONSTANT_PLACEHOLDERS)
        except TemplateError as exc:
            per_step = [n for n in placeholders(self.system) if n in STEP_PLACEHOLDERS] if _parses(self.system) else []
            if per_step:
                raise SpecError(
                    f"{where}: system: {{{{{per_step[0]}}}}} changes every step: put it in user (the system "
                    "part is the constant prefix of every call)"
                ) from None
            raise SpecError(f"{where}: system: {exc}") from None
        try:
            user_names = check_template(self.user, PLACEHOLDERS)
        except TemplateError as exc:
            raise SpecError(f"{where}: user: {exc}") from None
        used = set(system_names) | set(user_names)
        for line in ("move_line", "state_line"):
            if line not in used:
                raise SpecError(
                    f"{where}: neither system nor user contains {{{{{line}}}}}: the answer must end with the "
                    f"two lines the parser reads ({MOVE_LINE} / {STATE_LINE}); put {{{{move_line}}}} and "
                    "{{state_line}} where the prompt asks for them"
                )
        for name in STEP_PLACEHOLDERS:
            if name not in user_names:
                raise SpecError(f"{where}: user: {{{{{name}}}}} is missing: each step must show the model its input")

    @cached_property
    def sha256(self) -> str:
        """The hash of both templates (what identifies a prompt in the store and in comparisons)."""
        return prompt_sha256(self.system, self.user)

    def record(self) -> PromptRecord:
        """What a run stores: name, hash, source and both templates (the text it sent)."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "source": self.source,
            "system": self.system,
            "user": self.user,
        }

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    @property
    def builtin(self) -> bool:
        return self.system == BUILTIN_SYSTEM and self.user == BUILTIN_USER

    def label(self) -> str:
        """`built-in` or `NAME (sha256 abc123def456)`."""
        return BUILTIN_NAME if self.builtin else f"{self.name} (sha256 {self.short_hash})"

    def bind(self, n: int) -> BoundPrompt:
        return BoundPrompt(self, n)


def _parses(template: str) -> bool:
    try:
        placeholders(template)
    except TemplateError:
        return False
    return True


def constants(n: int) -> dict[str, str]:
    """The values of the constant placeholders for n disks."""
    if n % 2 == 0:
        parity, cycle = "even", "0 -> 1 -> 2 -> 0"
        hops = "from peg 0 to peg 1, from peg 1 to peg 2, from peg 2 to peg 0"
    else:
        parity, cycle = "odd", "0 -> 2 -> 1 -> 0"
        hops = "from peg 0 to peg 2, from peg 2 to peg 1, from peg 1 to peg 0"
    return {
        "disks": str(n),
        "parity": parity,
        "direction": cycle,
        "direction_hops": hops,
        "example_solution_3": EXAMPLE_SOLUTION_3,
        "move_line": MOVE_LINE,
        "state_line": STATE_LINE,
    }


class BoundPrompt:
    """A prompt for n disks: the system text once, the user text per step (concatenation only)."""

    __slots__ = ("_literals", "_names", "n", "prompt", "system")

    def __init__(self, prompt: HanoiPrompt, n: int) -> None:
        self.prompt = prompt
        self.n = n
        values = constants(n)
        self.system = _PLACEHOLDER.sub(lambda m: values[m.group(1)], prompt.system)
        # the user template as literal text around the per-step names, the constants filled in
        pieces = _PLACEHOLDER.split(prompt.user)
        literals = [pieces[0]]
        names: list[str] = []
        for name, after in zip(pieces[1::2], pieces[2::2], strict=True):
            if name in values:
                literals[-1] += values[name] + after
            else:
                names.append(name)
                literals.append(after)
        self._literals = tuple(literals)
        self._names = tuple(names)

    def user(self, current_state: str, previous_move: str) -> str:
        names = self._names
        lit = self._literals
        if names == _USUAL:  # the built-in order, once each: the hot path of a run
            return lit[0] + previous_move + lit[1] + current_state + lit[2]
        out = [lit[0]]
        for name, after in zip(names, lit[1:], strict=True):
            out.append(current_state if name == "current_state" else previous_move)
            out.append(after)
        return "".join(out)


_USUAL = ("previous_move", "current_state")


BUILTIN = HanoiPrompt(BUILTIN_SYSTEM, BUILTIN_USER)


def load_prompt(path: str | Path) -> HanoiPrompt:
    """A Hanoi prompt file read and checked; SpecError (exit 2) naming the file."""
    fields = read_prompt_file(path)
    missing = [name for name in ("system", "user") if getattr(fields, name) is None]
    if missing:
        raise SpecError(f"{path}: {missing[0]}: a Hanoi prompt file needs both system: and user: templates")
    assert fields.system is not None and fields.user is not None  # checked just above
    return HanoiPrompt(fields.system, fields.user, name=fields.label, source=str(path), description=fields.description)


def prompt_from_record(record: Mapping[str, JSONValue]) -> HanoiPrompt:
    """The inverse of `HanoiPrompt.record` (a stored run's prompt, checked again)."""
    return HanoiPrompt(
        str(record["system"]),
        str(record["user"]),
        name=str(record.get("name") or "stored"),
        source=None if record.get("source") is None else str(record["source"]),
    )


PromptArg = str | Path | HanoiPrompt | None


def as_prompt(prompt: PromptArg) -> HanoiPrompt:
    """The prompt `prompt` names: None for the built-in one, a file path, or a HanoiPrompt as is."""
    if prompt is None:
        return BUILTIN
    if isinstance(prompt, HanoiPrompt):
        return prompt
    return load_prompt(prompt)
