"""`maker run task FILE`: the shipped sequential examples end to end on the simulated model, spec
errors (file and field, exit 2), --validate, --steps, resume after a budget stop and after SIGKILL,
the spec-changed guard, the max_steps bound, and failure rates against p_full."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from run_helpers import wait_for_progress
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.store.run_store import RunStore
from maker_cli.tasks.solvers.count_word import occurrences

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "sequential"
ADDITION = EXAMPLES / "addition.yaml"
SORT = EXAMPLES / "bubble_sort.yaml"
COUNT = EXAMPLES / "count_word.yaml"


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")


def cli(*args: str):
    return CliRunner().invoke(app, ["run", "task", *args])


def run_json(store: Path, *args: str) -> tuple[int, dict]:
    r = cli(*args, "--store", str(store), "--json")
    assert r.stdout.strip().startswith("{"), r.output
    return r.exit_code, json.loads(r.stdout)


def spec_data(path: Path = ADDITION) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_spec(tmp_path: Path, data: dict | str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- the shipped examples ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [ADDITION, SORT, COUNT], ids=lambda p: p.stem)
def test_each_example_is_solved_on_the_simulated_model_with_every_step_verified(tmp_path, path):
    store = tmp_path / "runs.sqlite"
    code, out = run_json(store, str(path), "--model", "sim:p=0.99,seed=1")
    assert code == 0 and out["status"] == "solved", out
    assert out["kind"] == "sequence" and out["steps_done"] == out["steps_total"] > 5
    assert out["errors"] == 0 and out["first_error_step"] is None
    with RunStore(store) as s:
        steps = list(s.iter_steps(out["run_id"]))
        assert [st.idx for st in steps] == list(range(out["steps_total"]))
        assert all(st.correct is True for st in steps)
    final = out["final_state"]
    spec = spec_data(path)
    if path == ADDITION:
        a, b = spec["inputs"]["a"]["default"], spec["inputs"]["b"]["default"]
        assert final["digits"] == str(int(a) + int(b)) and final["a"] == final["b"] == ""
    elif path == SORT:
        assert final["items"] == sorted(spec["inputs"]["items"]["default"])
    else:
        text, word = spec["inputs"]["text"]["default"], spec["inputs"]["word"]["default"]
        assert final["count"] == occurrences(text, word) > 10


@pytest.mark.parametrize("path", [ADDITION, SORT, COUNT], ids=lambda p: p.stem)
def test_examples_survive_malformed_samples_and_contested_steps(tmp_path, path):
    code, out = run_json(tmp_path / "s.sqlite", str(path), "--model", "sim:p=0.8,invalid=0.1,seed=3", "--k", "4")
    assert code == 0 and out["status"] == "solved", out
    assert out["red_flagged"] > 0 and out["samples"] == out["valid"] + out["red_flagged"]
    assert out["max_votes"] > 4  # some steps were contested and still decided right


def test_people_output_shows_the_plan_and_the_final_state(tmp_path):
    r = cli(
        str(ADDITION),
        "--model",
        "sim:p=0.99,seed=1",
        "--store",
        str(tmp_path / "s.sqlite"),
        "--input",
        "a=999",
        "--input",
        "b=1",
    )
    assert r.exit_code == 0, r.output
    assert "long-addition: 4 steps" in r.output and "voting.k" in r.output
    assert '"digits": "1000"' in r.output and "solved" in r.output


def test_inputs_change_the_task(tmp_path):
    code, out = run_json(
        tmp_path / "s.sqlite", str(SORT), "--model", "sim:p=0.99,seed=2", "--input", "items=[5, -2, 9, 0, 3]"
    )
    assert code == 0 and out["final_state"]["items"] == [-2, 0, 3, 5, 9]
    code, out = run_json(
        tmp_path / "s.sqlite",
        str(COUNT),
        "--model",
        "sim:p=0.99,seed=2",
        "--input",
        "text=The cat saw the other cat. THE end, the END.",
        "--input",
        "word=the",
    )
    assert code == 0 and out["final_state"]["count"] == 4 and out["steps_total"] == 1


def test_a_wrong_decision_fails_the_run_at_that_step(tmp_path):
    code, out = run_json(tmp_path / "s.sqlite", str(ADDITION), "--model", "sim:p=0.6,seed=3", "--k", "1")
    assert code == 1 and out["status"] == "failed"
    assert out["errors"] == 1 and out["steps_done"] == out["first_error_step"] + 1
    assert out["failed_step"]["step"] == out["first_error_step"]


def test_sample_cap_ends_undecided(tmp_path):
    code, out = run_json(
        tmp_path / "s.sqlite", str(COUNT), "--model", "sim:p=0.6,errors=spread,seed=1", "--k", "5", "--max-samples", "5"
    )
    assert code == 3 and out["status"] == "undecided"


# --- --steps, --input and --validate ----------------------------------------------------------


def test_steps_override_for_fixed_length_specs_only(tmp_path):
    code, out = run_json(tmp_path / "s.sqlite", str(COUNT), "--model", "sim:p=0.99,seed=1", "--steps", "4")
    assert code == 0 and out["steps_total"] == out["steps_done"] == 4 and out["final_state"]["chunk"] == 4
    r = cli(str(ADDITION), "--model", "sim:p=0.99", "--steps", "4", "--store", str(tmp_path / "s.sqlite"))
    assert r.exit_code == 2 and "--steps applies to specs with a fixed number of steps" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--input", "colour=red"), "unknown input 'colour'"),
        (("--input", "a=12x"), "input 'a': '12x' does not match"),
        (("--input", "nonsense"), "--input needs key=value"),
    ],
)
def test_bad_inputs_are_usage_errors(tmp_path, args, message):
    r = cli(str(ADDITION), "--model", "sim:p=0.99", "--store", str(tmp_path / "s.sqlite"), *args)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_a_typed_input_must_have_its_type(tmp_path):
    r = cli(str(SORT), "--validate", "--input", "items=5, 3")
    assert r.exit_code == 2 and "input 'items'" in r.output and "not JSON" in r.output


@pytest.mark.parametrize("path", [ADDITION, SORT, COUNT], ids=lambda p: p.stem)
def test_validate_reports_what_it_found(path):
    r = cli(str(path), "--validate", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["valid"] is True and report["simulated"] is True and report["warnings"] == []
    assert report["steps_total"] > 5 and report["reference"] in ("addition", "bubble_sort", "count_word")
    assert "{{" not in report["first_prompt"]["user"]
    r = cli(str(path), "--validate")
    assert r.exit_code == 0 and "valid" in r.output and "first step prompt" in r.output


def test_validate_json_reports_errors_too(tmp_path):
    data = spec_data()
    data["colour"] = "red"
    r = cli(str(write_spec(tmp_path, data)), "--validate", "--json")
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    assert out["valid"] is False and "colour: unknown field" in out["error"]


def test_validate_warns_without_a_reference(tmp_path):
    data = spec_data()
    del data["reference"]
    r = cli(str(write_spec(tmp_path, data)), "--validate", "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 0 and report["steps_total"] is None and report["simulated"] is False
    assert any("no reference solver" in w for w in report["warnings"])
    r = cli(str(write_spec(tmp_path, data)), "--model", "sim:p=0.9", "--store", str(tmp_path / "s.sqlite"))
    assert r.exit_code == 2 and "simulated model cannot run" in r.output and "reference" in r.output


# --- spec errors name the file and the field, and exit 2 --------------------------------------


def _mutations():
    def unknown_top(d):
        d["colour"] = "red"

    def unknown_nested(d):
        d["answer"]["next_state"]["jsonpath"] = "x"

    def two_rules(d):
        d["termination"]["steps"] = 5

    def no_rule(d):
        d["termination"] = {"max_steps": 5}

    def unknown_predicate(d):
        d["termination"]["until_state"] = {"sorted": True}

    def two_predicates(d):
        d["termination"]["until_state"] = {"empty": True, "length_at_most": 3}

    def until_field_not_declared(d):
        d["termination"] = {"until_field": "done"}

    def steps_not_a_number(d):
        d["termination"] = {"steps": "many"}

    def max_steps_with_steps(d):
        d["termination"] = {"steps": 5, "max_steps": 9}

    def missing_placeholder(d):
        d["user"] = "State: {{state}} and {{colour}}"

    def no_state_placeholder(d):
        d["user"] = "Add the next column."

    def expression_placeholder(d):
        d["user"] = "{{ state.a }}"

    def state_template_undeclared(d):
        d["initial_state"]["a"] = "{{c}}"

    def bad_type(d):
        d["answer"]["action"]["type"] = "integer"

    def allowed_wrong_type(d):
        d["answer"]["action"]["allowed"] = ["zero", "one"]

    def bad_regex_group(d):
        d["answer"]["action"] = {"regex": r"digit: (\d)"}

    def both_modes(d):
        d["answer"]["action"]["regex"] = r"(?P<value>\d)"

    def canonical_on_int(d):
        d["answer"]["action"]["canonical"] = ["strip"]

    def reference_format(d):
        d["reference"] = "import os; os.system('x')"

    def bad_k(d):
        d["voting"]["k"] = 0

    def input_default_wrong_type(d):
        d["inputs"]["a"] = {"type": "list", "default": "not json"}

    def reserved_input(d):
        d["inputs"]["state"] = {"default": "x"}

    def sim_response_missing_part(d):
        d["sim_response"] = "{{next_state}}"

    return [
        (unknown_top, "colour: unknown field"),
        (unknown_nested, "answer.next_state.jsonpath: unknown field"),
        (two_rules, "termination: give exactly one of steps, until_field or until_state (got steps, until_state)"),
        (no_rule, "termination: give exactly one of steps, until_field or until_state"),
        (unknown_predicate, "termination.until_state: unknown predicate 'sorted'"),
        (two_predicates, "termination.until_state: give exactly one predicate"),
        (until_field_not_declared, "termination.until_field: 'done' is not an answer field"),
        (steps_not_a_number, "termination.steps: a whole number"),
        (max_steps_with_steps, "termination: max_steps applies to until_field / until_state only"),
        (missing_placeholder, "user: unknown placeholder {{colour}}"),
        (no_state_placeholder, "user: the step prompt must show the state"),
        (expression_placeholder, "user: invalid placeholder"),
        (state_template_undeclared, "initial_state: unknown placeholder {{c}}"),
        (bad_type, "answer.action.type: Input should be"),
        (allowed_wrong_type, "answer.action: allowed: 'zero' is not a int"),
        (bad_regex_group, "answer.action.regex: the regex needs a named group (?P<answer>...) or (?P<value>...)"),
        (both_modes, "answer.action: give exactly one of regex or json_path"),
        (canonical_on_int, "answer: action: canonical steps apply to str values, not int"),
        (reference_format, "reference: \"import os; os.system('x')\" is neither a registered solver name"),
        (bad_k, "voting.k: Input should be greater than or equal to 1"),
        (input_default_wrong_type, "inputs.a: default: 'not json' is not JSON"),
        (reserved_input, "inputs: input name 'state' is reserved"),
        (sim_response_missing_part, "sim_response: must contain {{action}}"),
    ]


@pytest.mark.parametrize(("mutate", "message"), _mutations(), ids=lambda m: getattr(m, "__name__", ""))
def test_spec_errors_name_file_and_field_and_exit_2(tmp_path, mutate, message):
    data = spec_data()
    mutate(data)
    path = write_spec(tmp_path, data)
    for args in (("--validate",), ("--model", "sim:p=0.99", "--store", str(tmp_path / "s.sqlite"))):
        r = cli(str(path), *args)
        assert r.exit_code == 2, r.output
        flat = " ".join(r.output.split())
        assert f"{path}: {message}" in flat, flat
        assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nope", "reference: no solver named 'nope' (registered: addition, bubble_sort, count_word)"),
        ("maker_cli.tasks.solvers.nope:solve", "reference: no solver named 'maker_cli.tasks.solvers.nope:solve'"),
        ("bubble_sort", "reference: bubble_sort failed at step 0: KeyError: 'items'"),
        (
            "maker_cli.solvers.bubble_sort:solve",  # an old spec's path: maker's own solver, by its name
            "reference: maker_cli.solvers.bubble_sort:solve failed at step 0: KeyError: 'items'",
        ),
        ("seq_solver_fixture.py:words", "reference: seq_solver_fixture.py:words at step 0: action: digit is not a int"),
        (
            "seq_solver_fixture.py:half",
            "reference: seq_solver_fixture.py:half at step 0: return (action, next_state) or a dict",
        ),
        ("seq_solver_fixture.py:extra", "reference: seq_solver_fixture.py:extra at step 0: unexpected 'done'"),
        (
            "seq_solver_fixture.py:reshaped",
            "reference: seq_solver_fixture.py:reshaped at step 0: next_state: shape "
            "differs from the initial state: next_state: missing key 'position'",
        ),
        ("seq_solver_fixture.py:nope", "reference: seq_solver_fixture.py:nope is not a function"),
        ("absent.py:solve", "reference: no file absent.py next to the spec"),
        ("../outside.py:solve", "reference: ../outside.py is outside the spec's folder"),
    ],
)
def test_unusable_references_are_spec_errors(tmp_path, reference, message):
    (tmp_path / "seq_solver_fixture.py").write_text(
        "def words(state, step, inputs):\n    return 'seven', state\n"
        "def half(state, step, inputs):\n    return 7\n"
        "def extra(state, step, inputs):\n    return {'action': 1, 'next_state': state, 'done': True}\n"
        "def reshaped(state, step, inputs):\n    return 1, {k: v for k, v in state.items() if k != 'position'}\n",
        encoding="utf-8",
    )
    data = spec_data()
    data["reference"] = reference
    path = write_spec(tmp_path, data)
    r = cli(str(path), "--validate", "--trust-spec-code")
    assert r.exit_code == 2 and f"{path}: {message}" in " ".join(r.output.split()), r.output


def test_yaml_syntax_errors_and_missing_files(tmp_path):
    r = cli(str(write_spec(tmp_path, "name: [unclosed\n")), "--validate")
    assert r.exit_code == 2 and "YAML syntax error at line" in r.output
    r = cli(str(tmp_path / "absent.yaml"), "--validate")
    assert r.exit_code == 2 and "absent.yaml: no such file" in r.output
    r = cli("--validate")
    assert r.exit_code == 2 and "needs a spec FILE" in r.output


def test_initial_state_must_have_the_next_state_type(tmp_path):
    data = spec_data(SORT)
    data["initial_state"] = "{{items}}"
    path = write_spec(tmp_path, data)
    r = cli(str(path), "--validate")
    assert r.exit_code == 2 and f"{path}: initial_state: is a list, but answer.next_state.type is object" in r.output


def test_replies_longer_than_the_length_red_flag_are_caught_before_a_simulated_run(tmp_path):
    long = ("--input", "a=" + "7" * 1200, "--input", "b=" + "5" * 1200)
    r = cli(str(ADDITION), "--validate", "--json", *long)
    assert r.exit_code == 0 and "over red_flags.max_output_tokens (400)" in json.loads(r.stdout)["warnings"][0]
    r = cli(str(ADDITION), "--model", "sim:p=0.99", "--store", str(tmp_path / "s.sqlite"), *long)
    assert r.exit_code == 2 and "every sample would be discarded" in r.output
    code, out = run_json(
        tmp_path / "s.sqlite", str(ADDITION), "--model", "sim:p=0.99,seed=1", *long, "--max-output-tokens", "2000"
    )
    assert code == 0 and out["final_state"]["digits"] == str(int("7" * 1200) + int("5" * 1200))


# --- the safety bound -----------------------------------------------------------------------------


def test_a_run_that_does_not_terminate_within_max_steps_fails(tmp_path):
    data = spec_data()
    data["termination"]["max_steps"] = 5
    path = write_spec(tmp_path, data)
    r = cli(str(path), "--validate")
    assert r.exit_code == 2 and "does not end within max_steps (5)" in r.output
    code, out = run_json(tmp_path / "s.sqlite", str(path), "--model", "sim:p=0.99,seed=1")
    assert code == 1 and out["status"] == "failed" and out["steps_done"] == 5 and out["first_error_step"] == 4


# --- resume ---------------------------------------------------------------------------------------


def test_budget_stop_then_resume_to_solved_with_every_step_stored_once(tmp_path):
    store = tmp_path / "s.sqlite"
    prices = ("--price-in", "100", "--price-out", "100")
    args = (str(ADDITION), "--model", "sim:p=0.99,seed=4", "--k", "2", *prices)
    r = cli(*args, "--max-cost", "0.1", "--store", str(store))
    assert r.exit_code == 1 and "exceeds --max-cost" in r.output
    code, out = run_json(store, *args, "--max-cost", "0.1", "--yes")
    assert code == 4 and out["status"] == "budget_exhausted" and 0 < out["steps_done"] < out["steps_total"]
    code, done = run_json(store, "--resume", out["run_id"], "--max-cost", "1000")
    assert code == 0 and done["status"] == "solved" and done["resumed"] is True, done
    assert done["steps_done"] == done["steps_total"] == 41 and done["samples"] > out["samples"]
    with RunStore(store) as s:
        assert [st.idx for st in s.iter_steps(out["run_id"])] == list(range(41))


def test_resume_refuses_a_changed_spec_and_extra_arguments(tmp_path):
    store = tmp_path / "s.sqlite"
    spec = tmp_path / "addition.yaml"
    shutil.copy(ADDITION, spec)
    code, out = run_json(
        store,
        str(spec),
        "--model",
        "sim:p=0.99,seed=4",
        "--k",
        "2",
        "--price-in",
        "100",
        "--price-out",
        "100",
        "--max-cost",
        "0.1",
        "--yes",
    )
    assert code == 4
    r = cli(str(spec), "--resume", out["run_id"], "--store", str(store))
    assert r.exit_code == 2 and "give no FILE" in r.output
    spec.write_text(spec.read_text(encoding="utf-8").replace("k: 3", "k: 4"), encoding="utf-8")
    r = cli("--resume", out["run_id"], "--store", str(store), "--max-cost", "1000")
    assert r.exit_code == 2 and "changed since this run started" in r.output
    spec.unlink()
    r = cli("--resume", out["run_id"], "--store", str(store))
    assert r.exit_code == 2 and "is gone" in r.output


def test_sigkill_mid_run_then_resume_stores_every_step_once(tmp_path):
    rng = random.Random(7)
    a = "".join(rng.choice("0123456789") for _ in range(3000))
    b = "".join(rng.choice("0123456789") for _ in range(2990))
    (tmp_path / "a.txt").write_text(a, encoding="utf-8")
    (tmp_path / "b.txt").write_text(b, encoding="utf-8")
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maker_cli",
            "run",
            "task",
            str(ADDITION),
            "--store",
            str(store),
            "--input",
            f"a=@{tmp_path / 'a.txt'}",
            "--input",
            f"b=@{tmp_path / 'b.txt'}",
            "--model",
            "sim:p=0.995,seed=9,latency_ms=1",
            "--k",
            "2",
            "--max-output-tokens",
            "5000",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    run_id = wait_for_progress(store, proc, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with RunStore(store) as s:
        killed = s.get_run(run_id)
        total = killed.steps_total
        assert killed.status == "interrupted" and 0 < killed.steps_done < total  # its lease died with it
        assert s.count_steps(run_id) == killed.steps_done
    code, out = run_json(store, "--resume", run_id)
    assert code == 0 and out["status"] == "solved" and out["resumed"] is True, out
    assert out["final_state"]["digits"] == str(int(a) + int(b))
    with RunStore(store) as s:
        assert [st.idx for st in s.iter_steps(run_id)] == list(range(total))
        assert all(st.correct for st in s.iter_steps(run_id))


# --- failure rates follow the maths ---------------------------------------------------------------
