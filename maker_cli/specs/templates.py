"""`{{name}}` placeholders in task-spec templates: plain substitution, nothing else.

A placeholder is `{{`, optional spaces, a name (a letter, then letters, digits or `_`), optional
spaces, `}}`. There are no expressions, attribute access, filters or loops: `{{a.b}}`,
`{{ x | upper }}` and `{{__class__}}` are template errors, never evaluated. Text that merely
contains `{{` without a closing `}}` stays literal.

Rendering is one pass over the template, so a value that itself contains `{{x}}` is inserted
as-is and never expanded again. Spec loading calls `check_template` so that a template naming an
undeclared input fails when the spec is loaded, not in the middle of a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from maker_cli.errors import UsageError

# Anything between double braces that holds no brace is a placeholder candidate; its content must
# then be a plain name (checked separately so that `{{a.b}}` is reported, not left as text).
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class TemplateError(ValueError):
    """A template that uses something other than a declared `{{name}}`."""


def is_name(name: str) -> bool:
    """True for a valid placeholder / input name: a letter, then letters, digits or `_`."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def placeholders(template: str) -> tuple[str, ...]:
    """The names a template uses, each once, in order of first use.

    Raises TemplateError for a placeholder whose content is not a plain name.
    """
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1).strip()
        if not is_name(name):
            raise TemplateError(
                f"invalid placeholder {match.group(0)!r}: only {{{{name}}}} with a plain name "
                "(letters, digits, _) is allowed; templates do not evaluate expressions"
            )
        seen.setdefault(name, None)
    return tuple(seen)


def check_template(template: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """Raise TemplateError unless every placeholder is in `allowed`; return the names used."""
    names = placeholders(template)
    known = set(allowed)
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(f"{{{{{n}}}}}" for n in unknown)
        declared = ", ".join(sorted(known)) or "none"
        raise TemplateError(f"unknown placeholder {listed} (declared: {declared})")
    return names


def render(template: str, values: Mapping[str, object]) -> str:
    """Substitute every `{{name}}` with `str(values[name])` in one pass.

    Raises UsageError naming the first missing value (the user must supply it). Values are never
    re-expanded, whatever they contain.
    """
    names = placeholders(template)
    missing = [n for n in names if n not in values or values[n] is None]
    if missing:
        raise UsageError(f"missing input {missing[0]!r} (give --input {missing[0]}=VALUE)")

    def substitute(match: re.Match[str]) -> str:
        return str(values[match.group(1).strip()])

    return _PLACEHOLDER.sub(substitute, template)
