"""`maker prompt show`: the exact messages a step sends, as the model sees them.

maker prompt show hanoi --disks 20 --step 5
maker prompt show hanoi --disks 20 --prompt my_prompt.yaml
maker prompt show arithmetic.yaml --input a=1 --input b=2
maker prompt show addition.yaml --input a=123 --input b=989 --step 2
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from maker_cli.cli import options
from maker_cli.cli.output import out_console, print_json, printable
from maker_cli.jobs.prompt_show import show_prompt

app = typer.Typer(help="See the exact prompt a step sends.", no_args_is_help=True, add_completion=False)


@app.callback()
def group() -> None:
    """See the exact prompt a step sends (a group, so that `show` stays a subcommand)."""


@app.command("show")
def show(
    task: Annotated[str, typer.Argument(metavar="TASK", help="hanoi, or a task spec FILE (YAML).")],
    disks: Annotated[int, typer.Option("--disks", "-n", help="Hanoi: the number of disks (1-25).")] = 10,
    step: Annotated[
        int | None,
        typer.Option(
            "--step",
            min=0,
            help="The step (0-based): Hanoi's on the optimal path, a sequence spec's on its reference path.",
        ),
    ] = None,
    inputs: options.Inputs = [],  # noqa: B006 - typer reads the default, never mutated
    prompt: options.PromptFile = None,
    trust_spec_code: options.TrustSpecCode = False,
    json_out: options.Json = False,
) -> None:
    """Print the system and user messages of one step exactly as they are sent (no model call)."""
    given_inputs = options.parse_inputs(inputs) if inputs else None
    view = show_prompt(
        task if task == "hanoi" else Path(task),
        step=step,
        disks=disks,
        inputs=given_inputs,
        prompt=prompt,
        trust_spec_code=trust_spec_code,
    )
    if json_out:
        print_json(view.model_dump(mode="json"))
        return
    console = out_console()
    where = "" if view.step is None else f", step {view.step:,}, state from {view.state_from}"
    named = f"prompt {view.prompt_name}" + (f" (sha256 {view.prompt_sha256[:12]})" if view.prompt_sha256 else "")
    console.print(
        Text(
            f"{view.task}{where}; {named}; {view.characters:,} characters, about {view.approx_tokens:,} tokens",
            style="dim",
        ),
        soft_wrap=True,
    )
    for message in view.messages:
        console.print(Text(f"--- {message.role} ---", style="dim"))  # a rule would fill a pipe's 10,000 columns
        console.print(Text(printable(message.content)), soft_wrap=True)
