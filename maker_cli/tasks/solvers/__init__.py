"""Reference solvers: the correct answer to any step of a sequence spec, for checks and the sim.

A solver is `solve(state, step, inputs)` returning `(action, next_state)`, or a dict with `action`,
`next_state` and any extra answer fields. maker uses it after each vote to verify the decided step,
and to let the simulated model answer; the voting never sees it.

A spec names its solver by `reference:`. Only these run:

- a registered name: maker's own (`addition`, `bubble_sort`, `count_word`, in this package) or one
  installed by a package under the entry-point group `maker_cli.solvers`;
- `FILE.py:function`, a Python file in the spec's own folder, and only when the user trusts the
  spec's code (`--trust-spec-code`; the MCP server: `serve-mcp --trust-spec-code`).

Nothing else is imported: a spec cannot name `shutil:rmtree`.

Solvers answer any state of the right shape, not only states on the correct path: with
`--keep-going` a run may continue from a wrong state, and the verifier still asks.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from maker_cli._types import JSONObject, JSONValue
from maker_cli.errors import SpecError
from maker_cli.tasks.solvers import addition, bubble_sort, count_word

Solver = Callable[[JSONValue, int, JSONObject], object]  # (state, step, inputs) -> checked by the task
ENTRY_POINT_GROUP = "maker_cli.solvers"
BUILTIN: dict[str, Solver] = {
    "addition": addition.solve,
    "bubble_sort": bubble_sort.solve,
    "count_word": count_word.solve,
}
_LEGACY = re.compile(r"maker_cli(?:\.tasks)?\.solvers\.(\w+):solve")
_FILE = re.compile(r"(?P<file>[\w.\-/]+\.py):(?P<func>[A-Za-z_]\w*)")


def available() -> dict[str, str]:
    """Registered solver names and where they come from."""
    names = dict.fromkeys(BUILTIN, "maker")
    for point in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(point.name, point.value)
    return names


def resolve(reference: str, *, spec_dir: Path | None, trust_code: bool, source: str = "<spec>") -> Solver:
    """The solver a spec's `reference:` names; SpecError if it is unknown or not trusted."""
    legacy = _LEGACY.fullmatch(reference)
    name = legacy.group(1) if legacy else reference
    if name in BUILTIN:
        return BUILTIN[name]
    file = _FILE.fullmatch(reference)
    if file is not None:
        return _from_file(file.group("file"), file.group("func"), spec_dir, trust_code, source)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            try:
                solver = point.load()
            except Exception as exc:  # noqa: BLE001 - an installed plugin that fails to import: one line
                raise SpecError(
                    f"{source}: reference: solver {name!r} ({point.value}) cannot be loaded: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            return _callable(solver, name, source)
    known = ", ".join(sorted(available()))
    raise SpecError(
        f"{source}: reference: no solver named {reference!r} (registered: {known}); a Python file next to "
        "the spec is named FILE.py:function and needs --trust-spec-code"
    )


def _from_file(file: str, func: str, spec_dir: Path | None, trust_code: bool, source: str) -> Solver:
    if not trust_code:
        raise SpecError(
            f"{source}: reference: {file}:{func} is code from the spec's folder; maker runs it only when you "
            "trust this spec: add --trust-spec-code"
        )
    folder = (spec_dir or Path.cwd()).resolve()
    path = (folder / file).resolve()
    if not path.is_relative_to(folder):
        raise SpecError(f"{source}: reference: {file} is outside the spec's folder")
    if not path.is_file():
        raise SpecError(f"{source}: reference: no file {file} next to the spec")
    module_name = f"maker_spec_solver_{abs(hash(str(path)))}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file: any failure is reported in one line
        sys.modules.pop(module_name, None)
        raise SpecError(f"{source}: reference: cannot import {file} ({type(exc).__name__}: {exc})") from None
    return _callable(getattr(module, func, None), f"{file}:{func}", source)


def _callable(solver: object, name: str, source: str) -> Solver:
    if not callable(solver):
        raise SpecError(f"{source}: reference: {name} is not a function")
    return solver
