"""The engine's typed events as JSON lines (`--events FILE`, `events=` in the API) and as log lines (`-v`).

One JSON object per line, schema version `SCHEMA_VERSION`, documented field by field in
docs/events.md; `event_record` is the one place an event becomes that object. Every line carries
`v`, `t` (unix time), `event`, `run_id`, `node` and `step`; the rest depends on the event.

- Model text is never written unless asked (`text=True`, `--events-text`), and then JSON-escaped
  (ASCII only, so no control character reaches a terminal running `tail -f`) and cut at
  `TEXT_LIMIT` characters. Messages and red-flag details are one line, redacted (`secrets.redact`)
  and cut too.
- A line is written and flushed as its event happens: `tail -f` shows each event at once, and a
  crash loses none. What that costs the engine is measured by scripts/bench_events.py
  (BENCHMARKS.md, "Event log").
- A log that cannot be written any more (a full disk, a reader of stdout that left) stops with one
  warning; the job goes on.
- The file is appended to: a resumed run continues its log, and several jobs can share one file
  (`run_id` tells them apart; a vote or a calibration gets an id of its own, `vote-...` or
  `calibration-...`, which no store holds).
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TextIO

from maker_cli._types import JSONObject
from maker_cli.core.events import (
    SCOPE,
    BranchDiscarded,
    CallFailed,
    Event,
    Listener,
    Retried,
    RoundFinished,
    SampleFinished,
    SampleStarted,
    Scope,
    StepDecided,
    current_scope,
)
from maker_cli.errors import UsageError
from maker_cli.secrets import redact

SCHEMA_VERSION = 1
TEXT_LIMIT = 4000  # characters of a sample's text kept with text=True
MESSAGE_LIMIT = 500  # characters of an error message or a red flag's detail
STDOUT = "-"

EventsArg = str | Path | TextIO | None
"""Where events go: a file path (appended to), "-" for stdout, an open text stream, or None (nowhere)."""

LOG = logging.getLogger("maker")
_ALPHABET = "abcdefghjkmnpqrstvwxyz0123456789"  # as the store's run ids


def new_job_id(kind: str) -> str:
    """An id for the events of a job that has no stored run: `vote-YYYYMMDD-xxxxxx`, `calibration-...`."""
    return f"{kind}-{time.strftime('%Y%m%d', time.gmtime())}-{''.join(secrets.choice(_ALPHABET) for _ in range(6))}"


@contextmanager
def job_scope(run_id: str | None, node: str | None = None) -> Iterator[Scope]:
    """Events emitted inside belong to `run_id` (and `node`); the scope before is back afterwards."""
    scope = Scope(run_id, node)
    token = SCOPE.set(scope)
    try:
        yield scope
    finally:
        SCOPE.reset(token)


# --------------------------------------------------------------------------- the records


def _message(text: str) -> str:
    one = " ".join(redact(text).split())
    return one if len(one) <= MESSAGE_LIMIT else one[: MESSAGE_LIMIT - 1] + "…"


@lru_cache(maxsize=4096)
def _answer(key: str | None) -> str | None:
    """An answer key as the log writes it: redacted like the samples' text (a reply can echo a key).
    Answers repeat, so each is redacted once (the cache is cleared when a log opens)."""
    return None if key is None else redact(key)


def _fill(event: Event, record: JSONObject, text: bool) -> None:
    """Add the fields of `event`'s kind to `record` (the most frequent kinds first)."""
    if isinstance(event, SampleFinished):
        c, flag = event.completion, event.red_flag
        record["sample"] = event.sample
        record["answer"] = _answer(event.key)
        record["red_flag"] = flag.reason if flag is not None else None
        record["red_flag_detail"] = _message(flag.detail) if flag is not None and flag.detail else None
        record["correct"] = event.correct
        record["confidence"] = event.confidence
        record["input_tokens"] = c.input_tokens
        record["output_tokens"] = c.output_tokens
        record["cached_tokens"] = c.cached_tokens
        record["finish_reason"] = c.finish_reason
        record["latency_s"] = c.latency_s
        record["cost_usd"] = c.cost_usd
        if text:
            body = redact(c.text)
            record["text"] = body[:TEXT_LIMIT]
            record["text_truncated"] = len(body) > TEXT_LIMIT
    elif isinstance(event, SampleStarted):
        record["n"] = event.n
        record["temperature"] = event.temperature
    elif isinstance(event, RoundFinished):
        record["round"] = event.round
        record["leader"] = event.leader
        record["margin"] = event.margin
        record["k"] = event.k
        record["leader"] = _answer(event.leader)
        record["votes"] = {_answer(key): n for key, n in event.tallies.items()}
    elif isinstance(event, StepDecided):
        r = event.result
        record["decision"] = r.status.value
        record["answer"] = _answer(r.winner)
        record["stopped"] = r.stopped.value if r.stopped is not None else None
        record["samples"] = r.samples
        record["valid"] = r.valid
        record["red_flagged"] = r.samples - r.valid
        record["red_flags"] = dict(r.red_flags)
        record["errors"] = r.errors
        record["retries"] = r.retries
        record["rounds"] = r.rounds
        record["votes"] = {_answer(key): n for key, n in sorted(r.tallies.items(), key=lambda kv: -kv[1])}
        record["input_tokens"] = r.input_tokens
        record["output_tokens"] = r.output_tokens
        record["cached_tokens"] = r.cached_tokens
        record["cost_usd"] = r.cost_usd
        record["wall_s"] = round(r.wall_s, 6)
        if r.clusters is not None:  # a matching step: what matching answers cost (part of the above)
            record["matching_calls"] = r.match_calls
            record["matching_tokens"] = r.match_tokens
            record["matching_cost_usd"] = r.match_cost_usd
    elif isinstance(event, Retried):
        record["retries"] = event.retries
    elif isinstance(event, CallFailed):
        record["retries"] = event.retries
        record["message"] = _message(event.message)
        record["kind"] = event.kind
    elif isinstance(event, BranchDiscarded):
        record["samples"] = event.samples
        record["cost_usd"] = event.cost_usd
        record["decided"] = event.decided


# event class -> its name in the log
NAMES: dict[type, str] = {
    SampleStarted: "sample_started",
    SampleFinished: "sample_finished",
    Retried: "retried",
    CallFailed: "call_failed",
    RoundFinished: "round_finished",
    StepDecided: "step_decided",
    BranchDiscarded: "branch_discarded",
}
EVENT_NAMES = tuple(NAMES.values())


def _step_of(event: Event) -> int:
    return event.result.step if isinstance(event, StepDecided) else event.step


def event_record(event: Event, scope: Scope | None = None, *, text: bool = False, t: float | None = None) -> JSONObject:
    """An event as the JSON object its log line holds (docs/events.md). `scope`: the run and node
    it belongs to (default: the current one); `text`: include a sample's text; `t`: its unix time."""
    where = scope if scope is not None else SCOPE.get()
    record: JSONObject = {
        "v": SCHEMA_VERSION,
        "t": time.time() if t is None else t,
        "event": NAMES[type(event)],
        "run_id": where.run_id,
        "node": where.node,
        "step": _step_of(event),
    }
    _fill(event, record, text)
    return record


# --------------------------------------------------------------------------- the JSONL writer


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _encoder() -> Callable[[JSONObject], str]:
    """One line of compact ASCII JSON. json.dumps builds its C encoder again for every call (about
    half the time of a line here); this builds it once, and falls back to json's own encoder where
    that C function is missing or differs."""
    plain = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain
    try:
        chunks = make(None, _not_json, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False)
        probe: JSONObject = {"a": [1, 2.5, None, True, "é\n"], "b": {"c": -0.0001}}
        if "".join(chunks(probe, 0)) != plain(probe):
            return plain
    except (TypeError, ValueError):  # another signature in another Python
        return plain

    def encode(record: JSONObject) -> str:
        return "".join(chunks(record, 0))

    return encode


_ENCODE = _encoder()


class EventLog:
    """A listener that writes every event as one JSON line to `stream` and flushes it at once. Use
    it as a context manager, or `close()` it (that closes a file it opened)."""

    def __init__(self, stream: TextIO, *, text: bool = False, owned: bool = False, name: str = "") -> None:
        self.stream = stream
        self.text = text
        self.name = name or getattr(stream, "name", "events")
        self.lines = 0
        self.to_stdout = stream is sys.stdout  # the command's own output then goes to stderr
        self._owned = owned
        self._encode = _ENCODE
        self._write = stream.write
        self._flush = stream.flush
        self._closed = False
        _answer.cache_clear()  # the secrets known now (a provider registers its keys before a job)

    def __call__(self, event: Event) -> None:
        if self._closed:
            return
        line = self._encode(event_record(event, SCOPE.get(), text=self.text))
        try:
            self._write(line + "\n")
            self._flush()  # `tail -f` sees the line now, and a crash loses none
        except OSError as exc:
            self._failed(exc)
            return
        self.lines += 1

    def _failed(self, exc: OSError) -> None:
        """A log that cannot be written (a full disk, a reader of stdout that left) stops; the job
        goes on: it is what is paid for, and the store still records it."""
        self._closed = True
        LOG.warning("--events %s: cannot write (%s): no more events are written", self.name, exc.strerror or exc)
        if self._owned:
            with suppress(OSError):  # what could not be flushed is lost either way
                self.stream.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owned:
            with suppress(OSError):  # every line was flushed as it was written
                self.stream.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_event_log(target: EventsArg, *, text: bool = False, json_out: bool = False) -> EventLog | None:
    """An EventLog for `target` (None: no log). A path is opened for appending now, so a file that
    cannot be written is a UsageError before anything is spent; "-" is stdout, refused with
    `json_out` (stdout then holds exactly one JSON object)."""
    if target is None:
        return None
    if not isinstance(target, (str, Path)):
        return EventLog(target, text=text)
    if str(target) == STDOUT:
        if json_out:
            raise UsageError(
                "--events - writes the events to stdout, which --json keeps for its one JSON object: "
                "give --events a file"
            )
        return EventLog(sys.stdout, text=text, name="stdout")
    path = Path(target).expanduser()
    try:
        if path.parent != Path() and not path.parent.is_dir():
            raise FileNotFoundError(f"no folder {path.parent}")
        stream = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--events {target}: cannot open it for writing ({exc.strerror or exc})") from None
    return EventLog(stream, text=text, owned=True, name=str(path))


@contextmanager
def event_listeners(
    listeners: Iterable[Listener] = (), events: EventsArg = None, *, text: bool = False, json_out: bool = False
) -> Iterator[list[Listener]]:
    """`listeners` plus an EventLog for `events` (opened now, closed on the way out)."""
    log = open_event_log(events, text=text, json_out=json_out)
    if log is None:
        yield list(listeners)
        return
    with log:
        yield [*listeners, log]


# --------------------------------------------------------------------------- log lines (-v)


def _short(key: str | None, width: int = 60) -> str:
    if key is None:
        return "-"
    one = " ".join(key.split())
    return repr(one if len(one) <= width else one[: width - 1] + "…")


class EventLogger:
    """A listener that says the events on the `maker` logger: a call that failed after its retries
    as a warning; decided steps and discarded speculative votes at INFO (`maker -v`); every sample,
    call and round at DEBUG (`maker -vv`). Retries are said as they happen by the retry policy."""

    def __init__(self, logger: logging.Logger = LOG) -> None:
        self.logger = logger
        self.debug = logger.isEnabledFor(logging.DEBUG)

    def __call__(self, event: Event) -> None:
        log = self.logger
        node = current_scope().node
        where = f"{node}: " if node else ""
        if isinstance(event, CallFailed):
            log.warning(
                "%sstep %d: a call failed after %d retries (no vote): %s",
                where,
                event.step,
                event.retries,
                event.message,
            )
        elif isinstance(event, StepDecided):
            r = event.result
            cost = f"${r.cost_usd:.6f}" if r.cost_usd is not None else "cost unknown"
            if r.decided:
                log.info(
                    "%sstep %d decided: %s (%d of %d samples valid, %d rounds, %s)",
                    where,
                    r.step,
                    _short(r.winner),
                    r.valid,
                    r.samples,
                    r.rounds,
                    cost,
                )
            else:
                log.info(
                    "%sstep %d undecided (%s) after %d samples, votes %s",
                    where,
                    r.step,
                    r.stopped.value if r.stopped else "stopped",
                    r.samples,
                    dict(r.tallies),
                )
        elif isinstance(event, BranchDiscarded):
            log.info("%sstep %d: a speculative vote discarded (%d samples spent)", where, event.step, event.samples)
        elif not self.debug:
            return
        elif isinstance(event, SampleFinished):
            if event.red_flag is not None:
                log.debug("%sstep %d sample %d red-flagged: %s", where, event.step, event.sample, event.red_flag.label)
            else:
                log.debug("%sstep %d sample %d: %s", where, event.step, event.sample, _short(event.key))
        elif isinstance(event, SampleStarted):
            log.debug(
                "%sstep %d: asking for %d sample(s) at temperature %g", where, event.step, event.n, event.temperature
            )
        elif isinstance(event, RoundFinished):
            log.debug(
                "%sstep %d round %d: leader %s ahead by %d (k=%d)",
                where,
                event.step,
                event.round,
                _short(event.leader),
                event.margin,
                event.k,
            )
        elif isinstance(event, Retried):
            log.debug("%sstep %d: a call succeeded after %d retries", where, event.step, event.retries)


def log_listeners(logger: logging.Logger = LOG) -> list[Listener]:
    """[EventLogger] when `logger` says INFO (`maker -v`), else none: no events are built for it."""
    return [EventLogger(logger)] if logger.isEnabledFor(logging.INFO) else []
