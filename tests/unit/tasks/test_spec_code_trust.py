"""No code named by a spec runs unless the user opted in: solvers come from the registry, or from a
Python file next to the spec with --trust-spec-code (serve-mcp --trust-spec-code for the MCP server)."""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[3]
ADDITION = ROOT / "examples" / "sequential" / "addition.yaml"


def spec_naming(tmp_path: Path, reference: str, initial_state=None) -> Path:
    data = yaml.safe_load(ADDITION.read_text(encoding="utf-8"))
    data["reference"] = reference
    if initial_state is not None:
        data["initial_state"] = initial_state
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(
    "reference", ["shutil:rmtree", "os:system", "maker_cli.store.run_store:RunStore", "builtins:eval", "subprocess.run"]
)
def test_a_spec_cannot_name_an_arbitrary_callable(tmp_path, reference):
    """The regression: `reference: shutil:rmtree` with initial_state "/some/dir" deleted the folder on
    `maker run task spec.yaml --validate`."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me", encoding="utf-8")
    spec = spec_naming(tmp_path, reference)
    for args in (
        ("--validate",),
        ("--validate", "--trust-spec-code"),
        ("--model", "sim:p=0.9", "--store", str(tmp_path / "s.sqlite")),
    ):
        r = cli("run", "task", str(spec), *args)
        assert r.exit_code == 2, r.output
        assert "registered solver" in r.output or "no solver named" in r.output
    assert (victim / "precious.txt").read_text(encoding="utf-8") == "keep me"


def _solver_file(tmp_path: Path) -> Path:
    (tmp_path / "my_solver.py").write_text(
        "from pathlib import Path\n"
        "Path(__file__).with_name('IMPORTED').write_text('yes')\n"
        "from maker_cli.tasks.solvers.addition import solve\n",
        encoding="utf-8",
    )
    return tmp_path / "IMPORTED"


def test_a_solver_file_next_to_the_spec_runs_only_when_trusted(tmp_path):
    marker = _solver_file(tmp_path)
    spec = spec_naming(tmp_path, "my_solver.py:solve")
    r = cli("run", "task", str(spec), "--validate")
    assert r.exit_code == 2 and "--trust-spec-code" in r.output
    assert not marker.exists()  # not even imported
    r = cli("run", "task", str(spec), "--validate", "--trust-spec-code")
    assert r.exit_code == 0, r.output
    assert marker.exists()


def test_resuming_a_trusted_run_needs_the_trust_again(tmp_path):
    _solver_file(tmp_path)
    spec = spec_naming(tmp_path, "my_solver.py:solve")
    store = str(tmp_path / "s.sqlite")
    r = cli(
        "run",
        "task",
        str(spec),
        "--trust-spec-code",
        "--model",
        "sim:p=0.9,seed=1",
        "--max-samples",
        "3",
        "--k",
        "3",
        "--store",
        store,
        "--json",
    )
    assert r.exit_code == 3, r.output  # undecided at a tiny cap: resumable
    import json

    run_id = json.loads(r.stdout)["run_id"]
    r = cli("run", "task", "--resume", run_id, "--store", store)
    assert r.exit_code == 2 and "--trust-spec-code" in r.output


def test_the_mcp_server_never_imports_spec_code_unless_started_trusting_it(tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    marker = _solver_file(root)
    shutil.copy(spec_naming(tmp_path, "my_solver.py:solve"), root / "evil.yaml")
    request = ("maker_calibrate", {"task": "evil.yaml", "model": "sim:p=0.9", "samples": 4})

    def call(server):
        async def go():
            async with Client(server) as client:
                return await client.call_tool(*request)

        return anyio.run(go)

    refused = call(build_server(load_settings(), root=root))
    assert refused.is_error and "--trust-spec-code" in refused.content[0].text
    assert not marker.exists()
    trusted = call(build_server(load_settings(), root=root, trust_spec_code=True))
    assert not trusted.is_error, trusted.content[0].text
    assert marker.exists()
