"""`maker decompose` through the CLI: the written file, --json, --dry-run, overwriting, exit codes,
errors in one line, untrusted text, the sequential strategy and HTTP. Offline: the scripted
simulated model, or the fake OpenAI-compatible server."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.specs import WorkflowSpec, load_spec
from maker_cli.testing import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder
from maker_cli.workflows.decompose_sim import DecompositionScript, script_reference_for

TASK = "Find the total price of 3 books at 12 dollars and 2 pens at 4 dollars"
BOOKS = "What do 3 books at 12 dollars cost?"
PENS = "What do 2 pens at 4 dollars cost?"
SCRIPT = {
    TASK: {
        "minimal": False,
        "subtasks": [{"id": "books", "task": BOOKS}, {"id": "pens", "task": PENS}],
        "compose": {"function": "reduce", "operation": "sum"},
    },
    BOOKS: {"minimal": True, "question": {"user": BOOKS, "answer_format": "an integer"}, "expected": "36"},
    PENS: {"minimal": True, "question": {"user": PENS, "answer_format": "an integer"}, "expected": "8"},
}


def cli(*args: str, **kwargs):
    return CliRunner().invoke(app, list(args), **kwargs)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "order.json"
    path.write_text(json.dumps(SCRIPT))
    return str(path)


def one_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_writes_a_workflow_that_validates_and_runs(tmp_path, script):
    out = tmp_path / "order.yaml"
    r = cli("decompose", TASK, "--model", "sim:p=0.8,seed=1", "--script", script, "-o", str(out))
    assert r.exit_code == 0, r.output
    assert f"wrote {out} (2 nodes)" in r.stdout
    assert "3 decisions" in r.stdout and "samples" in r.stdout and "cost $" in r.stdout
    assert "decision 1 (root): split into 2 subtasks, composed by reduce sum" in r.stdout
    spec = load_spec(out)
    assert isinstance(spec, WorkflowSpec) and spec.name == "order"
    check = cli("run", "task", str(out), "--validate")
    assert check.exit_code == 0 and "result: reduce sum of s1, s2" in check.stdout, check.output
    run = cli("run", "task", str(out), "--model", "sim:p=0.9,seed=1", "--store", str(tmp_path / "s.sqlite"), "--json")
    assert run.exit_code == 0 and json.loads(run.stdout)["result"] == 44, run.output


def test_json_is_one_object_with_the_decomposition(tmp_path, script):
    out = tmp_path / "w.yaml"
    r = cli("decompose", TASK, "-m", "sim:p=0.8,seed=1", "--script", script, "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)  # the whole of stdout: one object
    for key in ("tree", "decisions", "samples", "input_tokens", "output_tokens", "cost_usd", "workflow_yaml", "file"):
        assert key in data
    assert data["file"] == str(out) and out.read_text() == data["workflow_yaml"]
    assert data["decisions"][0]["votes"] and data["decisions"][0]["winner"] in data["decisions"][0]["votes"]
    assert data["tree"]["children"][0]["node"] == "s1" and data["nodes"] == 2
    assert data["settings"]["k"] == 3 and data["settings_sources"]["max_samples"] == "default"


def test_dry_run_writes_nothing(tmp_path, script):
    out = tmp_path / "w.yaml"
    r = cli("decompose", TASK, "-m", "sim:p=0.9,seed=1", "--script", script, "-o", str(out), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "dry run: nothing written" in r.stdout and "kind: workflow" in r.stdout
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "order.json"]
    r = cli("decompose", TASK, "-m", "sim:p=0.9,seed=1", "--dry-run", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["file"] is None


def test_refuses_to_overwrite_without_force_before_spending(tmp_path, script):
    out = tmp_path / "w.yaml"
    out.write_text("mine")
    r = cli("decompose", TASK, "-m", "sim:p=0.9", "--script", script, "-o", str(out), "--json")
    assert "exists; give --force to overwrite it" in one_error(r)
    assert out.read_text() == "mine"
    r = cli("decompose", TASK, "-m", "sim:p=0.9", "--script", script, "-o", str(out), "--force")
    assert r.exit_code == 0 and out.read_text().startswith("# Written by maker decompose"), r.output


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["Say hi", "-m", "sim"], "give -o/--out FILE"),
        (["Say hi", "--dry-run", "--strategy", "greedy"], "--strategy must be recursive or sequential"),
        (["", "--dry-run", "-m", "sim"], "the task is empty"),
        (["@/nonexistent/task.txt", "--dry-run"], "no such file"),
        (["Say hi", "--dry-run", "-m", "openai/gpt-4.1-mini", "--script", "x.json"], "--script scripts the simulated"),
        (["Say hi", "--dry-run", "-m", "sim", "--k", "5", "--max-samples", "4"], "below k = 5"),
        (["Say hi", "--dry-run", "-m", "sim:p=7"], "p must be between 0 and 1"),
        (["Say hi", "--dry-run", "--max-depth", "0"], "Invalid value for '--max-depth'"),
        (["Say hi", "--dry-run", "--max-subtasks", "1"], "Invalid value for '--max-subtasks'"),
        (["Say hi", "-o", "/nonexistent/dir/w.yaml", "-m", "sim"], "does not exist"),
        (["1. {{x}}\n2. y", "--dry-run", "--strategy", "sequential"], "holds {{ or }}"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, text):
    line = one_error(cli("decompose", *args, "--json"))
    assert text in line, line


def test_a_bad_script_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    line = one_error(cli("decompose", "x", "-m", "sim", "--script", str(bad), "--dry-run"))
    assert str(bad) in line and "a JSON object mapping task texts" in line


def test_undecided_exits_3_prints_the_result_and_writes_nothing(tmp_path):
    cyclic = {
        TASK: {
            **SCRIPT[TASK],
            "subtasks": [
                {"id": "a", "task": BOOKS, "depends_on": ["b"]},
                {"id": "b", "task": PENS, "depends_on": ["a"]},
            ],
        }
    }
    path = tmp_path / "cycle.json"
    path.write_text(json.dumps(cyclic))
    out = tmp_path / "w.yaml"
    r = cli("decompose", TASK, "-m", "sim:p=1", "--script", str(path), "-o", str(out), "--max-red-flags", "4", "--json")
    assert r.exit_code == 3, r.output
    data = json.loads(r.stdout)
    assert data["status"] == "undecided" and data["workflow_yaml"] is None and data["file"] is None
    assert data["decisions"][0]["red_flag_reasons"]["format"] >= 4 and not out.exists()
    human = cli("decompose", TASK, "-m", "sim:p=1", "--script", str(path), "-o", str(out), "--max-red-flags", "4")
    assert human.exit_code == 3 and "nothing written" in human.stdout and not out.exists()


def test_the_dollar_cap_exits_4(tmp_path, script):
    r = cli(
        "decompose", TASK, "-m", "sim:p=0.9,seed=1", "--script", script, "-o", str(tmp_path / "w.yaml"),
        "--price-in", "1000", "--price-out", "1000", "--max-cost", "0.2", "--json",
    )  # fmt: skip
    assert r.exit_code == 4, r.output
    data = json.loads(r.stdout)
    assert data["status"] == "budget_exhausted" and data["cost_usd"] >= 0.2 and not (tmp_path / "w.yaml").exists()


def test_sequential_needs_no_model(tmp_path):
    task_file = tmp_path / "task.txt"
    task_file.write_text("Work on 21.\n1. Double it.\n2. Add 8.\n3. Say whether it is even.\n")
    out = tmp_path / "chain.yaml"
    r = cli("decompose", f"@{task_file}", "--strategy", "sequential", "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["strategy"] == "sequential" and data["samples"] == 0 and data["decisions"] == []
    spec = load_spec(out)
    assert [n.id for n in spec.nodes] == ["s1", "s2", "s3"] and spec.compose.function == "last_only"
    assert spec.node("s3").depends_on == ["s2"] and "{{nodes.s2.answer}}" in spec.node("s3").user


def test_model_text_is_shown_as_text(tmp_path):
    hostile = "[bold red]x[/bold red] \x1b[31mred\x1b[0m [link=http://e]y[/link]"
    script = {
        "T": {
            "minimal": False,
            "subtasks": [{"id": "a", "task": hostile}, {"id": "b", "task": "b"}],
            "compose": {"function": "concatenate"},
        }
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(script))
    r = cli("decompose", "T", "-m", "sim:p=1", "--script", str(path), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "[bold red]x[/bold red]" in r.stdout and "\x1b" not in r.stdout


def test_over_http_with_the_fake_server(tmp_path):
    script = DecompositionScript.parse(SCRIPT)
    responder = sim_responder("sim:p=0.9,seed=1", reference_for=script_reference_for(script))
    out = tmp_path / "w.yaml"
    with FakeOpenAIServer(responder=responder) as srv:
        r = cli("decompose", TASK, "-m", "openai/fake", "--api-base", srv.base_url, "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["simulated"] is False and data["cost_usd"] is None and len(data["decisions"]) == 3
    assert [n.id for n in load_spec(out).nodes] == ["s1", "s2"]


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "--k",
                    "--max-depth",
                    "--max-subtasks",
                    "--max-samples",
                    "--temperature",
                    "--max-cost",
                    "--strategy",
                    "--concurrency",
                    "--max-output-tokens",
                    "--price-in",
                    "-o",
                    "--script",
                    "--api-base",
                    "--model",
                ]
            ),
            st.sampled_from(["0", "1", "3", "-1", "nan", "inf", "x", "", "sim:p=2", "/", "/dev/zero", "é☃", "[/x]"]),
        ),
        max_size=3,
    )
)
def test_random_option_values_are_one_line_or_a_result(tmp_path, picked):
    args = ["decompose", "Say hi", "--model", "sim:p=0.9,seed=1", "--dry-run"]
    for option, value in picked:
        args += [option, value]
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = CliRunner().invoke(app, [*args, "--json"], env={"MAKER_MAX_ATTEMPTS": "1", "OPENAI_API_KEY": ""})
    finally:
        os.chdir(here)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert "Traceback" not in r.output and "internal error" not in r.stderr, (args, r.output)
    if r.exit_code in (1, 2) and not r.stdout:
        one_error(r, r.exit_code)  # a usage error, or a model that cannot be called: one line
    else:
        assert r.exit_code in (0, 3, 4), (args, r.output)
        assert isinstance(json.loads(r.stdout), dict)


def test_the_voting_method_from_the_settings_applies_to_every_decision(tmp_path, script, monkeypatch):
    """MAKER_METHOD (or the config file) reaches decompose's votes; borda, which needs ranked
    answers, is refused before any call."""
    monkeypatch.setenv("MAKER_METHOD", "first-to-k")
    out = tmp_path / "w.yaml"
    r = cli("decompose", TASK, "-m", "sim:p=0.6,seed=3", "--script", script, "-o", str(out), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["settings"]["method"] == "first-to-k"
    assert all(max(d["votes"].values()) == 3 for d in data["decisions"])  # first to 3 votes, no margin
    assert any(sum(d["votes"].values()) > 3 for d in data["decisions"])  # contested ones too
    monkeypatch.setenv("MAKER_METHOD", "borda")
    line = one_error(cli("decompose", TASK, "-m", "sim:p=0.8", "--script", script, "-o", str(out), "--force"))
    assert "--method borda does not apply" in line
