"""In-process MCP calls for tests: one client session per batch of tool calls."""

from __future__ import annotations

from pathlib import Path

import anyio
from mcp import Client

from maker_cli.config.settings import load_settings
from maker_cli.mcp.server import build_server


def server_for(root: Path, **options: object):
    """A server whose working directory is `root` (settings from the isolated test home)."""
    return build_server(load_settings(), root=root, **options)


def calls(server, *requests):
    """Run tool calls in order over one in-process client session; returns the CallToolResults."""

    async def go():
        async with Client(server) as client:
            return [await client.call_tool(name, args) for name, args in requests]

    return anyio.run(go)


def call(server, name, **args):
    return calls(server, (name, args))[0]


def ok(result) -> dict:
    assert not result.is_error, result.content[0].text
    return result.structured_content


def error(result) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text
