"""docs/reference.md says it covers everything in `maker_cli.__all__`: each public name has its
own `::: maker_cli.NAME` entry (`__version__` is named in the text)."""

from __future__ import annotations

import re
from pathlib import Path

import maker_cli

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_every_public_name_is_in_the_reference():
    text = REFERENCE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: maker_cli\.(\w+)[ \t]*$", text, re.MULTILINE))
    missing = sorted(name for name in maker_cli.__all__ if name not in documented and name != "__version__")
    assert not missing, f"docs/reference.md lacks: {', '.join(missing)}"
    assert "`maker_cli.__version__`" in text
    assert documented <= set(maker_cli.__all__), "docs/reference.md documents a name not in __all__"
