"""Sequence specs that cannot work, each refused in one line naming the file and the field: answer
field names, step counts, placeholders, chunked inputs, state predicates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from maker_cli.errors import SpecError
from maker_cli.specs import load_spec

ADDITION = Path(__file__).resolve().parents[3] / "examples" / "sequential" / "addition.yaml"


def fields(**extra):
    return lambda d: d["answer"].update(fields=extra)


def termination(**rule):
    return lambda d: d.update(termination=rule)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (fields(**{"2nd": {"json_path": "x"}}), "answer.fields: invalid field name '2nd' (a letter, then letters"),
        (fields(action={"json_path": "x"}), "answer.fields: 'action' is not an extra field: declare it as answer.action"),
        (termination(steps=True), "termination.steps: a whole number of steps, not a boolean"),
        (termination(steps=0), "termination.steps: must be at least 1"),
        (termination(steps="ten"), "termination.steps: a whole number, or one placeholder such as '{{chunks_total}}'"),
        (termination(steps="{{n}}"), "termination.steps: unknown placeholder {{n}} (declared: a, b)"),
        (termination(until_state=[1]), "termination.until_state: a predicate is a mapping with one of: equals, empty"),
        (
            lambda d: d.update(chunks={"input": "text", "size": 5, "index": "position"}),
            "chunks.input: 'text' must be a declared str input",
        ),
    ],
)  # fmt: skip
def test_a_sequence_spec_that_cannot_work_is_one_line(tmp_path, change, message):
    data = yaml.safe_load(ADDITION.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value).startswith(f"{path}: {message}"), str(error.value)
    assert "\n" not in str(error.value)
