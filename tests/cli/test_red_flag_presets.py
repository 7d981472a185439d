"""Red-flag presets and checks through the front ends (issue 13, section 5): a spec using a preset
votes end to end on the simulated model, each reason is counted and shown, `--red-flags` beats the
spec's preset (settings_sources says so) while the spec's own checks still apply, a spec whose
simulated correct reply is red-flagged is refused, bad values are one line naming the file and the
field (exit 2), calibration applies a spec's checks, and the MCP tool takes the preset too."""

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
ADDITION = ROOT / "examples" / "sequential" / "addition.yaml"
INPUTS = ["--input", "a=6", "--input", "b=7", "--input", "expected=42"]

QUESTION = {
    "name": "product",
    "inputs": {"a": {"type": "int"}, "b": {"type": "int"}, "expected": {"default": ""}},
    "user": "Compute {{a}} * {{b}}. End with a line 'Answer: N', then a line END.",
    "answer": {"regex": r"(?m)^Answer: *(?P<answer>-?\d+) *$"},
    "expected": "{{expected}}",
    "sim_response": "Answer: {{answer}}\nEND",
    "voting": {"k": 3},
}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def question(tmp_path: Path, red_flags: object = None, **changes: object) -> Path:
    data = {**QUESTION, **changes}
    if red_flags is not None:
        data["red_flags"] = red_flags
    path = tmp_path / "product.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def vote_json(spec: Path, model: str, *extra: str) -> tuple[int, dict]:
    r = invoke("vote", "--task", str(spec), *INPUTS, "--model", model, *extra, "--json")
    assert r.exit_code in (0, 3), r.output
    return r.exit_code, json.loads(r.stdout)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --------------------------------------------------------------------------- maker vote


def test_a_spec_with_a_preset_votes_end_to_end(tmp_path):
    code, out = vote_json(question(tmp_path, "strict"), "sim:p=0.8,seed=1")
    assert code == 0 and out["decided"] is True and out["winner"] == "42"
    assert out["settings"]["red_flags"] == "strict" and out["settings_sources"]["red_flags"] == "spec"
    assert out["settings"]["red_flag_checks"] is None and out["settings_sources"]["red_flag_checks"] == "default"


def test_without_a_preset_a_vote_is_the_papers_length_and_format(tmp_path):
    code, out = vote_json(question(tmp_path), "sim:p=0.8,seed=1")
    assert code == 0 and out["settings"]["red_flags"] == "paper" and out["settings_sources"]["red_flags"] == "default"


def test_each_reason_is_counted_and_shown(tmp_path):
    """Malformed simulated replies (a third of the correct one + ' ... I am not sure', or cut off)
    miss the end marker: counted as missing_marker before the answer rules see them."""
    spec = question(tmp_path, {"preset": "relaxed", "ends_with": "END"}, voting={"k": 4})
    code, out = vote_json(spec, "sim:p=0.9,invalid=0.6,seed=3")
    reasons = out["red_flag_reasons"]
    assert code == 0 and reasons.get("missing_marker", 0) > 0, reasons
    assert set(reasons) <= {"missing_marker", "truncated"} and sum(reasons.values()) == out["red_flagged"]
    assert out["settings"]["red_flag_checks"]["ends_with"] == "END"
    assert out["settings_sources"]["red_flag_checks"] == "spec"
    text = invoke("vote", "--task", str(spec), *INPUTS, "--model", "sim:p=0.9,invalid=0.6,seed=3")
    assert text.exit_code == 0 and f"missing_marker {reasons['missing_marker']}" in text.stdout, text.stdout


def test_the_flag_beats_the_spec_and_the_specs_own_checks_still_apply(tmp_path):
    hedging = {"sim_response": "Hmm.\nAnswer: {{answer}}\nEND"}  # every reply, right or wrong, says "Hmm"
    spec = question(tmp_path, **hedging)
    code, out = vote_json(spec, "sim:p=0.9,seed=2")
    assert code == 0 and out["decided"] is True  # paper: "Hmm" is no red flag
    code, out = vote_json(spec, "sim:p=0.9,seed=2", "--red-flags", "strict")
    assert code == 3 and out["stopped"] == "red_flags" and out["valid"] == 0
    assert out["red_flag_reasons"] == {"self_correction": out["samples"]}
    assert out["settings"]["red_flags"] == "strict" and out["settings_sources"]["red_flags"] == "flag"
    # the spec turns the phrases off: the flag chooses the preset, the spec's checks go on top of it
    spec = question(tmp_path, {"preset": "relaxed", "self_correction": False}, **hedging)
    code, out = vote_json(spec, "sim:p=0.9,seed=2", "--red-flags", "strict")
    assert code == 0 and out["decided"] is True and out["red_flag_reasons"] == {}
    assert out["settings_sources"]["red_flags"] == "flag" and out["settings_sources"]["red_flag_checks"] == "spec"
    # and the flag can loosen a spec's preset
    code, out = vote_json(question(tmp_path, "strict"), "sim:p=0.9,seed=2", "--red-flags", "paper")
    assert code == 0 and out["settings"]["red_flags"] == "paper" and out["settings_sources"]["red_flags"] == "flag"


def test_the_flag_on_a_free_prompt(tmp_path):
    r = invoke("vote", "--prompt", "q", "--model", "sim:p=1,answer=Let me reconsider: 4", "--red-flags", "strict")
    assert r.exit_code == 3, r.output
    assert "self_correction" in r.stdout and "too many samples were red-flagged" in r.stdout


def test_an_unknown_preset_flag_is_one_line(tmp_path):
    line = one_line_error(invoke("vote", "--prompt", "q", "--model", "sim:answer=4", "--red-flags", "harsh"))
    assert line.startswith("error: --red-flags: ") and "'paper', 'relaxed' or 'strict'" in line and "harsh" in line


def test_a_run_stores_and_applies_the_preset_flag(tmp_path):
    """`--red-flags` on a run: applied to every step, stored with the run, kept by --resume."""
    store = str(tmp_path / "runs.sqlite")
    r = invoke("run", "hanoi", "--disks", "3", "--model", "sim:p=0.99", "--red-flags", "strict", "--store", store,
               "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["settings"]["red_flags"] == "strict" and out["settings_sources"]["red_flags"] == "flag"
    shown = json.loads(invoke("runs", "show", out["run_id"], "--store", store, "--json").stdout)
    assert shown["config"]["job"]["red_flags"] == "strict"
    from maker_cli.jobs.run_result import RunConfig

    config = RunConfig.model_validate(shown["config"]["job"])
    assert config.vote_config().rules.checks.self_correction  # strict's phrases reach the engine


WORKFLOW = {
    "kind": "workflow",
    "name": "hedged",
    "nodes": [
        {
            "id": "one",
            "user": "What is 6 * 7? End with the line: Answer: N",
            "answer": {"regex": "Answer: *(?P<answer>\\d+)"},
            "expected": "42",
            "sim_response": "Hmm.\nAnswer: {{answer}}",
        }
    ],
}


@pytest.mark.parametrize(("flag", "decided"), [(None, True), ("strict", False), ("relaxed", True)])
def test_workflow_nodes_apply_the_run_preset(tmp_path, flag, decided):
    """A node votes under the run's preset (--red-flags): 'Hmm.' is a strict self-correction phrase,
    so under strict no reply is a vote and the node stops undecided. (A node naming its own preset
    that its simulated reply fails is refused at load: tested with the specs.)"""
    data = json.loads(json.dumps(WORKFLOW))
    spec = tmp_path / "wf.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    args = ["run", "task", str(spec), "--model", "sim:p=0.99,seed=1", "--max-samples", "6",
            "--store", str(tmp_path / "s.sqlite"), "--json"]  # fmt: skip
    if flag:
        args += ["--red-flags", flag]
    r = invoke(*args)
    out = json.loads(r.stdout)
    assert (out["status"] == "solved") is decided, r.output
    if not decided:
        assert set(out["red_flag_reasons"]) == {"self_correction"}


# --------------------------------------------------------------------------- refused specs


def test_a_spec_whose_simulated_correct_reply_is_red_flagged_is_refused(tmp_path):
    spec = question(tmp_path, "strict", sim_response="Wait, Answer: {{answer}}\nEND")
    line = one_line_error(invoke("vote", "--task", str(spec), *INPUTS, "--model", "sim:p=0.9"))
    assert f"{spec}: sim_response: the simulated correct response" in line
    assert "is red-flagged (self_correction: 'Wait,')" in line


def test_a_sequence_spec_whose_simulated_reply_is_red_flagged_is_refused(tmp_path):
    data = yaml.safe_load(ADDITION.read_text(encoding="utf-8"))
    data["red_flags"] = {"preset": "strict", "ends_with": "DONE"}
    spec = tmp_path / "addition.yaml"
    spec.write_text(yaml.safe_dump(data), encoding="utf-8")
    store = ["--store", str(tmp_path / "runs.sqlite")]
    for args in (["run", "task", str(spec), *store], ["calibrate", "task", str(spec), "--samples", "4"]):
        line = one_line_error(invoke(*args, "--input", "a=12", "--input", "b=34", "--model", "sim:p=0.99"))
        assert f"{spec}: sim_response:" in line and "(missing_marker: does not end with 'DONE')" in line


@pytest.mark.parametrize(
    ("red_flags", "field", "message"),
    [
        ({"preset": "harsh"}, "red_flags.preset", "Input should be 'paper', 'relaxed' or 'strict'"),
        ("harsh", "red_flags.preset", "Input should be 'paper', 'relaxed' or 'strict'"),
        ({"max_empty_line_share": 1.5}, "red_flags.max_empty_line_share", "less than or equal to 1"),
        ({"min_output_chars": "many"}, "red_flags.min_output_chars", "valid integer"),
        ({"self_correction": "yes please"}, "red_flags.self_correction", "or a list of phrases"),
        ({"self_correction": ["ok", ""]}, "red_flags.self_correction", "a phrase cannot be blank"),
        ({"one_of": [1, 2]}, "red_flags.one_of", "write 1 in quotes"),
        ({"json_required": "label"}, "red_flags.json_required", "valid list"),
        ({"starts_with": ""}, "red_flags.starts_with", "at least 1 character"),
        ({"stict": True}, "red_flags.stict", "unknown field (known: preset, max_output_tokens"),
    ],
)
def test_bad_values_are_one_line_naming_the_file_and_the_field(tmp_path, red_flags, field, message):
    spec = question(tmp_path, red_flags)
    line = one_line_error(invoke("vote", "--task", str(spec), *INPUTS, "--model", "sim:p=0.9"))
    assert line.startswith(f"error: {spec}: {field}: ") and message in line, line


# --------------------------------------------------------------------------- calibration


def test_calibration_applies_the_specs_checks(tmp_path):
    """A spec's checks are part of what a calibration measures: the same malformed replies count
    as json_fields (checked first) instead of format (the answer rules)."""
    data = yaml.safe_load(ADDITION.read_text(encoding="utf-8"))
    spec = tmp_path / "addition.yaml"
    counts = {}
    for checks in ({}, {"json_required": ["digit", "next_state"]}):
        data["red_flags"] = {"max_output_tokens": 400, **checks}
        spec.write_text(yaml.safe_dump(data), encoding="utf-8")
        r = invoke(
            "calibrate",
            "task",
            str(spec),
            "--input",
            "a=12345",
            "--input",
            "b=67890",
            "--model",
            "sim:p=0.9,invalid=0.5,seed=4",
            "--samples",
            "60",
            "--json",
        )
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        counts[bool(checks)] = out["red_flags"]
        if checks:
            assert out["settings"]["red_flag_checks"]["json_required"] == ["digit", "next_state"]
    assert counts[False].get("format", 0) > 0 and "json_fields" not in counts[False]
    assert counts[True].get("json_fields", 0) == counts[False]["format"] and "format" not in counts[True]


# --------------------------------------------------------------------------- MCP


def test_the_mcp_vote_tool_takes_the_preset(tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    shutil.copy(question(tmp_path, sim_response="Hmm.\nAnswer: {{answer}}\nEND"), root / "spec.yaml")
    server = build_server(load_settings(), root=root)
    args = {"task": "spec.yaml", "inputs": {"a": 6, "b": 7, "expected": 42}, "model": "sim:p=0.9,seed=1"}

    async def go(extra: dict):
        async with Client(server) as client:
            return await client.call_tool("maker_vote", {**args, **extra})

    plain = anyio.run(go, {})
    assert not plain.is_error and plain.structured_content["decided"] is True
    strict = anyio.run(go, {"red_flags": "strict"})
    assert not strict.is_error, strict.content[0].text
    out = strict.structured_content
    assert out["decided"] is False and set(out["red_flag_reasons"]) == {"self_correction"}
    assert out["settings"]["red_flags"] == "strict" and out["settings_sources"]["red_flags"] == "flag"
    bad = anyio.run(go, {"red_flags": "harsh"})
    assert bad.is_error
