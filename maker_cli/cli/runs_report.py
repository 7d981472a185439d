"""`maker runs report RUN_ID -o report.html`: one run as a self-contained HTML page (or Markdown)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from maker_cli.cli.files import atomic_text_file
from maker_cli.cli.output import out_console, print_json, printable
from maker_cli.cli.runs_common import StoreOpt, existing_store_file
from maker_cli.errors import MakerError, UsageError
from maker_cli.report.figures import build_report
from maker_cli.report.markdown import render_markdown
from maker_cli.report.model import RunReport
from maker_cli.store.run_store import RunStore

FORMATS = ("html", "md")
SUFFIXES = {"html": (".html", ".htm"), "md": (".md", ".markdown")}
NAMES = {"html": "an HTML", "md": "a Markdown"}


def report_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        dir_okay=False,
        help="Write to this file (replaced whole). HTML needs a file; Markdown goes to stdout without -o (or with -o -).",
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        help="html (one self-contained page with charts) or md (Markdown tables); default: from -o's suffix (.md: md), else html.",
    ),
    store: Path | None = StoreOpt,
    json_out: bool = typer.Option(
        False, "--json", help="With -o: print a summary (the file and the figures) as one JSON object."
    ),
) -> None:
    """Write a report of one run: votes per step against the exact distribution, cost and steps
    over time, red flags along the run, latency, the slowest, least decided, undecided and wrong
    steps, and the configuration (keys redacted).

    The HTML page embeds plotly.js and its charts, so it opens offline. Charts of a long run are
    drawn from bins of steps, so the page stays about 5 MB (mostly plotly.js) for any run size.
    """
    to_stdout = output is None or str(output) == "-"
    fmt = fmt or ("md" if output is not None and output.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "html" and to_stdout:
        raise UsageError("an HTML report is a file: add -o report.html (or --format md for Markdown on stdout)")
    if json_out and to_stdout:
        raise UsageError("--json summarises a report written to a file: add -o FILE")
    if output is not None and not to_stdout:
        _check_suffix(output, fmt)
    path = existing_store_file(ctx, store)
    with RunStore(path, readonly=True) as s:
        run_id = s.get_run(run_id).id  # an unknown run is said before any file is made
        if to_stdout:
            sys.stdout.write(render_markdown(build_report(s, run_id)))
            sys.stdout.flush()
            return
        assert output is not None
        report, size = _to_file(s, run_id, output, fmt)
    if json_out:
        print_json(
            {"run_id": report.run.id, "format": fmt, "file": str(output), "bytes": size, "figures": report.to_dict()}
        )
        return
    out_console().print(
        printable(f"wrote the {fmt} report of run {report.run.id} to {output} ({_size(size)})"),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _check_suffix(output: Path, fmt: str) -> None:
    """Refuse a file whose suffix names another format (`-o r.pdf`); a file without one is written as asked."""
    suffix = output.suffix.lower()
    if suffix and suffix not in SUFFIXES[fmt]:
        other = next(f for f in FORMATS if f != fmt)
        raise UsageError(
            f"-o {output.name}: {NAMES[fmt]} report is written to a {' or '.join(SUFFIXES[fmt])} file "
            f"(--format {other} writes {' or '.join(SUFFIXES[other])})"
        )


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _render(report: RunReport, fmt: str) -> str:
    if fmt == "md":
        return render_markdown(report)
    try:
        from maker_cli.report.html_page import render_html  # plotly: only when a page is written
    except ModuleNotFoundError as exc:  # a dependency of maker: only a broken install lacks it
        if not (exc.name or "").startswith("plotly"):
            raise
        raise MakerError(f"the HTML report needs plotly ({exc}): reinstall maker, or pip install plotly") from None
    return render_html(report)


def _to_file(store: RunStore, run_id: str, output: Path, fmt: str) -> tuple[RunReport, int]:
    """Write the report into `output`, all or nothing (`atomic_text_file`: the file is opened
    before the report is built, so a path that cannot be written fails fast)."""
    with atomic_text_file(output, newline="\n") as handle:
        report = build_report(store, run_id)
        text = _render(report, fmt)
        handle.write(text)
    return report, len(text.encode("utf-8"))
