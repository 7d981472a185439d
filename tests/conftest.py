"""Shared test fixtures. Every test runs with an isolated home: no developer config leaks in."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """HOME and the XDG dirs point into a fresh temporary folder; MAKER_* variables are cleared."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        monkeypatch.setenv(name, str(home / sub))
    for name in list(os.environ):
        if name.startswith("MAKER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "100")  # CLI output renders the same on every machine
    return home
