"""One spec model: a union discriminated by `kind`, the kind inferred once at load, shared parts."""

from __future__ import annotations

import pytest
import yaml

from maker_cli.errors import SpecError
from maker_cli.specs import QuestionSpec, SequenceSpec, infer_kind, parse_spec
from maker_cli.specs.fields import AnswerField
from maker_cli.specs.sequence import StepAnswerSpec

QUESTION = {"name": "q", "user": "Q?", "answer": {"regex": r"(?P<answer>\d+)"}}
SEQUENCE = {
    "name": "s",
    "initial_state": 0,
    "user": "{{state}}",
    "answer": {"next_state": {"regex": r"(?P<value>\d+)", "type": "int"}},
    "termination": {"steps": 3},
}


def test_the_kind_is_inferred_from_initial_state():
    assert infer_kind(QUESTION) == "question" and infer_kind(SEQUENCE) == "sequence"
    assert isinstance(parse_spec(yaml.safe_dump(QUESTION)), QuestionSpec)
    assert isinstance(parse_spec(yaml.safe_dump(SEQUENCE)), SequenceSpec)


def test_an_explicit_kind_wins_and_is_checked():
    assert parse_spec(yaml.safe_dump({**QUESTION, "kind": "question"})).kind == "question"
    assert parse_spec(yaml.safe_dump({**SEQUENCE, "kind": "sequence"})).kind == "sequence"
    with pytest.raises(SpecError, match="initial_state: Field required"):
        parse_spec(yaml.safe_dump({**QUESTION, "kind": "sequence"}), "x.yaml")
    with pytest.raises(SpecError, match="unknown field"):
        parse_spec(yaml.safe_dump({**SEQUENCE, "kind": "question"}), "x.yaml")
    with pytest.raises(SpecError, match="kind: must be one of question, sequence, workflow, not 'workflowz'"):
        parse_spec(yaml.safe_dump({**QUESTION, "kind": "workflowz"}), "x.yaml")


def test_both_kinds_share_the_answer_field_and_its_judge():
    assert QuestionSpec.model_fields["answer"].annotation is AnswerField
    assert StepAnswerSpec.model_fields["next_state"].annotation is AnswerField
    question = parse_spec(yaml.safe_dump(QUESTION))
    sequence_field = AnswerField(regex=r"(?P<value>\d+)")
    assert type(question.judge()).__name__ == "AnswerJudge"
    assert question.judge()("x 42").key == "42"
    assert AnswerField(regex=r"(?P<answer>\d+)").group == "answer" and sequence_field.group == "value"


def test_a_loaded_spec_knows_its_source_and_hash(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(yaml.safe_dump(QUESTION), encoding="utf-8")
    from maker_cli.specs import load_spec

    spec = load_spec(path)
    assert spec.source == str(path) and len(spec.sha256 or "") == 64
