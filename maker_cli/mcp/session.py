"""One MCP server process's state: settings and maker_configure changes, readable folders, spend.

Task specs are read only inside the server's working directory and the --allow-dir folders (links
resolved, so a link cannot lead outside). Error messages pass through `redact` (secrets,
credentials in URLs, folder paths) before a client sees them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError

from maker_cli._types import OptionValue
from maker_cli.bounded_yaml import read_text_file
from maker_cli.config.settings import Settings
from maker_cli.core.events import Listener
from maker_cli.errors import SpecError
from maker_cli.secrets import redact
from maker_cli.specs import AnySpec, parse_spec

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class Session:
    """Per-process state: settings plus maker_configure overrides, folders, caps and the spend so far."""

    base: Settings
    root: Path
    allowed: tuple[Path, ...] = ()
    lock_caps: bool = False
    trust_spec_code: bool = False
    session_cap_usd: float | None = None
    overrides: dict[str, OptionValue] = field(default_factory=dict)  # settings: name -> value
    spent_usd: float = 0.0
    listeners: tuple[Listener, ...] = ()  # hear the events of every tool call's job (--metrics-port)

    @property
    def settings(self) -> Settings:
        """The settings with this session's maker_configure changes (their source: 'session')."""
        if not self.overrides:
            return self.base
        settings = self.base.model_copy(update=self.overrides)
        settings._sources = {**self.base._sources, **dict.fromkeys(self.overrides, "session")}
        return settings

    @property
    def remaining_usd(self) -> float | None:
        """Dollars this session may still spend (None: no session cap)."""
        if self.session_cap_usd is None:
            return None
        return max(0.0, self.session_cap_usd - self.spent_usd)

    def call_cap(self) -> tuple[float, str]:
        """The dollar cap of the next call and its name: the per-call cap, or what the session has
        left if that is less. ToolError once the session's cap is used up."""
        cap = self.settings.mcp_max_cost_usd
        remaining = self.remaining_usd
        if remaining is not None and remaining <= 0:
            raise ToolError(
                f"the session's spending cap (${self.session_cap_usd:g}) is used up: ${self.spent_usd:.4g} "
                "spent; restart the server with a higher --max-session-cost if the user agrees"
            )
        if remaining is not None and remaining < cap:
            return (
                remaining,
                f"what the session has left (${remaining:.4g} of --max-session-cost ${self.session_cap_usd:g})",
            )
        return cap, f"the per-call cap mcp_max_cost_usd = ${cap:g}"

    def read_spec(self, given: str) -> AnySpec:
        """Load a spec from inside the allowed folders; errors name it as given, never a folder."""
        path = self.spec_path(given)
        try:
            text = read_text_file(path, "spec")
        except SpecError:
            raise ToolError(f"task spec {given.strip()!r} cannot be read as UTF-8 text within the size limit") from None
        spec = parse_spec(text, given.strip())  # errors name the spec as the client gave it
        spec._source = str(path)  # a solver file is found next to the real file
        return spec

    def spec_path(self, given: str, what: str = "task spec") -> Path:
        """The resolved path of a spec (or prompt) file inside the allowed folders (ToolError otherwise)."""
        name = given.strip()
        if not name.lower().endswith(SPEC_SUFFIXES):
            raise ToolError(f"{what} {name!r}: give the path of a .yaml or .yml file")
        path = (self.root / name).resolve()  # symlinks resolved: a link cannot lead outside
        if not any(path.is_relative_to(folder) for folder in (self.root, *self.allowed)):
            raise ToolError(
                f"{what} {Path(name).name!r} is outside the folders this server may read (its working "
                f"directory{' and the --allow-dir folders' if self.allowed else ''}); give a path relative to "
                "the working directory"
            )
        if not path.is_file():
            raise ToolError(f"{what} {name!r} not found (paths are relative to the server's working directory)")
        return path

    def redact(self, text: str) -> str:
        """Hide secrets (`maker_cli.secrets.redact`) and folder paths."""
        text = redact(text)
        places = [(str(self.root), ".")]
        places += [(str(p), f"<allowed folder {i + 1}>") for i, p in enumerate(self.allowed)]
        places += [(sys.prefix, "<python>"), (str(Path.home()), "~")]
        for path, label in sorted(places, key=lambda place: -len(place[0])):
            if len(path) > 1:
                text = text.replace(path, label)
        return text
