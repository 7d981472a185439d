"""Hanoi's prompt as a template: the built-in one is the shipped file, prompt files are checked at
load, custom prompts (few-shot, reasoning first) render and parse, the simulated model's marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from maker_cli.errors import SpecError, UsageError
from maker_cli.providers.base import SampleRequest
from maker_cli.providers.sim import SimProvider, prompt_params
from maker_cli.tasks import Hanoi, hanoi
from maker_cli.tasks.hanoi_prompt import BUILTIN, HanoiPrompt, load_prompt, prompt_from_record

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "configs" / "hanoi_prompt.yaml"

# The built-in prompt of step 1 for 3 disks, spelled out: a change to the template shows here.
GOLDEN_USER_3_STEP_1 = (
    "Strategy for 3 disks (an odd number of disks):\n"
    "- If the previous move did not move disk 1 (or there is no previous move), move disk 1 one peg in the fixed "
    "cyclic direction 0 -> 2 -> 1 -> 0 (from peg 0 to peg 2, from peg 2 to peg 1, from peg 1 to peg 0).\n"
    "- If the previous move moved disk 1, make the only legal move that does not move disk 1.\n\n"
    "Previous move: [1, 0, 2]\nCurrent State: [[3, 2], [], [1]]\n\n"
    "Apply the strategy to the current state. Give the single next move and the state that results from it, "
    "ending with the two required lines (move = ... and next_state = ...)."
)


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_SYSTEM = "Hanoi with {{disks}} disks. End with:\n{{move_line}}\n{{state_line}}"
GOOD_USER = "Previous: {{previous_move}}\nState: {{current_state}}"


def test_the_shipped_file_is_the_built_in_prompt():
    shipped = load_prompt(SHIPPED)
    assert shipped.system == BUILTIN.system and shipped.user == BUILTIN.user
    assert shipped.builtin and shipped.sha256 == BUILTIN.sha256 and shipped.label() == "built-in"


def test_the_built_in_prompt_renders_the_golden_text():
    state, previous = hanoi.optimal_state(3, 1), hanoi.optimal_move(3, 0)
    assert hanoi.user_prompt(3, state, previous) == GOLDEN_USER_3_STEP_1
    system = hanoi.system_prompt(3)
    assert system.startswith("You are solving the Towers of Hanoi puzzle with 3 disks, numbered 1 (the smallest) to 3")
    assert system.endswith(
        "move = [disk id, from peg, to peg]\nnext_state = [[...], [...], [...]]\nwhere next_state is the state after your move."
    )
    assert "{{" not in system and "{{" not in GOLDEN_USER_3_STEP_1


@pytest.mark.parametrize(
    ("system", "user", "message"),
    [
        ("{{move_line}}", GOOD_USER, "{{state_line}}"),
        ("{{state_line}}", GOOD_USER, "{{move_line}}"),
        (GOOD_SYSTEM, "State: {{current_state}}", "user: {{previous_move}} is missing"),
        (GOOD_SYSTEM, "Previous: {{previous_move}}", "user: {{current_state}} is missing"),
        (GOOD_SYSTEM + " {{current_state}}", GOOD_USER, "system: {{current_state}} changes every step: put it in user"),
        (GOOD_SYSTEM + " {{colour}}", GOOD_USER, "system: unknown placeholder {{colour}}"),
        (GOOD_SYSTEM, GOOD_USER + " {{disks.__class__}}", "user: invalid placeholder"),
    ],
)
def test_a_prompt_that_cannot_work_is_refused_at_load(tmp_path, system, user, message):
    path = write(tmp_path, f"system: {system!r}\nuser: {user!r}\n".replace("'", '"').replace("\\\\", "\\"))
    with pytest.raises(SpecError) as info:
        load_prompt(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "a prompt file is a mapping"),
        ("system: x\nuser: y\ncolour: red\n", "colour: unknown field (known: name, description, system, user)"),
        ("name: only a name\n", "needs system:, user: or both"),
        (f"system: {GOOD_SYSTEM!r}\n", "a Hanoi prompt file needs both"),
        ("system: [1, 2]\nuser: y\n", "system:"),
        ("a: &a [1]\nb: *a\n" * 1, "unknown field"),
    ],
)
def test_bad_prompt_files_are_one_clear_error(tmp_path, text, message):
    with pytest.raises(SpecError) as info:
        load_prompt(write(tmp_path, text))
    assert message in str(info.value)


def test_a_prompt_file_is_read_within_the_yaml_limits(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    with pytest.raises(SpecError):
        load_prompt(write(tmp_path, bomb))


def test_few_shot_and_reasoning_prompts_render_and_the_parser_is_unchanged(tmp_path):
    path = write(
        tmp_path,
        "name: few-shot\n"
        "system: |-\n"
        "  Towers of Hanoi, {{disks}} disks ({{parity}}); disk 1 cycles {{direction}}.\n"
        "  Example: previous [1, 0, 2], state [[3, 2], [], [1]] ->\n"
        "  Reasoning: disk 1 moved last, so move the other disk.\n"
        "  move = [2, 0, 1]\n"
        "  next_state = [[3], [2], [1]]\n"
        "  First reason step by step, then end with {{move_line}} and {{state_line}}.\n"
        "user: 'Current {{current_state}} after {{previous_move}}; again {{current_state}}'\n",
    )
    prompt = load_prompt(path)
    bound = prompt.bind(3)
    assert "3 disks (odd)" in bound.system and "{{" not in bound.system
    assert (
        bound.user("[[3], [2], [1]]", "[2, 0, 1]") == "Current [[3], [2], [1]] after [2, 0, 1]; again [[3], [2], [1]]"
    )
    task = Hanoi(3, prompt=path)
    step = task.prompt(1, hanoi.optimal_state(3, 1), hanoi.optimal_move(3, 0), simulated=True)
    assert step.system == bound.system and "after [1, 0, 2]" in step.user
    reply = "Thinking: disk 1 moved last.\nmove = [2, 0, 1]\nnext_state = [[3], [2], [1]]"
    answer = task.judge()(reply)
    assert answer.key == "2,0,1|3;2;1"  # the few-shot example in the prompt is not in the reply: no confusion


def test_a_task_stores_its_prompt_and_comes_back_from_it(tmp_path):
    path = write(tmp_path, f"system: {GOOD_SYSTEM!r}\nuser: {GOOD_USER!r}\n".replace("'", '"'))
    task = Hanoi(4, prompt=path)
    config = task.config()
    assert config["prompt"]["sha256"] == task.prompt_template.sha256 and config["prompt"]["source"] == str(path)
    again = Hanoi.from_config(config)
    assert again.prompt_template.sha256 == task.prompt_template.sha256
    assert Hanoi.from_config({"kind": "hanoi", "disks": 4}).prompt_template.builtin  # runs stored before 0.2
    assert prompt_from_record(BUILTIN.record()).builtin
    assert repr(Hanoi(3)) == "Hanoi(disks=3)" and "prompt='p'" in repr(task)


def test_a_hanoi_prompt_object_works_in_the_api():
    prompt = HanoiPrompt(GOOD_SYSTEM, GOOD_USER, name="mine")
    assert Hanoi(2, prompt=prompt).prompt_template is prompt and prompt.label().startswith("mine (sha256 ")
    with pytest.raises(SpecError):
        HanoiPrompt(GOOD_SYSTEM, "no placeholders")


def test_the_simulated_model_reads_a_prompt_marker():
    assert prompt_params("sim:p=0.9,seed=3", "no marker") is None
    params = prompt_params("sim:p=0.9,seed=3", "x <!-- sim:p=0.5,invalid=0.25 --> y")
    assert params is not None and (params.p, params.invalid, params.seed) == (0.5, 0.25, 3)
    with pytest.raises(UsageError, match="may set p, invalid"):
        prompt_params("sim:p=0.9", "<!-- sim:seed=1 -->")
    with pytest.raises(UsageError, match="between 0 and 1"):
        prompt_params("sim:p=0.9", "<!-- sim:p=1.5 -->")
    sim = SimProvider("sim:p=1.0,seed=1")
    ref = Hanoi(3).prompt(0, hanoi.start_state(3), None, simulated=True).reference
    wrong_always = SampleRequest(
        step=0, system="<!-- sim:p=0 -->", user="u", n=50, temperature=0.1, max_output_tokens=None, reference=ref
    )
    right_always = SampleRequest(
        step=0, system="s", user="u", n=50, temperature=0.1, max_output_tokens=None, reference=ref
    )
    assert all(c.text != ref.correct for c in sim.sample(wrong_always))
    assert all(c.text == ref.correct for c in sim.sample(right_always))
