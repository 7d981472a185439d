"""The library's public surface: every name in `maker_cli.__all__` loads on first use, `dir()` shows
exactly those, anything else is an AttributeError; importing `maker_cli.__main__` starts nothing."""

from __future__ import annotations

import importlib

import pytest

import maker_cli


def test_every_public_name_loads_and_nothing_else_is_offered():
    assert dir(maker_cli) == sorted(maker_cli.__all__)
    for name in maker_cli.__all__:
        assert getattr(maker_cli, name) is not None
    assert issubclass(maker_cli.SpecError, maker_cli.MakerError)
    with pytest.raises(AttributeError, match="^module 'maker_cli' has no attribute 'RunStore'$"):
        maker_cli.RunStore


def test_importing_the_module_entry_point_does_not_run_the_cli():
    module = importlib.import_module("maker_cli.__main__")
    assert module.main.__module__ == "maker_cli.cli.app"
