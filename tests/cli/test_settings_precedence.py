"""One precedence for every job setting, every command and the MCP tools (table-driven):
flag > spec > MAKER_* environment > config file > default. Each layer in turn sets every field it
can, and every front end's --json must report the winning value and its layer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest
import yaml
from mcp import Client
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.config.settings import load_settings
from maker_cli.mcp.server import build_server

ROOT = Path(__file__).resolve().parents[2]
ARITHMETIC = ROOT / "examples" / "arithmetic.yaml"
ADDITION = ROOT / "examples" / "sequential" / "addition.yaml"
SPEC_FIELDS = ("model", "k", "max_samples", "first_temperature", "temperature", "max_output_tokens")

# field -> value per layer (config, env, spec, flag); None: the layer cannot set it
TABLE = {
    "model": ("sim:p=0.99,seed=1", "sim:p=0.99,seed=2", "sim:p=0.99,seed=3", "sim:p=0.99,seed=4"),
    "k": (2, 3, 4, 5),
    "max_samples": (40, 50, 60, 70),
    "first_temperature": (0.05, 0.06, 0.07, 0.08),
    "temperature": (0.2, 0.3, 0.4, 0.5),
    "max_output_tokens": (600, 610, 620, 630),
    "eager": (1, 2, None, 3),
    "concurrency": (2, 3, None, 4),
    "timeout": (30.0, 40.0, None, 50.0),
    "price_in": (1.0, 2.0, None, 3.0),
    "price_out": (1.5, 2.5, None, 3.5),
    "target": (0.9, 0.91, None, 0.92),
    "max_cost": (10.0, 20.0, None, 30.0),
}
LAYERS = ("config", "env", "spec", "flag")
# the job settings each command takes as flags (the others are not its business)
COMMAND_FLAGS = {
    "vote": (
        "model",
        "k",
        "max_samples",
        "eager",
        "first_temperature",
        "temperature",
        "max_output_tokens",
        "concurrency",
        "timeout",
        "price_in",
        "price_out",
        "max_cost",
    ),
    "run hanoi": (
        "model",
        "k",
        "max_samples",
        "eager",
        "first_temperature",
        "temperature",
        "max_output_tokens",
        "concurrency",
        "timeout",
        "price_in",
        "price_out",
        "max_cost",
        "target",
    ),
    "run task": (
        "model",
        "k",
        "max_samples",
        "eager",
        "first_temperature",
        "temperature",
        "max_output_tokens",
        "concurrency",
        "timeout",
        "price_in",
        "price_out",
        "max_cost",
        "target",
    ),
    "calibrate": (
        "model",
        "temperature",
        "max_output_tokens",
        "concurrency",
        "timeout",
        "price_in",
        "price_out",
        "target",
    ),
}


def value(field: str, layer: str):
    return TABLE[field][LAYERS.index(layer)]


def expected(field: str, upto: str, has_spec: bool) -> tuple[object, str]:
    """The value and layer that must win when every layer up to `upto` sets what it can."""
    for layer in reversed(LAYERS[: LAYERS.index(upto) + 1]):
        if layer == "spec" and not has_spec:
            continue
        if value(field, layer) is not None:
            return value(field, layer), layer
    raise AssertionError(field)


def set_layers(tmp_path: Path, monkeypatch, upto: str) -> None:
    config = tmp_path / "maker.yaml"
    config.write_text(yaml.safe_dump({f: value(f, "config") for f in TABLE}), encoding="utf-8")
    monkeypatch.setenv("MAKER_CONFIG", str(config))
    if LAYERS.index(upto) >= LAYERS.index("env"):
        for field in TABLE:
            monkeypatch.setenv(f"MAKER_{field.upper()}", str(value(field, "env")))


def spec_with_layer(tmp_path: Path, source: Path, upto: str) -> Path:
    """A copy of `source` whose voting and red-flag settings are the spec layer's (or none of them)."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data.pop("model", None)
    data["voting"], data["red_flags"] = (
        {},
        {k: v for k, v in data.get("red_flags", {}).items() if k != "max_output_tokens"},
    )
    if LAYERS.index(upto) >= LAYERS.index("spec"):
        data["model"] = value("model", "spec")
        data["voting"] = {f: value(f, "spec") for f in ("k", "max_samples", "first_temperature", "temperature")}
        data["red_flags"]["max_output_tokens"] = value("max_output_tokens", "spec")
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def flags_for(command: str, upto: str) -> list[str]:
    if upto != "flag":
        return []
    out = []
    for field in COMMAND_FLAGS[command]:
        out += ["--" + field.replace("_", "-"), str(value(field, "flag"))]
    return out


def run_cli(tmp_path: Path, command: str, upto: str) -> dict:
    store = ["--store", str(tmp_path / "runs.sqlite")]
    if command == "vote":
        spec = spec_with_layer(tmp_path, ARITHMETIC, upto)
        args = ["vote", "--task", str(spec), "--input", "a=6", "--input", "b=7", "--input", "expected=42"]
    elif command == "run hanoi":
        args = ["run", "hanoi", "--disks", "2", *store]
    elif command == "run task":
        spec = spec_with_layer(tmp_path, ADDITION, upto)
        args = ["run", "task", str(spec), "--input", "a=12", "--input", "b=34", *store]
    else:
        spec = spec_with_layer(tmp_path, ADDITION, upto)
        args = ["calibrate", "task", str(spec), "--input", "a=12", "--input", "b=34", "--samples", "20"]
    result = CliRunner().invoke(app, [*args, *flags_for(command, upto), "--json"])
    assert result.exit_code in (0, 3), result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("upto", LAYERS)
@pytest.mark.parametrize("command", list(COMMAND_FLAGS))
def test_every_field_takes_the_highest_layer_that_sets_it(tmp_path, monkeypatch, command, upto):
    set_layers(tmp_path, monkeypatch, upto)
    out = run_cli(tmp_path, command, upto)
    has_spec = command != "run hanoi"
    for field in TABLE:
        if upto == "flag" and field not in COMMAND_FLAGS[command]:
            continue  # a flag the command does not take: the layers below decide
        want, layer = expected(field, upto, has_spec)
        if field == "k" and command == "calibrate":
            continue  # calibration recommends k; it does not vote
        got = out["settings"][field]
        assert got == want, (field, got, want)
        assert out["settings_sources"][field] == layer, (field, out["settings_sources"][field], layer)


def test_the_vote_flag_beats_the_spec_for_the_red_flag_limit():
    """The regression: `maker vote --task` let the spec's 750 tokens win over --max-output-tokens."""
    r = CliRunner().invoke(
        app,
        [
            "vote",
            "--task",
            str(ARITHMETIC),
            "--input",
            "a=1",
            "--input",
            "b=2",
            "--input",
            "expected=2",
            "--model",
            "sim:p=0.9,out_tokens=300",
            "--max-output-tokens",
            "100",
            "--json",
        ],
    )
    out = json.loads(r.stdout)
    assert r.exit_code == 3 and out["red_flag_reasons"] == {"too_long": out["samples"]} and out["valid"] == 0
    assert out["settings"]["max_output_tokens"] == 100 and out["settings_sources"]["max_output_tokens"] == "flag"


# --------------------------------------------------------------------------- the MCP tools


MCP_ARGS = {  # what the tools take as arguments
    "maker_vote": ("model", "k", "first_temperature", "temperature", "max_output_tokens"),
    "maker_calibrate": ("model", "temperature", "max_output_tokens", "target"),
}


@pytest.mark.parametrize("upto", LAYERS)
@pytest.mark.parametrize("tool", list(MCP_ARGS))
def test_mcp_tools_follow_the_same_precedence(tmp_path, monkeypatch, tool, upto):
    set_layers(tmp_path, monkeypatch, upto)
    root = tmp_path / "work"
    root.mkdir()
    shutil.copy(spec_with_layer(tmp_path, ARITHMETIC if tool == "maker_vote" else ADDITION, upto), root / "spec.yaml")
    args: dict = {"task": "spec.yaml"}
    if tool == "maker_vote":
        args["inputs"] = {"a": 6, "b": 7, "expected": 42}
    else:
        args.update(inputs={"a": "12", "b": "34"}, samples=10)
    if upto == "flag":
        args |= {field: value(field, "flag") for field in MCP_ARGS[tool]}
    server = build_server(load_settings(), root=root)

    async def go():
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    result = anyio.run(go)
    assert not result.is_error, result.content[0].text
    out = result.structured_content
    for field in (
        "model",
        "temperature",
        "max_output_tokens",
        *(("k", "first_temperature") if tool == "maker_vote" else ()),
    ):
        if upto == "flag" and field not in MCP_ARGS[tool]:
            continue
        want, layer = expected(field, upto, True)
        assert out["settings"][field] == want and out["settings_sources"][field] == layer, field
