"""A sequence spec's reference path: how long it is, random steps of it for calibration, and the
`--validate` check that a spec can run before any money is spent."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from maker_cli.errors import SpecError, UsageError
from maker_cli.specs.fields import short
from maker_cli.specs.sequence import STEP_PLACEHOLDERS
from maker_cli.specs.templates import placeholders
from maker_cli.tasks.base import Probe

if TYPE_CHECKING:
    from maker_cli.tasks.sequence import SequenceTask

WALK_CAP = 1_000_000
"""At most this many steps of a reference path are walked; longer paths are sampled on their start."""

SIM_CHECK_STEPS = 1000
"""`--validate` checks the simulated responses on this many reference steps."""


@dataclass(frozen=True, slots=True)
class ReferencePath:
    """How far a sequence spec's reference solver path was walked (`reference_path`)."""

    steps: int  # steps walked: the whole path unless capped
    capped: bool  # the path goes on past `cap` steps
    terminated: bool  # it ends by the spec's termination (False: capped, or stopped at max_steps)
    planning_steps: int  # steps to recommend k for: the path length, or the spec's bound when capped
    cap: int

    def notes(self) -> list[str]:
        """What a calibration on this path should say about it."""
        if self.capped:
            return [
                f"the reference path is longer than {self.cap:,} steps: steps were drawn from its first "
                f"{self.cap:,} only"
            ]
        if not self.terminated:
            return [
                f"the reference path stops at the spec's bound of {self.steps:,} steps without meeting its "
                "termination rule: a run of this spec would fail there"
            ]
        return []


def require_solver(task: SequenceTask) -> None:
    if task.spec.reference is None:
        raise UsageError(
            f"{task.source}: calibrating a sequence spec needs the correct answer to each step: name a reference "
            "solver (`reference:`); this spec names none. (A question spec is calibrated on a labelled --dataset "
            "instead.)"
        )


def reference_path(task: SequenceTask, cap: int = WALK_CAP) -> ReferencePath:
    """Walk a task's reference path (at most `cap` steps) and say how long it is."""
    require_solver(task)
    if not isinstance(cap, int) or cap < 1:
        raise UsageError(f"the walk cap must be a whole number >= 1, got {cap}")
    state, previous = task.start()
    steps = 0
    for step, _state, _previous, values in task.walk(cap):
        previous, state = task.advance(values)
        steps = step + 1
    if steps == 0:
        raise UsageError(f"{task.source}: the reference path has no steps (the task is finished at its start)")
    capped = steps >= cap and not task.finished(steps, state, previous)
    if capped:
        terminated = False
    elif task.spec.termination.steps is not None or steps < task.max_steps:
        terminated = True  # a fixed number of steps, or stopped by the termination before the bound
    else:  # stopped exactly at the bound: ended there, or ran out of steps (walks it once more)
        terminated = task.steps_total is not None
    planning = max(task.max_steps, steps) if capped else steps
    return ReferencePath(steps=steps, capped=capped, terminated=terminated, planning_steps=planning, cap=cap)


def sequence_probes(
    task: SequenceTask, count: int, *, seed: int | None, simulated: bool, path: ReferencePath
) -> list[Probe]:
    """`count` steps drawn uniformly (seeded, with replacement) from the task's reference path.

    Each probe holds the step's prompt, built from its state exactly as the runner builds it, and
    the key of the solver's answer, which a sample's judged answer must equal to be correct. The
    path is walked again to collect the drawn steps, so memory stays small.
    """
    if simulated and task.sim_problem is not None:
        raise UsageError(f"the simulated model cannot answer {task.name!r}: {task.sim_problem}")
    rng = random.Random(seed)
    drawn = [rng.randrange(path.steps) for _ in range(count)]
    wanted = set(drawn)
    judge = task.judge()
    prepared: dict[int, Probe] = {}
    for step, state, previous, values in task.walk(max(wanted) + 1):
        if step in wanted:
            prompt = task.prompt(step, state, previous, simulated=simulated)
            prepared[step] = Probe(
                item=step,
                system=prompt.system,
                user=prompt.user,
                expected_key=judge.key(values),
                reference=prompt.reference,
            )
    missing = wanted - set(prepared)
    if missing:
        raise UsageError(
            f"{task.source}: the reference path changed between two walks (step {min(missing)} is gone): "
            "the reference solver must be deterministic"
        )
    return [prepared[i] for i in drawn]


class SpecCheck(BaseModel):
    """What `maker run task FILE --validate` reports about a spec that can run."""

    valid: bool
    spec: str
    name: str
    description: str
    inputs: dict[str, str | int | float]
    initial_state: str
    answer: dict[str, str]
    termination: str
    steps_total: int | None
    chunks: int | None
    reference: str | None
    simulated: bool
    first_prompt: dict[str, str]
    warnings: list[str]


def check_spec(task: SequenceTask) -> SpecCheck:
    """What a spec defines, after checking it can run: the first prompt renders, the reference
    imports and its path ends by the spec's termination (with answers of the declared types), and
    the simulated responses read back through the spec's own judge. Raises SpecError otherwise."""
    spec = task.spec
    term = spec.termination
    warnings: list[str] = []
    state, previous = task.start()
    first = task.prompt(0, state, previous, simulated=False)
    steps, ended = task.steps_total, True
    if task.has_solver:
        steps, ended = task.reference_steps()
        if not ended:
            raise SpecError(
                f"{task.source}: reference: the solver's path does not end within max_steps "
                f"({task.max_steps:,}); check the termination rule or raise termination.max_steps"
            )
        if task.sim_problem is None:
            for step, state_i, _previous, _values in task.walk(SIM_CHECK_STEPS):
                task.reference(step, state_i)
            tokens = len(task.reference(0, state).correct) // 4 + 1
            limit = spec.red_flags.max_output_tokens
            if limit is not None and tokens > limit:
                warnings.append(
                    f"the correct reply to step 0 is about {tokens:,} tokens (4 characters a token), over "
                    f"red_flags.max_output_tokens ({limit:,}): most samples would be red-flagged as too long"
                )
        else:
            warnings.append(f"the simulated model cannot run this spec: {task.sim_problem}")
    else:
        warnings.append(
            "no reference solver: decided steps are not verified, and the simulated model cannot run this spec"
        )
    per_step = [p for p in dict.fromkeys(placeholders(spec.system)) if p in (*STEP_PLACEHOLDERS, "chunk_text")]
    if per_step:
        names = ", ".join("{{" + p + "}}" for p in per_step)
        warnings.append(
            f"system uses {names}, which change every step: put them in user, after the text that stays the same, "
            "so that providers can serve the constant prefix from their prompt cache"
        )
    if term.steps is not None:
        ends = f"after {task.fixed_steps or 0:,} steps"
    elif term.until_field is not None:
        ends = f"when the decided answer's {term.until_field!r} is true (at most {task.max_steps:,} steps)"
    else:
        ends = f"when the state satisfies until_state (at most {task.max_steps:,} steps)"
    return SpecCheck(
        valid=True,
        spec=task.source,
        name=task.name,
        description=spec.description,
        inputs={
            name: short(value, 60) if not isinstance(value, (int, float)) else value
            for name, value in task.values.items()
        },
        initial_state=task.encode_state(state),
        answer={
            name: f"regex ({p.value_type})" if p.regex else f"json_path {p.json_path} ({p.value_type or 'any'})"
            for name, p in task.judge().fields.items()
        },
        termination=ends,
        steps_total=steps,
        chunks=len(task.chunks) if task.chunks is not None else None,
        reference=spec.reference,
        simulated=task.sim_problem is None,
        first_prompt={"system": first.system, "user": first.user},
        warnings=warnings,
    )
