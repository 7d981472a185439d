"""`Any` is written in one module of maker_cli, `maker_cli._types`, as named aliases that each say why
nothing more precise is possible. Every other module (the testing helpers too) annotates with a
precise type, `object`, or one of those aliases; this keeps it so."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import maker_cli

PACKAGE = Path(maker_cli.__file__).parent
ALIASES = PACKAGE / "_types.py"
TYPING = {"typing", "typing_extensions"}


def any_uses(source: str) -> list[str]:
    """'line: how' for every way `source` names typing's Any (imports, names, typing.Any, and
    forward references in strings such as "dict[str, Any]")."""
    tree = ast.parse(source)
    typing_names = set(TYPING)  # what `import typing` / `import typing as t` binds
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            typing_names.update(a.asname or a.name for a in node.names if a.name in TYPING)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in TYPING:
            found += [f"{node.lineno}: from {node.module} import Any" for a in node.names if a.name == "Any"]
        elif isinstance(node, ast.Name) and node.id == "Any":
            found.append(f"{node.lineno}: Any")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "Any"
            and isinstance(node.value, ast.Name)
            and node.value.id in typing_names
        ):
            found.append(f"{node.lineno}: {node.value.id}.Any")
        for text, line in _forward_references(node):
            found += [f"{line}: {use.split(': ', 1)[1]} (in {text!r})" for use in _parsed_uses(text)]
    return list(dict.fromkeys(found))  # a nested subscript is walked twice


def _forward_references(node: ast.AST) -> list[tuple[str, int]]:
    """String constants where a type may be written: annotations and subscripts (Callable[..., "X"])."""
    holders: list[ast.expr | None] = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        holders += [a.annotation for a in every if a is not None]
        holders.append(node.returns)
    elif isinstance(node, ast.AnnAssign):
        holders.append(node.annotation)
    elif isinstance(node, ast.Subscript):
        holders.append(node.slice)
    return [
        (sub.value, sub.lineno)
        for holder in holders
        if holder is not None
        for sub in ast.walk(holder)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
    ]


def _parsed_uses(text: str) -> list[str]:
    try:
        return any_uses(text)
    except SyntaxError:  # a plain string, not a type
        return []


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path != ALIASES)


def test_no_module_but_the_aliases_names_any():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): uses
        for path in _modules()
        if (uses := any_uses(path.read_text(encoding="utf-8")))
    }
    assert not offenders, (
        "use a precise type, `object`, or a named alias from maker_cli/_types.py (add one there, with "
        f"its reason, only when nothing more precise is possible): {offenders}"
    )


def test_every_alias_says_why_nothing_more_precise_is_possible():
    body = ast.parse(ALIASES.read_text(encoding="utf-8")).body
    aliases = [node for node in body if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)]
    assert aliases
    for node in aliases:
        after = body[body.index(node) + 1] if node is not body[-1] else None
        reason = after.value.value if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) else None
        assert isinstance(reason, str) and reason.strip(), f"{ast.unparse(node)}: no docstring giving the reason"


@pytest.mark.parametrize(
    "source",
    [
        "from typing import Any",
        "from typing import TYPE_CHECKING, Any as A",
        "from typing_extensions import Any",
        "import typing\nx: typing.Any = 1",
        "import typing as t\ndef f() -> t.Any: ...",
        "def f(x: 'dict[str, Any]') -> None: ...",
        "from collections.abc import Callable\nF = Callable[[int], 'Any | None']",
        "if TYPE_CHECKING:\n    from typing import Any",
        "x = Any",
    ],
)
def test_the_check_finds_every_spelling(source):
    assert any_uses(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Any miss is a FORMAT red flag."""',
        "def f(x: object) -> 'int | None': ...",
        "from maker_cli._types import JSONValue\ny: JSONValue = None",
        "message = 'Any'",
        "class Anything: ...",
    ],
)
def test_the_check_leaves_prose_and_other_names_alone(source):
    assert any_uses(source) == []
