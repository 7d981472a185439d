"""Reading YAML that nobody vouched for: bounded in size, depth and aliases.

Every spec, router config, config file and calibration file goes through `read_yaml_file` /
`parse_yaml`:

- files over `MAX_BYTES` are refused before they are parsed (and only regular files are read, so
  `/dev/zero` or a folder is a clear error, not a hang);
- nesting deeper than `MAX_DEPTH` is refused while composing (no RecursionError);
- an alias may be used at most `MAX_ALIASES` times, and the document expanded through its aliases
  may hold at most `MAX_NODES` nodes, so an alias bomb ("billion laughs") is refused at once;
  an alias that contains itself is refused;
- duplicate keys in a mapping are errors (a silently ignored field is a bug).

Every problem is a SpecError whose message names the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from maker_cli._types import JSONValue
from maker_cli.errors import SpecError

if TYPE_CHECKING:
    from yaml.error import Mark

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 200_000


def parse_yaml(text: str, source: str) -> JSONValue:
    """YAML text into plain data within the limits; SpecError naming `source` otherwise."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError(f"{source}: larger than {MAX_BYTES // (1024 * 1024)} MiB (the limit for YAML files)")
    import yaml  # PyYAML (about 11 ms) only when a file is parsed: `maker estimate` and `--help` skip it

    from maker_cli._yaml_loader import BoundedLoader, LimitError, expanded_size

    try:
        loader = BoundedLoader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters before any parsing
        raise SpecError(f"{source}: YAML error: {_first_line(str(exc))}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        return loader.construct_document(node)
    except LimitError as exc:
        raise SpecError(f"{source}: refused{_where(exc.mark)}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SpecError(f"{source}: YAML syntax error{_where(mark)}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - past the reader (above) PyYAML's errors are all marked
        raise SpecError(f"{source}: YAML error: {_first_line(str(exc))}") from None
    except ValueError as exc:  # a scalar PyYAML reads as a date or a tagged number, but cannot build: 2021-02-30
        raise SpecError(f"{source}: YAML value error: {exc} (quote the value to keep it as text)") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops nesting long before this
        raise SpecError(f"{source}: nested too deeply") from None
    finally:
        loader.dispose()


def _where(mark: Mark | None) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def read_text_file(path: str | Path, what: str = "file", limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes; SpecError naming it otherwise."""
    source = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SpecError(f"{source}: no such file") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(f"{source}: is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"{source}: not a regular file (a {what} must be one)")
    if info.st_size > limit:
        raise SpecError(f"{source}: {info.st_size:,} bytes, over the {limit:,}-byte limit for a {what}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise SpecError(f"{source}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise SpecError(f"{source}: over the {limit:,}-byte limit for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{source}: not UTF-8 text") from None


def read_yaml_file(path: str | Path, what: str = "YAML file") -> JSONValue:
    """Read and parse a YAML file within the limits."""
    return parse_yaml(read_text_file(path, what), str(path))
