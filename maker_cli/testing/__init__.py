"""Test doubles that ship with maker, for its own tests, scripts and users' tests.

`FakeOpenAIServer` is an OpenAI-compatible HTTP server on 127.0.0.1 (stdlib only) with scripted
answers and fault injection: point any OpenAI-compatible client at `srv.base_url`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maker_cli.testing.fake_server import (
        FAULT_KINDS,
        FakeChoice,
        FakeOpenAIServer,
        Responder,
        count_words,
        fixed_responder,
    )

__all__ = [
    "FAULT_KINDS",
    "FakeChoice",
    "FakeOpenAIServer",
    "Responder",
    "count_words",
    "fixed_responder",
]


def __getattr__(name: str) -> object:  # lazy, so `python -m maker_cli.testing.fake_server` runs cleanly
    if name in __all__:
        from maker_cli.testing import fake_server

        return getattr(fake_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
