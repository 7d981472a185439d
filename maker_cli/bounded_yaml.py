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
from typing import Any

import yaml

from maker_cli.errors import SpecError

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 200_000


class _LimitError(yaml.YAMLError):
    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader with depth and alias limits and duplicate-key errors."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                event = self.peek_event()
                raise _LimitError(f"more than {MAX_ALIASES} aliases (*name)", event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _LimitError(f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the document with every alias expanded (memoised, so bombs are cheap to measure).

    Raises _LimitError for a node that contains itself."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # iterative post-order walk: (node, children pushed?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not expanded:
            if key in active:
                raise _LimitError("an alias refers to a node that contains it", node.start_mark)
            active.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in active and id(child) not in sizes:
                    raise _LimitError("an alias refers to a node that contains it", child.start_mark)
                stack.append((child, False))
            continue
        total = 1
        for child in children:
            total += sizes[id(child)]
            if total > MAX_NODES:
                raise _LimitError(f"more than {MAX_NODES:,} values once aliases are expanded", node.start_mark)
        sizes[key] = total
        active.discard(key)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml(text: str, source: str) -> Any:
    """YAML text into plain data within the limits; SpecError naming `source` otherwise."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError(f"{source}: larger than {MAX_BYTES // (1024 * 1024)} MiB (the limit for YAML files)")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except _LimitError as exc:
        raise SpecError(f"{source}: refused{_where(exc.mark)}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SpecError(f"{source}: YAML syntax error{_where(mark)}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: YAML error: {_first_line(str(exc))}") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops nesting long before this
        raise SpecError(f"{source}: nested too deeply") from None
    finally:
        loader.dispose()


def _where(mark: Any) -> str:
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


def read_yaml_file(path: str | Path, what: str = "YAML file") -> Any:
    """Read and parse a YAML file within the limits."""
    return parse_yaml(read_text_file(path, what), str(path))
