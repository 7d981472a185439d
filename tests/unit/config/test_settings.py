"""Which config file is read (--config > MAKER_CONFIG > the default in the user config dir), and
how a bad one, a bad environment value or a bad flag is named in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import maker_cli.config.settings as settings_module
from maker_cli.cli.app import app
from maker_cli.config.settings import Settings, config_file, load_settings
from maker_cli.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def default_file(isolated_home) -> Path:
    """maker.yaml in the user config dir (XDG_CONFIG_HOME points into the test's home)."""
    return Path(os.environ["XDG_CONFIG_HOME"]) / "maker" / "maker.yaml"


def test_without_any_file_the_defaults_hold():
    settings = load_settings()
    assert settings.k == Settings.model_fields["k"].default and settings.source_of("k") == "default"


def test_the_default_config_file_is_read(default_file):
    write(default_file, "k: 7\nmodel: sim:p=0.9\n")
    settings = load_settings()
    assert config_file() == default_file
    assert (settings.k, settings.model) == (7, "sim:p=0.9") and settings.source_of("k") == "config"


def test_maker_config_wins_over_the_default_and_config_wins_over_both(default_file, tmp_path, monkeypatch):
    write(default_file, "k: 7\n")
    monkeypatch.setenv("MAKER_CONFIG", str(write(tmp_path / "env.yaml", "k: 8\n")))
    assert load_settings().k == 8
    assert load_settings(write(tmp_path / "flag.yaml", "k: 9\n")).k == 9


def test_an_empty_config_file_means_the_defaults(tmp_path):
    settings = load_settings(write(tmp_path / "empty.yaml", "# nothing set yet\n"))
    assert settings.k == Settings.model_fields["k"].default and settings.source_of("k") == "default"


def test_a_missing_config_file_is_named_with_where_it_came_from(tmp_path, monkeypatch):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"^config file not found: {missing}$"):
        load_settings(missing)
    monkeypatch.setenv("MAKER_CONFIG", str(missing))
    with pytest.raises(ConfigError, match=rf"^config file not found: {missing} \(from MAKER_CONFIG\)$"):
        load_settings()
    r = CliRunner().invoke(app, ["--config", str(tmp_path / "gone.yaml"), "estimate", "--steps", "10", "--p", "0.9"])
    assert r.exit_code == 2 and r.output == f"error: config file not found: {tmp_path / 'gone.yaml'}\n"


def test_a_home_that_cannot_be_read_means_no_default_file(monkeypatch):
    def unreadable():
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(settings_module, "default_config_file", unreadable)
    assert config_file() is None and load_settings().source_of("model") == "default"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k: 0\n", "setting 'k': Input should be greater than or equal to 1"),
        ("k: 0\nconcurrency: 0\n", "setting 'k': Input should be greater than or equal to 1 (and 1 more)"),
        ("colour: blue\n", "setting 'colour': unknown setting (known: model, api_base, router_config, k, "),
        ("target: 1.5\n", "setting 'target': Input should be less than 1"),
    ],
)
def test_a_bad_value_in_the_config_file_names_the_file_and_the_setting(tmp_path, text, message):
    path = write(tmp_path / "maker.yaml", text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_a_bad_environment_value_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("MAKER_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match=r"^MAKER_CONCURRENCY: setting 'concurrency': Input should be greater"):
        load_settings(write(tmp_path / "maker.yaml", "k: 2\n"))  # the file is fine: the variable is named


def test_a_bad_flag_is_named_by_its_setting_alone():
    with pytest.raises(ConfigError, match=r"^setting 'timeout': Input should be greater than 0$"):
        load_settings(timeout=0)


def test_through_the_cli_a_bad_config_file_is_one_line_and_exit_2(tmp_path, monkeypatch):
    path = write(tmp_path / "maker.yaml", "max_cost: -1\n")
    monkeypatch.setenv("MAKER_CONFIG", str(path))
    r = CliRunner().invoke(app, ["estimate", "--steps", "10", "--p", "0.9"])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert r.output.startswith(f"error: {path}: setting 'max_cost': Input should be greater than or equal to 0")
