"""Typed events the engine emits; the display, the store and the metrics subscribe to them.

Events are cheap slotted dataclasses, only built when someone listens. `tallies` fields are
read-only views of the live race counts, not copies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maker_cli.core.engine import StepResult
    from maker_cli.core.redflags import RedFlag
    from maker_cli.providers.base import Completion


@dataclass(frozen=True, slots=True)
class SampleStarted:
    step: int
    n: int
    temperature: float


@dataclass(frozen=True, slots=True)
class SampleFinished:
    step: int
    completion: Completion
    key: str | None  # the canonical answer voted for, None when red-flagged
    red_flag: RedFlag | None


@dataclass(frozen=True, slots=True)
class Retried:
    step: int
    retries: int  # failed attempts retried before this call succeeded or finally failed


@dataclass(frozen=True, slots=True)
class CallFailed:
    step: int
    message: str


@dataclass(frozen=True, slots=True)
class RoundFinished:
    step: int
    round: int
    tallies: dict[str, int]
    leader: str | None
    margin: int
    k: int


@dataclass(frozen=True, slots=True)
class StepDecided:
    result: StepResult


Event = SampleStarted | SampleFinished | Retried | CallFailed | RoundFinished | StepDecided
Listener = Callable[[Event], None]
