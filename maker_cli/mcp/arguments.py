"""The MCP tools' arguments: types with descriptions a model can act on, and their limits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from maker_cli.specs.canonical import CanonicalStep
from maker_cli.specs.extract import ValueType

MAX_LABELLED = 10_000
MAX_PATTERNS = 100  # must_not_match patterns in one call: each may run up to MATCH_TIMEOUT_S per response


class Labelled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str = Field(description="a model response, verbatim")
    expected: str = Field(description="the correct answer (as the extraction rules would return it)")
    output_tokens: int | None = Field(None, ge=0, description="the provider's output-token count (length rule)")
    finish_reason: str | None = Field(None, description="the provider's finish reason ('length' = cut off)")


# An optional argument is `T | None` (None = not given) with a description a model can act on.
Temperature = Annotated[float | None, Field(description="sampling temperature", ge=0, le=2)]
Target = Annotated[
    float | None, Field(description="target P(all steps correct) (default: the session's, 0.95)", gt=0, lt=1)
]
K = Annotated[
    int | None,
    Field(description="vote margin: the first answer ahead by k wins (default: the session's)", ge=1, le=1000),
]
MaxRedFlags = Annotated[
    int | None,
    Field(description="red-flagged samples that end a step undecided (default: a rule of k and the valid rate)", ge=1),
]
VoteP = Annotated[
    float | None,
    Field(
        description=(
            "P(one valid sample is correct), e.g. from maker_calibrate: gives the result its confidence "
            "(default: a simulated model's own p; none for a real model)"
        ),
        gt=0.5,
        le=1,
    ),
]
MaxSamples = Annotated[
    int | None, Field(description="sample cap for this call; never above mcp_max_samples (default: that cap)", ge=1)
]
ModelArg = Annotated[
    str | None,
    Field(description="litellm model string (e.g. gpt-4.1-mini), or 'sim:p=0.9,answer=42' (free simulated model)"),
]
MaxOutputTokens = Annotated[
    int | None,
    Field(description="red-flag responses longer than this many output tokens (default: the session's)", ge=1),
]
RedFlagsPreset = Annotated[
    Literal["paper", "relaxed", "strict"] | None,
    Field(
        description=(
            "red-flag preset: paper (length + format), relaxed (+ replies without a letter or digit), strict "
            "(+ self-correction phrases such as 'Wait,', over 50% blank lines); default: the spec's, else paper"
        )
    ),
]
AnswerRegex = Annotated[
    str | None, Field(description="regular expression with a named group (?P<answer>...); the last match counts")
]
JsonPath = Annotated[
    str | None,
    Field(description="the response is JSON (or one ```json block) with the answer at this path, e.g. result.value"),
]
JsonType = Annotated[ValueType | None, Field(description="with json_path: the answer's JSON type")]
Allowed = Annotated[list[str] | None, Field(description="the only answers accepted (after normalisation)")]
TaskPath = Annotated[
    str | None,
    Field(description="path of a YAML task spec inside the server's working directory (or an --allow-dir folder)"),
]
Price = Annotated[float | None, Field(description="USD per million tokens", ge=0)]
MustNotMatch = Annotated[
    list[str],
    Field(max_length=MAX_PATTERNS, description="regular expressions; a response matching one is discarded"),
]
Canonical = Annotated[
    list[CanonicalStep],
    Field(description="normalisation before comparing answers: strip, collapse_whitespace, lowercase, json, number"),
]
Inputs = Annotated[dict[str, str | int | float], Field(description="the task spec's inputs, name -> value")]
Responses = Annotated[
    list[Labelled] | None,
    Field(max_length=MAX_LABELLED, description="labelled mode (free): responses with their correct answers"),
]
VoteRegex = Annotated[
    str | None,
    Field(
        description="with prompt: vote on this regex's named group (?P<answer>...) (last match); default: the whole reply"
    ),
]
CalibrationTask = Annotated[
    str | None,
    Field(description="model mode (spends money): 'hanoi', or a YAML task spec path in the working directory"),
]
Prompts = Annotated[
    list[str] | None,
    Field(
        description=(
            "model mode: prompt files (YAML with system/user templates, in the working directory) instead of the "
            "task's own prompt; 'default' names the task's own. One: calibrate with it. 2-8: sample the same "
            "steps with each and compare them (comparison: p, k, expected job cost, Fisher's exact test); the "
            "top-level fields are then the recommended prompt's calibration"
        ),
        max_length=8,
    ),
]
SeqInputs = Annotated[dict[str, object], Field(description="a sequence spec's inputs, name -> value")]
Items = Annotated[
    list[dict[str, object]] | None,
    Field(
        description="task spec: dataset rows, {'inputs': {...}, 'expected': ...} or flat {input: value, ..., 'expected': ...}"
    ),
]
