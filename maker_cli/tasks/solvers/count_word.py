"""Count a word through a long text, one piece per step (examples/sequential/count_word.yaml).

State: {"chunk": the number of the piece this step reads (0-based), "count": occurrences found in
the pieces before it}. The spec cuts the text into pieces of whole words (`chunks:`), and the
solver receives them as `inputs["chunks"]`. A word counts when it stands alone, in any case:
"The" and "the," count for "the"; "there" and "other" do not.
"""

from __future__ import annotations

import re

from maker_cli._types import JSONObject

WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*")


def occurrences(text: str, word: str) -> int:
    target = word.strip().lower()
    return sum(1 for w in WORD.findall(text) if w.lower() == target)


def solve(state: JSONObject, step: int, inputs: JSONObject) -> tuple[int, JSONObject]:
    chunks = inputs["chunks"]
    index = state["chunk"]
    piece = chunks[index] if 0 <= index < len(chunks) else ""
    found = occurrences(piece, inputs["word"])
    return found, {"chunk": index + 1, "count": state["count"] + found}
