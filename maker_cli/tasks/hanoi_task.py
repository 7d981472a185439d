"""Towers of Hanoi as a task: 2^n - 1 steps of state transfer, the paper's headline job.

`Hanoi(disks=n)` is what `maker run hanoi` and `maker calibrate hanoi` (and `maker_cli.run(
maker_cli.Hanoi(disks=20))`) drive. The puzzle itself (prompts, strict parser, optimal solution)
is `maker_cli.tasks.hanoi`; what the simulated model answers is `maker_cli.tasks.hanoi_sim`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel

from maker_cli._types import AnswerValue, JSONObject, JSONValue
from maker_cli.core.redflags import Answer
from maker_cli.core.stats import Proportion
from maker_cli.core.step import Judge, StepPrompt
from maker_cli.specs.prompt_file import PromptRecord
from maker_cli.tasks import hanoi, hanoi_sim
from maker_cli.tasks.base import Probe, TaskDefaults, register
from maker_cli.tasks.hanoi_prompt import PromptArg, as_prompt, prompt_from_record


class HanoiBreakdown(BaseModel):
    """Where a Hanoi calibration's errors are: the move or the state, disk-1 steps or the others."""

    disks: int
    steps_total: int
    wrong_move: int  # valid answers whose move is not the optimal one
    right_move_wrong_state: int  # right move, wrong next_state
    disk1_steps: Proportion  # p on the steps that move disk 1 (every other step)
    other_steps: Proportion  # p on the other steps


class Hanoi(TaskDefaults):
    """Towers of Hanoi with n disks (1-25): 2^n - 1 steps; each step's next_state is the next input."""

    kind: ClassVar[str] = "hanoi"

    def __init__(self, disks: int = 10, prompt: PromptArg = None) -> None:
        """`prompt`: a prompt file (path) or a HanoiPrompt; None for the built-in prompt."""
        self.n = hanoi.check_disks(disks)
        self.name = f"hanoi-{self.n}"
        self.steps_total = hanoi.steps_total(self.n)
        self._judge = hanoi.make_judge(self.n)
        self.prompt_template = as_prompt(prompt)
        self._prompt = self.prompt_template.bind(self.n)

    def __repr__(self) -> str:
        extra = "" if self.prompt_template.builtin else f", prompt={self.prompt_template.name!r}"
        return f"Hanoi(disks={self.n}{extra})"

    @property
    def disks(self) -> int:
        return self.n

    @property
    def planning_steps(self) -> int:
        return self.steps_total

    # --- the Task protocol ----------------------------------------------------------------------

    def judge(self) -> Judge:
        return self._judge

    def config(self) -> JSONObject:
        return {"kind": self.kind, "disks": self.n, "prompt": self.prompt_template.record()}

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> Hanoi:
        record = config.get("prompt")  # runs stored before 0.2 used the built-in prompt
        return cls(int(config["disks"]), prompt_from_record(record) if record else None)

    def prompt_record(self) -> PromptRecord:
        return self.prompt_template.record()

    def simulation_problem(self) -> str | None:
        return None

    def probes(self, count: int, *, seed: int | None, simulated: bool) -> list[Probe]:
        """`count` steps drawn uniformly (with replacement, seeded) from the optimal solution."""
        n = self.n
        rng = random.Random(seed)
        bound = self._prompt
        system = bound.system
        probes = []
        for _ in range(count):
            i = rng.randrange(self.steps_total)
            state = hanoi.optimal_state(n, i)
            prev = hanoi.optimal_move(n, i - 1) if i > 0 else None
            move = hanoi.optimal_move(n, i)
            probes.append(
                Probe(
                    item=i,
                    system=system,
                    user=bound.user(hanoi.state_text(state), hanoi.move_text(prev)),
                    expected_key=hanoi.answer_key(move, hanoi.optimal_state(n, i + 1)),
                    reference=hanoi_sim.reference(n, state, prev) if simulated else None,
                    group="disk1" if move[0] == 1 else "other",
                )
            )
        return probes

    def classify(self, answer: Answer, probe: Probe) -> str | None:
        """Right when the parsed move and next_state are the optimal ones; else which part is wrong."""
        move, state = answer.value
        if move != hanoi.optimal_move(self.n, probe.item):
            return "wrong_move"
        if tuple(map(tuple, state)) != hanoi.optimal_state(self.n, probe.item + 1):
            return "right_move_wrong_state"
        return None

    def breakdown(self, groups: Mapping[str, tuple[int, int]], errors: Mapping[str, int]) -> HanoiBreakdown:
        """The calibration breakdown from (correct, valid) per group and the counts of error kinds."""
        return HanoiBreakdown(
            disks=self.n,
            steps_total=self.steps_total,
            wrong_move=errors.get("wrong_move", 0),
            right_move_wrong_state=errors.get("right_move_wrong_state", 0),
            disk1_steps=Proportion.of(*groups.get("disk1", (0, 0))),
            other_steps=Proportion.of(*groups.get("other", (0, 0))),
        )

    # --- the SequentialTask protocol ------------------------------------------------------------

    def calibration_source(self) -> str:
        return f"hanoi, {self.n} disks"

    def start(self) -> tuple[hanoi.State, None]:
        return hanoi.start_state(self.n), None

    def prompt(
        self, step: int, state: Sequence[Sequence[int]], previous: Sequence[int] | None, *, simulated: bool
    ) -> StepPrompt:
        """The step's messages; the reference is attached only for simulated models."""
        ref = hanoi_sim.reference(self.n, state, previous) if simulated else None
        bound = self._prompt
        return StepPrompt(step, bound.system, bound.user(hanoi.state_text(state), hanoi.move_text(previous)), ref)

    def advance(self, value: AnswerValue) -> tuple[hanoi.Move, hanoi.State]:
        move, next_state = value
        return move, next_state

    def verify(
        self,
        step: int,
        state: Sequence[Sequence[int]],
        action: Sequence[int],
        next_state: Sequence[Sequence[int]],
        previous: Sequence[int] | None = None,
    ) -> bool | None:
        return hanoi.verify(self.n, step, action, next_state, state=state, previous=previous)

    def finished(self, steps_done: int, state: object, action: object) -> bool:
        return steps_done >= self.steps_total

    def encode_state(self, state: Sequence[Sequence[int]]) -> str:
        return hanoi.encode_state(state)

    def encode_action(self, action: Sequence[int]) -> str:
        return ",".join(map(str, action))

    def decode_state(self, text: str) -> hanoi.State:
        return hanoi.decode_state(text)

    def decode_action(self, text: str | None) -> tuple[int, ...] | None:
        return None if text is None else tuple(int(x) for x in text.split(","))

    def value_text(self, action: object, next_state: object) -> str | None:
        return None  # the answer key "disk,from,to|pegs" holds the move and the state

    def report_fields(self, final_state: object) -> JSONObject:
        return {"disks": self.n}


register(Hanoi.kind, Hanoi.from_config)
