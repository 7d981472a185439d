"""`SequenceTask`: a sequence spec driven by the one runner (the SequentialTask protocol).

Each step renders the spec's templates from the state, votes on the canonical
(action, next_state, fields) answer, and transfers the winner's next_state. The judge checks
format only (extraction, types, canonical steps, allowed values, the state's shape); it never
looks at the correct answer. A reference solver, when the spec names one, is used *after* the
decision by `verify` and by the simulated model (`reference`), never by the voting.

Step numbers are 0-based everywhere: `{{step}}` in a prompt, the solver's `step` argument, the run
store and reports all call the first step 0.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from maker_cli._types import JSONObject, JSONValue, OptionValue
from maker_cli.core.step import StepPrompt
from maker_cli.errors import SpecError, UsageError
from maker_cli.providers.base import Reference
from maker_cli.specs import load_spec
from maker_cli.specs.canonical import as_text
from maker_cli.specs.extract import type_matches
from maker_cli.specs.fields import input_values, json_type, short, value_at
from maker_cli.specs.judge import NO_SHAPE, AnswerJudge
from maker_cli.specs.prompt_file import PromptRecord, prompt_from_record, prompt_sha256, spec_with_prompt
from maker_cli.specs.sequence import SequenceSpec
from maker_cli.specs.templates import placeholders, render
from maker_cli.strict_json import dump_json, load_json
from maker_cli.tasks import solvers
from maker_cli.tasks.base import Probe, TaskDefaults, register, unchanged_file
from maker_cli.tasks.sequence_path import WALK_CAP, ReferencePath, reference_path, sequence_probes
from maker_cli.tasks.simulated import build_reference, response_problem, response_text

if TYPE_CHECKING:
    from maker_cli.tasks import TaskOptions

_WHOLE_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")


class SequenceTask(TaskDefaults):
    """A sequence spec as the runner sees it."""

    kind: ClassVar[str] = "sequence"

    def __init__(
        self,
        spec: SequenceSpec,
        *,
        inputs: Mapping[str, JSONValue] | None = None,
        steps: int | None = None,
        trust_code: bool = False,
    ) -> None:
        self.spec = spec
        self.source = spec.source
        self.name = spec.name
        self.given_inputs = dict(inputs or {})
        self.steps_override = steps
        self.values = input_values(spec.inputs, self.given_inputs, spec.name)
        self._texts = {name: as_text(value) for name, value in self.values.items()}
        self.chunks = spec.chunks.cut(self.values[spec.chunks.input]) if spec.chunks else None
        self._initial = self._initial_state()
        self._fixed = self._fixed_steps(steps)
        self.max_steps = self._fixed if self._fixed is not None else spec.termination.bound
        shape = self._initial if spec.red_flags.state_shape else NO_SHAPE
        try:
            self._judge = AnswerJudge(spec.answer.parts(), require=spec.red_flags.require, shape_model=shape)
        except ValueError as exc:
            raise self._error("answer", f"an allowed value fails its canonical steps: {exc}") from None
        self._rules = spec.red_flags.rules(None)
        self._solver = None
        if spec.reference is not None:
            folder = Path(self.source).parent if self.source != "<spec>" else None
            self._solver = solvers.resolve(spec.reference, spec_dir=folder, trust_code=trust_code, source=self.source)
        self._memo: tuple[tuple[int, str], JSONObject] | None = None
        self._path: ReferencePath | None = None
        self.sim_problem = self.simulation_problem()

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        inputs: Mapping[str, JSONValue] | None = None,
        steps: int | None = None,
        *,
        trust_code: bool = False,
    ) -> SequenceTask:
        """Load, validate and build; SpecError names the file and field, UsageError a bad input."""
        spec = load_spec(path)
        if not isinstance(spec, SequenceSpec):
            raise UsageError(f"{path} is a question spec (no initial_state): ask it with `maker vote --task {path}`")
        return cls(spec, inputs=inputs, steps=steps, trust_code=trust_code)

    @classmethod
    def from_spec(cls, spec: SequenceSpec, options: TaskOptions) -> SequenceTask:
        """From `maker_cli.tasks.task_for_spec` (options: a TaskOptions)."""
        if options.dataset is not None:
            raise UsageError(
                f"{spec.source} is a sequence spec: it is calibrated on random steps of its reference solver's "
                "path, not on a dataset; drop --dataset (give its inputs with --input key=value)"
            )
        return cls(spec, inputs=options.inputs, steps=options.steps, trust_code=options.trust_code)

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> SequenceTask:
        """Re-create the task of a stored run; refuses when the spec file changed since."""
        path = unchanged_file(config, "spec")
        spec = load_spec(path)
        if not isinstance(spec, SequenceSpec):
            raise UsageError(f"{path} is no longer a sequence spec; restore it, or start a new run")
        record = config.get("prompt")  # runs stored before 0.2 have none: the spec's own templates
        if isinstance(record, dict) and record.get("sha256") != prompt_sha256(spec.system, spec.user):
            spec = spec_with_prompt(spec, prompt_from_record(record))
        return cls(
            spec,
            inputs=config.get("inputs") or {},
            steps=config.get("steps"),
            trust_code=bool(config.get("trust_code")),
        )

    def _error(self, field: str, message: str) -> SpecError:
        return SpecError(f"{self.source}: {field}: {message}")

    def _initial_state(self) -> JSONValue:
        state = self._fill(self.spec.initial_state)
        expected = self.spec.answer.next_state.value_type
        if expected is not None and not type_matches(state, expected):
            got = json_type(state) or "null"
            raise self._error("initial_state", f"is a {got}, but answer.next_state.type is {expected}")
        if self.spec.chunks is not None:
            found, index = value_at(state, self.spec.chunks.index)
            if not found or isinstance(index, bool) or not isinstance(index, int):
                where = self.spec.chunks.index
                raise self._error("chunks.index", f"the initial state has no whole number at {where!r}")
        return state

    def _fill(self, value: JSONValue) -> JSONValue:
        """initial_state with inputs: '{{name}}' alone takes the typed value, other text is rendered."""
        if isinstance(value, str):
            whole = _WHOLE_PLACEHOLDER.fullmatch(value)
            if whole:
                return copy.deepcopy(self.values[whole.group(1)])
            return render(value, self._texts) if placeholders(value) else value
        if isinstance(value, list):
            return [self._fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self._fill(item) for key, item in value.items()}
        return value

    def _fixed_steps(self, override: int | None) -> int | None:
        steps = self.spec.termination.steps
        if steps is None:
            if override is not None:
                raise UsageError(
                    "--steps applies to specs with a fixed number of steps (termination.steps); "
                    "this one stops by its answers or its state"
                )
            return None
        if override is not None:
            if override < 1:
                raise UsageError("--steps must be at least 1")
            return override
        if isinstance(steps, int):
            return steps
        name = placeholders(steps)[0]
        raw: object = len(self.chunks or ()) if name == "chunks_total" else self.values[name]
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            what = "the text gives no chunks" if name == "chunks_total" else f"input {name!r} is {raw!r}"
            raise UsageError(f"termination.steps: needs a whole number of steps of at least 1 ({what})")
        return raw

    @property
    def has_solver(self) -> bool:
        return self._solver is not None

    @property
    def fixed_steps(self) -> int | None:
        """The fixed number of steps (termination.steps or --steps), else None."""
        return self._fixed

    def simulation_problem(self) -> str | None:
        """Why the simulated model cannot answer this spec, or None."""
        if self._solver is None:
            return "the spec names no reference solver (the simulated model answers from it)"
        return response_problem(self._judge.fields, self.spec.sim_response)

    # --- the SequentialTask protocol ------------------------------------------------------------

    @cached_property
    def steps_total(self) -> int | None:
        """Fixed steps; else the length of the reference solver's path (None without one)."""
        if self._fixed is not None:
            return self._fixed
        if self._solver is not None:
            count, ended = self.reference_steps()
            return count if ended else None
        return None

    @property
    def planning_steps(self) -> int:
        """Steps to plan k for: the known total, else the max_steps bound (conservative)."""
        return self.steps_total or self.max_steps

    def start(self) -> tuple[JSONValue, None]:
        return copy.deepcopy(self._initial), None

    def prompt(self, step: int, state: JSONValue, previous: JSONObject | None, *, simulated: bool) -> StepPrompt:
        values = dict(self._texts)
        values["state"] = as_text(state)
        values["step"] = str(step)
        values["previous_action"] = self._previous_text(previous)
        if self.chunks is not None:
            values["chunk_text"] = self._chunk_text(state)
            values["chunks_total"] = str(len(self.chunks))
        reference = self.reference(step, state) if simulated and self._solver is not None else None
        return StepPrompt(step, render(self.spec.system, values), render(self.spec.user, values), reference)

    def judge(self) -> AnswerJudge:
        return self._judge

    def advance(self, value: JSONObject) -> tuple[JSONObject, JSONValue]:
        """(action record {action, fields...}, next_state) from a judged answer's value."""
        action = {name: v for name, v in value.items() if name != "next_state"}
        return action, value["next_state"]

    def verify(
        self,
        step: int,
        state: JSONValue,
        action: JSONObject | None,
        next_state: JSONValue,
        previous: JSONObject | None = None,
    ) -> bool | None:
        if self._fixed is None and step + 1 >= self.max_steps and not self._done(next_state, action):
            return False  # the safety bound ends the run: it did not terminate in max_steps
        if self._solver is None:
            return None
        decided = {**(action or {}), "next_state": next_state}
        return self._judge.key(decided) == self._judge.key(self.solve(step, state))

    def finished(self, steps_done: int, state: JSONValue, action: JSONObject | None) -> bool:
        if self._fixed is not None:
            return steps_done >= self._fixed
        return steps_done >= self.max_steps or self._done(state, action)

    def encode_state(self, state: object) -> str:
        return dump_json(state)

    def encode_action(self, action: object) -> str:
        return dump_json(action)

    def decode_state(self, text: str) -> JSONValue:
        return load_json(text)

    def decode_action(self, text: str | None) -> JSONObject | None:
        return None if text is None else load_json(text)

    def value_text(self, action: object, next_state: object) -> str | None:
        return None  # the answer key is the canonical JSON of the action, fields and next_state

    def config(self) -> JSONObject:
        return {
            "kind": self.kind,
            "spec": str(Path(self.source).resolve()),
            "sha256": self.spec.sha256,
            "inputs": dict(self.given_inputs),
            "steps": self.steps_override,
            "prompt": self.spec.prompt_record(),
        }

    def prompt_record(self) -> PromptRecord:
        return self.spec.prompt_record()

    def report_fields(self, final_state: JSONValue) -> JSONObject:
        return {"spec": str(Path(self.source).resolve()), "final_state": final_state}

    # --- termination and rendering --------------------------------------------------------------

    def _done(self, state: JSONValue, action: JSONObject | None) -> bool:
        term = self.spec.termination
        if term.until_field is not None:
            return isinstance(action, dict) and action.get(term.until_field) is True
        if term.until_state is not None:
            return term.until_state.holds(state)
        return False

    @staticmethod
    def _previous_text(previous: object) -> str:
        if not isinstance(previous, dict) or previous.get("action") is None:
            return "none"
        return as_text(previous["action"])

    def _chunk_text(self, state: JSONValue) -> str:
        assert self.spec.chunks is not None and self.chunks is not None
        found, index = value_at(state, self.spec.chunks.index)
        if found and isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(self.chunks):
            return self.chunks[index]
        return f"(no piece {index!r}: the text has pieces 0 to {len(self.chunks) - 1})"

    def settings(self) -> dict[str, OptionValue]:
        """The spec's layer of the job settings (flags override it; the environment and config fill the rest)."""
        return self.spec.settings()

    # --- the reference solver (verification and the simulated model only) ---------------------

    def solve(self, step: int, state: JSONValue) -> JSONObject:
        """The reference solver's answer for (step, state), normalised like a judged answer."""
        if self._solver is None:
            raise UsageError(f"task {self.name!r} has no reference solver")
        memo_key = (step, dump_json(state))
        if self._memo is not None and self._memo[0] == memo_key:
            return self._memo[1]
        inputs = copy.deepcopy(self.values)
        if self.chunks is not None:
            inputs["chunks"] = list(self.chunks)
        where = f"{self.spec.reference} at step {step}"
        try:
            result = self._solver(load_json(memo_key[1]), step, inputs)
        except Exception as exc:  # noqa: BLE001 - the user's solver: report it as a spec problem, in one line
            raise self._error(
                "reference", f"{self.spec.reference} failed at step {step}: {type(exc).__name__}: {exc}"
            ) from None
        values = self._solver_values(result, where)
        self._memo = (memo_key, values)
        return values

    def _solver_values(self, result: object, where: str) -> JSONObject:
        parts = self._judge.fields
        if isinstance(result, (tuple, list)) and len(result) == 2:
            action, next_state = result
            result = {"next_state": next_state}
            if "action" in parts or action is not None:
                result["action"] = action
        if not isinstance(result, dict):
            raise self._error("reference", f"{where}: return (action, next_state) or a dict, not {short(result)}")
        missing = [name for name in parts if name not in result]
        extra = [name for name in result if name not in parts]
        if missing or extra:
            problem = f"no {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
            raise self._error("reference", f"{where}: {problem} (the answer has: {', '.join(parts)})")
        values = {}
        for name in parts:
            try:
                raw = load_json(dump_json(result[name]))
                values[name] = self._judge.finish(name, raw)
            except (TypeError, ValueError) as exc:
                raise self._error("reference", f"{where}: {name}: {exc}") from None
        return values

    def walk(self, limit: int | None = None) -> Iterator[tuple[int, JSONValue, JSONObject | None, JSONObject]]:
        """(step, state, previous, solver answer) along the reference path, until the task ends."""
        state, previous = self.start()
        step = 0
        while not self.finished(step, state, previous) and (limit is None or step < limit):
            values = self.solve(step, state)
            yield step, state, previous, values
            previous, state = self.advance(values)
            step += 1

    def reference_steps(self) -> tuple[int, bool]:
        """(steps the reference path takes, whether it ends by the spec's termination)."""
        state, previous = self.start()
        steps = 0
        for done, _state, _previous, values in self.walk():
            previous, state = self.advance(values)
            steps = done + 1
        return steps, self._fixed is not None or self._done(state, previous)

    def response(self, values: Mapping[str, JSONValue]) -> str:
        """The response text a model would give for this answer (for the simulated model)."""
        if self.sim_problem is not None:
            raise SpecError(f"{self.source}: cannot simulate this spec: {self.sim_problem}")
        return response_text(self._judge.fields, values, self.spec.sim_response)

    def reference(self, step: int, state: JSONValue) -> Reference:
        """Correct and wrong responses for a step, each checked by the spec's own judge and rules."""
        expected = self.solve(step, state)
        fields = self._judge.fields
        try:
            return build_reference(
                judge=self._judge,
                respond=self.response,
                expected=expected,
                expected_key=self._judge.key(expected),
                rules=self._rules,
                allowed={n: f.allowed or () for n, f in fields.items()},
                order=["next_state", "action", *[n for n in fields if n not in ("next_state", "action")]],
                where=f"{self.source}: sim_response",
            )
        except SpecError as exc:
            if "wrong answer" in str(exc):
                raise SpecError(
                    f"{self.source}: cannot build a well-formed wrong answer at step {step} under this "
                    "spec's answer rules (for the simulated model)"
                ) from None
            raise

    # --- calibration -------------------------------------------------------------------------

    def path(self, cap: int | None = None) -> ReferencePath:
        """The reference path, walked up to `cap` steps (default WALK_CAP) and remembered; without a
        cap, the path walked last."""
        if self._path is None or (cap is not None and self._path.cap != cap):
            self._path = reference_path(self, cap or WALK_CAP)
        return self._path

    def probes(self, count: int, *, seed: int | None, simulated: bool) -> list[Probe]:
        """`count` random steps of the reference path (see `sequence_path.sequence_probes`)."""
        return sequence_probes(self, count, seed=seed, simulated=simulated, path=self.path())

    def calibration_notes(self) -> list[str]:
        return self.path().notes()

    def calibration_source(self) -> str:
        path = self.path()
        if path.capped:
            return f"task {self.name}, the first {path.steps:,} steps of its reference path (the walk stops at {path.cap:,})"
        return f"task {self.name}, reference path of {path.steps:,} steps"


register(SequenceTask.kind, SequenceTask.from_config)
