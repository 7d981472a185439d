"""`maker runs`: reading works anywhere, a damaged store or a bad filter is one line (exit 2),
and piped output keeps run ids and names whole."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "runs" / "s.sqlite"
    r = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.9,seed=3", "--store", str(path), "--json")
    assert r.exit_code == 0, r.output
    return path


def test_a_read_only_store_folder_can_still_be_read(store):
    folder = store.parent
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        listed = cli("runs", "list", "--store", str(store), "--json")
        assert listed.exit_code == 0, listed.output
        run_id = json.loads(listed.stdout)["runs"][0]["id"]
        shown = cli("runs", "show", run_id, "--store", str(store), "--json")
        assert shown.exit_code == 0 and json.loads(shown.stdout)["status"] == "solved"
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_folder_without_write_access_falls_back_to_an_immutable_read(store, monkeypatch):
    """Where SQLite cannot create the WAL's shared-memory file (a read-only folder: the test above
    needs a user who is not root), `runs` reads the file as immutable."""
    import sqlite3

    from maker_cli.store import run_store

    real = sqlite3.connect

    def no_shared_memory(database, *args, **kwargs):
        if "mode=ro" in str(database):
            raise sqlite3.OperationalError("unable to open database file")
        return real(database, *args, **kwargs)

    monkeypatch.setattr(run_store.sqlite3, "connect", no_shared_memory)
    listed = cli("runs", "list", "--store", str(store), "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)["runs"][0]["status"] == "solved"


def test_a_damaged_store_is_one_line(store):
    data = bytearray(store.read_bytes())
    for i in range(4096, len(data), 512):  # keep the header, spoil every page after it
        data[i : i + 64] = b"\xff" * 64
    store.write_bytes(bytes(data))
    for f in store.parent.glob("s.sqlite-*"):
        f.unlink()
    r = cli("runs", "list", "--store", str(store))
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "run store" in r.output, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output


def test_bad_filters_and_steps_are_usage_errors(store):
    r = cli("runs", "list", "--status", "bogus", "--store", str(store))
    assert r.exit_code == 2 and "--status must be one of" in r.output
    run_id = json.loads(cli("runs", "list", "--store", str(store), "--json").stdout)["runs"][0]["id"]
    for json_flag in ((), ("--json",)):
        r = cli("runs", "show", run_id, "--step", "99999", "--store", str(store), *json_flag)
        assert r.exit_code == 2 and r.stdout == "", r.output
        assert r.stderr == f"error: run {run_id} has no step 99999: it has steps 0 to 6\n"
    assert cli("runs", "show", run_id, "--step", "6", "--store", str(store), "--json").exit_code == 0


def test_piped_output_keeps_ids_and_names_whole(store):
    """`maker runs list | cat`: no terminal, no COLUMNS: nothing is cut or wrapped."""
    long_model = "sim:p=0.9,seed=3"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run(
        [sys.executable, "-m", "maker_cli", "runs", "list", "--store", str(store)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    run_id = json.loads(cli("runs", "list", "--store", str(store), "--json").stdout)["runs"][0]["id"]
    lines = out.stdout.splitlines()
    assert any(run_id in line and long_model in line and "hanoi-3" in line for line in lines), out.stdout
    assert not any("…" in line for line in lines)


@pytest.fixture
def unusable_home(tmp_path, monkeypatch) -> Path:
    """A HOME under which no folder can be made or read: a path through a regular file (ENOTDIR
    for every user, root included)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    home = blocker / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "MAKER_STORE", "MAKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_an_unusable_home_is_one_line_and_exit_2(unusable_home, tmp_path):
    r = cli("run", "hanoi", "--disks", "2", "--model", "sim:p=0.99", "--json")
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert "cannot open the run store" in r.stderr and "--store" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert cli("estimate", "--steps", "10", "--p", "0.9", "--json").exit_code == 0  # nothing else needs HOME
    ok = cli("run", "hanoi", "--disks", "2", "--model", "sim:p=0.99", "--store", str(tmp_path / "s.sqlite"), "--json")
    assert ok.exit_code == 0, ok.output


def test_runs_list_before_any_run_is_an_empty_list(unusable_home):
    r = cli("runs", "list", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"runs": []}
    shown = cli("runs", "show", "abc")
    assert shown.exit_code == 2 and "no run store" in shown.stderr


def test_an_untraversable_store_folder_is_one_line_and_exit_2(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0)
    try:
        if os.access(folder, os.X_OK):
            pytest.skip("running as a user who can read anywhere (root)")
        for args in (("runs", "list"), ("runs", "show", "abc"), ("run", "hanoi", "--disks", "2", "--model", "sim")):
            r = cli(*args, "--store", str(folder / "s.sqlite"))
            assert r.exit_code == 2 and "Permission denied" in r.stderr, (args, r.output)
            assert len(r.stderr.strip().splitlines()) == 1
    finally:
        folder.chmod(stat.S_IRWXU)
