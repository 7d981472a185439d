"""Matching steps: the last entry of an answer's `canonical:` list may match answers instead of
rewriting them, so that answers that are close (not equal) vote together.

    canonical:
      - strip
      - number: {tolerance: 0.01}       # numbers within 0.01 of a cluster's representative
    canonical:
      - strip
      - embedding:                      # texts whose embeddings have cosine similarity >= 0.9
          model: openai/text-embedding-3-small
          threshold: 0.9
          price: 0.02                   # optional: USD per million tokens when litellm's map has none

A spec names no server: embeddings go where the run's --api-base says (else the provider's own
API), so a spec cannot send your API key elsewhere. A spec's `price` never replaces a price
litellm's map knows (a spec cannot make a priced model look cheaper), and the MCP server ignores it.

The text steps before it run first (`number` with a tolerance canonicalises the number too). How
clusters form is `maker_cli.core.clusters`; the spec only declares the rule. A plain step is a
string; a step with options is a one-key mapping; only these two take options.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from maker_cli.specs.canonical import STEPS

_MODEL = re.compile(r"sim(?::\S*)?|[A-Za-z0-9][A-Za-z0-9_.\-]*/\S+")
MATCHING_STEPS = ("number", "embedding")


class NumberMatch(BaseModel):
    """`number: {tolerance: T}`: canonical numbers within T (absolute) vote together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["number"] = "number"
    tolerance: float = Field(ge=0, allow_inf_nan=False, description="absolute; 0 is an exact match")


class EmbeddingMatch(BaseModel):
    """`embedding: {model, threshold}`: texts whose embeddings are similar enough vote together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["embedding"] = "embedding"
    model: str = Field(description="sim, or a litellm embedding model as provider/name")
    threshold: float = Field(gt=0, le=1, allow_inf_nan=False, description="cosine similarity, in (0, 1]")
    price: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="USD per million input tokens, when litellm's map has none"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_server(cls, data: object) -> object:
        if isinstance(data, dict) and "api_base" in data:
            raise ValueError(
                "api_base: a spec does not choose the server (it would receive your API key); "
                "give --api-base when you run it"
            )
        return data

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if _MODEL.fullmatch(value) is None:
            raise ValueError(
                f"unknown embedding model format {value[:60]!r}: write provider/name "
                "(e.g. openai/text-embedding-3-small) or sim"
            )
        return value


MatchRule = NumberMatch | EmbeddingMatch


def split_steps(items: object) -> tuple[object, MatchRule | None]:
    """A `canonical:` list as (its text steps, its matching rule or None). ValueError naming the
    entry (`canonical[2]: ...`) for a misplaced or malformed matching step; unknown step names are
    left for the field's own validation."""
    if not isinstance(items, list):
        return items, None
    steps: list[object] = []
    rule: MatchRule | None = None
    for i, item in enumerate(items):
        where = f"canonical[{i}]"
        if rule is not None:
            raise ValueError(f"{where}: the matching step ({rule.kind}) must be the last step")
        if item == "embedding":
            raise ValueError(
                f"{where}: embedding needs an embedding model and a threshold: "
                "write `- embedding: {model: provider/name, threshold: 0.9}`"
            )
        if not isinstance(item, dict):
            steps.append(item)
            continue
        if len(item) != 1:
            raise ValueError(f"{where}: a step with options is a mapping with one key (number or embedding)")
        ((name, options),) = item.items()
        if name not in MATCHING_STEPS:
            known = f" (write it as `- {name}`)" if name in STEPS else ""
            raise ValueError(f"{where}: {name!r} takes no options{known}; only number and embedding do")
        if not isinstance(options, dict):
            raise ValueError(f"{where}.{name}: options are a mapping, e.g. {_EXAMPLES[name]}")
        if "kind" in options:
            raise ValueError(f"{where}.{name}.kind: unknown option")
        try:
            rule = NumberMatch.model_validate(options) if name == "number" else EmbeddingMatch.model_validate(options)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(part) for part in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown option"
            raise ValueError(f"{where}.{name}{'.' + field if field else ''}: {message}") from None
        if name == "number":
            steps.append("number")  # the number is canonicalised, then matched
            if rule.kind == "number" and rule.tolerance == 0:
                rule = None  # an exact match: the plain step
    return steps, rule


_EXAMPLES = {"number": "{tolerance: 0.01}", "embedding": "{model: provider/name, threshold: 0.9}"}
