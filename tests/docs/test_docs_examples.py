"""The documentation's promises, checked: the Python API page's examples run as written, the
README's quick start and command examples name commands and flags that exist, and the README
stays short (the guide lives in docs/).

The examples run on the simulated model only, each in a fresh working folder (with a copy of
`examples/`, as if run from the top of a checkout) under the isolated HOME of tests/conftest.py,
with network connections refused: no key, no cost, no network.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import tomllib
from pathlib import Path

import pytest
import typer
from typer import _click as click  # typer vendors its own click; the commands are its objects
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PYTHON_API = ROOT / "docs" / "python-api.md"
MAX_README_LINES = 250
QUICK_START_RUN = 'maker run hanoi --disks 10 --model "sim:p=0.99"'

_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def fenced_blocks(text: str, *langs: str) -> list[str]:
    """The bodies of the fenced code blocks in `text` whose language is one of `langs`."""
    return [body for _, body in fenced(text, *langs)]


def fenced(text: str, *langs: str) -> list[tuple[str, str]]:
    """(language, body) of the fenced code blocks in `text` whose language is one of `langs`."""
    return [(m.group("lang"), m.group("body")) for m in _FENCE.finditer(text) if m.group("lang") in langs]


def section(text: str, heading: str) -> str:
    """The text of the `## heading` section of a markdown document (up to the next `## `)."""
    match = re.search(rf"^## {re.escape(heading)}[ \t]*\n(?P<body>.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"no '## {heading}' section"
    return match.group("body")


def shell_commands(block: str, *, console: bool = False) -> list[str]:
    """The commands of a shell block: continuations joined, comments dropped, `&&` split. In a
    console block only the `$ ` lines are commands (the rest is their output), and a command
    shown failing on a bad flag (`error: No such option ...`) is left out on purpose."""
    text = re.sub(r"\\\n\s*", " ", block)
    lines = [line.strip() for line in text.splitlines()]
    commands: list[str] = []
    for index, line in enumerate(lines):
        if console:
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if not line.startswith("$ ") or following.startswith("error: No such"):
                continue
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "||", ";", "|"):
                if command:
                    commands.append(shlex.join(command))
                command = []
            else:
                command.append(word)
    return commands


def maker_words(command: str) -> list[str] | None:
    """The words after `maker` when `command` runs maker (after any VAR=value prefixes, or after the
    `--` of a launcher such as `claude mcp add maker -- maker serve-mcp`), else None."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]
    if words and words[0] != "maker" and "--" in words:
        words = words[words.index("--") + 1 :]
    return words[1:] if words and words[0] == "maker" else None


def check_maker_command(words: list[str]) -> None:
    """Every subcommand named exists and every `--option` is one its command takes."""
    from maker_cli.cli.app import app

    command = typer.main.get_command(app)
    ctx = click.Context(command, info_name="maker")
    path = ["maker"]
    i = 0
    while hasattr(command, "list_commands"):  # a group (typer's vendored click has no Group class)
        start = i
        while i < len(words) and words[i].startswith("-"):  # the group's own options (--config FILE)
            i = _skip_option(command, words, i, path)
        if i == len(words) and i > start:  # `maker --version`, `maker run --help`
            return
        assert i < len(words), f"{' '.join(path)}: no subcommand given"
        name = words[i]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"{' '.join(path)} has no command {name!r}"
        path.append(name)
        command, ctx, i = sub, click.Context(sub, info_name=name, parent=ctx), i + 1
    while i < len(words):
        i = _skip_option(command, words, i, path) if words[i].startswith("-") else i + 1


def _skip_option(command, words: list[str], i: int, path: list[str]) -> int:
    """Check the option at words[i] exists for `command`; return the index after it (and its value)."""
    name, _, value = words[i].partition("=")
    options = {opt: param for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    if name in ("--help", "-h"):
        return i + 1
    assert name in options, f"{' '.join(path)} has no option {name} (it has: {', '.join(sorted(options))})"
    param = options[name]
    takes_value = not getattr(param, "is_flag", False) and not getattr(param, "count", False)
    return i + (2 if takes_value and not value else 1)


# --------------------------------------------------------------------------- the Python API page


def python_examples() -> list[str]:
    return fenced_blocks(PYTHON_API.read_text(encoding="utf-8"), "python")


@pytest.fixture
def no_network(monkeypatch):
    """Refuse every outgoing connection: the examples must not need the network."""

    def refuse(*args, **kwargs):
        raise OSError("network access is not allowed in documentation examples")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_python_api_page_has_examples():
    blocks = python_examples()
    assert len(blocks) >= 10
    joined = "\n".join(blocks)
    for name in (
        "estimate(",
        "vote(",
        "avote(",
        "run(",
        "arun(",
        "calibrate(",
        "acalibrate(",
        "load_spec(",
        "Hanoi(",
        "model_dump(",
        "UsageError",
        "CannotConverge",
        "SpecError",
    ):
        assert name in joined, f"docs/python-api.md shows no example of {name}"
    models = re.findall(r"""model=f?["']([^"']+)["']""", joined)
    assert models and all(m.startswith("sim") or m == "gpt-4.1-mini" for m in models), models


@pytest.mark.parametrize("index", range(len(python_examples())))
def test_python_api_example_runs(index, tmp_path, monkeypatch, no_network):
    code = python_examples()[index]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAKER_STORE", str(tmp_path / "default-store.sqlite"))
    exec(compile(code, f"docs/python-api.md example {index + 1}", "exec"), {"__name__": "__docs__"})


# --------------------------------------------------------------------------- the README


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; the guide belongs in docs/"


def test_readme_quick_start_commands_exist(tmp_path, monkeypatch):
    quick_start = section(README.read_text(encoding="utf-8"), "Quick start")
    blocks = fenced_blocks(quick_start, "bash")
    assert blocks, "the Quick start section has no bash block"
    commands = shell_commands(blocks[0])
    assert QUICK_START_RUN in blocks[0]
    assert "pip install -e '.[test]'" in commands and "python -m pytest" in commands
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert "pytest" in " ".join(extras["test"])
    maker_commands = [words for words in map(maker_words, commands) if words is not None]
    assert maker_commands, "the quick start runs no maker command"
    from maker_cli.cli.app import app

    monkeypatch.chdir(tmp_path)
    for words in maker_commands:
        check_maker_command(words)
        result = CliRunner().invoke(app, words)  # the isolated HOME holds the run store
        assert result.exit_code == 0, (words, result.output)
        if words[:2] == ["run", "hanoi"]:
            assert "solved: 1,023/1,023 steps" in result.output, result.output


def test_readme_and_docs_commands_name_real_commands_and_flags():
    files = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    checked = 0
    for path in files:
        for lang, block in fenced(path.read_text(encoding="utf-8"), "bash", "console"):
            for command in shell_commands(block, console=lang == "console"):
                words = maker_words(command)
                if words is None:
                    continue
                try:
                    check_maker_command(words)
                except AssertionError as exc:
                    raise AssertionError(f"{path.relative_to(ROOT)}: `{command}`: {exc}") from None
                checked += 1
    assert checked >= 40


def test_readme_links_to_docs_pages_that_exist():
    links = re.findall(r"\]\((docs/[^)#\s]+)", README.read_text(encoding="utf-8"))
    assert links, "README.md links to no docs page"
    for link in links:
        assert (ROOT / link).is_file(), f"README.md links to {link}, which does not exist"


@pytest.mark.parametrize("old_verify", [False, True])
def test_the_task_kind_example_of_the_development_page_runs(tmp_path, old_verify):
    """The CountDown kind in docs/development.md, as written, runs to the end and verifies every step;
    one written before `verify` took `previous` (four arguments) still does."""
    import maker_cli

    (code,) = [block for block in fenced_blocks((ROOT / "docs" / "development.md").read_text(), "python") if "class CountDown" in block]  # fmt: skip
    if old_verify:
        code = code.replace("def verify(self, step, state, action, next_state, previous=None):", "def verify(self, step, state, action, next_state):")  # fmt: skip
        assert "previous=None" not in code.split("def verify")[1].split("\n")[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "development.md", "exec"), namespace)
    result = maker_cli.run(namespace["CountDown"](6), model="sim:p=0.95,seed=1", store=tmp_path / "s.sqlite")
    assert result.status == "solved" and result.steps_done == 6 and result.errors == 0, result.message
