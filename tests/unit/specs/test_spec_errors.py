"""Spec problems in one line naming the file and the field — also inside `all:`/`any:` lists of a
sequence spec's termination, and for an expected answer the spec's own rules refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import SpecError
from maker_cli.specs import load_spec
from maker_cli.specs.loader import describe_errors

ROOT = Path(__file__).resolve().parents[3]
ADDITION = ROOT / "examples" / "sequential" / "addition.yaml"
ARITHMETIC = ROOT / "examples" / "arithmetic.yaml"


def changed(example: Path, tmp_path: Path, change) -> Path:
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / example.name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("combinator", ["all", "any"])
def test_an_unknown_key_inside_all_or_any_lists_the_known_ones(tmp_path, combinator):
    """The regression: inside `all:`/`any:` (named by their aliases) the known fields were not listed."""

    def typo(data):
        data["termination"]["until_state"] = {combinator: [{"field_equals": {"path": "a", "value": "", "valu": ""}}]}

    path = changed(ADDITION, tmp_path, typo)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value) == (
        f"{path}: termination.until_state.{combinator}[0].field_equals.valu: unknown field (known: path, value)"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(answer={**d["answer"], "canonical": ["strip"]}), "canonical: give the steps once"),
        (
            lambda d: d.update(answer={"json_path": "product", "allowed": ["1", [2]]}),
            "answer.allowed: values are strings or numbers, not [2]",
        ),
    ],
)
def test_a_question_spec_s_cross_checks(tmp_path, change, message):
    path = changed(ARITHMETIC, tmp_path, change)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_an_expected_answer_the_spec_s_canonical_steps_refuse_is_a_usage_error(tmp_path):
    path = changed(ARITHMETIC, tmp_path, lambda d: d.update(expected=None))  # no template: only the flag
    assert load_spec(path).expected is None
    r = CliRunner().invoke(
        app, ["vote", "--task", str(ARITHMETIC), "--input", "a=2", "--input", "b=3", "--input", "expected=six"]
        + ["--model", "sim:p=0.9"],
    )  # fmt: skip
    assert r.exit_code == 2 and r.stderr == "error: expected answer 'six': not a number: 'six'\n", r.output


class Circle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    radius: float


class Square(BaseModel):
    model_config = ConfigDict(extra="forbid")
    side: float


class Drawing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shape: Circle | Square


def test_an_unknown_key_under_a_choice_of_models_is_still_one_line():
    with pytest.raises(ValidationError) as error:
        Drawing.model_validate({"shape": {"radius": 1, "colour": "red"}})
    line = describe_errors(error.value, "drawing.yaml", Drawing)
    assert line.startswith("drawing.yaml: shape.Circle.colour: unknown field (and ")  # no list to offer here
    assert "\n" not in line and "(known:" not in line
