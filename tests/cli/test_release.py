"""What a user of an installed copy relies on: the version from the package's metadata, the
examples bundled into the wheel from their one source, metadata a package index shows, and a
changelog entry for the version. (CI goes further: it builds the wheel, installs it outside the
checkout and runs the docs' examples with it: scripts/check_installed.py.)"""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.examples import FOLDERS

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_comes_from_the_installed_metadata():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout == f"maker {version('maker-cli')}\n"
    assert version("maker-cli") == maker_cli.__version__  # the build reads __version__: one source


def test_the_wheel_bundles_the_example_folders_themselves():
    bundled = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert bundled == {folder: f"maker_cli/_bundled/{folder}" for folder in FOLDERS}
    assert all((ROOT / folder).is_dir() for folder in FOLDERS)
    assert "maker_cli/_bundled/" in (ROOT / ".gitignore").read_text(encoding="utf-8")  # never a second copy


def test_package_metadata_a_user_expects():
    project = PYPROJECT["project"]
    assert {"Documentation", "Source", "Issues", "Changelog"} <= set(project["urls"])
    classifiers = project["classifiers"]
    assert "Typing :: Typed" in classifiers and "License :: OSI Approved :: MIT License" not in classifiers  # SPDX
    assert project["license"] == "MIT" and "Programming Language :: Python :: 3.11" in classifiers
    assert (ROOT / "maker_cli" / "py.typed").is_file()


def test_the_changelog_has_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{maker_cli.__version__}]" in changelog
