"""Command-line options several commands share: one definition, one help text each.

`@shared(*names)` adds the named options to a command (after its own parameters); the command
takes them as `**options` and hands the job settings among them to the library with
`job_flags(options)` — the keyword arguments of `maker_cli.vote/run/calibrate` are named like these
flags. Validation of values happens once, in `maker_cli.config.job`.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from maker_cli._types import JSONObject, OptionValue
from maker_cli.bounded_yaml import read_text_file
from maker_cli.errors import SpecError, UsageError

if TYPE_CHECKING:
    from maker_cli.core.events import Listener
    from maker_cli.jobs.event_log import EventLog
    from maker_cli.jobs.metrics import MetricsEndpoint

Model = Annotated[str | None, typer.Option("--model", "-m", help="litellm model string, or sim:... (simulated).")]
K = Annotated[int | None, typer.Option("--k", "-k", min=1, help="Vote margin: the first answer ahead by k wins.")]
Target = Annotated[float | None, typer.Option("--target", "-t", help="Target P(every step right) for k_min.")]
P = Annotated[float | None, typer.Option("--p", help="P(one valid sample is correct), for k_min and the estimate.")]
Calibration = Annotated[
    Path | None, typer.Option("--calibration", dir_okay=False, help="Calibration file from `maker calibrate`.")
]
MaxSamples = Annotated[
    int | None, typer.Option("--max-samples", min=1, help="Sample cap per step (reaching it = undecided).")
]
MaxRedFlags = Annotated[
    int | None,
    typer.Option(
        "--max-red-flags",
        min=1,
        help="Red-flagged samples that end a step undecided (default: a rule of k and the valid rate).",
    ),
]
Eager = Annotated[int | None, typer.Option("--eager", min=0, help="Extra samples per round (cost for latency).")]
Method = Annotated[
    str | None,
    typer.Option(
        "--method",
        help="Voting method: ahead-by-k (the paper's, the default; the only one with its guarantee), first-to-k, "
        "cisc (confidence-weighted votes) or borda (ranked answers).",
    ),
]
EarlyStopVotes = Annotated[
    int | None,
    typer.Option(
        "--early-stop-votes",
        min=1,
        help="Early stopping (any method, with --early-stop-confidence): decide for the leader after this many "
        "valid votes if its samples are confident enough.",
    ),
]
EarlyStopConfidence = Annotated[
    float | None,
    typer.Option(
        "--early-stop-confidence",
        help="Early stopping: the mean sample confidence (0-1) the leader's samples need (with --early-stop-votes).",
    ),
]
Concurrency = Annotated[int | None, typer.Option("--concurrency", "-c", min=1, help="Calls in flight at once.")]
ApiBase = Annotated[str | None, typer.Option("--api-base", help="Base URL of an OpenAI-compatible server.")]
RouterConfig = Annotated[Path | None, typer.Option("--router-config", help="litellm Router config (YAML).")]
Timeout = Annotated[float | None, typer.Option("--timeout", help="Seconds per call.")]
MaxOutputTokens = Annotated[
    int | None, typer.Option("--max-output-tokens", min=1, help="Red-flag responses longer than this many tokens.")
]
RedFlags = Annotated[
    str | None,
    typer.Option(
        "--red-flags",
        metavar="PRESET",
        help="Red-flag preset: paper (length + format, the default), relaxed (+ replies without a letter or "
        "digit) or strict (+ self-correction phrases, over 50% blank lines); the spec's own checks still apply.",
    ),
]
Temperature = Annotated[float | None, typer.Option("--temperature", min=0, help="Temperature after the first sample.")]
FirstTemperature = Annotated[
    float | None, typer.Option("--first-temperature", min=0, help="First sample's temperature.")
]
PriceIn = Annotated[float | None, typer.Option("--price-in", min=0, help="USD per million input tokens.")]
PriceOut = Annotated[float | None, typer.Option("--price-out", min=0, help="USD per million output tokens.")]
PromptCache = Annotated[
    bool,
    typer.Option(
        "--prompt-cache",
        help="Mark the system message cacheable (cache_control: ephemeral) for providers that need it (Anthropic).",
    ),
]
MaxCost = Annotated[
    float | None, typer.Option("--max-cost", min=0, help="USD cap: refuse if expected above; stop at it.")
]
Store = Annotated[Path | None, typer.Option("--store", help="SQLite run store (default: user data dir; MAKER_STORE).")]
Inputs = Annotated[
    list[str], typer.Option("--input", "-i", help="Task input as key=value (repeatable; @file reads one).")
]
TrustSpecCode = Annotated[
    bool,
    typer.Option("--trust-spec-code", help="Let a spec's `reference: FILE.py:function` run (code next to the spec)."),
]
PromptFile = Annotated[
    Path | None,
    typer.Option(
        "--prompt",
        dir_okay=False,
        help="A prompt file (YAML: system/user templates) instead of Hanoi's built-in prompt or the spec's own.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (nothing else there).")]
Events = Annotated[
    str | None,
    typer.Option(
        "--events",
        metavar="FILE",
        help="Append every engine event to FILE as one JSON line, as it happens ('-': stdout, not with --json). "
        "Schema: docs/events.md.",
    ),
]
EventsText = Annotated[
    bool, typer.Option("--events-text", help="With --events: include each sample's text (off by default).")
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        metavar="PORT",
        help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics while the job runs (0: a free port; the "
        "URL is said on stderr and, with --json, as metrics_url). See docs/metrics.md.",
    ),
]
MetricsAddr = Annotated[
    str | None,
    typer.Option(
        "--metrics-addr",
        metavar="ADDR",
        help="With --metrics-port: the address to listen on (default 127.0.0.1; no authentication: keep it local).",
    ),
]
MetricsLinger = Annotated[
    float | None,
    typer.Option(
        "--metrics-linger",
        min=0,
        metavar="SECONDS",
        help="With --metrics-port: keep serving the final metrics this long after the job ends (about a scrape "
        "interval), so that Prometheus sees its totals; Ctrl-C ends it early.",
    ),
]

LogSamples = Annotated[
    str | None, typer.Option("--log-samples", help="Raw samples to keep: all, contested (default), none.")
]
Speculate = Annotated[
    int | None,
    typer.Option(
        "--speculate",
        min=0,
        max=64,
        help="Start up to D next steps on the leading candidate before a step is decided (0: off).",
    ),
]
AdaptiveKOpt = Annotated[
    bool,
    typer.Option(
        "--adaptive-k",
        help="Re-choose k before each step from p estimated on the run's own votes (a lower bound; keeps the "
        "target). Not with --k or --speculate.",
    ),
]
KMinFloor = Annotated[
    int | None,
    typer.Option("--k-min-floor", min=1, help="With --adaptive-k: never vote with k below this (default 2)."),
]
KeepGoing = Annotated[bool, typer.Option("--keep-going", help="Continue past a wrong step (see if the run recovers).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Start even if the expected cost exceeds --max-cost.")]
Resume = Annotated[str | None, typer.Option("--resume", help="Continue a stored run from its last committed step.")]

# name -> (annotation, default), in the order `--help` lists them; typer reads both
OPTIONS: dict[str, tuple[object, object]] = {
    "model": (Model, None),
    "k": (K, None),
    "target": (Target, None),
    "p": (P, None),
    "calibration": (Calibration, None),
    "prompt": (PromptFile, None),
    "max_samples": (MaxSamples, None),
    "max_red_flags": (MaxRedFlags, None),
    "eager": (Eager, None),
    "method": (Method, None),
    "early_stop_votes": (EarlyStopVotes, None),
    "early_stop_confidence": (EarlyStopConfidence, None),
    "concurrency": (Concurrency, None),
    "api_base": (ApiBase, None),
    "router_config": (RouterConfig, None),
    "timeout": (Timeout, None),
    "max_output_tokens": (MaxOutputTokens, None),
    "red_flags": (RedFlags, None),
    "temperature": (Temperature, None),
    "first_temperature": (FirstTemperature, None),
    "price_in": (PriceIn, None),
    "price_out": (PriceOut, None),
    "prompt_cache": (PromptCache, False),
    "store": (Store, None),
    "log_samples": (LogSamples, None),
    "keep_going": (KeepGoing, False),
    "adaptive_k": (AdaptiveKOpt, False),
    "k_min_floor": (KMinFloor, None),
    "speculate": (Speculate, None),
    "max_cost": (MaxCost, None),
    "yes": (Yes, False),
    "resume": (Resume, None),
    "events": (Events, None),
    "events_text": (EventsText, False),
    "metrics_port": (MetricsPort, None),
    "metrics_addr": (MetricsAddr, None),
    "metrics_linger": (MetricsLinger, None),
    "json_out": (Json, False),
}
METRICS_OPTIONS = ("metrics_port", "metrics_addr", "metrics_linger")
# the options `maker run hanoi` and `maker run task` share
RUN_OPTIONS = tuple(OPTIONS)

# a typer command: any parameters, any result
Command = Callable[..., object]


def shared(*names: str, table: Mapping[str, tuple[object, object]] | None = None) -> Callable[[Command], Command]:
    """Add the shared options `names` (from `table`, else `OPTIONS`) to a command whose signature
    ends with `**options`."""
    table = {**OPTIONS, **(table or {})}

    def decorate(func: Command) -> Command:
        signature = inspect.signature(func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=table[name][1], annotation=table[name][0])
            for name in names
        ]

        @functools.wraps(func)
        def command(*args: object, **kwargs: object) -> object:
            return func(*args, **kwargs)

        # what typer reads (inspect.signature); typeshed declares no __signature__ on functions
        command.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        return command

    return decorate


JOB_FLAGS = (
    "model",
    "k",
    "target",
    "max_samples",
    "max_red_flags",
    "eager",
    "method",
    "early_stop_votes",
    "early_stop_confidence",
    "concurrency",
    "api_base",
    "router_config",
    "timeout",
    "max_output_tokens",
    "red_flags",
    "temperature",
    "first_temperature",
    "price_in",
    "price_out",
    "max_cost",
    "prompt_cache",
)


def job_flags(values: dict[str, OptionValue], names: tuple[str, ...] = JOB_FLAGS) -> dict[str, OptionValue]:
    """The job settings among a command's parameters (None = not given; an unset on/off flag is not given)."""
    return {name: None if values[name] is False else values[name] for name in names if name in values}


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    """`--input key=value` pairs into a dict; a value may contain '='; `@file` reads a file."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--input needs key=value, got '{pair}'")
        if value.startswith("@"):
            try:
                value = read_text_file(value[1:], "input file")
            except SpecError as exc:
                raise UsageError(f"--input {key.strip()}: {exc}") from None
        out[key.strip()] = value
    return out


def event_log(values: Mapping[str, OptionValue]) -> AbstractContextManager[EventLog | None]:
    """The command's --events log, opened now (a file that cannot be written is exit 2 before anything
    is spent; `-` is refused with --json), closed when the block ends; a null context without --events."""
    from maker_cli.jobs.event_log import open_event_log  # imports asyncio: only commands that run jobs need it

    target, text = values.get("events"), bool(values.get("events_text"))
    if text and target is None:
        raise UsageError("--events-text goes with --events FILE")
    log = open_event_log(target, text=text, json_out=bool(values.get("json_out")))
    return log if log is not None else nullcontext()


@contextmanager
def metrics_endpoint(values: Mapping[str, OptionValue]) -> Iterator[MetricsEndpoint | None]:
    """The command's --metrics-port endpoint (None without it): listening now (a busy port is exit 2
    before anything is spent), its URL said on stderr. When the block has reported the job (it ends,
    or exits with the job's code), --metrics-linger seconds more of the final metrics; then closed."""
    port, addr, linger = values.get("metrics_port"), values.get("metrics_addr"), values.get("metrics_linger")
    if port is None:
        if addr is not None or linger is not None:
            raise UsageError("--metrics-addr and --metrics-linger go with --metrics-port PORT")
        yield None
        return
    from maker_cli.jobs.metrics import DEFAULT_ADDR, serve_metrics  # prometheus_client: only when asked

    endpoint = serve_metrics(port=port, addr=addr or DEFAULT_ADDR)
    print(f"metrics: {endpoint.url}", file=sys.stderr, flush=True)
    reported = False
    try:
        yield endpoint
        reported = True
    except typer.Exit:
        reported = True
        raise
    finally:
        if linger and reported:
            print(
                f"metrics: serving the final metrics for {linger:g} s more (Ctrl-C ends it)",
                file=sys.stderr,
                flush=True,
            )
            with suppress(KeyboardInterrupt):  # the job has ended and said so: Ctrl-C only ends the wait
                time.sleep(linger)
        endpoint.close()


def with_metrics(record: JSONObject, endpoint: MetricsEndpoint | None) -> JSONObject:
    """A result's --json object, with `metrics_url` when the job served metrics."""
    return record if endpoint is None else {**record, "metrics_url": endpoint.url}


def listeners(*found: Listener | None) -> list[Listener]:
    """The given listeners (None: absent) and, with `maker -v`, the one that logs the events."""
    from maker_cli.jobs.event_log import log_listeners  # as above

    return [*(listener for listener in found if listener is not None), *log_listeners()]


def parse_steps_of(pairs: list[str]) -> dict[str, int]:
    """`--steps-of ID=N` pairs (N a whole number >= 1)."""
    found: dict[str, int] = {}
    for pair in pairs:
        node, sep, raw = pair.partition("=")
        if not sep or not node.strip() or not raw.strip().isdigit() or int(raw) < 1:
            raise UsageError(f"--steps-of takes ID=N with N a whole number >= 1, not {pair!r}")
        found[node.strip()] = int(raw)
    return found
