"""Sequential MDAP tasks as the runner sees them: a state, a step prompt, an answer holding the
action and the next state, a verifier kept apart from the voting, and termination.

Hanoi plugs in here as code; YAML task specs plug in through the same protocol, so there is one
runner loop for every job.
"""

from __future__ import annotations

from typing import Any, Protocol

from maker_cli.tasks import hanoi
from maker_cli.core.step import Judge, StepPrompt


class SequentialTask(Protocol):
    kind: str  # "hanoi" or "task"
    name: str
    steps_total: int | None  # None when termination depends on the answers

    def start(self) -> tuple[Any, Any]:
        """(initial state, previous action) — the previous action is None at the first step."""
        ...

    def prompt(self, step: int, state: Any, previous: Any, *, simulated: bool) -> StepPrompt: ...

    def judge(self) -> Judge: ...

    def advance(self, value: Any) -> tuple[Any, Any]:
        """(action, next state) from the winning answer's parsed value (state transfer)."""
        ...

    def verify(self, step: int, state: Any, action: Any, next_state: Any) -> bool | None:
        """Whether a decided step is right (None: no verifier). Never feeds the vote."""
        ...

    def finished(self, steps_done: int, state: Any, action: Any) -> bool: ...

    def encode_state(self, state: Any) -> str:
        """A compact text form of a state for the store."""
        ...

    def encode_action(self, action: Any) -> str: ...

    def decode_state(self, text: str) -> Any: ...

    def decode_action(self, text: str | None) -> Any: ...

    def value_text(self, action: Any, next_state: Any) -> str | None:
        """The decided value as stored beside its key (None when the key already holds it)."""
        ...

    def config(self) -> dict[str, Any]:
        """What re-creates this task on resume."""
        ...


class HanoiTask:
    """Towers of Hanoi with n disks: 2^n - 1 steps, state transfer of next_state."""

    kind = "hanoi"

    def __init__(self, disks: int) -> None:
        self.n = hanoi.check_disks(disks)
        self.name = f"hanoi-{self.n}"
        self.steps_total = hanoi.steps_total(self.n)
        self._judge = hanoi.make_judge(self.n)

    def start(self) -> tuple[Any, Any]:
        return hanoi.start_state(self.n), None

    def prompt(self, step: int, state: Any, previous: Any, *, simulated: bool) -> StepPrompt:
        return hanoi.step_prompt(self.n, step, state, previous, simulated=simulated)

    def judge(self) -> Judge:
        return self._judge

    def advance(self, value: Any) -> tuple[Any, Any]:
        move, next_state = value
        return move, next_state

    def verify(self, step: int, state: Any, action: Any, next_state: Any) -> bool | None:
        return hanoi.verify(self.n, step, action, next_state)

    def finished(self, steps_done: int, state: Any, action: Any) -> bool:
        return steps_done >= self.steps_total

    def encode_state(self, state: Any) -> str:
        return hanoi.encode_state(state)

    def encode_action(self, action: Any) -> str:
        return ",".join(map(str, action))

    def decode_state(self, text: str) -> Any:
        return hanoi.decode_state(text)

    def decode_action(self, text: str | None) -> Any:
        return None if text is None else tuple(int(x) for x in text.split(","))

    def value_text(self, action: Any, next_state: Any) -> str | None:
        return None  # the answer key "disk,from,to|pegs" holds the move and the state

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "disks": self.n}


def task_from_config(config: dict[str, Any]) -> SequentialTask:
    """Re-create a task from the config stored with its run (for --resume)."""
    kind = config.get("kind")
    if kind == "hanoi":
        return HanoiTask(int(config["disks"]))
    if kind == "task":
        from maker_cli.tasks.sequence import SpecTask  # YAML specs: loaded only when a run needs one

        return SpecTask.from_config(config)
    from maker_cli.errors import UsageError

    raise UsageError(f"cannot resume a task of kind {kind!r}")
