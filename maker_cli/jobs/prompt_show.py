"""`maker_cli.show_prompt(...)`: the exact messages one step of a task sends, as the model sees them.

Hanoi's step I is shown on the optimal path (the state a correct run reaches before step I); a
sequence spec's step I on its reference solver's path (step 0 needs no solver); a question spec has
one prompt. A prompt file (`prompt=`) is applied as a run would apply it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from maker_cli._types import JSONValue
from maker_cli.errors import UsageError
from maker_cli.jobs.task_arg import TaskArg, resolve_task
from maker_cli.providers.base import chat_messages
from maker_cli.specs.prompt_file import PromptRecord
from maker_cli.tasks import Hanoi, hanoi
from maker_cli.tasks.base import prompt_record_of
from maker_cli.tasks.hanoi_prompt import PromptArg
from maker_cli.tasks.question import QuestionTask
from maker_cli.tasks.sequence import SequenceTask
from maker_cli.tasks.sequence_path import require_solver


class Message(BaseModel):
    role: str
    content: str


class PromptView(BaseModel):
    """`maker prompt show --json`: the messages of one step and which prompt made them."""

    task: str
    step: int | None = Field(description="the step shown (null: a question spec's one prompt)")
    state_from: str = Field(description="where the step's input state comes from")
    prompt_name: str | None
    prompt_sha256: str | None
    prompt_source: str | None
    messages: list[Message]
    characters: int = Field(description="characters sent (all messages)")
    approx_tokens: int = Field(description="about 4 characters per token; a real tokenizer differs")


def show_prompt(
    task: TaskArg = "hanoi",
    *,
    step: int | None = None,
    disks: int = 10,
    inputs: Mapping[str, JSONValue] | None = None,
    prompt: PromptArg = None,
    trust_spec_code: bool = False,
) -> PromptView:
    """The messages step `step` (default 0) of `task` sends; UsageError for a step it cannot show."""
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise UsageError(f"the step must be a whole number >= 0, got {step!r}")
    the_task = resolve_task(task, disks=disks, inputs=inputs, trust_code=trust_spec_code, prompt=prompt)
    index = step or 0
    if isinstance(the_task, Hanoi):
        if index >= the_task.steps_total:
            raise UsageError(f"{the_task.n} disks take steps 0 to {the_task.steps_total - 1:,}, not {index:,}")
        pegs = hanoi.optimal_state(the_task.n, index)
        move = hanoi.optimal_move(the_task.n, index - 1) if index > 0 else None
        message = the_task.prompt(index, pegs, move, simulated=False)
        origin = "the start" if index == 0 else "the optimal path (where a correct run is)"
    elif isinstance(the_task, SequenceTask):
        if index == 0:
            state, previous = the_task.start()
            origin = "the spec's initial_state"
        else:
            require_solver(the_task)
            found = None
            for at, state, previous, _values in the_task.walk(index + 1):
                if at == index:
                    found = (state, previous)
            if found is None:
                raise UsageError(f"{the_task.source}: the reference path ends before step {index:,}")
            state, previous = found
            origin = "the reference solver's path"
        message = the_task.prompt(index, state, previous, simulated=False)
    elif isinstance(the_task, QuestionTask):
        if step:
            raise UsageError(f"{the_task.spec.source} is a question spec: it has one prompt (no --step)")
        message = the_task.prompt(simulated=False)
        index, origin = -1, "the inputs"
    else:
        raise UsageError("show_prompt takes 'hanoi' or a spec (file or loaded)")
    record: PromptRecord = prompt_record_of(the_task) or {}
    messages = [Message(role=m["role"], content=m["content"]) for m in chat_messages(message.system, message.user)]
    chars = sum(len(m.content) for m in messages)
    return PromptView(
        task=the_task.name,
        step=None if index < 0 else index,
        state_from=origin,
        prompt_name=record.get("name"),
        prompt_sha256=record.get("sha256"),
        prompt_source=record.get("source"),
        messages=messages,
        characters=chars,
        approx_tokens=chars // 4 + 1,
    )


__all__ = ["Message", "PromptView", "show_prompt"]
