"""Ranked answers for `borda`: a reply lists candidates one per line, best first.

A question spec declares `answer: {ranked: N, regex: ...}` (N >= 2, the ranking's depth). Each
non-blank line of a reply, a leading list marker (`1.`, `2)`, `-`, `*`) removed, is judged on its
own by the spec's ordinary rules (regex, type, canonical steps, allowed values); the reply's
ranking is the canonical keys in order, and its vote is the first. The ranking is malformed, and the
sample red-flagged (FORMAT, never a vote), when a line fails those rules, a candidate is repeated,
or it lists more than N candidates. A reply with fewer than N candidates is fine (the places it
leaves out score nothing).
"""

from __future__ import annotations

import re

from maker_cli.core.redflags import FORMAT, REGEX_TIMEOUT, Answer, RedFlag, timeout_flag
from maker_cli.specs.fields import compile_pattern
from maker_cli.specs.judge import AnswerJudge
from maker_cli.untrusted_regex import PatternTimeout

_MARKER = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*\u2022])\s+")


class RankedJudge:
    """Judges a ranked reply with `inner` line by line (see the module doc). Never raises."""

    def __init__(self, inner: AnswerJudge, depth: int, *, require: str | None = None) -> None:
        if depth < 2:
            raise ValueError("a ranking needs a depth of at least 2")
        self.inner = inner
        self.depth = depth
        self._require = compile_pattern(require, "require") if require else None

    def __call__(self, text: str) -> Answer | RedFlag:
        if not isinstance(text, str):
            return RedFlag(FORMAT, "response is not text")
        if self._require is not None:
            try:
                if self._require.search(text) is None:
                    return RedFlag(FORMAT, f"required pattern {self._require.pattern!r} not found")
            except PatternTimeout as exc:
                return timeout_flag(exc)
        lines = [_MARKER.sub("", line).strip() for line in text.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            return RedFlag(FORMAT, "ranking: no candidates")
        if len(lines) > self.depth:
            return RedFlag(FORMAT, f"ranking: {len(lines)} candidates, at most {self.depth}")
        ranking: list[Answer] = []
        for number, line in enumerate(lines, 1):
            verdict = self.inner(line)
            if isinstance(verdict, RedFlag) and verdict.reason == REGEX_TIMEOUT:
                return RedFlag(REGEX_TIMEOUT, f"ranking line {number}: {verdict.detail}")
            if isinstance(verdict, RedFlag):
                return RedFlag(FORMAT, f"ranking line {number}: {verdict.detail or verdict.reason}")
            if any(a.key == verdict.key for a in ranking):
                return RedFlag(FORMAT, f"ranking line {number}: a candidate repeated")
            ranking.append(verdict)
        first = ranking[0]
        return Answer(first.key, first.value, tuple((a.key, a.value) for a in ranking))


__all__ = ["RankedJudge"]
