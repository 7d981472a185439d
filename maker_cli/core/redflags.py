"""Red flags: reasons to discard a sample (never repair it).

A red-flagged sample is not a vote; the engine replaces it at once and counts its reason (the first
flag it raises). Length is judged from the provider's usage and `finish_reason`, never from
characters.

Besides length and format (the paper's two red flags), a task may opt into the checks of the
design's validator (`RedFlagChecks`): a minimum of letters or digits, a maximum share of empty
lines, self-correction and confusion phrases, start/end markers, a JSON object with required fields,
a closed set of whole replies. Named presets bundle them (`PRESETS`: paper, relaxed, strict).

Every check runs on every sample, so each is linear in the reply's length: regexes are compiled once,
user phrases are matched as literals (never as regexes), and nothing is re-scanned per line or per
phrase found. A `must_not_match` pattern is the user's own: it is matched with a time bound
(`maker_cli.untrusted_regex`), and a reply it runs past the bound on is red-flagged `regex_timeout`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from itertools import islice
from typing import Literal, get_args

from maker_cli._types import AnswerValue
from maker_cli.providers.base import Completion
from maker_cli.strict_json import load_json
from maker_cli.untrusted_regex import PatternTimeout, UntrustedPattern

TOO_LONG = "too_long"  # provider usage says more output tokens than allowed
TRUNCATED = "truncated"  # finish_reason == "length": the provider cut it off
FORMAT = "format"  # the answer could not be parsed under the task's rules
FORBIDDEN = "forbidden_pattern"  # a must-not-match pattern matched
EMPTY = "empty"  # nothing but whitespace
TOO_SHORT = "too_short"  # fewer letters or digits than min_output_chars
EMPTY_LINES = "empty_lines"  # a larger share of empty lines than max_empty_line_share
SELF_CORRECTION = "self_correction"  # a self-correction or confusion phrase ("Wait,", "Actually,", ...)
MISSING_MARKER = "missing_marker"  # does not start with starts_with, or does not end with ends_with
JSON_FIELDS = "json_fields"  # not a JSON object, or one without a required field
NOT_ONE_OF = "not_one_of"  # the whole reply is none of the one_of replies
REGEX_TIMEOUT = "regex_timeout"  # a pattern from the spec or the caller ran past its time bound on this reply

#: `self_correction: true`: the design document's confusion patterns (Algorithm 3), matched
#: case-insensitively as whole words ("hmm" does not match "Hmmm"; "Wait," needs its comma),
#: any run of whitespace matching a space and ’ matching '.
SELF_CORRECTION_PHRASES: tuple[str, ...] = (
    "Wait,",
    "Actually,",
    "Let me reconsider",
    "I made a mistake",
    "On second thought",
    "Hmm",
    "I think I",
    "Let me correct",
    "Sorry, I meant",
    "That's not right",
)
MAX_PHRASES = 100  # phrases in one self_correction list
MAX_PHRASE_CHARS = 100  # characters in one phrase
MAX_ONE_OF = 1_000  # replies in one one_of list
MAX_JSON_FIELDS = 100  # names in one json_required list

RedFlagPreset = Literal["paper", "relaxed", "strict"]
PRESET_NAMES: tuple[str, ...] = get_args(RedFlagPreset)
DEFAULT_PRESET: RedFlagPreset = "paper"

_WORD_START = re.compile(r"\w")
_CONTENT = re.compile(r"[^\W_]")  # a letter or a digit, in any script
_FENCE = re.compile(r"```json[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)  # as the judge reads JSON
_DETAIL_CHARS = 40


@dataclass(frozen=True, slots=True)
class RedFlag:
    reason: str  # one of the constants above, optionally "format: detail"
    detail: str = ""

    @property
    def label(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True, slots=True)
class Answer:
    """A parsed, canonicalised answer. Votes match on `key`; `value` is what the task uses."""

    key: str
    value: AnswerValue = None
    # borda: the sample's candidates in order as (key, value), this answer first; () for one answer
    ranking: tuple[tuple[str, AnswerValue], ...] = ()


@dataclass(frozen=True, slots=True)
class RedFlagChecks:
    """The opt-in checks beyond length and format. None = not set: a preset's value, else off.

    - min_output_chars: at least N letters or digits (whitespace, punctuation and markup do not
      count: '...' and '```' have none); 0 = off;
    - max_empty_line_share: at most this share (0..1) of the reply's lines, outer whitespace
      stripped, may be blank (whitespace only); 1 = off;
    - self_correction: phrases that discard a reply (case-insensitive, whole words); () = off;
    - starts_with / ends_with: the reply, stripped of outer whitespace, starts / ends with this text;
    - json_required: the reply is a JSON object (the whole reply, else its one ```json block) with
      these top-level fields (() = any JSON object);
    - one_of: the reply, stripped of outer whitespace, is exactly one of these.
    """

    min_output_chars: int | None = None
    max_empty_line_share: float | None = None
    self_correction: tuple[str, ...] | None = None
    starts_with: str | None = None
    ends_with: str | None = None
    json_required: tuple[str, ...] | None = None
    one_of: tuple[str, ...] | None = None

    def over(self, base: RedFlagChecks) -> RedFlagChecks:
        """These checks on top of `base` (a preset's): each one set here replaces base's."""
        return replace(base, **{f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None})

    @property
    def is_empty(self) -> bool:
        """Whether no check is set."""
        return all(getattr(self, f.name) is None for f in fields(self))


#: what each preset adds to the paper's length and format red flags (docs/specs/red-flags.md)
PRESETS: dict[str, RedFlagChecks] = {
    "paper": RedFlagChecks(),
    "relaxed": RedFlagChecks(min_output_chars=1),
    "strict": RedFlagChecks(min_output_chars=1, max_empty_line_share=0.5, self_correction=SELF_CORRECTION_PHRASES),
}


def preset_checks(name: str | None, own: RedFlagChecks | None = None) -> RedFlagChecks:
    """The checks of preset `name` (None: the default, paper) with `own` on top; ValueError for an
    unknown preset."""
    preset = PRESETS.get(name or DEFAULT_PRESET)
    if preset is None:
        raise ValueError(f"unknown red-flag preset {name!r} (known: {', '.join(PRESET_NAMES)})")
    return own.over(preset) if own is not None else preset


def phrase_problem(phrases: Iterable[str]) -> str | None:
    """Why `phrases` cannot be a self_correction list, or None."""
    items = list(phrases)
    if not items:
        return "list at least one phrase (or write false to turn the check off)"
    if len(items) > MAX_PHRASES:
        return f"at most {MAX_PHRASES} phrases (got {len(items)})"
    for phrase in items:
        if not phrase.strip():
            return "a phrase cannot be blank"
        if len(phrase) > MAX_PHRASE_CHARS:
            return f"a phrase has at most {MAX_PHRASE_CHARS} characters ({short(phrase)} has {len(phrase)})"
    return None


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of `phrases` in `fold(text)`: as literal text (never as a regex), as
    whole words (a phrase that starts or ends with a letter or digit does not match inside a longer
    word), any run of whitespace for a space, ’ for '. The phrases form a trie, so a search costs
    about one step per character of the text whatever the number of phrases."""
    root = _Node()
    for phrase in {" ".join(fold(p).split()) for p in phrases}:
        node = root
        for index, char in enumerate(phrase):
            unit = r"\s+" if char == " " else "['’]" if char in "'’" else re.escape(char)
            if index == 0 and _WORD_START.match(char):
                unit += r"(?<!\w\w)"  # the character before the phrase is not part of a word
            node = node.children.setdefault(unit, _Node())
        node.end = r"(?!\w)" if _WORD_START.match(phrase[-1]) else ""
    return re.compile(root.regex())


@dataclass
class _Node:
    """A node of the phrase trie: the next units, and the check after a phrase that ends here."""

    children: dict[str, _Node] = field(default_factory=dict)
    end: str | None = None

    def regex(self) -> str:
        alternatives = [unit + child.regex() for unit, child in sorted(self.children.items())]
        if self.end is not None:
            alternatives.append(self.end)  # after the longer phrases that share this prefix
        if not alternatives:
            return "(?!)"  # no phrase: matches nothing
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def fold(text: str) -> str:
    """`text` as phrases are searched in: lower case, so that matching ignores case."""
    return text.lower()


def short(value: object, limit: int = _DETAIL_CHARS) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class RedFlagRules:
    """Rules applied to every sample before the task parses it (format): length, empty replies,
    forbidden patterns, then the opt-in `checks`."""

    max_output_tokens: int | None = 750
    must_not_match: tuple[str, ...] = ()
    checks: RedFlagChecks = RedFlagChecks()
    _compiled: tuple[UntrustedPattern, ...] = field(init=False, repr=False, compare=False)
    _correction: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _one_of: frozenset[str] | None = field(init=False, repr=False, compare=False)
    _any_checks: bool = field(init=False, repr=False, compare=False)  # whether `_checked` can flag anything

    def __post_init__(self) -> None:
        patterns = tuple(UntrustedPattern(p, "must_not_match pattern") for p in self.must_not_match)
        object.__setattr__(self, "_compiled", patterns)
        phrases = self.checks.self_correction
        if phrases:
            problem = phrase_problem(phrases)
            if problem is not None:
                raise ValueError(f"self_correction: {problem}")
        object.__setattr__(self, "_correction", phrase_pattern(phrases) if phrases else None)
        one_of = self.checks.one_of
        object.__setattr__(self, "_one_of", frozenset(one_of) if one_of is not None else None)
        c = self.checks
        active = (
            bool(c.min_output_chars)
            or (c.max_empty_line_share is not None and c.max_empty_line_share < 1)
            or self._correction is not None
            or c.starts_with is not None
            or c.ends_with is not None
            or c.json_required is not None
            or self._one_of is not None
        )
        object.__setattr__(self, "_any_checks", active)

    @classmethod
    def preset(
        cls,
        name: str | None,
        *,
        max_output_tokens: int | None = 750,
        must_not_match: tuple[str, ...] = (),
        checks: RedFlagChecks | None = None,
    ) -> RedFlagRules:
        """The rules of preset `name` (None: paper) with `checks` on top; ValueError for an unknown one."""
        return cls(max_output_tokens, must_not_match, preset_checks(name, checks))

    def check(self, completion: Completion) -> RedFlag | None:
        """The first red flag this completion raises before parsing, or None (what the engine uses):
        `_raised`'s first, without a generator for every sample (the engine's hot path)."""
        if completion.finish_reason == "length":
            return RedFlag(TRUNCATED)
        limit = self.max_output_tokens
        if limit is not None and completion.output_tokens is not None and completion.output_tokens > limit:
            return RedFlag(TOO_LONG, f">{limit} tokens")
        text = completion.text
        if not text or text.isspace():
            return RedFlag(EMPTY)
        if self._compiled or self._any_checks:
            return next(self._raised(completion), None)
        return None

    def check_all(self, completion: Completion) -> list[RedFlag]:
        """Every red flag this completion raises before parsing (the first is what `check` returns)."""
        return list(self._raised(completion))

    def _raised(self, completion: Completion) -> Iterator[RedFlag]:
        if completion.finish_reason == "length":
            yield RedFlag(TRUNCATED)
        limit = self.max_output_tokens
        if limit is not None and completion.output_tokens is not None and completion.output_tokens > limit:
            yield RedFlag(TOO_LONG, f">{limit} tokens")
        text = completion.text
        if not text or text.isspace():
            yield RedFlag(EMPTY)
            return
        for pattern in self._compiled:
            try:
                found = pattern.search(text)
            except PatternTimeout as exc:
                yield timeout_flag(exc)
                break  # the reply is discarded: the other patterns could each take as long again
            if found is not None:
                yield RedFlag(FORBIDDEN, pattern.pattern)
        yield from self._checked(text)

    def _checked(self, text: str) -> Iterator[RedFlag]:
        checks = self.checks
        stripped = text.strip()
        least = checks.min_output_chars
        if least and not _at_least(_CONTENT, stripped, least):
            yield RedFlag(TOO_SHORT, "no letter or digit" if least == 1 else f"fewer than {least} letters or digits")
        share = checks.max_empty_line_share
        if share is not None and share < 1:
            lines = stripped.split("\n")
            empty = sum(1 for line in lines if not line.strip())
            if empty > share * len(lines):
                yield RedFlag(EMPTY_LINES, f"{empty} of {len(lines)} lines empty (at most {share:.0%})")
        if self._correction is not None:
            folded = fold(text)
            found = self._correction.search(folded)
            if found is not None:  # show the reply's own text where folding kept the length
                span = text if len(folded) == len(text) else folded
                yield RedFlag(SELF_CORRECTION, short(span[found.start() : found.end()]))
        if checks.starts_with is not None and not stripped.startswith(checks.starts_with):
            yield RedFlag(MISSING_MARKER, f"does not start with {short(checks.starts_with)}")
        if checks.ends_with is not None and not stripped.endswith(checks.ends_with):
            yield RedFlag(MISSING_MARKER, f"does not end with {short(checks.ends_with)}")
        if checks.json_required is not None:
            problem = json_fields_problem(text, checks.json_required)
            if problem is not None:
                yield RedFlag(JSON_FIELDS, problem)
        if self._one_of is not None and stripped not in self._one_of:
            yield RedFlag(NOT_ONE_OF, short(stripped))


def timeout_flag(exc: PatternTimeout) -> RedFlag:
    """The red flag of a reply a pattern from outside ran past its time bound on."""
    return RedFlag(REGEX_TIMEOUT, f"{exc.what} {short(exc.pattern)}")


def _at_least(pattern: re.Pattern[str], text: str, count: int) -> bool:
    """Whether `pattern` matches at least `count` times in `text` (stops scanning once it has)."""
    return sum(1 for _ in islice(pattern.finditer(text), count)) >= count


def json_fields_problem(text: str, required: Iterable[str]) -> str | None:
    """Why `text` is not a JSON object with the `required` top-level fields, or None. JSON is read
    as answers are: the whole text, else its one ```json fenced block; never repaired."""
    try:
        value = load_json(text)
    except ValueError:
        blocks = _FENCE.findall(text)
        if len(blocks) != 1:
            return "not JSON and no ```json block" if not blocks else f"{len(blocks)} ```json blocks (expected one)"
        try:
            value = load_json(blocks[0])
        except ValueError:
            return "the ```json block is not valid JSON"
    if not isinstance(value, dict):
        return "not a JSON object"
    missing = [name for name in required if name not in value]
    if not missing:
        return None
    named = ", ".join(repr(name) for name in missing[:3]) + (
        f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    )
    return f"missing {named}"
