"""Matching steps in specs (`number: {tolerance}`, `embedding: {model, threshold}`) and the `set`
canonical step: the syntax, the one-line errors at load, and where they are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import SpecError, UsageError
from maker_cli.specs import load_spec, parse_spec
from maker_cli.specs.canonical import CanonicalError, canonicalize
from maker_cli.specs.matching import EmbeddingMatch, NumberMatch
from maker_cli.tasks.question import QuestionTask

ROOT = Path(__file__).resolve().parents[3]
SEMANTIC = ROOT / "examples" / "semantic_capital.yaml"
ADDITION = ROOT / "examples" / "sequential" / "addition.yaml"


def spec_with(canonical: object, **answer: object) -> str:
    data = {
        "name": "t",
        "user": "q",
        "answer": {"regex": "Answer: (?P<answer>.+)", "canonical": canonical, **answer},
    }
    return yaml.safe_dump(data)


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as error:
        parse_spec(text, "t.yaml")
    message = str(error.value)
    assert "\n" not in message and message.startswith("t.yaml: ")
    return message


# --- set ----------------------------------------------------------------------------------------


def test_set_is_order_insensitive_and_counts_duplicates_once():
    assert canonicalize("c, b, a", ["set"]) == '["a","b","c"]'
    assert canonicalize("a\nb\n\nc", ["set"]) == canonicalize("c,b,a", ["set"])
    assert canonicalize("a, a, b", ["set"]) == '["a","b"]'
    assert canonicalize('["b", "a"]', ["set"]) == '["a","b"]'
    assert canonicalize("[2, 1]", ["set"]) == canonicalize("1, 2", ["set"]) == '["1","2"]'
    assert canonicalize("B, a", ["lowercase", "set"]) == '["a","b"]'
    for bad in (" , ,", "[]", "[1, 2"):
        with pytest.raises(CanonicalError):
            canonicalize(bad, ["set"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="abcxyz 12", min_size=1, max_size=5), min_size=1, max_size=6), st.randoms())
def test_set_ignores_the_order_of_items(items, rng):
    if not any(item.strip() for item in items):
        return
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert canonicalize(", ".join(items), ["set"]) == canonicalize(", ".join(shuffled), ["set"])


def test_set_in_a_spec_judges_lists_as_one_answer():
    spec = parse_spec(spec_with(["set"]))
    judge = spec.judge()
    assert judge("Answer: red, green").key == judge("Answer: green,red").key == '["green","red"]'


# --- the syntax ---------------------------------------------------------------------------------


def test_matching_steps_are_read_into_the_answer_field():
    spec = parse_spec(spec_with(["strip", {"number": {"tolerance": 0.01}}]))
    assert spec.answer_field.canonical == ["strip", "number"]
    assert spec.answer_field.matching == NumberMatch(tolerance=0.01)
    spec = parse_spec(
        spec_with(["lowercase", {"embedding": {"model": "openai/text-embedding-3-small", "threshold": 0.9}}])
    )
    assert spec.steps == ["lowercase"]
    assert isinstance(spec.answer_field.matching, EmbeddingMatch) and spec.answer_field.matching.threshold == 0.9
    exact = parse_spec(spec_with([{"number": {"tolerance": 0}}]))
    assert exact.answer_field.matching is None and exact.steps == ["number"]
    assert load_spec(SEMANTIC).answer_field.matching == EmbeddingMatch(model="sim", threshold=0.9)


@pytest.mark.parametrize(
    ("canonical", "expected"),
    [
        (["embedding"], "answer: canonical[0]: embedding needs an embedding model and a threshold"),
        ([{"embedding": {"threshold": 0.9}}], "canonical[0].embedding.model: Field required"),
        (
            [{"embedding": {"model": "sim", "threshold": 0}}],
            "canonical[0].embedding.threshold: Input should be greater",
        ),
        ([{"embedding": {"model": "sim", "threshold": 1.5}}], "threshold: Input should be less than or equal to 1"),
        ([{"embedding": {"model": "text embedding", "threshold": 0.9}}], "unknown embedding model format"),
        (
            [{"embedding": {"model": "sim", "threshold": 0.9, "api_base": "http://evil.example/v1"}}],
            "api_base: a spec does not choose the server (it would receive your API key)",
        ),
        (
            [{"embedding": {"model": "sim", "threshold": 0.9, "colour": 1}}],
            "canonical[0].embedding.colour: unknown option",
        ),
        ([{"embedding": "sim"}], "canonical[0].embedding: options are a mapping"),
        ([{"number": {"tolerance": -1}}], "canonical[0].number.tolerance: Input should be greater than or equal to 0"),
        ([{"number": {"tolerance": 0.1}}, "strip"], "canonical[1]: the matching step (number) must be the last step"),
        ([{"strip": {}}], "canonical[0]: 'strip' takes no options (write it as `- strip`)"),
        ([{"fuzzy": {}}], "canonical[0]: 'fuzzy' takes no options; only number and embedding do"),
        ([{"number": {}, "embedding": {}}], "a mapping with one key"),
        ("strip", "answer.canonical: Input should be a valid list"),
        ([{"number": {"tolerance": 1, "kind": "number"}}], "canonical[0].number.kind: unknown option"),
    ],
)
def test_bad_matching_steps_are_one_line_naming_file_and_field(canonical, expected):
    assert expected in error_of(spec_with(canonical))


def test_a_matching_step_does_not_go_with_allowed_or_top_level_canonical_or_by_hand():
    number = {"number": {"tolerance": 1}}
    assert "allowed: does not go with a matching step" in error_of(spec_with([number], allowed=["1", "2"]))
    top = yaml.safe_dump({"name": "t", "user": "q", "answer": {"regex": "(?P<answer>.+)"}, "canonical": [number]})
    assert "goes in answer.canonical" in error_of(top)
    assert "matching: unknown field" in error_of(spec_with(["strip"], matching={"kind": "number", "tolerance": 1}))


def test_sequence_specs_refuse_matching_steps(tmp_path):
    data = yaml.safe_load(ADDITION.read_text(encoding="utf-8"))
    field = data["answer"]["next_state"]
    field["canonical"] = [{"embedding": {"model": "sim", "threshold": 0.9}}]
    field.pop("type", None)
    path = tmp_path / "seq.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError, match="a matching step \\(embedding\\) applies to question specs"):
        load_spec(path)


def test_workflows_refuse_matching_steps(tmp_path):
    (tmp_path / "q.yaml").write_text(SEMANTIC.read_text(encoding="utf-8"), encoding="utf-8")
    used = {"name": "w", "nodes": [{"id": "a", "uses": "q.yaml", "inputs": {"country": "Peru"}}]}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(used), encoding="utf-8")
    with pytest.raises(SpecError, match="not supported in workflows"):
        load_spec(tmp_path / "w.yaml")
    answer = {"regex": "(?P<answer>.+)", "canonical": [{"number": {"tolerance": 1}}]}
    inline = {"name": "w", "nodes": [{"id": "a", "user": "q", "answer": answer}]}
    (tmp_path / "w2.yaml").write_text(yaml.safe_dump(inline), encoding="utf-8")
    with pytest.raises(SpecError, match="not supported in workflows"):
        load_spec(tmp_path / "w2.yaml")


def test_calibration_refuses_a_spec_that_matches_answers():
    task = QuestionTask(load_spec(SEMANTIC), dataset=[])
    with pytest.raises(UsageError, match="compares each sample with the expected answer exactly"):
        task.probes(1, seed=1, simulated=True)


def test_the_cli_reports_a_bad_step_in_one_line_with_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(spec_with([{"embedding": {"model": "sim", "threshold": 2}}]), encoding="utf-8")
    r = CliRunner().invoke(app, ["vote", "--task", str(path), "--model", "sim"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml" in lines[0] and "canonical[0].embedding.threshold" in lines[0]


def test_set_works_in_a_record_of_several_fields():
    from maker_cli.specs.fields import AnswerField
    from maker_cli.specs.judge import AnswerJudge

    judge = AnswerJudge(
        {
            "action": AnswerField(regex="do: (?P<value>.+)"),
            "next_state": AnswerField(regex="have: (?P<value>.+)", canonical=["set"]),
        }
    )
    one, two = judge("do: pick\nhave: b, a"), judge("do: pick\nhave: a,b,a")
    assert one.key == two.key and one.value["next_state"] == '["a","b"]'
