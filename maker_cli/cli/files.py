"""Files the commands write for the user (exports, reports): all or nothing."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from maker_cli.errors import UsageError


@contextlib.contextmanager
def atomic_text_file(output: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """Write into a temporary file next to `output`, then put it in place: never half a file (a
    failure or an interruption leaves `output` as it was). The file is opened first, so a path that
    cannot be written fails before any work. An OSError is one line (UsageError, exit 2)."""
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline=newline)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        os.replace(partial, output)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
