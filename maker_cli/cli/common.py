"""Small pieces several commands share: provider construction and --input parsing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from maker_cli.errors import UsageError

if TYPE_CHECKING:
    from maker_cli.config.settings import Settings


def build_provider(settings: Settings, model: str | None = None):  # -> Provider
    from maker_cli.providers.factory import make_provider

    return make_provider(
        model or settings.model,
        api_base=settings.api_base,
        router_config=settings.router_config,
        timeout=settings.timeout,
        max_attempts=settings.max_attempts,
        price_in=settings.price_in,
        price_out=settings.price_out,
    )


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    """`--input key=value` pairs into a dict; a value may contain '='; `@file` reads a file."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--input needs key=value, got '{pair}'")
        if value.startswith("@"):
            from pathlib import Path

            path = Path(value[1:])
            if not path.is_file():
                raise UsageError(f"--input {key}: file not found: {path}")
            value = path.read_text(encoding="utf-8")
        out[key.strip()] = value
    return out
