"""Named stand-ins for `Any`: the one module of maker_cli that may write `Any`.

Each alias is a kind of value whose type cannot be stated more precisely, with the reason why.
Everywhere else an annotation names a precise type, `object` (a value only passed on, compared or
printed) or one of these; `tests/unit/test_typing_policy.py` keeps it that way.
"""

from __future__ import annotations

from typing import Any, TypeAlias

# --- data from files, the store and the wire --------------------------------------------------

JSONValue: TypeAlias = Any
"""A value decoded from JSON or YAML (a spec's state, an input, a stored config): `json.loads` and
`yaml.safe_load` return Any, and its shape is the spec's or the file's, checked where it is read."""

JSONObject: TypeAlias = dict[str, JSONValue]
"""A JSON object: what `--json` prints, a stored run config, a router config's mapping."""

SQLValue: TypeAlias = Any
"""A column value as sqlite3 returns it (typeshed: Any); its type is the store schema's column."""

# --- tasks --------------------------------------------------------------------------------------

TaskState: TypeAlias = Any
"""A step's state: each task kind has its own (Hanoi: pegs of disks; a sequence spec: a JSON value).
The SequentialTask protocol and the runner only hand it back to the task that made it."""

TaskAction: TypeAlias = Any
"""A decided step's action: each task kind has its own (Hanoi: a move; a sequence spec: a JSON
object of the answer's fields); only the task that made it reads it."""

AnswerValue: TypeAlias = Any
"""The parsed value of an answer: each task's judge decides its type (Hanoi: (move, state); a spec:
a JSON value or object) and only that task reads it (`advance`, `classify`, `expected_value`)."""

# --- options ------------------------------------------------------------------------------------

OptionValue: TypeAlias = Any
"""A value of a named option (a CLI flag, an API keyword, a layer of settings): its type depends on
its name and is declared and checked where the option is (typer's parameters, pydantic settings)."""

# --- third-party libraries ----------------------------------------------------------------------

LiteLLM: TypeAlias = Any
"""The litellm module: mypy does not follow it (pyproject: follow_imports = "skip", it halves a cold
run) and its functions return untyped objects read by duck typing."""

LiteLLMRouter: TypeAlias = Any
"""A `litellm.Router` (litellm is not followed by mypy, as above; its methods are untyped)."""

LiteLLMResponse: TypeAlias = Any
"""litellm's ModelResponse: read by duck typing (`choices`, `usage`), each attribute checked."""

PlotlyFigure: TypeAlias = Any
"""A plotly figure or trace (`plotly.graph_objects`): plotly ships no type information (pyproject:
mypy ignores its missing imports), so its objects are untyped; only the HTML report builds them."""
