"""`SpecTask`: a sequential YAML spec driven by the one runner (the SequentialTask protocol).

Each step renders the spec's templates from the state, votes on the canonical
(action, next_state, fields) answer, and transfers the winner's next_state. The judge checks
format only (extraction, types, canonical steps, allowed values, the state's shape); it never
looks at the correct answer. A reference solver, when the spec names one, is used *after* the
decision by `verify` and by the simulated model (`Reference`), never by the voting.

Step numbers are 0-based everywhere: `{{step}}` in a prompt, the solver's `step` argument, the run
store and reports all call the first step 0.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable

from maker_cli.specs.canonical import CanonicalError, as_text, canonicalize, dump_json, load_json
from maker_cli.errors import SpecError, UsageError
from maker_cli.specs.extract import parse_json_path, parse_json_response, type_matches
from maker_cli.providers.base import Completion, Reference
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.specs.sequence import (
    FieldSpec,
    SequentialSpec,
    json_type,
    parse_sequential_spec,
    same_value,
    shape_problem,
    typed_value,
    value_at,
)
from maker_cli.core.step import StepPrompt
from maker_cli.specs.templates import placeholders, render

_WHOLE_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}")
_NO_DOC = object()
_MAX_WRONG_LEAVES = 64


class StepJudge:
    """Response text -> Answer(key, {action, next_state, fields...}) or a FORMAT RedFlag. Never raises."""

    def __init__(self, spec: SequentialSpec, initial_state: Any) -> None:
        self.parts = spec.answer.parts()
        self._paths = {n: parse_json_path(p.json_path) for n, p in self.parts.items() if p.json_path}
        self._regexes = {n: re.compile(p.regex) for n, p in self.parts.items() if p.regex}
        self._allowed = {n: [self._canonical(p, v) for v in p.allowed] for n, p in self.parts.items() if p.allowed}
        self._require = re.compile(spec.red_flags.require) if spec.red_flags.require else None
        self._shape_model = initial_state if spec.red_flags.state_shape else None
        self._check_shape = spec.red_flags.state_shape

    def __call__(self, text: str) -> Answer | RedFlag:
        try:
            return self._judge(text)
        except (RecursionError, ValueError, TypeError) as exc:  # defensive: a judge never raises
            return RedFlag(FORMAT, f"unreadable answer ({type(exc).__name__})")

    def _judge(self, text: str) -> Answer | RedFlag:
        if not isinstance(text, str):
            return RedFlag(FORMAT, "response is not text")
        if self._require is not None and self._require.search(text) is None:
            return RedFlag(FORMAT, f"required pattern {self._require.pattern!r} not found")
        doc: Any = _NO_DOC
        values: dict[str, Any] = {}
        for name, part in self.parts.items():
            if name in self._paths:
                if doc is _NO_DOC:
                    doc = parse_json_response(text)
                if isinstance(doc, RedFlag):
                    return doc
                found, raw = _at(doc, self._paths[name])
                if not found:
                    return RedFlag(FORMAT, f"{name}: no {part.json_path} in the response")
            else:
                raw = _regex_value(self._regexes[name], text, part.match == "first")
                if raw is None:
                    return RedFlag(FORMAT, f"{name}: pattern not found")
                try:
                    raw = typed_value(raw, part.value_type or "str")
                except ValueError as exc:
                    return RedFlag(FORMAT, f"{name}: {exc}")
            try:
                values[name] = self.finish(name, raw)
            except ValueError as exc:
                return RedFlag(FORMAT, f"{name}: {exc}")
        return Answer(key=dump_json(values), value=values)

    def finish(self, name: str, value: Any) -> Any:
        """Type check, canonical steps, allowed values and shape for one part. ValueError if not."""
        part = self.parts[name]
        if not type_matches(value, part.value_type):
            raise ValueError(f"not a {part.value_type} ({json_type(value) or 'null'})")
        if part.value_type == "float":
            value = float(value)
        value = self._canonical(part, value)
        allowed = self._allowed.get(name)
        if allowed is not None and not any(same_value(value, a) for a in allowed):
            raise ValueError(f"{_short(value)} is not an allowed value")
        if name == "next_state" and self._check_shape:
            problem = shape_problem(value, self._shape_model)
            if problem is not None:
                raise ValueError(f"shape differs from the initial state: {problem}")
        return value

    @staticmethod
    def _canonical(part: FieldSpec, value: Any) -> Any:
        if not part.canonical or not isinstance(value, str):
            return value
        try:
            return canonicalize(value, part.canonical)
        except CanonicalError as exc:
            raise ValueError(str(exc)) from None

    @staticmethod
    def key(values: Mapping[str, Any]) -> str:
        return dump_json(dict(values))


class SpecTask:
    """A sequential spec as the runner sees it (kind "task")."""

    kind = "task"

    def __init__(
        self,
        spec: SequentialSpec,
        *,
        source: str | Path = "<spec>",
        inputs: Mapping[str, Any] | None = None,
        steps: int | None = None,
        spec_hash: str | None = None,
    ) -> None:
        self.spec = spec
        self.source = str(source)
        self.name = spec.name
        self.spec_hash = spec_hash
        self.given_inputs = {k: v for k, v in (inputs or {}).items()}
        self.steps_override = steps
        self.values = self._input_values(self.given_inputs)
        self._texts = {name: as_text(value) for name, value in self.values.items()}
        self.chunks = spec.chunks.cut(self.values[spec.chunks.input]) if spec.chunks else None
        self._initial = self._initial_state()
        self._fixed = self._fixed_steps(steps)
        self.max_steps = self._fixed if self._fixed is not None else spec.termination.bound
        try:
            self._judge = StepJudge(spec, self._initial)
        except ValueError as exc:
            raise self._error("answer", f"an allowed value fails its canonical steps: {exc}") from None
        self._rules = spec.red_flags.rules(None)
        self._solver = self._import_reference() if spec.reference else None
        self._memo: tuple[tuple[int, str], dict[str, Any]] | None = None
        self._steps_total: int | None | bool = False  # False: not computed yet
        self.sim_problem = self._sim_problem()

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, inputs: Mapping[str, Any] | None = None, steps: int | None = None) -> SpecTask:
        """Load, validate and build; SpecError names the file and field, UsageError a bad input."""
        source = str(path)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise SpecError(f"{source}: no such file") from None
        except OSError as exc:
            raise SpecError(f"{source}: cannot read ({exc.strerror or exc})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SpecError(f"{source}: not UTF-8 text") from None
        spec = parse_sequential_spec(text, source)
        return cls(spec, source=source, inputs=inputs, steps=steps, spec_hash=hashlib.sha256(data).hexdigest())

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SpecTask:
        """Re-create the task of a stored run; refuses when the spec file changed since."""
        path = Path(str(config.get("spec", "")))
        if not path.is_file():
            raise UsageError(f"the spec of this run, {path}, is gone; put it back to resume")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if config.get("sha256") and digest != config["sha256"]:
            raise UsageError(
                f"{path} changed since this run started (sha256 {str(config['sha256'])[:12]}…, now {digest[:12]}…); "
                "resuming would mix two tasks: restore the file, or start a new run"
            )
        return cls.from_file(path, config.get("inputs") or {}, config.get("steps"))

    def _error(self, field: str, message: str) -> SpecError:
        return SpecError(f"{self.source}: {field}: {message}")

    def _input_values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        declared = self.spec.inputs
        unknown = sorted(set(given) - set(declared))
        if unknown:
            takes = ", ".join(declared) or "no inputs"
            raise UsageError(f"unknown input {unknown[0]!r} (task {self.name!r} takes: {takes})")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            raw = given.get(name, spec.default)
            if raw is None:
                raise UsageError(f"missing input {name!r} (give --input {name}=VALUE)")
            values[name] = spec.parse(name, raw)
        return values

    def _initial_state(self) -> Any:
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

    def _fill(self, value: Any) -> Any:
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
                raise UsageError("--steps applies to specs with a fixed number of steps (termination.steps); "
                                 "this one stops by its answers or its state")
            return None
        if override is not None:
            if override < 1:
                raise UsageError("--steps must be at least 1")
            return override
        if isinstance(steps, int):
            return steps
        name = placeholders(steps)[0]
        raw: Any = len(self.chunks or ()) if name == "chunks_total" else self.values[name]
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            what = "the text gives no chunks" if name == "chunks_total" else f"input {name!r} is {raw!r}"
            raise UsageError(f"termination.steps: needs a whole number of steps of at least 1 ({what})")
        return raw

    def _import_reference(self) -> Callable[..., Any]:
        target = self.spec.reference or ""
        module_name, _, func_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # any import failure is the spec's problem, reported in one line
            problem = f"{type(exc).__name__}: {exc}"
            raise self._error("reference", f"cannot import module {module_name!r} ({problem})") from None
        func = getattr(module, func_name, None)
        if not callable(func):
            raise self._error("reference", f"module {module_name!r} has no function {func_name!r}")
        return func

    def _sim_problem(self) -> str | None:
        """Why the simulated model cannot answer this spec, or None."""
        if self._solver is None:
            return "the spec names no reference solver (the simulated model answers from it)"
        if self.spec.sim_response is not None:
            return None
        if any(p.regex for p in self._judge.parts.values()):
            return "sim_response is needed when the answer is read with regexes"
        if _merge_paths({n: None for n in self._judge.parts}, self._judge_paths()) is None:
            return "sim_response is needed when answer JSON paths use list indexes or overlap"
        return None

    def _judge_paths(self) -> dict[str, tuple[Any, ...]]:
        return {n: parse_json_path(p.json_path or "") for n, p in self._judge.parts.items()}

    # --- the SequentialTask protocol ------------------------------------------------------------

    @property
    def steps_total(self) -> int | None:
        """Fixed steps; else the length of the reference solver's path (None without one)."""
        if self._steps_total is False:
            if self._fixed is not None:
                self._steps_total = self._fixed
            elif self._solver is not None:
                count, ended = self.reference_steps()
                self._steps_total = count if ended else None
            else:
                self._steps_total = None
        return self._steps_total  # type: ignore[return-value]

    @property
    def planning_steps(self) -> int:
        """Steps to plan k for: the known total, else the max_steps bound (conservative)."""
        return self.steps_total or self.max_steps

    def start(self) -> tuple[Any, Any]:
        return copy.deepcopy(self._initial), None

    def prompt(self, step: int, state: Any, previous: Any, *, simulated: bool) -> StepPrompt:
        values = dict(self._texts)
        values["state"] = as_text(state)
        values["step"] = str(step)
        values["previous_action"] = self._previous_text(previous)
        if self.chunks is not None:
            values["chunk_text"] = self._chunk_text(state)
            values["chunks_total"] = str(len(self.chunks))
        reference = self.reference(step, state) if simulated and self._solver is not None else None
        return StepPrompt(step, render(self.spec.system, values), render(self.spec.user, values), reference)

    def judge(self) -> StepJudge:
        return self._judge

    def advance(self, value: Any) -> tuple[Any, Any]:
        """(action record {action, fields...}, next_state) from a judged answer's value."""
        action = {name: v for name, v in value.items() if name != "next_state"}
        return action, value["next_state"]

    def verify(self, step: int, state: Any, action: Any, next_state: Any) -> bool | None:
        if self._fixed is None and step + 1 >= self.max_steps and not self._done(next_state, action):
            return False  # the safety bound ends the run: it did not terminate in max_steps
        if self._solver is None:
            return None
        decided = {**(action or {}), "next_state": next_state}
        return StepJudge.key(decided) == StepJudge.key(self.solve(step, state))

    def finished(self, steps_done: int, state: Any, action: Any) -> bool:
        if self._fixed is not None:
            return steps_done >= self._fixed
        return steps_done >= self.max_steps or self._done(state, action)

    def encode_state(self, state: Any) -> str:
        return dump_json(state)

    def encode_action(self, action: Any) -> str:
        return dump_json(action)

    def decode_state(self, text: str) -> Any:
        return load_json(text)

    def decode_action(self, text: str | None) -> Any:
        return None if text is None else load_json(text)

    def value_text(self, action: Any, next_state: Any) -> str | None:
        return None  # the answer key is the canonical JSON of the action, fields and next_state

    def config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "spec": str(Path(self.source).resolve()),
            "sha256": self.spec_hash,
            "inputs": dict(self.given_inputs),
            "steps": self.steps_override,
        }

    # --- termination and rendering --------------------------------------------------------------

    def _done(self, state: Any, action: Any) -> bool:
        term = self.spec.termination
        if term.until_field is not None:
            return isinstance(action, dict) and action.get(term.until_field) is True
        if term.until_state is not None:
            return term.until_state.holds(state)
        return False

    @staticmethod
    def _previous_text(previous: Any) -> str:
        if not isinstance(previous, dict) or previous.get("action") is None:
            return "none"
        return as_text(previous["action"])

    def _chunk_text(self, state: Any) -> str:
        assert self.spec.chunks is not None and self.chunks is not None
        found, index = value_at(state, self.spec.chunks.index)
        if found and isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(self.chunks):
            return self.chunks[index]
        return f"(no piece {index!r}: the text has pieces 0 to {len(self.chunks) - 1})"

    def job_defaults(self) -> dict[str, Any]:
        """What the spec sets for the job (flags override it; settings fill the rest)."""
        voting, flags = self.spec.voting, self.spec.red_flags
        return {
            "model": self.spec.model,
            "k": voting.k,
            "max_samples": voting.max_samples,
            "first_temperature": voting.first_temperature,
            "temperature": voting.temperature,
            "max_output_tokens": flags.max_output_tokens,
            "must_not_match": list(flags.must_not_match),
        }

    # --- the reference solver (verification and the simulated model only) ---------------------

    def solve(self, step: int, state: Any) -> dict[str, Any]:
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
        except Exception as exc:  # the user's solver: report it as a spec problem, in one line
            raise self._error("reference", f"{self.spec.reference} failed at step {step}: "
                                           f"{type(exc).__name__}: {exc}") from None
        values = self._solver_values(result, where)
        self._memo = (memo_key, values)
        return values

    def _solver_values(self, result: Any, where: str) -> dict[str, Any]:
        parts = self._judge.parts
        if isinstance(result, (tuple, list)) and len(result) == 2:
            action, next_state = result
            result = {"next_state": next_state}
            if "action" in parts or action is not None:
                result["action"] = action
        if not isinstance(result, dict):
            raise self._error("reference", f"{where}: return (action, next_state) or a dict, not {_short(result)}")
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

    def walk(self, limit: int | None = None) -> Iterator[tuple[int, Any, Any, dict[str, Any]]]:
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

    def response(self, values: Mapping[str, Any]) -> str:
        """The response text a model would give for this answer (for the simulated model)."""
        if self.sim_problem is not None:
            raise SpecError(f"{self.source}: cannot simulate this spec: {self.sim_problem}")
        parts = self._judge.parts
        if self.spec.sim_response is not None:
            texts = {
                name: dump_json(values[name]) if parts[name].json_path else as_text(values[name]) for name in parts
            }
            return render(self.spec.sim_response, texts)
        return dump_json(_merge_paths(values, self._judge_paths()))

    def reference(self, step: int, state: Any) -> Reference:
        """Correct and wrong responses for a step, each checked by the spec's own judge and rules."""
        expected = self.solve(step, state)
        key = StepJudge.key(expected)
        correct = self.response(expected)
        problem = self._problem(correct, key)
        if problem is not None:
            raise SpecError(f"{self.source}: sim_response: the simulated correct response {correct[:60]!r} {problem}")
        cache: dict[int, str] = {}

        def wrong(variant: int) -> str:
            if variant not in cache:
                for candidate in _wrong_answers(expected, variant):
                    text = self.response(candidate)
                    if self._problem(text, None) is None and self._judge(text).key != key:  # type: ignore[union-attr]
                        cache[variant] = text
                        break
                else:
                    if variant == 0:
                        raise SpecError(
                            f"{self.source}: cannot build a well-formed wrong answer at step {step} under this "
                            "spec's answer rules (for the simulated model)"
                        )
                    cache[variant] = wrong(0)
            return cache[variant]

        wrong(0)
        return Reference(correct=correct, wrong=wrong)

    def _problem(self, text: str, key: str | None) -> str | None:
        flag = self._rules.check(Completion(text, None, None, "stop", 0.0, None))
        if flag is not None:
            return f"is red-flagged ({flag.label})"
        result = self._judge(text)
        if isinstance(result, RedFlag):
            return f"is red-flagged ({result.label})"
        if key is not None and result.key != key:
            return f"parses to {result.key[:60]!r}, not {key[:60]!r}"
        return None


# --- helpers ------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _at(doc: Any, parts: tuple[Any, ...]) -> tuple[bool, Any]:
    for part in parts:
        if isinstance(part, int):
            if not isinstance(doc, list) or part >= len(doc):
                return False, None
        elif not isinstance(doc, dict) or part not in doc:
            return False, None
        doc = doc[part]
    return True, doc


def _regex_value(pattern: re.Pattern[str], text: str, first: bool) -> str | None:
    found = pattern.search(text) if first else None
    if not first:
        for found in pattern.finditer(text):  # noqa: B007 - keep the last match
            pass
    return None if found is None else found.group("value")


def _merge_paths(values: Mapping[str, Any], paths: Mapping[str, tuple[Any, ...]]) -> Any | None:
    """One JSON object holding every value at its (field-names-only) path, or None if impossible."""
    doc: dict[str, Any] = {}
    for name, value in values.items():
        parts = paths[name]
        if not parts or any(isinstance(p, int) for p in parts):
            return None
        node = doc
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                return None
            node = child
        if parts[-1] in node:
            return None
        node[parts[-1]] = value
    return doc


def _wrong_answers(expected: Mapping[str, Any], variant: int) -> Iterator[dict[str, Any]]:
    """Well-formed wrong answers, nearest first: a changed leaf of next_state, then of the action,
    then of the other fields; small changes (a number, a digit, a flag) before appended text."""
    names = ["next_state", "action", *[n for n in expected if n not in ("next_state", "action")]]
    for natural in (True, False):
        for name in names:
            if name not in expected:
                continue
            for n, (path, leaf) in enumerate(_leaves(expected[name])):
                if n >= _MAX_WRONG_LEAVES:
                    break
                for changed in _perturb(leaf, variant, natural):
                    yield {**expected, name: _replace(expected[name], path, changed)}


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def _replace(value: Any, path: tuple[Any, ...], leaf: Any) -> Any:
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, leaf)}
    out = list(value)
    out[head] = _replace(value[head], rest, leaf)
    return out


def _perturb(value: Any, variant: int, natural: bool) -> Iterator[Any]:
    step = 1 + variant
    if not natural:
        if isinstance(value, str):
            yield value + "xyz"[variant % 3] * (1 + variant // 3)
        return
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield value + step
        yield value - step
    elif isinstance(value, float):
        yield value + step
    elif isinstance(value, str):
        digits = re.search(r"([0-9])([^0-9]*)\Z", value)
        if digits:
            changed = str((int(digits.group(1)) + step) % 10)
            if changed != digits.group(1):
                yield value[: digits.start(1)] + changed + digits.group(2)


# --- checking a spec without running it (`maker run task FILE --validate`) ----------------------

SIM_CHECK_STEPS = 1000  # the simulated responses are checked on this many reference steps


def validate(task: SpecTask) -> dict[str, Any]:
    """What a spec defines, after checking it can run: the first prompt renders, the reference
    imports and its path ends by the spec's termination (with answers of the declared types), and
    the simulated responses read back through the spec's own judge. Raises SpecError otherwise."""
    spec = task.spec
    term = spec.termination
    warnings: list[str] = []
    state, previous = task.start()
    first = task.prompt(0, state, previous, simulated=False)
    steps, ended = task.steps_total, True
    if task._solver is not None:
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
        warnings.append("no reference solver: decided steps are not verified, and the simulated model "
                        "cannot run this spec")
    if term.steps is not None:
        ends = f"after {task._fixed:,} steps"
    elif term.until_field is not None:
        ends = f"when the decided answer's {term.until_field!r} is true (at most {task.max_steps:,} steps)"
    else:
        ends = f"when the state satisfies until_state (at most {task.max_steps:,} steps)"
    return {
        "valid": True,
        "spec": task.source,
        "name": task.name,
        "description": spec.description,
        "inputs": {name: _short(value, 60) if not isinstance(value, (int, float)) else value
                   for name, value in task.values.items()},
        "initial_state": task.encode_state(state),
        "answer": {name: f"regex ({p.value_type})" if p.regex else f"json_path {p.json_path} ({p.value_type or 'any'})"
                   for name, p in task.judge().parts.items()},
        "termination": ends,
        "steps_total": steps,
        "chunks": len(task.chunks) if task.chunks is not None else None,
        "reference": spec.reference,
        "simulated": task.sim_problem is None,
        "first_prompt": {"system": first.system, "user": first.user},
        "warnings": warnings,
    }
