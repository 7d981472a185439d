"""The MCP server: estimate, vote, validate, calibrate and configure as tools for AI assistants.

Built on the official SDK (`mcp.server.MCPServer`); `maker serve-mcp` runs it over stdio or
streamable HTTP. The tools (`maker_cli.mcp.tools`) are thin layers over the library the CLI uses and
return typed results (`maker_cli.mcp.schemas`). Arguments a tool does not take are refused by name,
and argument errors come back as one line (`StrictTool`). Spending: `maker_cli.mcp.guard`.

This package imports mcp (about 0.4 s): only `maker serve-mcp` and code that builds a server load it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp_types import ToolAnnotations
from pydantic import ValidationError

from maker_cli import __version__
from maker_cli._types import JSONValue
from maker_cli.config.settings import Settings
from maker_cli.core.events import Listener
from maker_cli.mcp.decompose_tool import DESCRIPTION as DECOMPOSE_DESCRIPTION
from maker_cli.mcp.session import Session
from maker_cli.mcp.tools import MakerTools
from maker_cli.specs.loader import describe_errors

if TYPE_CHECKING:
    from mcp.server.context import LifespanContextT, RequestT
    from mcp.server.mcpserver.context import Context

INSTRUCTIONS = """maker runs MAKER (arXiv:2511.09030): reliable answers from an LLM by voting.
A step is decided when one answer has k more votes than any other; malformed samples are discarded.
Free tools: maker_estimate (k, reliability, cost of a job from p), maker_validate (check one response),
maker_calibrate with labelled responses, maker_decompose with strategy 'sequential'. Tools that spend
money on model calls: maker_vote, maker_calibrate with a model and maker_decompose (recursive: a task
split into a workflow, every split voted); each call and the whole session are capped (see
maker_configure). The
model 'sim:p=0.9,answer=42' is a free simulated model for trying things out."""


class StrictTool(Tool):
    """A tool that refuses arguments it does not take (naming them) and reports bad ones in one line."""

    async def run(
        self,
        arguments: dict[str, JSONValue],
        context: Context[LifespanContextT, RequestT],
        convert_result: bool = False,
    ) -> object:  # the tool's result (untyped in the SDK)
        known = set(self.parameters.get("properties", {}))
        unknown = sorted(set(arguments) - known)
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise ToolError(
                f"{self.name}: unknown argument{'s' if len(unknown) > 1 else ''} {names} "
                f"(it takes: {', '.join(sorted(known))})"
            )
        try:
            self.fn_metadata.validate_arguments(arguments)
        except ValidationError as exc:
            raise ToolError(f"{self.name}: {describe_errors(exc, 'arguments').removeprefix('arguments: ')}") from None
        return await super().run(arguments, context, convert_result)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[LogLevel, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level_named(name: str) -> LogLevel:
    """`name` as the SDK's log level type; ValueError for another name."""
    for level in LOG_LEVELS:
        if level == name:
            return level
    raise ValueError(f"log level {name!r}: not one of {', '.join(LOG_LEVELS)}")


READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)
# not read-only, so that clients ask before a call that spends money
SPENDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
SETS = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

DESCRIPTIONS = {
    "maker_decompose": DECOMPOSE_DESCRIPTION,
    "maker_estimate": (
        "Estimate a MAKER job before running it. Free: no model call. From steps and p (probability that one "
        "valid sample is correct, must be > 0.5) returns the vote margin k (k_min for the target unless k is "
        "given), P(all steps correct), expected votes/samples/calls with percentiles, tokens and dollar cost "
        "(give output_tokens and a model or prices), wall time (give latency_s), the risk of a sample cap and a "
        "comparison over m. The same fields as `maker estimate --json`."
    ),
    "maker_vote": (
        "Get one reliable answer by first-to-ahead-by-k voting: samples a model until one answer leads every "
        "other by k; malformed samples (red flags: too long, wrong format, forbidden pattern) are discarded, "
        "never voted. SPENDS MONEY on a real model: each call is capped at mcp_max_samples samples and "
        "mcp_max_cost_usd dollars (see maker_configure) and refused up front when the worst case exceeds the "
        "dollar cap, and the whole session is capped too (session_remaining_usd says what is left); the result "
        "reports spent_usd. Give prompt (+ system, answer_regex) or task (a YAML question spec path inside the "
        "server's working directory) with inputs. Undecided (decided=false) is an outcome, "
        "not an error. model 'sim:p=0.9,answer=42' is a free simulated model for trying it out."
    ),
    "maker_validate": (
        "Check one response against red-flag and format rules, as the voting engine would. Free: no model call. "
        "Rules: answer_regex (named group 'answer') or json_path (+ json_type), canonical normalisation, allowed "
        "values, require, must_not_match patterns, and the output-token limit (give output_tokens from the "
        "provider's usage). Returns valid, every red flag with its reason, and the extracted answer."
    ),
    "maker_calibrate": (
        "Measure p (probability that one valid sample is correct) and the valid rate, with 95% Wilson "
        "intervals, and with steps the recommended k for a target (from the lower bound of p). Two modes: "
        "responses = labelled [{response, expected}] plus answer rules (free, no model call); or task = "
        "'hanoi' (with disks), a question spec path (with items) or a sequence spec path (with inputs; steps "
        "are drawn along its reference solver's path) plus model and samples, which SPENDS MONEY and is capped "
        "like maker_vote."
    ),
    "maker_configure": (
        "Read or set session defaults used by later calls to this server: model, k, max_samples, temperatures, "
        "max_output_tokens, concurrency, target, prices, and the spending caps mcp_max_samples and "
        "mcp_max_cost_usd (per tool call). Call with no arguments to read the effective configuration. Raise "
        "the caps only when the user asked for it; a server started with --lock-caps refuses changes to the "
        "caps and the prices."
    ),
}


def build_server(
    settings: Settings,
    *,
    root: Path | None = None,
    allowed_dirs: tuple[Path, ...] = (),
    lock_caps: bool = False,
    trust_spec_code: bool = False,
    max_session_cost: float | None = None,
    log_level: str = "WARNING",
    listeners: Iterable[Listener] = (),
) -> MCPServer:
    """The MCP server with the five maker tools over one session (settings, overrides, spend).

    `root` (default: the working directory) and `allowed_dirs` are the folders specs may be read
    from; `trust_spec_code` lets sequence specs run `reference: FILE.py:function`;
    `max_session_cost` caps the dollars all calls together may spend; `listeners` hear the events
    of every vote, calibration and decomposition the tools run (the metrics of `serve-mcp --metrics-port`).
    """
    session = Session(
        base=settings,
        root=(root or Path.cwd()).resolve(),
        allowed=tuple(Path(d).resolve() for d in allowed_dirs),
        lock_caps=lock_caps,
        trust_spec_code=trust_spec_code,
        session_cap_usd=max_session_cost,
        listeners=tuple(listeners),
    )
    tools = MakerTools(session)
    registered = []
    for name, fn, hints in (
        ("maker_estimate", tools.estimate, READ_ONLY),
        ("maker_vote", tools.vote, SPENDS),
        ("maker_validate", tools.validate, READ_ONLY),
        ("maker_calibrate", tools.calibrate, SPENDS),
        ("maker_decompose", tools.decompose, SPENDS),
        ("maker_configure", tools.configure, SETS),
    ):
        tool = StrictTool.from_function(
            fn, name=name, description=DESCRIPTIONS[name], annotations=hints, structured_output=True
        )
        tool.parameters["additionalProperties"] = False
        registered.append(tool)
    return MCPServer(
        "maker",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level=log_level_named(log_level),
        tools=registered,
    )
