"""The YAML loader behind `maker_cli.bounded_yaml`: PyYAML's SafeLoader with depth and alias
limits, duplicate-key errors and a bound on the document expanded through its aliases. Imported
only when a file is parsed (PyYAML costs about 11 ms of start-up that `maker estimate` and
`maker --help` do not need)."""

from __future__ import annotations

from collections.abc import Hashable

import yaml
from yaml.error import Mark

from maker_cli._types import JSONValue
from maker_cli.bounded_yaml import MAX_ALIASES, MAX_DEPTH, MAX_NODES


class LimitError(yaml.YAMLError):
    def __init__(self, message: str, mark: Mark | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader with depth and alias limits and duplicate-key errors."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:  # types-PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise LimitError(f"more than {MAX_ALIASES} aliases (*name)", self._next_mark())
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise LimitError(f"nested more than {MAX_DEPTH} levels deep", self._next_mark())
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _next_mark(self) -> Mark:
        """Where the next event starts."""
        mark: Mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # types-PyYAML: unannotated
        return mark

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, JSONValue]:
        seen: set[object] = set()
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


def expanded_size(root: yaml.Node) -> int:
    """Nodes in the document with every alias expanded (memoised, so bombs are cheap to measure).

    Raises LimitError for a node that contains itself."""
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
                raise LimitError("an alias refers to a node that contains it", node.start_mark)
            active.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in active and id(child) not in sizes:
                    raise LimitError("an alias refers to a node that contains it", child.start_mark)
                stack.append((child, False))
            continue
        total = 1
        for child in children:
            total += sizes[id(child)]
            if total > MAX_NODES:
                raise LimitError(f"more than {MAX_NODES:,} values once aliases are expanded", node.start_mark)
        sizes[key] = total
        active.discard(key)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
