"""Fuzz: every command's option parser and the spec loader, driven with random and hostile values.

The rule under test (docs/concepts.md, "Exit codes"): a bad input is exactly one `error:` line on
stderr and exit code 2; anything else is a result (exit 0, 3 undecided, 4 budget) or one of the
exit-1 outcomes an input may legitimately lead to: p <= 0.5 (cannot converge), or a result that
says the job went wrong (a failed run, a calibration that saw no valid sample), printed as JSON. Never a traceback, never "internal error".

Options are read from the commands themselves, so an option added later is fuzzed too. Options
that only make a job bigger (disks, samples) are held fixed so each example stays fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer.main
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer._click.core import Context
from typer.core import TyperOption as Option
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import UsageError
from maker_cli.specs import load_spec

ROOT = Path(__file__).resolve().parents[2]
ADDITION = str(ROOT / "examples" / "sequential" / "addition.yaml")
SIM = "sim:p=0.95,seed=1"

# (command words, the fixed arguments that make it run fast, options never fuzzed)
COMMANDS = {
    "estimate": (["estimate"], ["--steps", "9", "--p", "0.9"], set()),
    "vote": (["vote"], ["--prompt", "q", "--model", "sim:p=0.9,answer=a,seed=1"], set()),
    "run hanoi": (["run", "hanoi"], ["--disks", "2", "--model", SIM], {"--disks"}),
    "run task": (["run", "task"], [ADDITION, "--input", "a=12", "--input", "b=34", "--model", SIM], set()),
    "calibrate hanoi": (
        ["calibrate", "hanoi"],
        ["--model", SIM, "--disks", "3", "--samples", "5"],
        {"--disks", "--samples"},
    ),
    "calibrate task": (["calibrate", "task"], [ADDITION, "--model", SIM, "--samples", "5"], {"--samples", "--steps"}),
    "runs list": (["runs", "list"], [], set()),
    "runs show": (["runs", "show"], ["abc"], set()),
    "runs watch": (["runs", "watch"], ["abc"], set()),
}

HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "2",
    "0.5",
    "0.9",
    "1e-300",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999",
    "abc",
    "[/x]",
    "[link=http://x]y[/link]",
    "\x1b[31mred",
    "a=b",
    "a=@/dev/zero",
    "a=@/",
    "@/dev/zero",
    "/dev/zero",
    "/",
    "/nonexistent/file.yaml",
    "sim:p=2",
    "sim:p=0.9",
    "openai/",
    "x" * 3000,
    "é☃",
    "--json",
    "-",
    "http://",
    "ftp://x/y",
    "sk-abcdefghijklmnop",
]
PLAUSIBLE = ["1", "2", "3", "5", "10", "0.9", "0.99", "0.95", "0.6", "100", "hanoi", "true"]
VALUES = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.sampled_from(HOSTILE),
    st.integers(-10_000, 10_000).map(str),
    st.floats().map(repr),
    st.text(max_size=12).filter(lambda s: "\x00" not in s),
)


def options_of(words: list[str], skip: set[str]) -> list[Option]:
    command = typer.main.get_command(app)
    ctx = Context(command)
    for word in words:
        command = command.get_command(ctx, word)  # type: ignore[attr-defined]
        ctx = Context(command, parent=ctx)
    return [p for p in command.params if isinstance(p, Option) and p.opts[0] != "--help" and not set(p.opts) & skip]


def check(result, args: list[str]) -> None:
    where = f"maker {' '.join(args)!r}:\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), where
    assert "Traceback" not in result.output and "internal error" not in result.stderr, where
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if result.exit_code == 2:
        assert len(errors) == 1 and lines[-1] == errors[0], where
        assert all(line.startswith(("error:", "warning:")) for line in lines), where
    elif result.exit_code == 1:  # only after a result (a failed run, a calibration that saw no valid sample)
        has_result = result.stdout.strip().startswith("{") and isinstance(json.loads(result.stdout), dict)
        assert has_result or (len(errors) == 1 and "cannot converge" in errors[0]), where
    else:
        assert result.exit_code in (0, 3, 4), where
        assert not errors, where


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_random_option_values_are_one_line_and_exit_2_or_a_result(name, tmp_path):
    words, base, skip = COMMANDS[name]
    options = options_of(words, skip)
    assert options, name
    store = str(tmp_path / "runs.sqlite")
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(st.tuples(st.sampled_from(options), VALUES), min_size=1, max_size=3))
    def fuzz(picked):
        args = [*words, *base]
        for option, value in picked:
            args += [option.opts[0]] if option.is_flag else [option.opts[0], value]
        if "--store" not in args and words[0] in ("run", "runs"):
            args += ["--store", store]
        args.append("--json")
        here = os.getcwd()
        os.chdir(cwd)  # a fuzzed relative --out or --store lands in the test's folder
        try:
            result = CliRunner().invoke(app, args, env={"MAKER_MAX_ATTEMPTS": "1", "OPENAI_API_KEY": ""})
        finally:
            os.chdir(here)
        check(result, args)

    fuzz()


# --- the spec loader ------------------------------------------------------------------------------

SPEC_KEYS = [
    "name",
    "description",
    "prompt",
    "system",
    "inputs",
    "answer",
    "red_flags",
    "voting",
    "model",
    "initial_state",
    "step",
    "state",
    "reference",
    "final",
    "dataset",
    "decompose",
    "x",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(), st.text(max_size=20), st.sampled_from(HOSTILE)
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=20,
)
RANDOM_SPECS = st.dictionaries(st.sampled_from(SPEC_KEYS), TREES, max_size=8)
EXAMPLES = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "examples").rglob("*.yaml"))]


def _paths(tree, prefix=()):
    yield prefix
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


@st.composite
def mutated_examples(draw):
    """A worked example with one field replaced by a random value, or removed: deep in the
    validation, where random documents rarely get."""
    data = json.loads(json.dumps(draw(st.sampled_from(EXAMPLES))))
    path = draw(st.sampled_from([p for p in _paths(data) if p]))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(TREES)
    return data


SPECS = st.one_of(RANDOM_SPECS, mutated_examples(), mutated_examples())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SPECS)
def test_random_specs_load_or_fail_with_a_usage_error(tmp_path, data):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        load_spec(path)
    except UsageError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip(), message
        assert "Traceback" not in message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SPECS)
def test_random_specs_through_the_cli_are_one_line(tmp_path, data):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    for args in (
        ["vote", "--task", str(path), "--model", "sim:p=0.9,seed=1", "--json"],
        ["run", "task", str(path), "--validate", "--json"],
    ):
        check(CliRunner().invoke(app, args), args)
