"""A tiny task for engine tests: 'Answer: X' lines judged exactly, and a simulated reference for it."""

from __future__ import annotations

from maker_cli.core.redflags import FORMAT, Answer, RedFlag
from maker_cli.providers.base import Reference

REF = Reference("Answer: right", lambda v: f"Answer: wrong {v}")


def judge(text: str) -> Answer | RedFlag:
    i = text.rfind("Answer:")
    if i < 0:
        return RedFlag(FORMAT, "no 'Answer:' line")
    return Answer(" ".join(text[i + 7 :].split()).lower(), text[i + 7 :].strip())
