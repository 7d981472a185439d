"""The example specs and templates that ship with maker, for `maker examples list/copy`.

One source of truth: the repository's `examples/` and `configs/` folders. A wheel bundles them as
`maker_cli/_bundled/examples` and `maker_cli/_bundled/configs` (pyproject.toml, hatch
`force-include`); in a checkout or an editable install they are read where they are. Each YAML file
is one example, named by its file name without `.yaml`; names are unique across the folders.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from maker_cli.bounded_yaml import read_yaml_file
from maker_cli.errors import MakerError, SpecError, UsageError
from maker_cli.specs import infer_kind

FOLDERS = ("examples", "configs")


@dataclass(frozen=True, slots=True)
class Example:
    """One bundled file: `name` (what `maker examples copy` takes), `kind` (question, sequence,
    prompt or template), a one-line `description`, and where it is (`path`; `relative` inside the bundle)."""

    name: str
    kind: str
    description: str
    path: Path
    relative: str


def bundle_root() -> Path:
    """The folder that holds `examples/` and `configs/`: the wheel's bundle, else the checkout."""
    here = Path(__file__).resolve().parent
    for root in (here / "_bundled", here.parent):
        if (root / "examples").is_dir():
            return root
    raise MakerError("this installation of maker has no bundled examples (reinstall the package)")


def list_examples() -> list[Example]:
    """Every bundled example, examples first, then templates, each sorted by name."""
    root = bundle_root()
    found: list[Example] = []
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.yaml")):
            found.append(_describe(path, path.relative_to(root).as_posix(), template=folder == "configs"))
    return found


def find_example(name: str) -> Example:
    """The example called `name` (a file name without `.yaml` is enough), else a UsageError."""
    wanted = name.removesuffix(".yaml")
    examples = list_examples()
    for example in examples:
        if example.name == wanted:
            return example
    known = ", ".join(e.name for e in examples)
    raise UsageError(f"no example named {name!r} (known: {known}); `maker examples list` describes them")


def example_path(name: str) -> Path:
    """Where the bundled example `name` is, to read or pass as a task:
    `maker_cli.vote(task=maker_cli.example_path("arithmetic"), ...)`. Copy it before changing it."""
    return find_example(name).path


def copy_example(name: str, folder: Path, *, force: bool = False) -> Path:
    """Write the example `name` into `folder` (created if missing) and return the file written.
    An existing file is kept unless `force`."""
    example = find_example(name)
    target = folder / example.path.name
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(example.path, target)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _describe(path: Path, relative: str, *, template: bool) -> Example:
    try:
        data = read_yaml_file(path, "example")
    except SpecError:
        data = None
    description = data.get("description") if isinstance(data, dict) and not template else None
    if not isinstance(description, str) or not description.strip():  # a template says what it is first
        description = _first_comment(path)
    kind = "template" if template else "prompt" if _is_prompt(data) else (infer_kind(data) or "unknown")
    return Example(path.stem, kind, " ".join(description.split()), path, relative)


def _is_prompt(data: object) -> bool:
    """A prompt file (`--prompt`): only name, description, system and user."""
    return isinstance(data, dict) and bool(data) and set(data) <= {"name", "description", "system", "user"}


def _first_comment(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and line.strip("# "):
            return line.strip("# ")
    return ""
