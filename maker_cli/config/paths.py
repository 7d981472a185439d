"""Where maker keeps its config and data by default (overridable by flags and MAKER_* env)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_config_path, user_data_path

APP_NAME = "maker"


def config_dir() -> Path:
    return user_config_path(APP_NAME)


def data_dir() -> Path:
    return user_data_path(APP_NAME)


def default_config_file() -> Path:
    return config_dir() / "maker.yaml"


def default_store_file() -> Path:
    return data_dir() / "runs.sqlite"
