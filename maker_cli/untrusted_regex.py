"""Patterns from outside, matched against text from outside, with a time bound on every match.

A spec's `answer.regex`, `red_flags.must_not_match`, `red_flags.require` and input `pattern`s,
`--answer-regex`, and the pattern arguments of the MCP tools are written by someone else, and they
are matched against a model's reply. Python's `re` backtracks without limit and holds the GIL while
it does: `(a|aa)+$` against forty a's and a '!' runs for minutes, hangs `maker vote` at 100% CPU and
blocks every other call of `maker serve-mcp`.

Every such pattern is compiled here with the third-party `regex` module (in its `re`-compatible
mode, VERSION0), and every match passes `timeout=MATCH_TIMEOUT_S`: a match that runs longer raises
`PatternTimeout`. What a timeout means is the caller's: while a sample is judged it is a
`regex_timeout` red flag (`maker_cli.core.redflags.REGEX_TIMEOUT`); in an MCP tool, a tool error.
Matches also release the GIL (`concurrent=True`), so a tool that runs in a worker thread leaves the
server's event loop free while it matches.

`regex` writes a counted repeat out in full when it compiles it (`x{4294967294}` asks for gigabytes
where `re` asks for nothing), so a pattern whose counted repeats would add more than
`MAX_REPEAT_ITEMS` items is refused before it is compiled, and compiled patterns are cached here
(128) instead of in `regex`'s own cache (500).

The project's own fixed patterns stay with `re`: they are written to be linear.
"""

from __future__ import annotations

import re
from functools import lru_cache

import regex

__all__ = ["MATCH_TIMEOUT_S", "MAX_REPEAT_ITEMS", "PatternTimeout", "UntrustedPattern"]

#: Seconds one matching call (a search, a full match, or every match of one reply) may run. A sane
#: pattern takes microseconds on a reply of any length the red flags let through; a backtracking
#: one is cut off here, so a sample costs at most this much per pattern. The `regex` module checks
#: its clock every so often, so a cut-off match ends a little after the bound (about 0.3–0.45 s).
MATCH_TIMEOUT_S = 0.25

#: Items a pattern's counted repeats may add when `regex` writes them out: `[0-9a-f]{64}` adds 63,
#: `(?:x{10}){10}` about 100; `{0,N}`, `{1,N}`, `*` and `+` add nothing, whatever N. `regex` spends about
#: 270 bytes an item, so a pattern at the limit takes about 0.3 MB more.
MAX_REPEAT_ITEMS = 1_000

_SHOWN = 40  # characters of a pattern shown in a message
_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")  # a counted repeat {m}, {m,}, {m,n} or {,n}
_BRACED_ESCAPES = ("p{", "P{", "N{", "x{")  # \p{L}, \N{name}, \x{263a}: braces that are not a repeat


class PatternTimeout(TimeoutError):
    """A pattern from outside ran past `MATCH_TIMEOUT_S` on one text. `what` names the pattern's
    field (`must_not_match`, `require`, `regex`, ...); the message is one line."""

    def __init__(self, what: str, pattern: str) -> None:
        self.what = what
        self.pattern = pattern
        super().__init__(f"{what} {_short(pattern)} ran longer than {MATCH_TIMEOUT_S:g} s (it backtracks)")


@lru_cache(maxsize=128)
def _compiled(pattern: str) -> regex.Pattern[str]:
    if repeated_items(pattern) > MAX_REPEAT_ITEMS:
        raise ValueError(
            f"its counted repeats write out more than {MAX_REPEAT_ITEMS} items (use smaller counts, or {{0,N}})"
        )
    return regex.compile(pattern, regex.VERSION0, cache_pattern=False)


def repeated_items(pattern: str) -> int:
    """An upper estimate of the items `regex` adds to `pattern` when it writes its counted repeats
    out: an atom is one item, a group the sum of its contents (all branches), and an atom counted
    `{m,...}` adds m - 1 copies of itself. It reads the syntax loosely (escapes, sets, groups,
    counts) and over-counts rather than under-counts; it stops once past `MAX_REPEAT_ITEMS`."""
    totals = [0]  # the items of each open group so far, the innermost last
    last = 0  # the items of the atom just read: what a count repeats
    added = 0
    i = 0
    while i < len(pattern) and added <= MAX_REPEAT_ITEMS:
        char = pattern[i]
        count = _COUNT.match(pattern, i) if char == "{" else None
        if count is not None and (count[1] or count[2]):
            digits = count[1] or "0"
            times = max(1, int(digits) if len(digits) <= 7 else 10**7)  # past the limit, short of int()'s
            added += last * (times - 1)
            totals[-1] += last * (times - 1)
            last *= times
            i = count.end()
            continue
        if char == "(":
            totals.append(0)
            last, i = 0, i + 1
            continue
        if char == ")" and len(totals) > 1:
            last = totals.pop()
        elif char == "\\":
            i += 1
            if pattern[i : i + 2] in _BRACED_ESCAPES:  # skip to the closing brace (the end if none)
                closing = pattern.find("}", i)
                i = closing if closing >= 0 else len(pattern)
            last = 1
        elif char == "[":
            i = _set_end(pattern, i)
            last = 1
        else:
            last = 0 if char in "|*+?" else 1
        totals[-1] += last
        i += 1
    return added


def _set_end(pattern: str, start: int) -> int:
    """The index of the `]` that closes the set opening at `start` (the end if none does)."""
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":  # a leading ] is a member
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


class UntrustedPattern:
    """A pattern from outside, compiled with `regex`; every match is bounded by `MATCH_TIMEOUT_S`.

    `UntrustedPattern(text, what)` raises ValueError (`invalid {what} '...': {why}`) for a pattern
    `regex` cannot compile; each match raises `PatternTimeout` when it runs past the bound.
    """

    __slots__ = ("_compiled", "pattern", "what")

    def __init__(self, pattern: str, what: str = "pattern") -> None:
        try:
            self._compiled = _compiled(pattern)
        except (regex.error, ValueError, OverflowError, RecursionError) as exc:
            raise ValueError(f"invalid {what} {pattern!r}: {exc}") from None
        self.pattern = pattern
        self.what = what

    def __repr__(self) -> str:
        return f"UntrustedPattern({self.pattern!r}, {self.what!r})"

    @property
    def groupindex(self) -> dict[str, int]:
        """The named groups and their numbers."""
        return dict(self._compiled.groupindex)

    def search(self, text: str) -> regex.Match[str] | None:
        """The first match anywhere in `text`, or None."""
        try:
            return self._compiled.search(text, timeout=MATCH_TIMEOUT_S, concurrent=True)
        except TimeoutError:
            raise PatternTimeout(self.what, self.pattern) from None

    def fullmatch(self, text: str) -> regex.Match[str] | None:
        """A match of the whole of `text`, or None."""
        try:
            return self._compiled.fullmatch(text, timeout=MATCH_TIMEOUT_S, concurrent=True)
        except TimeoutError:
            raise PatternTimeout(self.what, self.pattern) from None

    def last(self, text: str) -> regex.Match[str] | None:
        """The last of the non-overlapping matches in `text`, or None; the bound covers them all."""
        found = None
        try:
            for found in self._compiled.finditer(text, timeout=MATCH_TIMEOUT_S, concurrent=True):  # noqa: B007
                pass
        except TimeoutError:
            raise PatternTimeout(self.what, self.pattern) from None
        return found


def _short(pattern: str) -> str:
    text = repr(pattern)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
