"""Prompt files: a `system` and/or a `user` template to use instead of a task's own.

```yaml
name: few-shot            # shown in comparisons (default: the file name)
description: adds three worked steps
system: |-
  ...
user: |-
  ...
```

For Hanoi a prompt file holds both templates (`maker_cli.tasks.hanoi_prompt` checks its
placeholders); for a task spec it replaces the spec's `system` and/or `user`, and the spec is
validated again with them (every placeholder must still be a declared input, a sequence step must
still show `{{state}}`). Read within the YAML limits; every problem is one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from maker_cli._types import JSONValue
from maker_cli.bounded_yaml import read_yaml_file
from maker_cli.errors import SpecError
from maker_cli.specs.loader import describe_errors, validate_data

PromptRecord = dict[str, str | None]  # name, sha256, source, system, user: what a run stores
_S = TypeVar("_S", bound="SpecBase")
if TYPE_CHECKING:
    from maker_cli.specs.fields import SpecBase

MAX_TEMPLATE = 200_000  # characters: far above any real prompt, well under the YAML limit


class PromptFile(BaseModel):
    """A prompt file's fields (`source`: where it was read, not a field of the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, min_length=1, max_length=200, description="shown in comparisons")
    description: str | None = Field(None, max_length=2000, description="what this prompt changes")
    system: str | None = Field(None, max_length=MAX_TEMPLATE, description="the system template")
    user: str | None = Field(None, min_length=1, max_length=MAX_TEMPLATE, description="the user template")
    _source: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _something(self) -> PromptFile:
        if self.system is None and self.user is None:
            raise ValueError("a prompt file needs system:, user: or both")
        return self

    @property
    def source(self) -> str | None:
        """The file it was read from."""
        return self._source

    @property
    def label(self) -> str:
        """Its name, else its file's name."""
        return self.name or (Path(self._source).stem if self._source else "prompt")


def read_prompt_file(path: str | Path) -> PromptFile:
    """A prompt file read within the YAML limits; SpecError (exit 2) naming the file and field."""
    source = str(path)
    data = read_yaml_file(path, "prompt file")
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a prompt file is a mapping with system: and user: templates")
    try:
        prompt = PromptFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_errors(exc, source, PromptFile)) from None
    prompt._source = source
    return prompt


def prompt_sha256(system: str, user: str) -> str:
    """The hash that identifies a prompt (both templates) in the store and in comparisons."""
    return hashlib.sha256(json.dumps([system, user]).encode("utf-8")).hexdigest()


def as_prompt_file(prompt: str | Path | PromptFile) -> PromptFile:
    """A prompt file named by its path, or one already read."""
    return prompt if isinstance(prompt, PromptFile) else read_prompt_file(prompt)


def spec_with_prompt(spec: _S, prompt: str | Path | PromptFile) -> _S:
    """`spec` with its system/user templates replaced by the prompt file's, validated again (an
    undeclared placeholder is a SpecError naming the prompt file); it remembers the prompt, so a
    run stores it and a resumed run applies it again."""
    fields = as_prompt_file(prompt)
    data = spec.model_dump(by_alias=True, exclude_unset=True)
    for name in ("system", "user"):
        text = getattr(fields, name)
        if text is not None:
            data[name] = text
    original = spec.source
    changed = validate_data(data, type(spec), f"{original} with the prompt {fields.source or fields.label}")
    system, user = str(data.get("system", "")), str(data["user"])
    changed._source = original
    changed._sha256 = spec.sha256
    changed._prompt = {
        "name": fields.label,
        "sha256": prompt_sha256(system, user),
        "source": fields.source,
        "system": system,
        "user": user,
    }
    return changed


def prompt_from_record(record: Mapping[str, JSONValue]) -> PromptFile:
    """The prompt file a stored run used (its templates as they were)."""
    fields = PromptFile.model_validate(
        {"name": record.get("name"), "system": record.get("system"), "user": record.get("user")}
    )
    fields._source = None if record.get("source") is None else str(record["source"])
    return fields
