"""The MCP tools' arguments: types with descriptions a model can act on, and their limits."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maker_cli.specs.canonical import CanonicalStep

MAX_LABELLED = 10_000


class Labelled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str = Field(description="a model response, verbatim")
    expected: str = Field(description="the correct answer (as the extraction rules would return it)")
    output_tokens: int | None = Field(None, ge=0, description="the provider's output-token count (length rule)")
    finish_reason: str | None = Field(None, description="the provider's finish reason ('length' = cut off)")


def _opt(type_: Any, description: str, **constraints: Any) -> Any:
    """An optional tool argument (None = not given) with a description a model can act on."""
    return Annotated[type_ | None, Field(description=description, **constraints)]


Temperature = _opt(float, "sampling temperature", ge=0, le=2)
Target = _opt(float, "target P(all steps correct) (default: the session's, 0.95)", gt=0, lt=1)
K = _opt(int, "vote margin: the first answer ahead by k wins (default: the session's)", ge=1, le=1000)
MaxRedFlags = _opt(int, "red-flagged samples that end a step undecided (default: a rule of k and the valid rate)", ge=1)
MaxSamples = _opt(int, "sample cap for this call; never above mcp_max_samples (default: that cap)", ge=1)
ModelArg = _opt(str, "litellm model string (e.g. gpt-4.1-mini), or 'sim:p=0.9,answer=42' (free simulated model)")
MaxOutputTokens = _opt(int, "red-flag responses longer than this many output tokens (default: the session's)", ge=1)
AnswerRegex = _opt(str, "regular expression with a named group (?P<answer>...); the last match counts")
JsonPath = _opt(str, "the response is JSON (or one ```json block) with the answer at this path, e.g. result.value")
JsonType = _opt(Literal["str", "int", "float", "bool", "list", "object"], "with json_path: the answer's JSON type")
Allowed = _opt(list[str], "the only answers accepted (after normalisation)")
TaskPath = _opt(str, "path of a YAML task spec inside the server's working directory (or an --allow-dir folder)")
Price = _opt(float, "USD per million tokens", ge=0)
MustNotMatch = Annotated[list[str], Field(description="regular expressions; a response matching one is discarded")]
Canonical = Annotated[
    list[CanonicalStep],
    Field(description="normalisation before comparing answers: strip, collapse_whitespace, lowercase, json, number"),
]
Inputs = Annotated[dict[str, str | int | float], Field(description="the task spec's inputs, name -> value")]
Responses = Annotated[
    list[Labelled] | None,
    Field(max_length=MAX_LABELLED, description="labelled mode (free): responses with their correct answers"),
]
VoteRegex = _opt(
    str, "with prompt: vote on this regex's named group (?P<answer>...) (last match); default: the whole reply"
)
CalibrationTask = _opt(str, "model mode (spends money): 'hanoi', or a YAML task spec path in the working directory")
SeqInputs = Annotated[dict[str, Any], Field(description="a sequence spec's inputs, name -> value")]
Items = _opt(
    list[dict[str, Any]],
    "task spec: dataset rows, {'inputs': {...}, 'expected': ...} or flat {input: value, ..., 'expected': ...}",
)
