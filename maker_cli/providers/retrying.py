"""The retry policy for model calls: bounded attempts, server hints first, else backoff with jitter.

A provider says which errors are worth another attempt (`is_retryable`) and how long the server
asked it to wait (`server_wait`, e.g. from `retry_after_seconds`); `call_with_retries` does the
rest with tenacity. A retry is never a vote: the caller reads `Attempts.retries` and reports it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

from maker_cli.secrets import redact

T = TypeVar("T")
LOG = logging.getLogger("maker")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6  # attempts per call, the first included
    initial_wait: float = 0.5  # seconds before the first retry when the server gives no hint
    max_wait: float = 60.0  # cap on one wait, a server's Retry-After included
    jitter: float = 0.5  # up to this many seconds added at random to each backoff wait

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(slots=True)
class Attempts:
    """Counts the attempts of one call; read it after the call succeeded or failed."""

    count: int = 0

    @property
    def retries(self) -> int:
        return max(self.count - 1, 0)


class _ServerHintOrBackoff(wait_base):
    """Wait what the server asked for (capped); without a hint, initial * 2^(n-1) plus random jitter."""

    def __init__(self, policy: RetryPolicy, server_wait: Callable[[BaseException], float | None]) -> None:
        self.policy = policy
        self.server_wait = server_wait

    def __call__(self, retry_state: RetryCallState) -> float:
        policy = self.policy
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        hint = self.server_wait(error) if error is not None else None
        if hint is not None:
            return min(max(hint, 0.0), policy.max_wait)
        exponent = min(retry_state.attempt_number - 1, 30)
        backoff = policy.initial_wait * 2.0**exponent + random.uniform(0.0, policy.jitter)
        return min(backoff, policy.max_wait)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    is_retryable: Callable[[BaseException], bool],
    server_wait: Callable[[BaseException], float | None] = lambda error: None,
    attempts: Attempts | None = None,
) -> T:
    """Await `call()` until it succeeds, fails with a non-retryable error, or attempts run out.

    The last error is re-raised as it is; `attempts.count` says how many attempts were made.
    """
    attempts = attempts if attempts is not None else Attempts()
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_ServerHintOrBackoff(policy, server_wait),
        retry=retry_if_exception(is_retryable),
        before_sleep=_say_retrying(policy),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            attempts.count = attempt.retry_state.attempt_number
            return await call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


def _say_retrying(policy: RetryPolicy) -> Callable[[RetryCallState], None]:
    """A retry is said as it happens (a warning on the `maker` logger: stderr, never stdout)."""

    def say(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        reason = redact(" ".join(str(error).split())[:160]) if error is not None else "no answer"
        LOG.warning(
            "retrying a call (attempt %d of %d) in %.1f s: %s",
            state.attempt_number + 1,
            policy.max_attempts,
            wait,
            reason,
        )

    return say


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds a server asked us to wait: `retry-after-ms`, else `Retry-After` (seconds or HTTP date).

    None when there is no usable header. `headers` must look names up case-insensitively (as
    httpx.Headers does) or hold lower-case names.
    """
    if not headers:
        return None
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return None if value is None else str(value)
