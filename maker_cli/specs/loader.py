"""Spec files into strict models: one line naming the file and the field for every problem.

`validate_data` validates parsed YAML (read within the limits of `maker_cli.bounded_yaml`) into a
strict pydantic model; `describe_errors` turns pydantic's errors into one line naming the file and
the field path, without pydantic's URLs.
"""

from __future__ import annotations

import re
import types
from typing import TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from maker_cli.errors import SpecError

_M = TypeVar("_M", bound=BaseModel)


def validate_data(data: object, model: type[_M], source: str) -> _M:
    """`data` (parsed YAML) validated into `model`; SpecError naming `source` and the field."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"{source}: a spec is a mapping of fields (name, user, answer, ...), not {got}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_errors(exc, source, model)) from None


def describe_errors(exc: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """'file: field.path: message (and N more)' for the first error, without pydantic's URLs."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    message = str(first["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if first["type"] == "extra_forbidden":
        known = _known_fields(model, loc[:-1]) if model is not None else []
        message = "unknown field" + (f" (known: {', '.join(known)})" if known else "")
    path = "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" if _PLAIN.fullmatch(str(p)) else f"[{str(p)!r}]" for p in loc
    ).lstrip(".")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {path}: {message}{more}" if path else f"{source}: {message}{more}"


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")  # a key shown as is; any other (spaces, line breaks) quoted


def _known_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    annotation: object = model  # a type annotation: a class, or a form such as list[X] | None
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields  # the path names a field by its alias when it has one (all, any)
            field = next((f for name, f in fields.items() if (f.alias or name) == str(part)), None)
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [field.alias or name for name, field in annotation.model_fields.items()]
    return []


def _unwrap(annotation: object) -> object:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation
