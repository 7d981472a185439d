"""The command pages that promise every key or column list exactly the real ones:
`maker estimate --json` (docs/commands/estimate.md, "JSON fields") and `maker runs export`
(docs/commands/runs.md, the columns paragraph), in the export's order."""

from __future__ import annotations

import re
from pathlib import Path

import maker_cli
from maker_cli.store.export import columns

DOCS = Path(__file__).resolve().parents[2] / "docs" / "commands"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def documented_names(text: str) -> list[str]:
    """The identifiers in `text`'s inline code spans, in order (`a, b, c` spans give each name)."""
    names: list[str] = []
    for span in re.findall(r"`([^`]+)`", text):
        names += [part.strip() for part in span.split(",") if _NAME.match(part.strip())]
    return names


def between(text: str, start: str, end: str) -> str:
    match = re.search(re.escape(start) + r"(?P<body>.*?)" + re.escape(end), text, re.DOTALL)
    assert match is not None, f"no text between {start!r} and {end!r}"
    return match.group("body")


def test_estimate_json_fields_list_every_key():
    text = (DOCS / "estimate.md").read_text(encoding="utf-8")
    documented = set(documented_names(between(text, "## JSON fields", "## Errors")))
    real = set(maker_cli.estimate(steps=1000, p=0.9).model_dump(mode="json"))
    assert real - documented == set(), "keys missing from estimate.md"
    assert documented - real == set(), "estimate.md lists keys --json does not print"


def test_runs_export_columns_are_listed_in_order():
    text = (DOCS / "runs.md").read_text(encoding="utf-8")
    paragraph = between(text, "The columns are the stored step's, in this order:", "A Hanoi run adds")
    assert documented_names(paragraph) == list(columns("task"))
