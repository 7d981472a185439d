"""What a workflow run reports about each node (`--json` `nodes`, `runs show`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from maker_cli._types import JSONValue


class NodeReport(BaseModel):
    """One node of a workflow run: status, result, cost."""

    id: str
    kind: str = Field(description="question or sequence")
    status: str = Field(description="decided, waiting, blocked (an upstream node stopped), undecided, failed, ...")
    answer: str | None = Field(None, description="the decided result as text (a sequence node's final state as JSON)")
    value: JSONValue = Field(None, description="the decided result as a value")
    samples: int
    cost_usd: float | None
    steps: int = Field(description="voted steps (1 for a question)")
    child_run: str | None = Field(None, description="a sequence node's own run in the store")
    message: str | None = None
