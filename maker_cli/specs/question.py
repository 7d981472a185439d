"""Question specs (`kind: question`): one voted question, declared instead of coded.

A question spec names its inputs, the prompt templates that use them, how to find the answer in a
response (regex or JSON path), how to canonicalise it into the key votes match on, which responses
to red-flag, and voting defaults. `maker vote --task FILE` asks it once; `maker calibrate task FILE
--dataset ...` measures a model on it.

The optional `expected` template is read only by the simulated model and by calibration; the
judge never sees it, so voting stays honest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from maker_cli._types import JSONValue
from maker_cli.core.redflags import RedFlagRules
from maker_cli.errors import UsageError
from maker_cli.specs.canonical import CanonicalError, CanonicalStep, canonicalize
from maker_cli.specs.extract import typed_expected
from maker_cli.specs.fields import AnswerField, RedFlagSpec, SpecBase, input_values
from maker_cli.specs.judge import AnswerJudge
from maker_cli.specs.ranked import RankedJudge
from maker_cli.specs.templates import check_template, placeholders, render


class QuestionSpec(SpecBase):
    """A single voted question (`maker vote --task FILE`)."""

    kind: Literal["question"] = "question"
    answer: AnswerField
    canonical: list[CanonicalStep] = Field(default_factory=list, description="same as answer.canonical")
    red_flags: RedFlagSpec = Field(default_factory=RedFlagSpec)
    expected: str | None = Field(None, description="template of the correct answer (sim/calibration only)")

    @field_validator("canonical", mode="before")
    @classmethod
    def _text_steps_only(cls, value: object) -> object:
        if isinstance(value, list) and any(isinstance(item, dict) or item == "embedding" for item in value):
            raise ValueError("a matching step (number with a tolerance, embedding) goes in answer.canonical")
        return value

    @field_validator("expected")
    @classmethod
    def _expected_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            placeholders(value)
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> QuestionSpec:
        if self.canonical and self.answer.canonical:
            raise ValueError("canonical: give the steps once, either here or as answer.canonical")
        if self.answer.type is not None and self.answer.json_path is None:
            raise ValueError("answer: type applies to json_path only")
        if self.voting.method == "borda" and self.answer.ranked is None:
            raise ValueError("voting.method: borda needs ranked answers: give answer.ranked (the ranking's depth)")
        for field in ("system", "user", "expected"):
            template = getattr(self, field)
            if template is not None:
                try:
                    check_template(template, self.inputs)
                except ValueError as exc:
                    raise ValueError(f"{field}: {exc}") from None
        if self.sim_response is not None:
            try:
                check_template(self.sim_response, ["answer"])
            except ValueError as exc:
                raise ValueError(f"sim_response: {exc}") from None
            if "answer" not in placeholders(self.sim_response):
                raise ValueError("sim_response: must contain {{answer}}")
        self._check_allowed()
        return self

    def _check_allowed(self) -> None:
        allowed = self.answer.allowed
        if allowed is None:
            return
        keys = set()
        for value in allowed:
            if not isinstance(value, (str, int, float)):
                raise ValueError(f"answer.allowed: values are strings or numbers, not {value!r}")
            try:
                keys.add(canonicalize(value, self.steps))
            except CanonicalError as exc:
                raise ValueError(f"answer.allowed: {value!r} fails canonicalisation: {exc}") from None
        if len(keys) < 2:
            raise ValueError("answer.allowed: needs at least two different values")

    # --- using a spec ---------------------------------------------------------------------------

    @property
    def steps(self) -> list[str]:
        """The canonical steps of the answer (top-level `canonical` or `answer.canonical`)."""
        return list(self.canonical or self.answer.canonical)

    @property
    def answer_field(self) -> AnswerField:
        return self.answer.model_copy(update={"canonical": self.steps}) if self.canonical else self.answer

    def input_values(self, inputs: Mapping[str, object]) -> dict[str, str]:
        """Declared defaults overlaid with `inputs`, as text; UsageError for unknown or missing names."""
        return {name: str(value) for name, value in input_values(self.inputs, inputs, self.name).items()}

    def render(self, inputs: Mapping[str, object]) -> tuple[str, str]:
        """The (system, user) prompt texts for these inputs."""
        values = self.input_values(inputs)
        return render(self.system, values), render(self.user, values)

    def judge(self) -> AnswerJudge | RankedJudge:
        """require + extraction + canonicalisation (+ allowed) -> Answer(key, value) or RedFlag; a ranked
        answer (`answer.ranked`) is judged line by line (maker_cli.specs.ranked)."""
        if self.answer.ranked is None:
            return AnswerJudge({"answer": self.answer_field}, require=self.red_flags.require)
        # `require` applies to the whole reply, the answer rules to each line
        return RankedJudge(
            AnswerJudge({"answer": self.answer_field}), self.answer.ranked, require=self.red_flags.require
        )

    def red_flag_rules(self, default_max_output_tokens: int | None = 750) -> RedFlagRules:
        """Length and must-not-match rules; an unset spec limit takes `default_max_output_tokens`."""
        return self.red_flags.rules(default_max_output_tokens)

    def expected_value(self, inputs: Mapping[str, object], text: str | None = None) -> JSONValue | None:
        """The expected answer (from `text`, else the `expected` template) as the extractor would
        return it, or None when not available."""
        if text is None:
            if self.expected is None:
                return None
            text = render(self.expected, self.input_values(inputs))
        if not text.strip():
            return None
        return typed_expected(text, self.answer.type if self.answer.json_path else None)

    def expected_key(self, inputs: Mapping[str, object], text: str | None = None) -> str | None:
        """The canonical key of the expected answer (for checking a decision after the vote)."""
        value = self.expected_value(inputs, text)
        if value is None:
            return None
        try:
            return canonicalize(value, self.steps)
        except CanonicalError as exc:
            raise UsageError(f"expected answer {str(value)[:40]!r}: {exc}") from None
