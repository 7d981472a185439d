"""`maker runs report`: an HTML page with plotly.js once and its charts, Markdown on stdout or in a
file, a --json summary whose figures are the store's, hanoi, sequence-task and workflow runs, plotly
loaded only by this command, and every bad input one line on stderr with exit code 2 (no file left
behind)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.store.run_store import RunStore

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> dict:
    r = cli(*args, "--json")
    assert r.stdout.lstrip().startswith("{"), r.output
    return json.loads(r.stdout)


def one_error_line(r) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]


@pytest.fixture(scope="module")
def hanoi(tmp_path_factory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("hanoi") / "s.sqlite"
    out = run_json("run", "hanoi", "--disks", "5", "--model", "sim:p=0.85,invalid=0.05,seed=2", "--k", "3",
                   "--store", str(store))  # fmt: skip
    assert out["status"] == "solved"
    return store, out["run_id"]


def test_an_html_report_is_one_page_with_plotly_js_once(hanoi, tmp_path):
    store, run_id = hanoi
    html = tmp_path / "report.html"
    r = cli("runs", "report", run_id[:12], "--store", str(store), "-o", str(html))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"wrote the html report of run {run_id} to {html} (") and r.stdout.endswith("MB)\n")
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("plotly.js v") == 1 and page.count("Plotly.newPlot(") == 4
    assert "Content-Security-Policy" in page and "<script src=" not in page
    for section in (
        "votes",
        "progress",
        "red-flags",
        "latency",
        "slowest",
        "least-decided",
        "trouble",
        "configuration",
    ):
        assert f'<section id="{section}">' in page
    assert not list(tmp_path.glob(".*partial"))


def test_the_json_summary_carries_the_stores_figures(hanoi, tmp_path):
    store, run_id = hanoi
    out = run_json("runs", "report", run_id, "--store", str(store), "-o", str(tmp_path / "r.html"))
    assert out["run_id"] == run_id and out["format"] == "html" and out["file"] == str(tmp_path / "r.html")
    assert out["bytes"] == (tmp_path / "r.html").stat().st_size
    figures = out["figures"]
    with RunStore(store, readonly=True) as s:
        steps = list(s.iter_steps(run_id))
        run = s.get_run(run_id)
    votes = figures["votes"]
    assert {n: c for n, c in zip(votes["votes"], votes["steps"], strict=True) if c} == dict(
        Counter(st.valid for st in steps)
    )
    assert figures["run"]["samples"] == run.samples == figures["progress"]["samples"][-1]
    assert figures["red_flags"]["red_flagged"] == run.red_flagged and figures["latency"]["source"] == "step"
    assert len(figures["slowest"]) == 10 and figures["stopped"] is None and figures["nodes"] is None


def test_markdown_on_stdout_or_in_a_file(hanoi, tmp_path):
    store, run_id = hanoi
    for args in ([], ["-o", "-"]):
        r = cli("runs", "report", run_id, "--store", str(store), "--format", "md", *args)
        assert r.exit_code == 0, r.output
        assert r.stdout.startswith(f"# Run {run_id}\n") and "## Votes per step" in r.stdout and "<" not in r.stdout
    md = tmp_path / "report.md"
    r = cli("runs", "report", run_id, "--store", str(store), "-o", str(md))  # the suffix says md
    assert r.exit_code == 0 and "wrote the md report" in r.stdout and r.stdout.endswith("kB)\n")
    text = md.read_text(encoding="utf-8")
    assert "## Least decided steps" in text and "```json" in text and "plotly" not in text


def test_a_sequence_task_and_a_workflow_report(tmp_path):
    shutil.copy(ROOT / "examples" / "sequential" / "addition.yaml", tmp_path / "addition.yaml")
    store = tmp_path / "s.sqlite"
    seq = run_json("run", "task", str(tmp_path / "addition.yaml"), "--model", "sim:p=0.95,seed=1",
                   "--store", str(store))  # fmt: skip
    assert seq["status"] == "solved"
    out = run_json("runs", "report", seq["run_id"], "--store", str(store), "-o", str(tmp_path / "seq.html"))
    assert out["figures"]["votes"]["decided"] == seq["steps_done"] and out["figures"]["run"]["kind"] == "sequence"
    (tmp_path / "wf.yaml").write_text(
        "kind: workflow\nname: wf\nnodes:\n"
        "  - id: first\n    user: 'Give a number. Answer: <n>'\n"
        '    answer: {regex: "Answer: *(?P<answer>\\\\S+)"}\n    expected: "987"\n    sim_response: "Answer: {{answer}}"\n'
        "  - id: plus\n    depends_on: [first]\n    uses: addition.yaml\n"
        "    inputs: {a: '{{nodes.first.answer}}', b: '45'}\ncompose: {function: identity}\n",
        encoding="utf-8",
    )
    flow = run_json("run", "task", str(tmp_path / "wf.yaml"), "--model", "sim:p=0.95", "--steps-of", "plus=3",
                    "--store", str(store))  # fmt: skip
    assert flow["status"] == "solved"
    r = cli("runs", "report", flow["run_id"], "--store", str(store), "--format", "md")
    assert r.exit_code == 0 and "## Nodes" in r.stdout and "## Votes per step" not in r.stdout
    child = next(n["child_run"] for n in flow["nodes"] if n["id"] == "plus")
    assert "| plus | decided |" in r.stdout and child in r.stdout
    nodes = run_json("runs", "report", flow["run_id"], "--store", str(store), "-o", str(tmp_path / "wf.html"))
    assert [n["id"] for n in nodes["figures"]["nodes"]] == ["first", "plus"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["r-nope"], "no run 'r-nope'"),
        (["RUN"], "an HTML report is a file: add -o report.html"),
        (["RUN", "-o", "-"], "an HTML report is a file"),
        (["RUN", "--format", "pdf", "-o", "x.pdf"], "--format must be one of html, md, not 'pdf'"),
        (["RUN", "-o", "{tmp}/r.pdf"], "-o r.pdf: an HTML report is written to a .html or .htm file (--format md"),
        (["RUN", "--format", "md", "-o", "{tmp}/r.html"], "-o r.html: a Markdown report is written to a .md or"),
        (["RUN", "--format", "md", "--json"], "--json summarises a report written to a file"),
        (["RUN", "-o", "{tmp}/no/such/folder/r.html"], "cannot write {tmp}/no/such/folder/r.html: No such file"),
    ],
)
def test_bad_inputs_are_one_line_and_exit_2(hanoi, tmp_path, args, message):
    store, run_id = hanoi
    args = [a.replace("RUN", run_id).replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "r-nope":
        args += ["-o", str(tmp_path / "r.html")]
    line = one_error_line(cli("runs", "report", *args, "--store", str(store)))
    assert message.replace("{tmp}", str(tmp_path)) in line
    assert list(tmp_path.iterdir()) == []  # no report, no partial file


def test_a_missing_store_is_one_line_and_exit_2(tmp_path):
    line = one_error_line(cli("runs", "report", "r-x", "--store", str(tmp_path / "none.sqlite"), "-o", "r.html"))
    assert "no run store at" in line


def test_a_read_only_folder_is_one_line_and_exit_2(hanoi, tmp_path):
    store, run_id = hanoi
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if _writable(folder):
            pytest.skip("running as a user who may write anywhere (root)")
        line = one_error_line(cli("runs", "report", run_id, "--store", str(store), "-o", str(folder / "r.html")))
        assert "cannot write" in line and "Permission denied" in line
    finally:
        folder.chmod(0o700)


def _writable(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("x")
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


def test_plotly_is_loaded_by_the_report_only(hanoi, tmp_path):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from maker_cli.cli.app import app\n"
        f"r = CliRunner().invoke(app, ['runs', 'list', '--store', {str(hanoi[0])!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'plotly'], 'plotly loaded by runs list'\n"
        f"r = CliRunner().invoke(app, ['runs', 'report', {hanoi[1]!r}, '--store', {str(hanoi[0])!r}, '--format', 'md'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'plotly' not in sys.modules, 'plotly loaded by a Markdown report'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_without_plotly_an_html_report_says_so(hanoi, tmp_path, monkeypatch):
    store, run_id = hanoi
    monkeypatch.setitem(sys.modules, "plotly", None)
    for name in [m for m in sys.modules if m.startswith("plotly.") or m == "maker_cli.report.html_page"]:
        monkeypatch.delitem(sys.modules, name)
    r = cli("runs", "report", run_id, "--store", str(store), "-o", str(tmp_path / "r.html"))
    assert r.exit_code == 1 and "the HTML report needs plotly" in r.stderr, r.output
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_file(hanoi, tmp_path, monkeypatch):
    from maker_cli.cli import files

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    line = one_error_line(cli("runs", "report", hanoi[1], "--store", str(hanoi[0]), "-o", str(tmp_path / "r.md")))
    assert "cannot write" in line and "No space left on device" in line and list(tmp_path.iterdir()) == []
