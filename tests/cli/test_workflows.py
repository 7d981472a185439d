"""Workflow specs: validation at load (one line naming file and field, exit 2), running through the
one runner (dependency order, concurrency, composition, sequence nodes as their own runs), the
store and --resume (after a budget stop, a failing node, and kill -9), the estimate and the API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.errors import SpecError
from maker_cli.specs import load_spec
from maker_cli.store.run_store import RunStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def question(node_id: str, user: str, expected: str, deps: list[str] | None = None, extra: str = "") -> str:
    after = f"    depends_on: [{', '.join(deps)}]\n" if deps else ""
    return (
        f"  - id: {node_id}\n{after}"
        f"    user: {json.dumps(user)}\n"
        '    answer: {regex: "Answer: *(?P<answer>\\\\S+)"}\n'
        f"    expected: {json.dumps(expected)}\n"
        '    sim_response: "Answer: {{answer}}"\n' + extra
    )


def workflow(folder: Path, body: str, name: str = "wf.yaml", head: str = "") -> Path:
    path = folder / name
    path.write_text(f"kind: workflow\nname: test\n{head}nodes:\n{body}", encoding="utf-8")
    return path


DIAMOND = (
    question("top", "Read {{x}}. Answer: <n>", "5")
    + question("left", "Double {{nodes.top.answer}}. Answer: <n>", "10", ["top"])
    + question("right", "Triple {{nodes.top.answer}}. Answer: <n>", "15", ["top"])
    + "compose: {function: reduce, operation: sum, nodes: [left, right]}\n"
)
X_INPUT = "inputs: {x: {default: 'five'}}\n"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("head", "body", "message"),
    [
        ("", "  []\n", "nodes: List should have at least 1 item"),
        ("", question("a", "q", "1") + question("a", "q", "1"), "nodes[1].id: duplicate id 'a'"),
        ("", question("a", "q", "1", ["b"]), "depends_on: unknown node 'b'"),
        (
            "",
            question("a", "q", "1", ["c"]) + question("b", "q", "1", ["a"]) + question("c", "q", "1", ["b"]),
            "a cycle: a -> b -> c -> a",
        ),
        ("", question("a", "q", "1", ["a"]), "node 'a' depends on itself"),
        (
            "",
            question("a", "q", "1") + question("b", "use {{nodes.a.answer}}", "1") + "compose: {function: sequence}\n",
            "{{nodes.a.answer}} is not upstream of node b",
        ),
        ("", question("a", "q {{colour}}", "1"), "{{colour}} is not a declared input"),
        (
            "inputs: {colour: {}, size: {}}\n",
            question("a", "q {{colour}}", "1"),
            "inputs.size: declared but no node uses it",
        ),
        (
            "",
            question("a", "q", "1") + "  - id: b\n    uses: missing.yaml\ncompose: {function: sequence}\n",
            "nodes[1] (b).uses: missing.yaml not found",
        ),
        ("", question("a", "q", "1") + "compose: {function: reduce}\n", "reduce needs an operation"),
        ("", question("a", "q", "1") + "compose: {function: reduce, operation: sum, nodes: [z]}\n", "unknown node 'z'"),
        ("", question("a", "q", "1") + question("b", "q", "1"), "identity takes one node's result; 2 nodes"),
        (
            "",
            question("a", "q", "1") + question("b", "{{nodes.a.final_state}}", "1", ["a"]),
            "a question node's result is {{nodes.a.answer}}",
        ),
        ("", '  - id: Bad\n    user: q\n    answer: {regex: "(?P<answer>x)"}\n', "'Bad' is not a node id"),
        ("", "  - id: a\n    user: q\n", "an inline question needs user: and answer:"),
    ],
)
def test_a_bad_workflow_is_one_line_naming_file_and_field(tmp_path, head, body, message):
    path = workflow(tmp_path, body, head=head)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert message in str(info.value) and str(path) in str(info.value)
    r = cli("run", "task", str(path), "--validate")
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1


def test_uses_files_are_checked_at_load(tmp_path):
    shutil.copy(EXAMPLES / "sequential" / "addition.yaml", tmp_path / "addition.yaml")
    shutil.copy(EXAMPLES / "arithmetic.yaml", tmp_path / "arithmetic.yaml")
    (tmp_path / "broken.yaml").write_text("name: x\nuser: q\n", encoding="utf-8")
    cases = {
        "  - id: s\n    uses: arithmetic.yaml\n    inputs: {a: '1'}\n": "'b' is missing (arithmetic.yaml needs it)",
        "  - id: s\n    uses: addition.yaml\n    inputs: {a: '1', b: '2', c: '3'}\n": "'c' is not an input of addition.yaml",
        "  - id: s\n    uses: broken.yaml\n": "broken.yaml: answer: Field required",
    }
    for body, message in cases.items():
        with pytest.raises(SpecError) as info:
            load_spec(workflow(tmp_path, body))
        assert message in str(info.value) and "nodes[0] (s)" in str(info.value)


def test_validate_describes_the_workflow(tmp_path):
    path = workflow(tmp_path, DIAMOND, head=X_INPUT)
    data = json.loads(cli("run", "task", str(path), "--validate", "--json").stdout)
    assert data["order"] == ["top", "left", "right"] and data["critical_path"] == ["top", "left"]
    assert data["voted_steps"] == 3 and data["compose"] == "reduce sum of left, right"
    assert "top --> left" in data["mermaid"] and data["simulation_problem"] is None
    human = cli("run", "task", str(path), "--validate")
    assert human.exit_code == 0 and "critical path: top -> left" in human.stdout


# --------------------------------------------------------------------------- running


def run_json(store: Path, path: Path | None, *args: str) -> tuple[int, dict]:
    r = cli("run", "task", *([str(path)] if path is not None else []), "--store", str(store), "--json", *args)
    assert r.stdout.strip().startswith("{"), r.output
    return r.exit_code, json.loads(r.stdout)


def test_a_diamond_runs_in_dependency_order_and_composes(tmp_path):
    path = workflow(tmp_path, DIAMOND, head=X_INPUT)
    code, out = run_json(tmp_path / "s.sqlite", path, "--model", "sim:p=0.9,seed=3")
    assert code == 0 and out["status"] == "solved" and out["kind"] == "workflow"
    assert out["result"] == 25 and out["steps_done"] == out["steps_total"] == 3 and out["voted_steps"] == 3
    nodes = {n["id"]: n for n in out["nodes"]}
    assert nodes["left"]["answer"] == "10" and all(n["status"] == "decided" for n in nodes.values())
    assert out["samples"] == sum(n["samples"] for n in nodes.values())
    assert out["max_votes"] >= 2  # the most votes a node took, kept for displays and `runs watch`
    from maker_cli.store.run_store import RunStore

    with RunStore(tmp_path / "s.sqlite") as store:
        assert store.get_run(out["run_id"]).last_state["max_votes"] == out["max_votes"]
    shown = cli("runs", "show", out["run_id"], "--store", str(tmp_path / "s.sqlite"))
    assert (
        "nodes: 3 of 3 decided" in shown.stdout
        and "left: decided = 10" in shown.stdout
        and "result: 25" in shown.stdout
    )


def test_independent_nodes_run_at_once(tmp_path):
    body = "".join(question(f"n{i}", f"q{i}", str(i)) for i in range(6))
    body += "compose: {function: sequence}\n"
    path = workflow(tmp_path, body)
    t0 = time.perf_counter()
    code, out = run_json(tmp_path / "s.sqlite", path, "--model", "sim:p=1,latency_ms=300", "--k", "1")
    wall = time.perf_counter() - t0
    assert code == 0 and out["result"] == ["0", "1", "2", "3", "4", "5"]
    assert wall < 6 * 0.3, wall  # one after the other would take at least 1.8 s


def test_a_sequence_node_is_its_own_resumable_run(tmp_path):
    shutil.copy(EXAMPLES / "sequential" / "addition.yaml", tmp_path / "addition.yaml")
    body = (
        question("first", "Give a number. Answer: <n>", "987")
        + "  - id: plus\n    depends_on: [first]\n    uses: addition.yaml\n"
        + "    inputs: {a: '{{nodes.first.answer}}', b: '45'}\n"
        + "compose: {function: identity}\n"
    )
    path = workflow(tmp_path, body)
    code, out = run_json(tmp_path / "s.sqlite", path, "--model", "sim:p=0.95", "--steps-of", "plus=3")
    assert code == 0 and out["result"]["digits"] == "1032"
    plus = next(n for n in out["nodes"] if n["id"] == "plus")
    assert plus["kind"] == "sequence" and plus["child_run"]
    with RunStore(tmp_path / "s.sqlite") as s:
        child = s.get_run(plus["child_run"])
    assert child.status == "solved" and child.config["parent"] == {"run": out["run_id"], "node": "plus"}
    assert plus["steps"] == child.steps_done == 4 and plus["samples"] == child.samples
    assert out["voted_steps"] == 4


def test_an_llm_composition_is_one_more_voted_question(tmp_path):
    r = cli("run", "task", str(EXAMPLES / "workflows" / "company_facts.yaml"), "--model", "sim:p=0.9",
            "--store", str(tmp_path / "s.sqlite"), "--json")  # fmt: skip
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["result"] == "Founded in 1996 in Porto by Ana Ribeiro."
    assert out["steps_total"] == 4 and out["voted_steps"] == 4


def test_a_failing_node_stops_its_dependants_and_the_others_finish(tmp_path):
    never = "    red_flags: {max_output_tokens: 1}\n"  # every sample red-flagged: the node ends undecided
    body = (
        question("bad", "q", "1", extra=never)
        + question("after_bad", "use {{nodes.bad.answer}}", "2", ["bad"])
        + question("good", "q", "3")
        + "compose: {function: sequence, nodes: [after_bad, good]}\n"
    )
    path = workflow(tmp_path, body)
    code, out = run_json(tmp_path / "s.sqlite", path, "--model", "sim:p=0.99")
    assert code == 3 and out["status"] == "undecided" and out["result"] is None
    nodes = {n["id"]: n for n in out["nodes"]}
    assert nodes["bad"]["status"] == "undecided" and nodes["good"]["status"] == "decided"
    assert nodes["after_bad"]["status"] == "blocked" and nodes["after_bad"]["samples"] == 0
    assert "node bad: undecided" in out["message"]
    human = cli("run", "task", str(path), "--store", str(tmp_path / "h.sqlite"), "--model", "sim:p=0.99")
    assert "resume with: maker run task --resume" in human.stdout


def test_budget_stop_then_resume_keeps_decided_nodes(tmp_path):
    store = tmp_path / "s.sqlite"
    body = "".join(question(f"n{i}", f"question {i} " * 20, str(i), [f"n{i - 1}"] if i else None) for i in range(5))
    body += "compose: {function: last_only}\n"
    path = workflow(tmp_path, body)
    prices = ("--price-in", "1000", "--price-out", "1000")
    code, out = run_json(store, path, "--model", "sim:p=0.99", *prices, "--max-cost", "0.2", "--yes")
    assert code == 4 and out["status"] == "budget_exhausted" and 0 < out["steps_done"] < 5
    decided = {n["id"] for n in out["nodes"] if n["status"] == "decided"}
    with RunStore(store) as s:
        before = {row.input_state: row.samples for row in s.iter_steps(out["run_id"])}
    code, done = run_json(store, None, "--resume", out["run_id"], "--max-cost", "100")
    assert code == 0 and done["status"] == "solved" and done["result"] == "4" and done["resumed"]
    with RunStore(store) as s:
        after = {row.input_state: row.samples for row in s.iter_steps(out["run_id"])}
    assert set(after) == {f"n{i}" for i in range(5)} and all(after[n] == before[n] for n in decided)


def test_kill_9_mid_workflow_then_resume(tmp_path):
    store = tmp_path / "s.sqlite"
    body = "".join(question(f"n{i}", f"q{i}", str(i), [f"n{i - 1}"] if i else None) for i in range(8))
    body += "compose: {function: last_only}\n"
    path = workflow(tmp_path, body)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maker_cli",
            "run",
            "task",
            str(path),
            "--store",
            str(store),
            "--json",
            "--model",
            "sim:p=0.99,latency_ms=150",
            "--k",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    deadline = time.monotonic() + 60
    run_id = None
    while time.monotonic() < deadline and run_id is None:
        assert proc.poll() is None, proc.communicate()
        if store.exists():
            try:
                with RunStore(store) as s:
                    runs = s.list_runs(1)
                    if runs and runs[0].steps_done >= 2:
                        run_id = runs[0].id
            except Exception:  # the file may be mid-creation
                pass
        time.sleep(0.05)
    assert run_id is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with RunStore(store) as s:
        kept = {row.input_state for row in s.iter_steps(run_id)}
        assert s.get_run(run_id).status == "interrupted"  # its process is gone: the store says so
    code, done = run_json(store, None, "--resume", run_id)
    assert code == 0 and done["status"] == "solved" and done["result"] == "7"
    with RunStore(store) as s:
        rows = [row.input_state for row in s.iter_steps(run_id)]
    assert sorted(rows) == sorted(f"n{i}" for i in range(8)) and kept <= set(rows)


def test_resume_refuses_a_changed_workflow_file(tmp_path):
    path = workflow(tmp_path, DIAMOND, head=X_INPUT)
    store = tmp_path / "s.sqlite"
    code, out = run_json(store, path, "--model", "sim:p=0.99", "--price-in", "1000", "--price-out", "1000",
                         "--max-cost", "0.001", "--yes")  # fmt: skip
    assert code == 4
    path.write_text(path.read_text() + "\n# changed\n", encoding="utf-8")
    r = cli("run", "task", "--resume", out["run_id"], "--store", str(store))
    assert r.exit_code == 2 and "changed since this run started" in r.output


def test_the_simulated_model_needs_expected_answers(tmp_path):
    path = workflow(tmp_path, '  - id: a\n    user: q\n    answer: {regex: "(?P<answer>x)"}\n')
    r = cli("run", "task", str(path), "--model", "sim", "--store", str(tmp_path / "s.sqlite"))
    assert r.exit_code == 2 and "node a has no expected answer" in r.output


def test_workflows_are_refused_where_they_do_not_fit(tmp_path):
    path = workflow(tmp_path, DIAMOND, head=X_INPUT)
    vote = cli("vote", "--task", str(path), "--model", "sim")
    assert vote.exit_code == 2 and "is a workflow" in vote.output
    cal = cli("calibrate", "task", str(path), "--model", "sim")
    assert cal.exit_code == 2 and "calibrate the specs of its nodes" in cal.output
    steps_of = cli("run", "task", str(path), "--steps-of", "top=3", "--validate")
    assert steps_of.exit_code == 2 and "not a sequence node" in steps_of.output


# --------------------------------------------------------------------------- estimate and API


def test_estimate_a_workflow(tmp_path):
    shutil.copy(EXAMPLES / "sequential" / "addition.yaml", tmp_path / "addition.yaml")
    body = (
        question("a", "q", "1")
        + question("b", "q", "2")
        + "  - id: s\n    depends_on: [a]\n    uses: addition.yaml\n    inputs: {a: '{{nodes.a.answer}}', b: '7'}\n"
        + "compose: {function: sequence, nodes: [b, s]}\n"
    )
    path = workflow(tmp_path, body)
    r = cli("estimate", "--task", str(path), "--p", "0.99", "--latency", "1", "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["steps"] == 102 and out["workflow"]["voted_steps"] == 102
    assert out["workflow"]["critical_path"] == ["a", "s"] and out["workflow"]["critical_path_steps"] == 101
    assert any("--steps-of" in w for w in out["warnings"])
    given = json.loads(cli("estimate", "--task", str(path), "--p", "0.99", "--steps-of", "s=5", "--json").stdout)
    assert given["steps"] == 7 and not any("--steps-of" in w for w in given["warnings"])
    report = maker_cli.estimate(task=path, p=0.99, steps_of={"s": 5})
    assert report.k == given["k"] and report.workflow is not None
    assert cli("estimate", "--task", str(path), "--steps", "5", "--p", "0.9").exit_code == 2


def test_the_api_runs_a_workflow(tmp_path):
    result = maker_cli.run(maker_cli.example_path("order_total"), model="sim:p=0.9", store=tmp_path / "s.sqlite")
    assert result.status == "solved" and result.result == 1750
    assert [n.id for n in result.nodes or []] == ["unit_price", "apples", "pears"]


def test_ctrl_c_mid_workflow_is_resumable(tmp_path):
    store = tmp_path / "s.sqlite"
    body = "".join(question(f"n{i}", f"q{i}", str(i), [f"n{i - 1}"] if i else None) for i in range(6))
    body += "compose: {function: last_only}\n"
    path = workflow(tmp_path, body)
    command = [sys.executable, "-m", "maker_cli", "run", "task", str(path), "--store", str(store)]
    proc = subprocess.Popen(
        [*command, "--model", "sim:p=0.99,latency_ms=400", "--k", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store.exists():
            try:
                with RunStore(store) as s:
                    runs = s.list_runs(1)
                    if runs and runs[0].steps_done >= 1:
                        break
            except Exception:  # the file may be mid-creation
                pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted: run" in err and "maker run task --resume" in err
    run_id = runs[0].id
    with RunStore(store) as s:
        assert s.get_run(run_id).status == "interrupted" and 1 <= s.count_steps(run_id) < 6
    code, done = run_json(store, None, "--resume", run_id)
    assert code == 0 and done["status"] == "solved" and done["result"] == "5"
