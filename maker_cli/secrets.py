"""Keys in use never reach an output, an error, a log or the run store: `redact(text)` hides them.

A secret is any value maker knows to be one — the value of an environment variable whose name says
it holds one (a word of it is KEY, TOKEN, SECRET, PASSWORD, CREDENTIALS or AUTH), an `api_key` given to a
provider or written in a Router config (`register`) — and anything shaped like a key or a bearer
token, the user:password part of a URL and a secret-named parameter of its query (`?api_key=...`). Everything that prints or stores a message passes it
through `redact`: the CLI's error and warning lines, the messages a run stores, provider errors,
MCP tool errors.
"""

from __future__ import annotations

import os
import re

REDACTED = "[redacted]"
MIN_LENGTH = 6  # shorter values are not worth hiding (and would blank ordinary words)

_SECRET_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?|AUTH)(?:$|_)", re.IGNORECASE
)  # a word of the name: OPENAI_API_KEY, not KEYBOARD or XAUTHORITY
_SHAPES = re.compile(
    r"\b(?:sk|pk|rk|gsk|xai)-[A-Za-z0-9_\-]{6,}|\bBearer\s+\S+|\b(?:AKIA|ASIA)[A-Z0-9]{12,}"
    r"|\bxox[abpr]-[A-Za-z0-9\-]+|\bgh[pousr]_[A-Za-z0-9]{20,}|\bAIza[A-Za-z0-9_\-]{20,}",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")
# a secret in a URL's query: ?api_key=..., &token=..., &sig=... (the name's last word says so)
_QUERY_SECRET = re.compile(
    r"([?&](?:[A-Za-z0-9.\-]*[_.\-])?(?:api_?key|key|token|secret|password|passwd|auth|sig|signature|credentials?)=)"
    r"[^&#\s]+",
    re.IGNORECASE,
)
_registered: set[str] = set()


def register(value: str | None) -> None:
    """Remember a secret maker was given (an api_key argument, a Router deployment's key)."""
    if value and len(value) >= MIN_LENGTH:
        _registered.add(value)


def known() -> set[str]:
    """Every secret value maker knows of now: registered ones and secret-named environment values."""
    from_env = {value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= MIN_LENGTH}
    return _registered | from_env


def redact(text: str) -> str:
    """`text` with every known secret, key-shaped string and URL password replaced by [redacted]."""
    for value in sorted(known(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    text = _SHAPES.sub(REDACTED, text)
    text = _QUERY_SECRET.sub(rf"\1{REDACTED}", text)
    return _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
