"""Red flags: reasons to discard a sample (never repair it).

A red-flagged sample is not a vote; the engine replaces it at once and counts its reason. Length
is judged from the provider's usage and `finish_reason`, never from characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from maker_cli._types import AnswerValue
from maker_cli.providers.base import Completion

TOO_LONG = "too_long"  # provider usage says more output tokens than allowed
TRUNCATED = "truncated"  # finish_reason == "length": the provider cut it off
FORMAT = "format"  # the answer could not be parsed under the task's rules
FORBIDDEN = "forbidden_pattern"  # a must-not-match pattern matched
EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class RedFlag:
    reason: str  # one of the constants above, optionally "format: detail"
    detail: str = ""

    @property
    def label(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True, slots=True)
class Answer:
    """A parsed, canonicalised answer. Votes match on `key`; `value` is what the task uses."""

    key: str
    value: AnswerValue = None


@dataclass(frozen=True)
class RedFlagRules:
    """Rules applied to every sample before (length, patterns) the task parses it (format)."""

    max_output_tokens: int | None = 750
    must_not_match: tuple[str, ...] = ()
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in self.must_not_match))

    def check(self, completion: Completion) -> RedFlag | None:
        """The first red flag this completion raises before parsing, or None (what the engine uses)."""
        return next(self._raised(completion), None)

    def check_all(self, completion: Completion) -> list[RedFlag]:
        """Every red flag this completion raises before parsing (the first is what `check` returns)."""
        return list(self._raised(completion))

    def _raised(self, completion: Completion) -> Iterator[RedFlag]:
        if completion.finish_reason == "length":
            yield RedFlag(TRUNCATED)
        limit = self.max_output_tokens
        if limit is not None and completion.output_tokens is not None and completion.output_tokens > limit:
            yield RedFlag(TOO_LONG, f">{limit} tokens")
        text = completion.text
        if not text or not text.strip():
            yield RedFlag(EMPTY)
            return
        for pattern in self._compiled:
            if pattern.search(text):
                yield RedFlag(FORBIDDEN, pattern.pattern)
