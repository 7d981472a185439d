#!/usr/bin/env python
"""Check that an installed maker (a wheel, not the checkout) runs every example the docs show.

Run it with the interpreter of a virtual environment that has only the wheel installed, from an
empty folder outside the checkout (CI does: .ci/run). It

1. copies every bundled example into the current folder (`maker examples list --json`, `copy`);
2. runs each example's own simulated-model commands (the `maker ...` lines of its header);
3. runs every `maker` command of the README's and the docs' code blocks that works offline (the
   simulated model, `estimate`, `examples`, `--validate`, `runs`), in order, in a fresh folder for
   each page (a page's commands build on each other: copy, then run), skipping, with the reason,
   those that need a key, a file the reader makes first, or a stored run id.

Commands run through the `maker` next to this interpreter; nothing is imported from the checkout.
Exit status 1 if any command failed; the summary names each one.

    python scripts/check_installed.py --docs /path/to/checkout
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

MAKER = str(Path(sys.executable).with_name("maker"))
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
OFFLINE_COMMANDS = ("estimate", "examples", "runs")
SLOW_DISKS = 15  # a simulated Hanoi run above this many disks takes minutes: shown, not rerun here


def maker(words: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAKER, *words], capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd)


def shell_lines(block: str, console: bool) -> list[str]:
    """A code block's commands: continuations joined, comments dropped, `&&` split; in a console
    block only `$ ` lines whose output is not an error."""
    lines = [line.strip() for line in re.sub(r"\\\n\s*", " ", block).splitlines()]
    found: list[str] = []
    for i, line in enumerate(lines):
        if console:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not line.startswith("$ ") or following.startswith("error:"):
                continue
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        found += [part.strip() for part in re.split(r"\s(?:&&|;)\s", line)]
    return found


def docs_commands(root: Path) -> list[tuple[str, list[str]]]:
    """(where, words after `maker`) for every maker command in the README's and the docs' blocks."""
    found = []
    for path in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group("lang") not in ("bash", "console", "sh", "shell"):
                continue
            for line in shell_lines(match.group("body"), console=match.group("lang") == "console"):
                try:
                    words = shlex.split(line, comments=True)
                except ValueError:
                    continue
                if "|" in words:
                    words = words[: words.index("|")]  # a pipe: the maker command is what comes before it
                while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                    words = words[1:]  # VAR=value prefixes: the environment is not reproduced here
                if words and words[0] == "maker":
                    found.append((path.relative_to(root).as_posix(), words[1:]))
    return found


def why_skip(words: list[str], cwd: Path) -> str | None:
    """None when the command can run here, else why not."""
    model = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--model", "-m")), None)
    command = words[0] if words else ""
    if not words or words[0].startswith("-"):
        return "not a command (a global option shown alone)"
    if words[:2] == ["examples", "copy"] and "--force" not in words and len(words) > 2:
        target = cwd / (words[3] if len(words) > 3 and not words[3].startswith("-") else ".")
        name = words[2]
        if any(target.glob(f"{name}.y*ml")):
            return f"{name} was copied earlier on this page (a second copy needs --force)"
    if command == "serve-mcp":
        return "a server: it runs until stopped"
    if "--resume" in words or (
        command == "runs" and len(words) > 2 and words[1] in ("show", "watch", "report", "export", "delete")
    ):
        return "needs the id of a run stored earlier"
    if model is not None and not model.startswith("sim"):
        return f"a real model ({model}): needs a key"
    if model is None and command not in OFFLINE_COMMANDS and "--validate" not in words:
        return "a real model (the default): needs a key"
    if words[:2] == ["run", "hanoi"] and "--disks" in words and int(words[words.index("--disks") + 1]) > SLOW_DISKS:
        return f"a run of more than {SLOW_DISKS} disks (minutes)"
    written = ("--out", "--plot-file")  # FILE after these is written, not read
    inputs = [w for i, w in enumerate(words) if i == 0 or words[i - 1] not in written]
    for word in inputs:
        for candidate in (word.removeprefix("@"), word.split("=@", 1)[-1] if "=@" in word else ""):
            if candidate.endswith((".yaml", ".json", ".jsonl", ".txt")) and not (cwd / candidate).exists():
                return f"needs {candidate}, which the reader writes first"
    return None


def header_commands(path: Path) -> list[list[str]]:
    header = "\n".join(line[1:] for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    joined = re.sub(r"\\\n\s*", " ", header)
    return [
        shlex.split(line.strip(), comments=True)[1:]
        for line in joined.splitlines()
        if line.strip().startswith("maker ") and "sim:" in line
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, required=True, help="the checkout whose README.md and docs/ to read")
    args = parser.parse_args()
    if Path.cwd().resolve().is_relative_to(args.docs.resolve()):
        print("run this from a folder outside the checkout", file=sys.stderr)
        return 2
    results: list[tuple[str, str, bool, str]] = []  # (where, command, ok, detail)
    skipped: list[tuple[str, str, str]] = []

    def run(where: str, words: list[str], cwd: Path) -> None:
        reason = why_skip(words, cwd)
        if reason is not None:
            skipped.append((where, shlex.join(["maker", *words]), reason))
            return
        start = time.perf_counter()
        out = maker(words, cwd)
        detail = f"{time.perf_counter() - start:.1f} s" if out.returncode == 0 else (out.stderr or out.stdout)[-400:]
        results.append((where, shlex.join(["maker", *words]), out.returncode == 0, detail))

    listed = maker(["examples", "list", "--json"])
    if listed.returncode != 0:
        print(listed.stderr, file=sys.stderr)
        return 1
    examples = json.loads(listed.stdout)["examples"]
    here = Path.cwd() / "examples"
    here.mkdir(exist_ok=True)
    for example in examples:
        run("examples", ["examples", "copy", example["name"]], here)
    for example in examples:
        for words in header_commands(here / Path(example["file"]).name):
            run(f"{example['name']}.yaml header", words, here)
    pages: dict[str, list[list[str]]] = {}
    for where, words in docs_commands(args.docs):
        pages.setdefault(where, []).append(words)
    for index, (where, commands) in enumerate(pages.items()):
        folder = Path.cwd() / f"page-{index:02d}"
        folder.mkdir(exist_ok=True)
        for words in commands:
            run(where, words, folder)

    failed = [r for r in results if not r[2]]
    for where, command, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {where}: {command} ({detail if ok else 'see below'})")
    for where, command, reason in skipped:
        print(f"skip {where}: {command} ({reason})")
    for where, command, _, detail in failed:
        print(f"\nFAILED {where}: {command}\n{detail}", file=sys.stderr)
    print(
        f"\n{len(results) - len(failed)} of {len(results)} commands passed, {len(skipped)} skipped "
        f"(maker {maker(['--version']).stdout.split()[-1]} at {MAKER})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "120")
    sys.exit(main())
