"""Calibration files written by hand in YAML, and the ones that cannot be right (an interval outside
[0, 1], a list instead of an object); and what a task argument may come with."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.errors import SpecError, UsageError
from maker_cli.jobs.calibration_file import load_calibration
from maker_cli.jobs.task_arg import resolve_task
from maker_cli.tasks import Hanoi

CALIBRATION = {
    "model": "gpt-4.1-mini",
    "task": "hanoi",
    "temperature": 0.1,
    "p": 0.9,
    "p_ci": [0.88, 0.92],
    "valid_rate": 0.95,
    "valid_rate_ci": [0.93, 0.97],
    "mean_input_tokens": 1200.0,
    "mean_output_tokens": 400.0,
    "samples": 1000,
    "created_at": "2026-01-30T00:00:00Z",
}


def test_a_calibration_file_may_be_yaml(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(CALIBRATION), encoding="utf-8")
    assert load_calibration(path).p_ci == (0.88, 0.92)
    r = CliRunner().invoke(app, ["estimate", "--steps", "100", "--calibration", str(path), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["p"] == 0.88, r.output  # the lower bound, as a run uses it


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {**CALIBRATION, "p_ci": [0.9, 1.2]},
            "field '(top level)': p_ci must be [low, high] with 0 <= low <= high <= 1",
        ),
        (
            {**CALIBRATION, "valid_rate_ci": [0.97, 0.93]},
            "field '(top level)': valid_rate_ci must be [low, high] with 0 <= low <= high",
        ),
        ([CALIBRATION], "a calibration file holds one object (mapping), got list"),
    ],
)
def test_a_calibration_file_that_cannot_be_right_is_one_line(tmp_path, data, message):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_calibration(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_what_a_task_argument_may_come_with():
    with pytest.raises(UsageError, match=r"^Hanoi takes no inputs and no dataset \(give --disks\)$"):
        resolve_task("hanoi", inputs={"a": 1})
    task = Hanoi(3)
    assert resolve_task(task) is task
    with pytest.raises(
        UsageError, match="^inputs, a dataset, steps or a prompt go with a spec or 'hanoi', not with a task object$"
    ):
        resolve_task(task, steps=5)


def test_a_calibration_file_with_several_problems_names_the_first_few_wrong_values_first(tmp_path):
    """It named only the first ("field 'model': Field required (and 10 more)"), hiding `p: 2`."""
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"p": 2}), encoding="utf-8")
    r = CliRunner().invoke(app, ["estimate", "--steps", "100", "--calibration", str(path)])
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.output
    assert r.stderr.startswith(
        f"error: {path}: field 'p': Input should be less than or equal to 1; field 'model': Field required; "
        "field 'task': Field required (and 8 more)"
    ), r.stderr
