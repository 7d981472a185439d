"""Whole runs on the simulated model fail at the rate the exact maths (p_full) predicts."""

from __future__ import annotations

import math
from pathlib import Path

from run_helpers import solved_fraction

from maker_cli.core import maths
from maker_cli.tasks import Hanoi
from maker_cli.tasks.sequence import SequenceTask

ADDITION = Path(__file__).resolve().parents[2] / "examples" / "sequential" / "addition.yaml"


def test_hanoi_failure_rate_follows_p_full():
    """Many small simulated runs in collide mode fail at the rate p_full predicts."""
    p, k, disks, runs = 0.75, 2, 3, 1500
    task = Hanoi(disks)
    expected = maths.p_full(p, k, task.steps_total)
    solved = solved_fraction(task, p, k, runs)
    se = math.sqrt(expected * (1 - expected) / runs)
    assert abs(solved - expected) <= 4 * se, (solved, expected)


def test_sequence_spec_failure_rate_follows_p_full():
    """Many short simulated runs in collide mode are solved at the rate p_full predicts."""
    p, k, runs = 0.75, 2, 1500
    task = SequenceTask.from_file(ADDITION, {"a": "1234567", "b": "7654321"})  # 7 columns, no final carry
    assert task.steps_total == 7
    expected = maths.p_full(p, k, task.steps_total)
    solved = solved_fraction(task, p, k, runs)
    se = math.sqrt(expected * (1 - expected) / runs)
    assert abs(solved - expected) <= 4 * se, (solved, expected)
