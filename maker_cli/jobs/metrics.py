"""Prometheus metrics of a job (`--metrics-port`; `MetricsListener` and `serve_metrics` in the API).

The metrics are counted from the engine's typed events, the same events the JSON-lines log writes
(`maker_cli.jobs.event_log`): one source. Every metric is documented in docs/metrics.md.

- **One registry per listener** (a `prometheus_client.CollectorRegistry` of its own, never the
  library's global default one), so tests and programs can run several jobs, each with its own
  metrics, in one process.
- **What they add up to.** At the end of a job the counters equal its `--json` totals: samples,
  valid votes, red flags by reason, tokens, cost, failed calls, retries, decided steps. With
  `--speculate`, samples, tokens, cost and `maker_steps_done` still equal them (a discarded
  branch's samples are spent and in the totals); valid votes and red flags are counted as they
  happen, so they include the discarded branches' ones that the totals leave out (as the event
  log does: docs/events.md).
- **Gauges are read when scraped** (`Gauge.set_function`): progress, k, the p estimate and the
  time left cost the engine nothing. They describe the latest job that started (`JobStarted`);
  in `maker serve-mcp` the counters add up over every tool call.
- **Cheap**: a sample costs a few counter increments (4–7 µs; BENCHMARKS.md, "Metrics").
- The endpoint is prometheus_client's own HTTP server (`start_http_server`) on a thread, by
  default on 127.0.0.1; port 0 takes a free port, which `MetricsEndpoint.url` says.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from contextlib import suppress
from types import TracebackType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest, start_http_server

from maker_cli.core.events import (
    BranchDiscarded,
    CallFailed,
    Event,
    JobStarted,
    Retried,
    RoundFinished,
    SampleFinished,
    SampleStarted,
    StepDecided,
    current_scope,
)
from maker_cli.core.redflags import (
    EMPTY,
    EMPTY_LINES,
    FORBIDDEN,
    FORMAT,
    JSON_FIELDS,
    MISSING_MARKER,
    NOT_ONE_OF,
    REGEX_TIMEOUT,
    SELF_CORRECTION,
    TOO_LONG,
    TOO_SHORT,
    TRUNCATED,
)
from maker_cli.errors import ProviderError, UsageError
from maker_cli.secrets import redact

__all__ = ["DEFAULT_ADDR", "MetricsEndpoint", "MetricsListener", "serve_metrics"]

DEFAULT_ADDR = "127.0.0.1"
LOCAL_ADDRS = ("127.0.0.1", "localhost", "::1")
LOG = logging.getLogger("maker")

# every red-flag reason the rules know, so each series exists (at 0) from the first scrape
RED_FLAG_REASONS = (
    TOO_LONG,
    TRUNCATED,
    FORMAT,
    FORBIDDEN,
    EMPTY,
    TOO_SHORT,
    EMPTY_LINES,
    SELF_CORRECTION,
    MISSING_MARKER,
    JSON_FIELDS,
    NOT_ONE_OF,
    REGEX_TIMEOUT,
)
# seconds: from a simulated model's milliseconds to a slow reasoning model's minutes
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
VOTE_BUCKETS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 50, 100, 200)
ROUND_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)
NAN = math.nan


class MetricsListener:
    """A listener (`listeners=[...]`) that counts a job's events into Prometheus metrics, in a
    registry of its own (`registry`; give one to share it). Serve them with `serve_metrics`, or
    read them with `exposition()`. Each metric is documented in docs/metrics.md."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._calls = Counter("maker_calls", "Model calls started (one call may ask for several samples).", registry=r)
        self._samples = Counter(
            "maker_samples", "Samples received and judged, red-flagged ones included (--json samples).", registry=r
        )
        self._valid = Counter("maker_valid_votes", "Valid samples: votes (--json valid).", registry=r)
        self._correct = Counter(
            "maker_correct_samples", "Calibration: valid samples whose answer was the known one.", registry=r
        )
        self._red_flags = Counter(
            "maker_red_flags", "Red-flagged samples, by reason (--json red_flag_reasons).", ["reason"], registry=r
        )
        self._call_errors = Counter(
            "maker_call_errors",
            "Calls that failed after their retries, by kind (never votes).",
            ["kind"],
            registry=r,
        )
        self._retries = Counter("maker_retries", "Failed attempts retried (--json retries).", registry=r)
        self._input_tokens = Counter("maker_input_tokens", "Input (prompt) tokens of the samples.", registry=r)
        self._output_tokens = Counter("maker_output_tokens", "Output tokens of the samples.", registry=r)
        self._cached_tokens = Counter(
            "maker_cached_tokens", "The part of the input tokens served from a prompt cache.", registry=r
        )
        self._cost = Counter(
            "maker_cost_usd", "USD spent on samples whose price is known (--json cost_usd).", registry=r
        )
        self._decided = Counter("maker_steps_decided", "Votes that ended decided.", registry=r)
        self._undecided = Counter(
            "maker_steps_undecided", "Votes that ended undecided (a sample, red-flag or budget cap).", registry=r
        )
        self._branches = Counter(
            "maker_speculative_branches_discarded", "--speculate: speculative votes thrown away.", registry=r
        )
        self._wasted_samples = Counter(
            "maker_speculative_wasted_samples",
            "--speculate: samples of discarded votes (in the totals too).",
            registry=r,
        )
        self._wasted_cost = Counter(
            "maker_speculative_wasted_cost_usd", "--speculate: USD of discarded votes (in the totals too).", registry=r
        )
        self._votes = Histogram(
            "maker_votes_per_step", "Valid votes a vote drew before it ended.", buckets=VOTE_BUCKETS, registry=r
        )
        self._rounds = Histogram(
            "maker_rounds_per_step", "Rounds a vote took before it ended.", buckets=ROUND_BUCKETS, registry=r
        )
        self._latency = Histogram(
            "maker_call_latency_seconds",
            "Seconds from a call's start to its answer, once per sample received.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._job = Info("maker_job", "The latest job: kind, run_id, task, model.", registry=r)
        for name, doc, read in (
            ("maker_steps_done", "Steps done of the latest job (a calibration: samples drawn).", self._steps_done),
            ("maker_steps_total", "Steps of the latest job (NaN: not known ahead).", self._steps_total),
            ("maker_k", "The vote margin k of the latest vote (NaN before any).", self._k_value),
            ("maker_estimated_p", "Estimated P(a valid sample is correct); NaN until known.", self.estimated_p),
            (
                "maker_seconds_left_estimate",
                "Seconds the latest job still needs, at its pace so far.",
                self.seconds_left,
            ),
        ):
            Gauge(name, doc, registry=r).set_function(read)
        # children and bound methods looked up once: the engine calls this for every event
        self._flag = {reason: self._red_flags.labels(reason) for reason in RED_FLAG_REASONS}
        self._error = {kind: self._call_errors.labels(kind) for kind in ProviderError.KINDS}
        self._sample_inc = self._samples.inc
        self._valid_inc = self._valid.inc
        self._in_inc = self._input_tokens.inc
        self._out_inc = self._output_tokens.inc
        self._cached_inc = self._cached_tokens.inc
        self._cost_inc = self._cost.inc
        self._observe_latency = self._latency.observe
        # the state the gauges read
        self._k: int | None = None
        self._total: int | None = None
        self._done = 0  # progress units since the latest job started, plus its steps done before
        self._done_at_start = 0
        self._started_at = time.monotonic()
        self._per_sample = False  # a calibration's progress is its samples, a vote's its decisions
        self._winner_votes = 0  # decided votes: votes for the winner, and all valid votes
        self._decided_votes = 0
        self._judged = 0  # calibration: valid samples compared with the known answer, and the correct ones
        self._judged_correct = 0

    # --- the events -------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if isinstance(event, SampleFinished):
            c = event.completion
            self._sample_inc()
            if c.input_tokens:
                self._in_inc(c.input_tokens)
            if c.cached_tokens:
                self._cached_inc(c.cached_tokens)
            if c.output_tokens:
                self._out_inc(c.output_tokens)
            if c.cost_usd:
                self._cost_inc(c.cost_usd)
            self._observe_latency(c.latency_s)
            flag = event.red_flag
            if flag is None:
                self._valid_inc()
                if event.correct is not None:
                    self._judged += 1
                    if event.correct:
                        self._judged_correct += 1
                        self._correct.inc()
            else:
                self._red_flag(flag.reason).inc()
            if self._per_sample:
                self._done += 1
        elif isinstance(event, SampleStarted):
            self._calls.inc()
        elif isinstance(event, RoundFinished):
            self._k = event.k
        elif isinstance(event, StepDecided):
            self._decision(event)
        elif isinstance(event, Retried):
            self._retries.inc(event.retries)
        elif isinstance(event, CallFailed):
            self._error.get(event.kind, self._error["other"]).inc()
            if event.retries:
                self._retries.inc(event.retries)
        elif isinstance(event, BranchDiscarded):
            self._branches.inc()
            self._wasted_samples.inc(event.samples)
            if event.cost_usd:
                self._wasted_cost.inc(event.cost_usd)
            if event.decided and not self._per_sample:
                self._done -= 1  # its decision had counted a step the run did not take

    def _decision(self, event: StepDecided) -> None:
        r = event.result
        self._votes.observe(r.valid)
        self._rounds.observe(r.rounds)
        if not r.decided or r.winner is None:
            self._undecided.inc()
            return
        self._decided.inc()
        self._winner_votes += r.tallies.get(r.winner, 0)
        self._decided_votes += r.valid
        if not self._per_sample:
            self._done += 1

    def _red_flag(self, reason: str) -> Counter:
        child = self._flag.get(reason)
        if child is None:  # a reason named by a newer rule: its own series from now on
            child = self._flag[reason] = self._red_flags.labels(reason)
        return child

    def job_started(self, job: JobStarted) -> None:
        """A job starts (`JobWatcher`): the gauges follow it from now on; the counters go on adding up."""
        self._total = job.steps_total
        self._done = self._done_at_start = job.steps_done
        self._per_sample = job.kind == "calibration"
        self._started_at = time.monotonic()
        if job.k is not None:
            self._k = job.k
        self._job.info(
            {
                "kind": job.kind,
                "run_id": current_scope().run_id or "",
                "task": redact(job.task or ""),
                "model": redact(job.model or ""),
            }
        )

    # --- what the gauges read ---------------------------------------------------------------------

    def _steps_done(self) -> float:
        return float(self._done)

    def _steps_total(self) -> float:
        return NAN if self._total is None else float(self._total)

    def _k_value(self) -> float:
        return NAN if self._k is None else float(self._k)

    def estimated_p(self) -> float:
        """P(a valid sample is correct) as measured so far: a calibration's correct / valid; else the
        votes for the winners over all valid votes of the decided steps (Wald's identity makes this
        ratio of sums consistent under the voting's stopping rule, if the winners are right). NaN
        before any."""
        if self._judged:
            return self._judged_correct / self._judged
        if self._decided_votes:
            return self._winner_votes / self._decided_votes
        return NAN

    def seconds_left(self) -> float:
        """The latest job's steps left times its time per step so far (NaN: no total, or no step yet)."""
        if self._total is None:
            return NAN
        left = self._total - self._done
        if left <= 0:
            return 0.0
        gained = self._done - self._done_at_start
        if gained <= 0:
            return NAN
        return left * (time.monotonic() - self._started_at) / gained

    def exposition(self) -> str:
        """The metrics in Prometheus' text format, as /metrics serves them."""
        return generate_latest(self.registry).decode("utf-8")


class MetricsEndpoint:
    """prometheus_client's HTTP server for a listener's registry, on a thread: `url` is where.
    `close()` (or the end of a `with` block) stops it."""

    def __init__(self, listener: MetricsListener, port: int = 0, addr: str = DEFAULT_ADDR) -> None:
        if not 0 <= port <= 65535:
            raise UsageError(f"--metrics-port {port}: a port is 0 (any free one) to 65535")
        try:
            self._server, self._thread = start_http_server(port, addr, registry=listener.registry)
        except OSError as exc:  # a busy port, an address this machine does not have
            raise UsageError(
                f"--metrics-port {port}: cannot listen on {addr}:{port} ({exc.strerror or exc}): "
                "pick another --metrics-port (0: any free one) or --metrics-addr"
            ) from None
        self.listener = listener
        self.addr = addr
        self.port: int = self._server.server_port
        self._closed = False
        if addr not in LOCAL_ADDRS:
            LOG.warning(
                "metrics on %s: the endpoint has no authentication; anyone who reaches it sees the job's "
                "model, task, counts and costs",
                addr,
            )

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port. At once: the server's loop notices a stop only when it
        wakes (every 0.5 s), so a connection wakes it."""
        if self._closed:
            return
        self._closed = True
        stopper = threading.Thread(target=self._server.shutdown, daemon=True)
        stopper.start()
        address = (str(self._server.server_address[0]), self.port)
        while stopper.is_alive():
            with suppress(OSError), socket.create_connection(address, timeout=0.2):
                pass
            stopper.join(0.01)
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsEndpoint:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def serve_metrics(
    listener: MetricsListener | None = None, *, port: int = 0, addr: str = DEFAULT_ADDR
) -> MetricsEndpoint:
    """Serve `listener`'s metrics (a new listener if none) at http://ADDR:PORT/metrics until closed;
    port 0 takes a free port (`endpoint.port`, `endpoint.url`). A port that cannot be listened on is
    a UsageError. Pass `endpoint.listener` in a job's `listeners`:

        with maker_cli.serve_metrics(port=9464) as endpoint:
            maker_cli.run(maker_cli.Hanoi(disks=10), model="sim:p=0.99", listeners=[endpoint.listener])
    """
    return MetricsEndpoint(listener if listener is not None else MetricsListener(), port, addr)
