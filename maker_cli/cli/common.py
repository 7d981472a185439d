"""Small pieces several commands share: provider construction, vote config, --input parsing."""

from __future__ import annotations

from typing import Any

from maker_cli.errors import UsageError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maker_cli.settings import Settings


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


def vote_config(settings: Settings, *, rules: Any = None, **flags: Any):  # -> VoteConfig
    """A VoteConfig from flags (None = not given) over settings."""
    from maker_cli.engine import VoteConfig
    from maker_cli.redflags import RedFlagRules

    def pick(name: str) -> Any:
        value = flags.get(name)
        return value if value is not None else getattr(settings, name)

    return VoteConfig(
        k=pick("k"),
        max_samples=pick("max_samples"),
        eager=pick("eager"),
        first_temperature=pick("first_temperature"),
        temperature=pick("temperature"),
        rules=rules if rules is not None else RedFlagRules(max_output_tokens=settings.max_output_tokens),
        record_samples=bool(flags.get("record_samples", False)),
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
