"""`maker_cli.workflows.decompose`: the proposal judge, the scripted simulated decomposer, the
recursive and sequential strategies, the workflow written, the caps, HTTP and the MCP tool.

Everything runs offline: the simulated model (scripted), or the fake OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.server import MCPServer

import maker_cli
from maker_cli.config.settings import load_settings
from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.errors import SpecError, UsageError
from maker_cli.mcp.decompose_tool import DESCRIPTION, DecomposeTool
from maker_cli.mcp.server import SPENDS, StrictTool
from maker_cli.mcp.session import Session
from maker_cli.specs import WorkflowSpec, load_spec, parse_spec
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder
from maker_cli.workflows.decompose import (
    MAX_DECISIONS,
    DecompositionResult,
    check_out,
    decompose,
    write_workflow,
)
from maker_cli.workflows.decompose_proposal import (
    MAX_PROPOSAL_CHARS,
    Proposal,
    ProposalJudge,
    system_prompt,
    task_of_prompt,
    user_prompt,
)
from maker_cli.workflows.decompose_sequential import sequential_steps
from maker_cli.workflows.decompose_sim import DecompositionScript, script_reference_for

ROOT_TASK = "Find the total price of 3 books at 12 dollars and 2 pens at 4 dollars"
BOOKS = "What do 3 books at 12 dollars cost?"
PENS = "What do 2 pens at 4 dollars cost?"


def minimal(user: str, answer_format: str = "an integer", expected: str | None = None) -> dict:
    entry: dict = {"minimal": True, "question": {"user": user, "answer_format": answer_format}}
    if expected is not None:
        entry["expected"] = expected
    return entry


def split(subtasks: list[tuple[str, str, list[str]]], function: str = "reduce", **compose) -> dict:
    if function == "reduce":
        compose.setdefault("operation", "sum")
    return {
        "minimal": False,
        "subtasks": [{"id": i, "task": t, "depends_on": d} for i, t, d in subtasks],
        "compose": {"function": function, **compose},
    }


ORDER = {
    ROOT_TASK: split([("books", BOOKS, []), ("pens", PENS, [])]),
    BOOKS: minimal(BOOKS, expected="36"),
    PENS: minimal(PENS, expected="8"),
}


def judge(text: str, max_subtasks: int = 5) -> Answer | RedFlag:
    return ProposalJudge(max_subtasks)(text)


def flag(value: object, max_subtasks: int = 5) -> str:
    verdict = judge(value if isinstance(value, str) else json.dumps(value), max_subtasks)
    assert isinstance(verdict, RedFlag), verdict
    assert verdict.reason == FORMAT
    return verdict.detail


# --------------------------------------------------------------------------- the judge


def test_a_minimal_proposal_votes_under_its_canonical_key():
    verdict = judge(json.dumps(minimal("  What is\n 2+2? ", "an  integer")))
    assert isinstance(verdict, Answer)
    assert verdict.key == '{"minimal":true,"question":{"answer_format":"an integer","user":"What is 2+2?"}}'
    assert isinstance(verdict.value, Proposal) and verdict.value.minimal


def test_equivalent_proposals_vote_together():
    one = split([("a", "Add  the prices", []), ("b", "Double it", ["a"])], "last_only")
    two = {
        "compose": {"function": "last_only"},
        "subtasks": [
            {"task": "Add the prices\n", "id": "first", "depends_on": []},
            {"depends_on": ["first"], "id": "x-2", "task": " Double   it"},
        ],
        "minimal": False,
    }
    a, b = judge(json.dumps(one)), judge(json.dumps(two, indent=4))
    assert isinstance(a, Answer) and isinstance(b, Answer)
    assert a.key == b.key
    assert json.loads(a.key)["subtasks"][1] == {"id": "s2", "task": "Double it", "depends_on": ["s1"]}
    other = judge(json.dumps(split([("a", "Double it", []), ("b", "Add the prices", [])], "last_only")))
    assert isinstance(other, Answer) and other.key != a.key  # the order of the subtasks counts


def test_depends_on_is_canonical_in_subtask_order():
    a = split([("x", "one", []), ("y", "two", []), ("z", "three", ["y", "x"])], "concatenate")
    b = split([("x", "one", []), ("y", "two", []), ("z", "three", ["x", "y"])], "concatenate")
    assert judge(json.dumps(a)).key == judge(json.dumps(b)).key  # type: ignore[union-attr]


def test_one_fenced_json_block_is_read_prose_around_json_is_not():
    text = json.dumps(minimal("q"))
    assert isinstance(judge(f"```json\n{text}\n```"), Answer)
    assert "not JSON" in flag(f"Here is my answer: {text}")


@pytest.mark.parametrize(
    ("proposal", "detail"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"minimal": "yes"}, '"minimal" must be true or false'),
        ({"minimal": True}, 'lacks "question"'),
        ({"minimal": True, "question": {"user": "q"}}, 'lacks "answer_format"'),
        ({**minimal("q"), "why": "because"}, 'unknown field "why"'),
        (minimal("   "), "question.user must be a non-empty string"),
        (minimal("What is {{x}}?"), "holds {{ or }}"),
        ({"minimal": False, "subtasks": [], "compose": {"function": "sequence"}}, "at least 2 subtasks"),
        ({"minimal": False, "subtasks": "a, b", "compose": {"function": "sequence"}}, "must be a list"),
        (split([("a", "x", []), ("b", "y", [])], "average"), "compose.function must be one of"),
        (split([("a", "x", []), ("b", "y", [])], "identity"), "compose.function must be one of"),
        (split([("a", "x", []), ("b", "y", [])], "llm"), "compose.function must be one of"),
        (split([("a", "x", []), ("b", "y", [])], "reduce", operation="mean"), "reduce operation must be one of"),
        (split([("a", "x", []), ("b", "y", [])], "sequence", separator=","), "separator is for the concatenate"),
        (split([("a", "x", []), ("b", "y", [])], "sequence", operation="sum"), "is for the reduce function only"),
        (split([("a", "x", []), ("a", "y", [])], "sequence"), 'duplicate subtask id "a"'),
        (split([("a", "x", []), ("b", "y", ["c"])], "sequence"), 'depends on "c", which is no subtask'),
        (split([("a", "x", ["a"]), ("b", "y", [])], "sequence"), "depends on itself"),
        (split([("a", "x", []), ("b", "y", ["a", "a"])], "sequence"), 'depends on "a" twice'),
        (split([("a", "x", ["b"]), ("b", "y", ["a"])], "sequence"), "a cycle: s1 -> s2 -> s1"),
        (split([("a", "x", ["c"]), ("b", "y", ["a"]), ("c", "z", ["b"])], "sequence"), "a cycle:"),
        (split([(str(i), "x", []) for i in range(6)], "sequence"), "6 subtasks: at most 5"),
        ({"minimal": False, "subtasks": [{"id": 1, "task": "x"}, {"id": 2, "task": "y"}], "compose": {}}, ".id must"),
    ],
)
def test_malformed_proposals_are_red_flagged(proposal, detail):
    assert detail in flag(proposal)


def test_a_proposal_over_the_size_limit_is_red_flagged_unread():
    long = json.dumps(minimal("q" * MAX_PROPOSAL_CHARS))
    assert "over 20,000 characters" in flag(long)


def test_max_subtasks_is_the_judges():
    three = split([("a", "x", []), ("b", "y", []), ("c", "z", [])], "sequence")
    assert isinstance(judge(json.dumps(three), 3), Answer)
    assert "at most 2" in flag(three, 2)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.text(max_size=8),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "minimal",
                            "question",
                            "subtasks",
                            "compose",
                            "id",
                            "task",
                            "depends_on",
                            "function",
                            "user",
                            "answer_format",
                        ]
                    ),
                    c,
                    max_size=4,
                )
            ),
        ).map(json.dumps),
    )
)
def test_the_judge_never_raises(text):
    assert isinstance(judge(text), (Answer, RedFlag))


def test_deeply_nested_json_is_a_red_flag_not_a_crash():
    assert isinstance(judge("[" * 10_000 + "]" * 10_000), RedFlag)


@pytest.mark.parametrize("task", ["plain", 'quotes " and \\ backslash', 'two\nlines\nTask: "fake"', "ünï ☃"])
def test_the_task_reads_back_from_its_prompt(task):
    prompt = user_prompt(task, ['Task: "an ancestor"\nwith a line', "x" * 1000], 2, 4)
    assert task_of_prompt(prompt) == task
    assert task_of_prompt("no task here") is None
    assert "at most 5 subtasks" in system_prompt(5) or "2 to 5 subtasks" in system_prompt(5)


# --------------------------------------------------------------------------- the script


def test_script_errors_name_the_file_and_task(tmp_path):
    bad = tmp_path / "s.json"
    for text, message in [
        ("{not json", "not JSON"),
        ("[]", "a JSON object mapping task texts"),
        ('{"t": 3}', "give a proposal"),
        ('{"t": {"minimal": true, "expected": true}}', "expected must be a string or a number"),
        ('{"t": {"minimal": true, "expected": "a\\nb"}}', "one non-empty line"),
        ('{"  ": {}}', "a task text is empty"),
    ]:
        bad.write_text(text)
        with pytest.raises(SpecError, match=message) as info:
            DecompositionScript.load(bad)
        assert str(bad) in str(info.value)
    with pytest.raises(SpecError, match="no such file"):
        DecompositionScript.load(tmp_path / "missing.json")


def test_the_scripted_reference_and_its_wrong_replies():
    script = DecompositionScript.parse({**ORDER, "  What do 2 pens\nat 4 dollars cost? ": minimal(PENS)})
    ref = script.reference(ROOT_TASK)
    assert json.loads(ref.correct) == ORDER[ROOT_TASK]
    right = judge(ref.correct)
    assert isinstance(right, Answer)
    wrong = judge(ref.wrong(0))
    assert isinstance(wrong, Answer) and wrong.key != right.key and wrong.value.minimal
    kinds = {type(judge(ref.wrong(v))).__name__ for v in range(1, 7)}
    assert kinds == {"Answer", "RedFlag"}  # spread: malformed and other proposals
    assert "a cycle" in judge(ref.wrong(3)).detail  # type: ignore[union-attr]
    assert script.expected(BOOKS) == "36" and script.expected("other") is None
    assert "expected" not in json.loads(script.reference(BOOKS).correct)
    unscripted = judge(script.reference("Say hi").correct)
    assert isinstance(unscripted, Answer) and unscripted.value.question.user == "Say hi"
    assert judge(script.reference(PENS).wrong(0)).key != judge(script.reference(PENS).correct).key  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the recursive strategy


def run_order(model: str = "sim:p=0.8,seed=1", script: dict = ORDER, **options) -> DecompositionResult:
    return decompose(ROOT_TASK, model=model, script=script, **options)


def test_the_whole_recursive_path_offline(tmp_path):
    result = run_order()
    assert result.status == "decided" and result.decided and result.strategy == "recursive"
    assert [d.path for d in result.decisions] == ["root", "root > s1", "root > s2"]
    assert all(d.decided for d in result.decisions)
    assert result.samples == sum(d.samples for d in result.decisions) >= 9
    assert result.input_tokens > 0 and result.output_tokens > 0 and result.cost_usd is not None
    assert result.tree.shape == "split" and result.tree.compose.label() == "reduce sum"
    assert [c.node for c in result.tree.children] == ["s1", "s2"]
    assert result.nodes == 2
    text = result.workflow_yaml
    assert "# from: root > s1\n" in text and "# from: root > s2\n" in text
    path = tmp_path / "order.yaml"
    written = write_workflow(result, path, force=False)
    assert written.file == str(path) and path.read_text() == text
    spec = load_spec(path)
    assert isinstance(spec, WorkflowSpec)
    assert spec.compose.function == "reduce" and spec.compose.nodes == ["s1", "s2"]
    node = spec.node("s1")
    assert node.expected == "36" and node.sim_response == "Answer: {{answer}}"
    assert node.answer.regex == "Answer: *(?P<answer>.+)"
    assert node.user.endswith('End your reply with a last line of the form "Answer: <answer>".')
    run = maker_cli.run(str(path), model="sim:p=0.9,seed=1", store=tmp_path / "s.sqlite")
    assert run.status == "solved" and run.result == 44


def test_a_wrong_proposal_is_outvoted():
    result = run_order("sim:p=0.7,seed=2", k=3)
    root = result.decisions[0]
    assert len(root.votes) >= 2, root.votes  # the wrong proposal got votes too
    assert json.loads(root.winner)["minimal"] is False
    assert root.votes[root.winner] - max(n for key, n in root.votes.items() if key != root.winner) >= 3
    assert result.tree.shape == "split"


def test_malformed_proposals_are_red_flagged_and_outvoted():
    result = run_order("sim:p=0.6,errors=spread,invalid=0.2,seed=3", k=2)
    assert result.decided
    assert result.red_flagged > 0
    reasons = {r for d in result.decisions for r in d.red_flag_reasons}
    assert reasons <= {"format", "truncated"} and reasons
    assert result.tree.compose.label() == "reduce sum"


def test_a_scripted_cycle_is_red_flagged_until_the_decision_gives_up():
    script = {ROOT_TASK: split([("a", BOOKS, ["b"]), ("b", PENS, ["a"])])}
    result = run_order("sim:p=1", script=script, max_red_flags=5)
    assert result.status == "undecided" and not result.decided and result.workflow_yaml is None
    decision = result.decisions[0]
    assert decision.stopped == "red_flags" and decision.valid == 0 and decision.samples >= 5
    assert decision.red_flag_reasons == {"format": decision.samples}
    assert result.tree.shape == "undecided" and result.stopped == "red_flags"
    capped = run_order("sim:p=1", script=script)  # the default red-flag limit is above the sample cap
    assert capped.decisions[0].stopped == "sample_cap" and capped.decisions[0].samples == 100


def test_a_scripted_reply_that_is_not_json_never_wins():
    result = run_order("sim:p=1", script={ROOT_TASK: "Sure! Split it into books and pens."})
    assert result.status == "undecided" and result.decisions[0].red_flag_reasons


def chain_script(depth: int) -> dict:
    """A task that splits into two, down to `depth` levels: 'L0' -> 'L1.a', 'L1.b' -> ..."""
    script: dict = {}
    level = ["L0"]
    for _ in range(depth):
        following = []
        for task in level:
            kids = [f"{task}.{c}" for c in "ab"]
            script[task] = split([("a", kids[0], []), ("b", kids[1], [])], "concatenate", separator=" ")
            following += kids
        level = following
    for task in level:
        script[task] = minimal(f"Say {task}", "a word", expected=task)
    return script


def test_max_depth_reached_is_asked_as_one_question_and_noted(tmp_path):
    result = decompose("L0", model="sim:p=1", script=chain_script(3), max_depth=2)
    assert result.decided and len(result.decisions) == 3  # root, L0.a, L0.b; the depth-2 tasks unasked
    leaves = [n for n in result.tree.walk() if n.shape == "question"]
    assert len(leaves) == 4 and all(n.why == "max_depth" and n.depth == 2 for n in leaves)
    assert sum("max depth 2 reached" in note for note in result.notes) == 4
    assert "(max depth reached: asked as one question)" in result.workflow_yaml
    spec = parse_spec(result.workflow_yaml)
    assert spec.compose.nodes == ["s1_s1", "s1_s2", "s2_s1", "s2_s2"]  # same composition: flattened
    assert spec.node("s1_s1").user.startswith("L0.a.a")


def test_a_deep_decomposition_runs_end_to_end(tmp_path):
    result = decompose("L0", model="sim:p=0.9,seed=2", script=chain_script(2))
    assert result.decided and result.nodes == 4
    path = write_workflow(result, tmp_path / "deep.yaml", force=False).file
    run = maker_cli.run(path, model="sim:p=0.9,seed=1", store=tmp_path / "s.sqlite")
    assert run.status == "solved" and run.result == "L0.a.a L0.a.b L0.b.a L0.b.b"


def test_nested_compositions_and_dependencies_on_a_split_subtree(tmp_path):
    """root (sequence) = [prices (reduce sum of a, b), count (minimal), report (after prices: last_only of
    c, d)]: the nested sum gets a composer node, the nested last_only stands for its last node, and
    'report' depends on the prices subtree's result node."""
    script = {
        "Report": split(
            [("prices", "Total the prices", []), ("count", "Count the items", []), ("rep", "Write it up", ["prices"])],
            "sequence",
        ),
        "Total the prices": split([("a", "Price of a", []), ("b", "Price of b", [])], "reduce", operation="sum"),
        "Price of a": minimal("Price of a?", expected="3"),
        "Price of b": minimal("Price of b?", expected="4"),
        "Count the items": minimal("How many items?", expected="2"),
        "Write it up": split([("c", "Draft", []), ("d", "Polish", ["c"])], "last_only"),
        "Draft": minimal("Draft it", "text", expected="draft"),
        "Polish": minimal("Polish it", "text", expected="total 7"),
    }
    result = decompose("Report", model="sim:p=1", script=script)
    assert result.decided
    spec = parse_spec(result.workflow_yaml)
    ids = [n.id for n in spec.nodes]
    assert ids == ["s1_s1", "s1_s2", "s1_compose", "s2", "s3_s1", "s3_s2"]
    composer = spec.node("s1_compose")
    assert composer.depends_on == ["s1_s1", "s1_s2"] and composer.expected == "7"
    assert "{{nodes.s1_s1.answer}}" in composer.user and "add them up" in composer.user
    assert spec.node("s3_s1").depends_on == ["s1_compose"]  # inherited from 'rep' after 'prices'
    assert "{{nodes.s1_compose.answer}}" in spec.node("s3_s1").user
    assert set(spec.node("s3_s2").depends_on) == {"s1_compose", "s3_s1"}
    assert spec.compose.function == "sequence" and spec.compose.nodes == ["s1_compose", "s2", "s3_s2"]
    assert "# composes: root > s1 (reduce sum)" in result.workflow_yaml
    assert any("s1_compose" in note for note in result.notes)
    assert result.tree.children[0].node == "s1_compose"
    path = write_workflow(result, tmp_path / "report.yaml", force=False).file
    run = maker_cli.run(path, model="sim:p=0.95,seed=1", store=tmp_path / "s.sqlite")
    assert run.status == "solved" and run.result == ["7", "2", "total 7"]


def test_dependencies_on_a_later_sibling_are_ordered():
    script = {"T": split([("late", "Use it", ["early"]), ("early", "Get it", [])], "concatenate")}
    result = decompose("T", model="sim:p=1", script=script)
    spec = parse_spec(result.workflow_yaml)
    assert [n.id for n in spec.nodes] == ["s2", "s1"] and spec.node("s1").depends_on == ["s2"]
    assert spec.compose.nodes == ["s1", "s2"]  # composed in the order proposed


def test_texts_that_look_like_yaml_or_markup_stay_text():
    odd = "key: value # not a comment\n- [x] \"quoted\" 'single' \\ back ü ☃ [bold]x[/bold] &anchor *alias"
    script = {"T": split([("a", odd, []), ("b", "b: 2", [])], "concatenate"), odd: minimal(odd, "text: yes")}
    result = decompose("T", model="sim:p=1", script=script)
    spec = parse_spec(result.workflow_yaml)
    assert spec.node("s1").user.startswith(" ".join(odd.split()))
    assert spec.node("s1").description == " ".join(odd.split())


def test_unscripted_tasks_are_minimal_and_the_decision_cap_holds(monkeypatch):
    result = decompose("Say hello", model="sim:p=0.9,seed=1")
    assert result.decided and result.tree.shape == "question" and result.nodes == 1
    assert parse_spec(result.workflow_yaml).nodes[0].id == "task"
    monkeypatch.setattr("maker_cli.workflows.decompose.MAX_DECISIONS", 2)
    capped = decompose("L0", model="sim:p=1", script=chain_script(3))
    assert len(capped.decisions) == 2 and any("limit of 2 decisions" in n for n in capped.notes)
    assert any(n.why == "decision_cap" for n in capped.tree.walk())
    assert MAX_DECISIONS == 500


def test_caps_stop_the_decomposition():
    budget = run_order("sim:p=0.8,seed=1", price_in=1000, price_out=1000, max_cost=0.5)
    assert budget.status == "budget_exhausted" and budget.workflow_yaml is None and budget.stopped == "budget"
    assert budget.cost_usd >= 0.5
    samples = run_order("sim:p=1", max_total_samples=4)
    assert samples.status == "undecided" and samples.stopped == "sample_cap"
    assert samples.samples <= 4 and any("samples allowed are left" in n for n in samples.notes)
    pending = [n for n in samples.tree.walk() if n.shape == "pending"]
    assert pending and all(n.why == "not_reached" for n in pending)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_depth": 0}, "--max-depth must be between 1 and 10"),
        ({"max_subtasks": 1}, "--max-subtasks must be between 2 and 20"),
        ({"k": 5, "max_samples": 4}, "below k = 5"),
        ({"strategy": "greedy"}, "--strategy must be recursive or sequential"),
        ({"model": "openai/gpt-4.1-mini", "script": {}}, "--script scripts the simulated model"),
        ({"model": "sim:p=2"}, "p must be between 0 and 1"),
        ({"max_total_samples": 0}, "max_total_samples"),
    ],
)
def test_bad_options_are_usage_errors(options, message):
    options = {"model": "sim:p=0.9", **options}
    with pytest.raises(UsageError, match=message):
        decompose("task", **options)


def test_an_empty_or_huge_task_is_refused():
    with pytest.raises(UsageError, match="empty"):
        decompose("  ", model="sim")
    with pytest.raises(UsageError, match="over the limit"):
        decompose("x" * 100_001, model="sim")


# --------------------------------------------------------------------------- the sequential strategy


def test_sequential_numbered_lines_become_a_chain():
    task = "Work on the number 21.\n1. Double it.\n2) Add 8\n   to the result.\n\n3. Give the digits' sum."
    result = decompose(task, strategy="sequential")
    assert result.decided and result.decisions == [] and result.samples == 0 and result.model is None
    spec = parse_spec(result.workflow_yaml)
    assert [n.id for n in spec.nodes] == ["s1", "s2", "s3"]
    assert spec.node("s2").depends_on == ["s1"] and spec.node("s3").depends_on == ["s2"]
    assert "{{nodes.s1.answer}}" in spec.node("s2").user and "{{nodes.s2.answer}}" in spec.node("s3").user
    assert spec.node("s2").user.startswith("Work on the number 21.\n\nStep 2 of 3: Add 8 to the result.")
    assert spec.compose.function == "last_only" and spec.result_nodes() == ["s1", "s2", "s3"]


@pytest.mark.parametrize(
    ("task", "steps"),
    [
        ("- first\n* second\n• third", ["first", "second", "third"]),
        ("Read it. Then count! Is it even? Say so.", ["Read it.", "Then count!", "Is it even?", "Say so."]),
        ("One thing only", ["One thing only"]),
        ("Intro\n1. a\ncontinued\n2. b", ["a continued", "b"]),
    ],
)
def test_sequential_steps(task, steps):
    assert sequential_steps(task)[1] == steps


def test_sequential_single_step_and_braces():
    one = decompose("Just say hi", strategy="sequential")
    assert one.tree.shape == "question" and parse_spec(one.workflow_yaml).nodes[0].id == "task"
    with pytest.raises(UsageError, match="holds"):
        decompose("1. use {{x}}\n2. more", strategy="sequential")


# --------------------------------------------------------------------------- writing


def test_writing_refuses_to_overwrite_without_force(tmp_path):
    result = decompose("Say hi", strategy="sequential")
    path = tmp_path / "w.yaml"
    path.write_text("keep me")
    with pytest.raises(UsageError, match="exists; give --force"):
        write_workflow(result, path, force=False)
    assert path.read_text() == "keep me"
    write_workflow(result, path, force=True)
    assert path.read_text() == result.workflow_yaml and sorted(p.name for p in tmp_path.iterdir()) == ["w.yaml"]
    with pytest.raises(UsageError, match="is a folder"):
        check_out(tmp_path, force=True)
    with pytest.raises(UsageError, match="does not exist"):
        check_out(tmp_path / "no" / "w.yaml", force=False)
    undecided = run_order("sim:p=1", script={ROOT_TASK: "nope"})
    with pytest.raises(UsageError, match="nothing to write"):
        write_workflow(undecided, tmp_path / "u.yaml", force=False)


def test_the_yaml_is_plain_yaml_with_comments():
    result = run_order("sim:p=1")
    data = yaml.safe_load(result.workflow_yaml)
    assert data["kind"] == "workflow" and data["description"] == ROOT_TASK
    assert result.workflow_yaml.startswith("# Written by maker decompose")


# --------------------------------------------------------------------------- HTTP


def test_the_fake_server_plays_the_decomposer_over_http():
    script = DecompositionScript.parse(ORDER)
    responder = sim_responder("sim:p=0.85,seed=1", reference_for=script_reference_for(script))
    with FakeOpenAIServer(responder=responder) as srv:
        result = decompose(ROOT_TASK, model="openai/fake", api_base=srv.base_url, k=2, timeout=10)
        assert srv.requests >= 3
    assert result.decided and not result.simulated
    assert [c.task for c in result.tree.children] == [BOOKS, PENS]
    assert result.cost_usd is None  # the fake model has no price
    assert "expected:" not in result.workflow_yaml  # only a scripted simulated model knows answers


# --------------------------------------------------------------------------- MCP


def mcp_server(root: Path, **settings_over):
    session = Session(base=load_settings().model_copy(update=settings_over), root=root)
    tools = DecomposeTool(session)
    tool = StrictTool.from_function(
        tools.decompose, name="maker_decompose", description=DESCRIPTION, annotations=SPENDS, structured_output=True
    )
    tool.parameters["additionalProperties"] = False
    return MCPServer("maker", tools=[tool]), session


def mcp_call(server, **args):
    async def go():
        async with Client(server) as client:
            return await client.call_tool("maker_decompose", args)

    return anyio.run(go)


def test_mcp_tool_returns_the_tree_and_the_yaml_within_the_guard(tmp_path):
    server, session = mcp_server(tmp_path)
    result = mcp_call(server, task="Say hello", model="sim:p=0.9,seed=1")
    assert not result.is_error, result.content[0].text
    out = result.structured_content
    assert out["decided"] and out["tree"]["shape"] == "question"
    assert isinstance(parse_spec(out["workflow_yaml"]), WorkflowSpec)
    assert out["sample_cap"] == 50 and out["stop_reason"] == "done" and out["spent_usd"] == out["cost_usd"]
    assert out["samples"] <= 50 and session.spent_usd == out["cost_usd"]
    free = mcp_call(server, task="1. a\n2. b", strategy="sequential").structured_content
    assert free["nodes"] == 2 and free["spent_usd"] == 0 and free["guard_notes"]


def test_mcp_tool_caps_samples_and_refuses_the_worst_case(tmp_path):
    server, _ = mcp_server(tmp_path)
    capped = mcp_call(server, task="Say hello", model="sim:p=0.3,errors=spread,seed=1", k=4, max_samples=4)
    out = capped.structured_content
    assert not capped.is_error and not out["decided"] and out["samples"] <= 4 and out["stop_reason"] == "sample_cap"
    refused = mcp_call(server, task="Say hello", model="gpt-4.1", k=3)
    assert refused.is_error and "refused: the worst case" in refused.content[0].text
    unknown = mcp_call(server, task="Say hello", model="sim:p=0.9", bogus=1)
    assert unknown.is_error and "unknown argument" in unknown.content[0].text
    too_few = mcp_call(server, task="x", model="sim:p=0.9", max_samples=2)
    assert too_few.is_error and "needs at least 3 samples" in too_few.content[0].text
