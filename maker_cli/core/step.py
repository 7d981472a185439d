"""What the engine needs from a task for one step: the prompt, and a judge for responses.

A `Judge` parses and canonicalises one response text into an `Answer` (votes match on its key) or
returns a `RedFlag` (format failure). It must never raise on arbitrary text and must never look
at the correct answer: verification happens after the decision, apart from the voting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from maker_cli.core.redflags import Answer, RedFlag
from maker_cli.providers.base import Reference

Judge = Callable[[str], "Answer | RedFlag"]


@dataclass(frozen=True, slots=True)
class StepPrompt:
    step: int
    system: str
    user: str
    reference: Reference | None = None  # for simulated models only; the voting never reads it
