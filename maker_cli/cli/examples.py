"""`maker examples list` and `maker examples copy NAME [DIR]`: the specs and templates that ship
with maker, usable from an installed copy (no checkout needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from maker_cli.cli.output import out_console, print_json
from maker_cli.examples import copy_example, find_example, list_examples

app = typer.Typer(
    help="The example specs and templates that ship with maker.", no_args_is_help=True, add_completion=False
)


@app.command("list")
def list_command(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Every bundled example: name, kind and what it does."""
    examples = list_examples()
    if json_out:
        print_json(
            {
                "examples": [
                    {"name": e.name, "kind": e.kind, "description": e.description, "file": e.relative} for e in examples
                ]
            }
        )
        return
    table = Table(show_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what it does")
    for e in examples:
        table.add_row(e.name, e.kind, e.description)
    out_console().print(table)
    out_console().print("copy one with: maker examples copy NAME [DIR]", highlight=False)


@app.command("copy")
def copy_command(
    name: Annotated[str, typer.Argument(help="The example's name (see `maker examples list`).")],
    folder: Annotated[Path, typer.Argument(help="Where to write it (default: the current folder).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite a file of the same name.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write an example's file into DIR, to read, change and run."""
    example = find_example(name)
    target = copy_example(name, folder, force=force)
    if json_out:
        print_json({"name": example.name, "kind": example.kind, "file": str(target)})
        return
    out_console().print(
        f"wrote {target} ({example.kind}: {example.description})", highlight=False, markup=False, soft_wrap=True
    )
    out_console().print(
        f"its first lines show how to run it: head -20 {target}", highlight=False, markup=False, soft_wrap=True
    )
