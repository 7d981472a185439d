"""Prompts people can see, change and compare: `maker prompt show`, `--prompt` on run and calibrate
(Hanoi and specs), the side-by-side comparison (a difference it must detect, one it must call not
significant, the recommendation by cost and not by p), the store and `--resume`, the API and MCP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.core.stats import fisher_exact
from maker_cli.errors import UsageError
from maker_cli.tasks.hanoi_prompt import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def hanoi_prompt(folder: Path, name: str, marker: str, extra: str = "") -> Path:
    """A short Hanoi prompt whose simulated p is set by its marker."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "system: |-\n"
        f"  <!-- sim:{marker} -->\n"
        f"  Towers of Hanoi with {{{{disks}}}} disks.{extra} End with:\n"
        "  {{move_line}}\n"
        "  {{state_line}}\n"
        "user: 'Previous move: {{previous_move}}. Current state: {{current_state}}.'\n",
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- maker prompt show


def test_prompt_show_prints_the_exact_messages_of_a_hanoi_step():
    r = cli("prompt", "show", "hanoi", "--disks", "3", "--step", "1")
    assert r.exit_code == 0, r.output
    system = maker_cli.Hanoi(3).prompt(1, ((3, 2), (), (1,)), (1, 0, 2), simulated=False)
    assert system.system in r.stdout and system.user in r.stdout
    assert "--- system ---" in r.stdout and "--- user ---" in r.stdout and "prompt built-in" in r.stdout
    data = json.loads(cli("prompt", "show", "hanoi", "--disks", "3", "--step", "1", "--json").stdout)
    assert [m["role"] for m in data["messages"]] == ["system", "user"]
    assert data["messages"][1]["content"] == system.user and data["prompt_sha256"] == BUILTIN.sha256
    assert data["step"] == 1 and data["approx_tokens"] > 0


def test_prompt_show_with_a_prompt_file_and_for_specs(tmp_path):
    mine = hanoi_prompt(tmp_path, "mine", "p=0.9")
    data = json.loads(cli("prompt", "show", "hanoi", "--disks", "4", "--prompt", str(mine), "--json").stdout)
    assert data["prompt_name"] == "mine" and data["messages"][1]["content"].endswith(
        "Current state: [[4, 3, 2, 1], [], []]."
    )
    question = cli("prompt", "show", str(EXAMPLES / "arithmetic.yaml"), "--input", "a=12", "--input", "b=34", "--json")
    content = " ".join(m["content"] for m in json.loads(question.stdout)["messages"])
    assert "12" in content and "34" in content
    seq = cli(
        "prompt", "show", str(EXAMPLES / "sequential" / "addition.yaml"), "-i", "a=123", "-i", "b=989", "--step", "2"
    )
    assert seq.exit_code == 0 and '"position":2' in seq.stdout.replace(" ", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hanoi", "--disks", "3", "--step", "7"), "3 disks take steps 0 to 6, not 7"),
        ((str(EXAMPLES / "arithmetic.yaml"), "-i", "a=1", "-i", "b=2", "--step", "1"), "it has one prompt"),
        (("hanoi", "--prompt", "missing.yaml"), "missing.yaml"),
    ],
)
def test_prompt_show_refuses_what_it_cannot_show(args, message):
    r = cli("prompt", "show", *args)
    assert r.exit_code == 2 and message in r.output


def test_prompt_show_escapes_what_a_prompt_file_holds(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        'system: "[bold]{{move_line}}[/x] {{state_line}} \\e[31mred"\nuser: "{{previous_move}} {{current_state}}"\n',
        encoding="utf-8",
    )
    r = cli("prompt", "show", "hanoi", "--prompt", str(evil))
    assert r.exit_code == 0 and "[bold]" in r.stdout and "[/x]" in r.stdout and "\x1b" not in r.stdout


# --------------------------------------------------------------------------- run with a prompt


def test_run_hanoi_with_a_prompt_is_stored_and_resume_refuses_another(tmp_path):
    store = tmp_path / "runs.sqlite"
    mine = hanoi_prompt(tmp_path, "mine", "p=0.99")
    other = hanoi_prompt(tmp_path, "other", "p=0.99", extra=" Be careful.")
    capped = ("--price-in", "100", "--price-out", "100", "--max-cost", "0.05", "--yes")  # stops part-way
    r = cli("run", "hanoi", "--disks", "4", "--model", "sim:p=0.99", "--prompt", str(mine), "--store", str(store),
            "--json", *capped)  # fmt: skip
    assert r.exit_code == 4, r.output
    run_id = json.loads(r.stdout)["run_id"]
    shown = cli("runs", "show", run_id, "--store", str(store))
    assert "prompt: mine (sha256 " in shown.stdout and str(mine) in shown.stdout
    stored = json.loads(cli("runs", "show", run_id, "--store", str(store), "--json").stdout)
    assert stored["prompt"]["sha256"] == maker_cli.load_prompt(mine).sha256
    refused = cli("run", "hanoi", "--resume", run_id, "--prompt", str(other), "--store", str(store))
    assert (
        refused.exit_code == 2
        and "was started with the prompt mine" in refused.output
        and "not other" in refused.output
    )
    same = cli("run", "hanoi", "--resume", run_id, "--prompt", str(mine), "--store", str(store), "--json",
               "--max-cost", "100")  # fmt: skip
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["status"] == "solved"
    after = json.loads(cli("runs", "show", run_id, "--store", str(store), "--json").stdout)
    assert after["prompt"]["name"] == "mine"


def test_a_run_without_a_prompt_records_the_built_in_one(tmp_path):
    store = tmp_path / "runs.sqlite"
    r = cli("run", "hanoi", "--disks", "3", "--model", "sim:p=0.99", "--store", str(store), "--json")
    run_id = json.loads(r.stdout)["run_id"]
    shown = cli("runs", "show", run_id, "--store", str(store))
    assert "prompt: built-in (sha256 " + BUILTIN.sha256[:12] in shown.stdout


def test_the_red_flag_token_limit_applies_to_the_whole_reply_of_a_custom_prompt(tmp_path):
    verbose = hanoi_prompt(tmp_path, "verbose", "out_tokens=900")  # reasoning first: long replies
    r = cli(
        "run", "hanoi", "--disks", "3", "--model", "sim:p=0.99", "--prompt", str(verbose), "--max-output-tokens", "750"
    )
    assert r.exit_code == 2 and "900 simulated tokens, over the 750-token red flag" in r.output


def test_run_task_with_a_prompt_file_and_resume(tmp_path):
    store = tmp_path / "runs.sqlite"
    spec = tmp_path / "addition.yaml"
    shutil.copy(EXAMPLES / "sequential" / "addition.yaml", spec)
    mine = tmp_path / "terse.yaml"
    mine.write_text("name: terse\nuser: 'State: {{state}}'\n", encoding="utf-8")
    args = ("run", "task", str(spec), "-i", "a=987", "-i", "b=45", "--model", "sim:p=0.99", "--store", str(store))
    capped = ("--price-in", "100", "--price-out", "100", "--max-cost", "0.02", "--yes")  # stops part-way
    r = cli(*args, "--prompt", str(mine), "--json", *capped)
    assert r.exit_code == 4, r.output
    run_id = json.loads(r.stdout)["run_id"]
    assert "prompt: terse (sha256 " in cli("runs", "show", run_id, "--store", str(store)).stdout
    again = cli("run", "task", "--resume", run_id, "--prompt", str(mine), "--store", str(store), "--json",
                "--max-cost", "100")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["final_state"]["digits"] == "1032"
    spec_own = cli("run", "task", "--resume", run_id, "--prompt", "default.yaml", "--store", str(store))
    assert spec_own.exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("user: 'State: {{state}} {{colour}}'\n", encoding="utf-8")
    refused = cli(*args, "--prompt", str(bad))
    assert refused.exit_code == 2 and "bad.yaml" in refused.output and "colour" in refused.output


# --------------------------------------------------------------------------- the comparison


def compare_json(*args: str) -> dict:
    r = cli("calibrate", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_the_comparison_detects_a_real_difference(tmp_path):
    good = hanoi_prompt(tmp_path, "good", "p=0.995")
    poor = hanoi_prompt(tmp_path, "poor", "p=0.9")
    out = compare_json(
        "hanoi", "--model", "sim:p=0.99", "--disks", "8", "--samples", "400",
        "--prompt", str(good), "--prompt", str(poor), "--price-in", "1", "--price-out", "4",
    )  # fmt: skip
    rows = {row["name"]: row for row in out["prompts"]}
    assert out["recommended"] == "good" and rows["good"]["recommended"] and rows["good"]["p_value"] is None
    assert rows["poor"]["significant"] is True and rows["poor"]["p_value"] < 1e-6
    # the p-value is Fisher's exact test on the counts the rows report (one comparison: Holm changes nothing)
    assert rows["poor"]["p_value"] == pytest.approx(
        fisher_exact(rows["poor"]["correct"], rows["poor"]["valid"], rows["good"]["correct"], rows["good"]["valid"])
    )
    assert rows["good"]["k"] < rows["poor"]["k"]
    assert out["ranked_by"] == "expected cost" and "Fisher's exact test" in out["test"]
    assert [r["prompt"]["name"] for r in out["results"]] == ["good", "poor"]
    assert {r["probes"] for r in out["results"]} == {400}


def test_the_comparison_calls_a_small_difference_not_significant_and_recommends_by_cost(tmp_path):
    long_prompt = hanoi_prompt(tmp_path, "long", "p=0.99", extra=" Think hard." * 200)
    short = hanoi_prompt(tmp_path, "short", "p=0.985")
    out = compare_json(
        "hanoi", "--model", "sim:p=0.99", "--disks", "8", "--samples", "300",
        "--prompt", str(long_prompt), "--prompt", str(short), "--price-in", "1", "--price-out", "4",
    )  # fmt: skip
    rows = {row["name"]: row for row in out["prompts"]}
    assert rows["long"]["significant"] is False and rows["long"]["p_value"] > 0.05
    # the recommendation is the cheapest job at the target, not the highest p
    assert out["recommended"] == "short"
    assert rows["short"]["expected_cost_usd"] < rows["long"]["expected_cost_usd"]
    assert rows["long"]["mean_input_tokens"] > 5 * rows["short"]["mean_input_tokens"]


def test_the_comparison_table_for_people(tmp_path):
    a = hanoi_prompt(tmp_path, "a", "p=0.999")
    r = cli("calibrate", "hanoi", "--model", "sim:p=0.99", "--disks", "6", "--samples", "200",
            "--prompt", "default", "--prompt", str(a))  # fmt: skip
    assert r.exit_code == 0, r.output
    for text in ("built-in", "95% interval", "recommended:", "recommended ", "Fisher's exact test", "tok"):
        assert text in r.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--out", "cal.json"), "--out writes one prompt's calibration"),
        (("--pairs",), "--pairs measures one prompt"),
        (("--prompt", "default"), "are the same text"),
    ],
)
def test_comparison_usage_errors(tmp_path, extra, message):
    r = cli("calibrate", "hanoi", "--model", "sim", "--samples", "20", "--prompt", "default", "--prompt", "default",
            *extra)  # fmt: skip
    assert r.exit_code == 2 and message in r.output


def test_a_single_prompt_calibration_names_its_prompt(tmp_path):
    a = hanoi_prompt(tmp_path, "a", "p=0.999")
    out = compare_json("hanoi", "--model", "sim:p=0.9", "--disks", "5", "--samples", "300", "--prompt", str(a))
    assert out["prompt"]["name"] == "a" and out["p"] > 0.98  # the prompt's marker, not the model's p=0.9


def test_spec_prompts_are_compared_on_the_same_steps(tmp_path):
    spec = tmp_path / "addition.yaml"
    shutil.copy(EXAMPLES / "sequential" / "addition.yaml", spec)
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: plain\nsystem: '<!-- sim:p=0.8 -->'\nuser: 'State: {{state}}'\n", encoding="utf-8")
    out = compare_json("task", str(spec), "-i", "a=98765432109876543210", "-i", "b=1234", "--model", "sim:p=0.99",
                       "--samples", "300", "--prompt", "default", "--prompt", str(plain))  # fmt: skip
    rows = {row["name"]: row for row in out["prompts"]}
    assert set(rows) == {"spec", "plain"} and out["recommended"] == "spec"
    assert rows["plain"]["significant"] is True


def test_the_api_compares_prompts(tmp_path):
    a = hanoi_prompt(tmp_path, "a", "p=0.99")
    b = hanoi_prompt(tmp_path, "b", "p=0.9")
    report = maker_cli.compare_prompts(
        "hanoi", [a, b], disks=5, model="sim:p=0.99", samples=300, price_in=1, price_out=4
    )
    assert report.recommended == "a" and report.prompts[1].significant
    with pytest.raises(UsageError, match="compare 2 to 8 prompts"):
        maker_cli.compare_prompts("hanoi", [a], model="sim")
    with pytest.raises(UsageError, match="unknown option 'colour'"):
        maker_cli.compare_prompts("hanoi", [a, b], model="sim", colour=1)
    shown = maker_cli.show_prompt("hanoi", disks=3, step=2, prompt=a)
    assert shown.prompt_name == "a" and shown.step == 2


# --------------------------------------------------------------------------- MCP


def test_mcp_calibrate_compares_prompts_inside_its_folder(tmp_path):
    from mcp_helpers import call, error, ok, server_for

    work = tmp_path / "work"
    work.mkdir()
    hanoi_prompt(work, "good", "p=0.999")
    hanoi_prompt(work, "poor", "p=0.85")
    server = server_for(work)
    out = ok(call(server, "maker_calibrate", task="hanoi", disks=5, model="sim:p=0.99", samples=400,
                  prompts=["good.yaml", "poor.yaml"]))  # fmt: skip
    assert out["comparison"]["recommended"] == "good" and out["prompt"]["name"] == "good"
    assert [row["name"] for row in out["comparison"]["prompts"]] == ["good", "poor"]
    assert out["samples"] == 25  # the call's sample cap (50) is shared by the two prompts
    outside = tmp_path / "outside.yaml"
    shutil.copy(work / "good.yaml", outside)
    assert "outside the folders" in error(
        call(server, "maker_calibrate", task="hanoi", model="sim", prompts=["../outside.yaml"])
    )
    single = ok(
        call(server, "maker_calibrate", task="hanoi", disks=4, model="sim:p=0.99", samples=50, prompts=["good.yaml"])
    )
    assert single["comparison"] is None and single["prompt"]["name"] == "good"


@pytest.mark.parametrize("command", [("run", "hanoi", "--model", "sim"), ("calibrate", "hanoi", "--model", "sim")])
def test_a_template_without_the_answer_lines_is_refused_before_any_call(tmp_path, command):
    broken = tmp_path / "broken.yaml"
    broken.write_text("system: 'Solve it.'\nuser: '{{previous_move}} {{current_state}}'\n", encoding="utf-8")
    r = (
        cli(*command, "--prompt", str(broken), "--store", str(tmp_path / "s.sqlite"))
        if command[0] == "run"
        else cli(*command, "--prompt", str(broken))
    )
    assert r.exit_code == 2
    assert "broken.yaml: neither system nor user contains {{move_line}}" in r.output
    assert len(r.output.strip().splitlines()) == 1
