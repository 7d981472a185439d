"""Question specs and free prompts as tasks: labelled datasets in every documented shape, and each
misuse (a step count, a missing expected answer, a bad line, a prompt to calibrate) said in one line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import UsageError
from maker_cli.jobs.calibrate import acalibrate
from maker_cli.tasks import PromptTask, load_dataset

ROOT = Path(__file__).resolve().parents[3]
ARITHMETIC = ROOT / "examples" / "arithmetic.yaml"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_dataset_skips_blank_and_comment_lines_and_reads_values_as_text(tmp_path):
    data = write(
        tmp_path / "items.jsonl",
        "// a comment\n\n# another\n"
        + json.dumps({"q": True, "n": 2.5, "m": 3, "list": [1, "é"], "expected": False})
        + "\n"
        + json.dumps({"inputs": {"q": None}, "expected": 7})
        + "\n",
    )
    first, second = load_dataset(data, ["q", "n", "m", "list"])
    assert first.line == 4 and first.expected == "false"
    assert first.inputs == {"q": "true", "n": "2.5", "m": "3", "list": '[1, "é"]'}
    assert second.line == 5 and second.inputs == {"q": "null"} and second.expected == "7"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]\n", "dataset line 1: each line is a JSON object, got list"),
        ('{"inputs": [1], "expected": 2}\n', "dataset line 1: 'inputs' must be an object"),
        (
            '{"inputs": {"a": 1}, "b": 2, "expected": 2}\n',
            "dataset line 1: unknown key 'b' (next to 'inputs' only 'expected')",
        ),
        ("# only a comment\n\n", "the dataset has no items"),
    ],
)
def test_a_bad_dataset_is_one_line_naming_the_line(tmp_path, text, message):
    with pytest.raises(UsageError) as error:
        load_dataset(write(tmp_path / "items.jsonl", text), ["a"])
    assert str(error.value).endswith(message)


def test_a_question_spec_takes_no_step_count():
    r = cli("run", "task", str(ARITHMETIC), "--steps", "5", "--model", "sim:p=0.9")
    assert r.exit_code == 2 and r.output == "error: --steps applies to sequence specs; a question is one step\n"


def test_the_simulated_model_answers_a_question_from_its_expected_input_or_its_answer_option():
    args = ["vote", "--task", str(ARITHMETIC), "--input", "a=2", "--input", "b=3", "--k", "2", "--json"]
    r = cli(*args, "--model", "sim:p=0.9")
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert "cannot answer" in r.stderr and "--input expected=VALUE" in r.stderr  # the fix for a spec
    for extra in (["--input", "expected=6", "--model", "sim:p=1"], ["--model", "sim:p=1,answer=6"]):
        r = cli(*args, *extra)
        assert r.exit_code == 0 and json.loads(r.stdout)["winner"] == "6", r.output


def test_the_simulated_models_answer_takes_the_specs_format():
    """answer=2 with a spec: right and wrong replies pass its regex (they were all red-flagged)."""
    args = ["vote", "--task", str(ARITHMETIC), "--input", "a=1", "--input", "b=2", "--json"]
    r = cli(*args, "--model", "sim:p=0.6,answer=2,seed=1", "--k", "4")
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["winner"] == "2" and out["red_flagged"] == 0, r.output
    assert set(out["votes"]) == {"2", "3"}  # the wrong replies are well-formed too: "Answer: 3"
    twice = cli(*args, "--input", "expected=2", "--model", "sim:p=0.9,answer=2")
    assert twice.exit_code == 2 and twice.stdout == "" and "give it once" in twice.stderr
    unreadable = cli(*args, "--model", "sim:p=0.9,answer=two")
    assert unreadable.exit_code == 2 and unreadable.stdout == "" and "two" in unreadable.stderr


def test_a_spec_without_an_expected_template_names_the_field(tmp_path):
    spec = write(
        tmp_path / "q.yaml",
        yaml.safe_dump({"name": "q", "user": "2+2?", "answer": {"regex": "(?P<answer>[0-9]+)"}}),
    )
    r = cli("vote", "--task", str(spec), "--model", "sim:p=0.9")
    assert r.exit_code == 2 and r.stdout == "" and "no `expected:` answer" in r.stderr, r.output


def test_a_dataset_answer_the_spec_cannot_read_names_its_line(tmp_path):
    spec = write(
        tmp_path / "count.yaml",
        yaml.safe_dump(
            {
                "name": "count",
                "inputs": {"text": {}},
                "user": "How many words in: {{text}}",
                "answer": {"json_path": "count", "type": "int"},
            }
        ),
    )
    data = write(tmp_path / "items.jsonl", '{"text": "a b", "expected": 2}\n{"text": "c", "expected": "one"}\n')
    r = cli("calibrate", "task", str(spec), "--dataset", str(data), "--model", "sim:p=0.9")
    assert r.exit_code == 2 and r.output.startswith("error: dataset line 2: "), r.output
    assert "one" in r.output and r.output.count("\n") == 1


def test_a_free_prompt_cannot_be_calibrated():
    with pytest.raises(UsageError, match="^a free prompt has no known answers to calibrate against"):
        asyncio.run(acalibrate(PromptTask("What is 6 x 7?"), model="sim:p=0.9,answer=42"))
