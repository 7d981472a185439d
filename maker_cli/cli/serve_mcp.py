"""`maker serve-mcp`: serve estimate, vote, validate, calibrate and configure to AI assistants (MCP).

stdio by default (what Claude Code, Claude Desktop and Cursor start); `--transport http` serves
streamable HTTP at http://HOST:PORT/mcp. Logs go to stderr, never to stdout (the stdio wire).
Imports stay light at module level: `maker --help` loads this file, and mcp loads only when the
command runs.
"""

from __future__ import annotations

import logging
import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from maker_cli.cli.app import config_path
from maker_cli.cli.app import log_level as root_log_level
from maker_cli.cli.logs import hand_over_to_root
from maker_cli.cli.options import metrics_endpoint
from maker_cli.config.settings import load_settings
from maker_cli.errors import UsageError

if TYPE_CHECKING:
    from mcp.server import MCPServer

HELP = (
    "Serve maker's tools to AI assistants over MCP: maker_estimate, maker_vote, maker_validate, "
    "maker_calibrate, maker_configure.\n\n"
    "Tools that call a model spend money and are capped per call: at most mcp_max_samples samples "
    "(default 50) and mcp_max_cost_usd dollars (default 0.50); all calls of one server together at most "
    "--max-session-cost dollars (default 5). Set MAKER_MCP_MAX_SAMPLES, MAKER_MCP_MAX_COST_USD, "
    "MAKER_MCP_MAX_SESSION_COST_USD or the config file to change the defaults.\n\n"
    "Claude Code: claude mcp add maker -- maker serve-mcp"
)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


class LogLevel(StrEnum):
    debug = "DEBUG"
    info = "INFO"
    warning = "WARNING"
    error = "ERROR"
    critical = "CRITICAL"


app = typer.Typer(add_completion=False)


@app.command("serve-mcp", help=HELP)
def serve_mcp(
    ctx: typer.Context,
    transport: Transport = typer.Option(
        Transport.stdio,
        "--transport",
        help="stdio, or http (streamable HTTP at /mcp).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="http: address to listen on (keep it local: no auth)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="http: port to listen on."),
    allow_dir: list[Path] = typer.Option(
        [],
        "--allow-dir",
        file_okay=False,
        help="Another folder task specs may be read from (repeatable).",
    ),
    lock_caps: bool = typer.Option(
        False,
        "--lock-caps",
        help="Refuse changes to the spending caps and prices through maker_configure.",
    ),
    max_session_cost: float | None = typer.Option(
        None,
        "--max-session-cost",
        min=0,
        help="USD all tool calls of this server may spend together (default: mcp_max_session_cost_usd, $5).",
    ),
    trust_spec_code: bool = typer.Option(
        False,
        "--trust-spec-code",
        help="Let sequence specs run `reference: FILE.py:function` (code next to the spec).",
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Session default model (else the settings)."),
    log_level: LogLevel | None = typer.Option(
        None, "--log-level", help="Log level (logs go to stderr; default: maker's -v/--log-level, else WARNING)."
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        metavar="PORT",
        help="Serve Prometheus metrics of every tool call's votes and samples at http://127.0.0.1:PORT/metrics "
        "(0: a free port, said on stderr). See docs/metrics.md.",
    ),
    metrics_addr: str | None = typer.Option(
        None,
        "--metrics-addr",
        metavar="ADDR",
        help="With --metrics-port: the address to listen on (default 127.0.0.1).",
    ),
) -> None:
    given = root_log_level(ctx)
    level = log_level.value if log_level is not None else logging.getLevelName(given or logging.WARNING)
    hand_over_to_root()  # the server logs through the root logger, in its own format
    logging.basicConfig(
        stream=sys.stderr,
        level=level,
        format="maker serve-mcp %(levelname)s %(name)s: %(message)s",
    )
    settings = load_settings(config_path(ctx), model=model)
    for folder in allow_dir:
        if not folder.is_dir():
            raise UsageError(f"--allow-dir {folder}: not a folder")
    if transport is Transport.http:
        _check_can_listen(host, port)
    from maker_cli.mcp.server import build_server  # imports mcp (about 0.4 s): only this command needs it

    session_cap = max_session_cost if max_session_cost is not None else settings.mcp_max_session_cost_usd
    served = {"metrics_port": metrics_port, "metrics_addr": metrics_addr}
    with metrics_endpoint(served) as metrics:
        server = build_server(
            settings,
            allowed_dirs=tuple(allow_dir),
            lock_caps=lock_caps,
            log_level=level,
            trust_spec_code=trust_spec_code,
            max_session_cost=session_cap,
            listeners=[metrics.listener] if metrics is not None else [],
        )
        _serve(server, transport, host, port)


def _serve(server: MCPServer, transport: Transport, host: str, port: int) -> None:
    if transport is Transport.stdio:
        server.run("stdio")
        return
    if host not in LOCAL_HOSTS:
        logging.getLogger("maker").warning(
            "listening on %s: the MCP endpoint has no authentication and its tools can spend money",
            host,
        )
    print(f"maker serve-mcp: streamable HTTP at http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    server.run("streamable-http", host=host, port=port, streamable_http_path="/mcp")


def _check_can_listen(host: str, port: int) -> None:
    """A busy port or an address this machine does not have is the user's to change (exit 2, one
    line) — uvicorn would log it and exit 3, the code for "undecided"."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port or --host)"
        ) from None
