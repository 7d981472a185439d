"""Task specs in YAML: one model per kind, one loader, one judge.

`load_spec(path)` reads a spec within the YAML limits and returns a `QuestionSpec` or a
`SequenceSpec` (the union `Spec`, discriminated by `kind`). A spec without `kind` is a sequence
when it has `initial_state`, else a question: the kind is inferred here, once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from pydantic import Field

from maker_cli.bounded_yaml import parse_yaml, read_text_file
from maker_cli.errors import SpecError
from maker_cli.specs.loader import validate_data
from maker_cli.specs.question import QuestionSpec
from maker_cli.specs.sequence import SequenceSpec
from maker_cli.specs.workflow import WorkflowSpec

Spec = Annotated[QuestionSpec | SequenceSpec | WorkflowSpec, Field(discriminator="kind")]
AnySpec = QuestionSpec | SequenceSpec | WorkflowSpec
KINDS: dict[str, type[QuestionSpec] | type[SequenceSpec] | type[WorkflowSpec]] = {
    "question": QuestionSpec,
    "sequence": SequenceSpec,
    "workflow": WorkflowSpec,
}


def infer_kind(data: object) -> str | None:
    """The declared `kind`, else 'sequence' for a mapping with `initial_state`, else 'question'."""
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    if kind is None:
        return "workflow" if "nodes" in data else "sequence" if "initial_state" in data else "question"
    return kind if isinstance(kind, str) else None


def parse_spec(text: str, source: str = "<spec>") -> AnySpec:
    """A spec from YAML text; `source` names it in errors."""
    data = parse_yaml(text, source)
    kind = infer_kind(data)
    if isinstance(data, dict) and kind not in KINDS:
        raise SpecError(f"{source}: kind: must be one of {', '.join(KINDS)}, not {data.get('kind')!r}")
    model = KINDS[kind or "question"]
    spec = validate_data(data, model, source)
    spec._source = source
    spec._sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if isinstance(spec, WorkflowSpec):
        try:
            spec.resolve(Path(source).parent if source != "<spec>" else None)
        except ValueError as exc:
            raise SpecError(f"{source}: {exc}") from None
    return spec


def load_spec(path: str | Path) -> AnySpec:
    """Read and validate a spec file; every problem is a SpecError naming the file and field."""
    return parse_spec(read_text_file(path, "spec"), str(path))


__all__ = [
    "KINDS",
    "AnySpec",
    "QuestionSpec",
    "SequenceSpec",
    "Spec",
    "WorkflowSpec",
    "infer_kind",
    "load_spec",
    "parse_spec",
]
