"""`maker serve-mcp`: the SDK's own client against the server over stdio and streamable HTTP
(subprocesses), and in-process for the tools, the spending guard, configure, path confinement and
redaction. Every model is the simulated one: no network, no key, no cost."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_helpers import call, calls, error, ok, server_for
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.config.job import merge_job_settings
from maker_cli.config.settings import load_settings
from maker_cli.core import maths
from maker_cli.core.stats import wilson_interval
from maker_cli.mcp.guard import plan_spend
from maker_cli.mcp.server import build_server
from maker_cli.mcp.session import Session

ROOT = Path(__file__).resolve().parents[2]
ARITHMETIC = ROOT / "examples" / "arithmetic.yaml"
TOOLS = {"maker_estimate", "maker_vote", "maker_validate", "maker_calibrate", "maker_configure", "maker_decompose"}
SIM = "sim:p=0.9,answer=42,seed=1"
ANSWER = r"Answer: *(?P<answer>-?\d+)"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(ARITHMETIC, folder / "arithmetic.yaml")
    return folder


@pytest.fixture
def server(root):
    return server_for(root)


def subprocess_env(home: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env |= {name: value for name, value in os.environ.items() if name.startswith("COVERAGE_")}  # CI counts these
    if "PYTHONPATH" in os.environ:  # a checkout on the path (a worktree) is what the server must run
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    for name, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"), ("XDG_CACHE_HOME", ".cache")):
        env[name] = str(home / sub)
    return env


# --------------------------------------------------------------------------- over stdio (subprocess)


def test_stdio_subprocess_end_to_end(root, tmp_path):
    errlog_path = tmp_path / "server-stderr.txt"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "maker_cli", "serve-mcp"],
        env=subprocess_env(tmp_path / "home"),
        cwd=str(root),
    )

    async def go():
        with open(errlog_path, "w") as errlog, anyio.fail_after(60):
            async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=30) as client:
                listed = (await client.list_tools()).tools
                results = {"tools": listed}
                results["estimate"] = await client.call_tool("maker_estimate", {"steps": 1000, "p": 0.99})
                results["vote"] = await client.call_tool("maker_vote", {"prompt": "6*7?", "model": SIM})
                results["spec"] = await client.call_tool(
                    "maker_vote",
                    {"task": "arithmetic.yaml", "inputs": {"a": 6, "b": 7, "expected": 42}, "model": "sim:p=0.9"},
                )
                results["validate"] = await client.call_tool(
                    "maker_validate", {"response": "Answer: 42", "answer_regex": ANSWER}
                )
                results["calibrate"] = await client.call_tool(
                    "maker_calibrate",
                    {
                        "responses": [{"response": "Answer: 42", "expected": "42"}] * 9
                        + [{"response": "Answer: 41", "expected": "42"}],
                        "answer_regex": ANSWER,
                        "steps": 100,
                    },
                )
                results["configure"] = await client.call_tool("maker_configure", {"k": 4})
                results["bad"] = await client.call_tool("maker_estimate", {"steps": "many", "p": 0.9})
                results["bad2"] = await client.call_tool("maker_vote", {"prompt": "q", "task": "x.yaml"})
                results["after"] = await client.call_tool("maker_vote", {"prompt": "again", "model": SIM})
                return results

    try:
        r = anyio.run(go)
    except BaseException:
        print(errlog_path.read_text(errors="replace"))
        raise
    assert {t.name for t in r["tools"]} == TOOLS
    for tool in r["tools"]:
        assert tool.input_schema["type"] == "object" and tool.input_schema["properties"], tool.name
        assert tool.output_schema and tool.output_schema["properties"], tool.name
    assert ok(r["estimate"])["k_min"] == maths.k_min(0.99, 1000, 0.95)
    assert ok(r["vote"])["winner"] == "42"
    assert ok(r["spec"])["winner"] == "42" and ok(r["spec"])["task"] == "arithmetic"
    assert ok(r["validate"])["valid"] is True
    assert ok(r["calibrate"])["p"] == pytest.approx(0.9)
    assert ok(r["configure"])["k"] == 4
    assert "steps" in error(r["bad"])
    assert "exactly one of prompt" in error(r["bad2"])
    after = ok(r["after"])
    assert after["decided"] and after["k"] == 4  # the session default from maker_configure


# --------------------------------------------------------------------------- over streamable HTTP (subprocess)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_busy_port_is_one_line_and_exit_2():
    """The regression: uvicorn logged the bind error and exited 3, the code for "undecided"."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = CliRunner().invoke(app, ["serve-mcp", "--transport", "http", "--port", str(port)])
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (pick another --port or --host)"
    ]


def test_http_transport_smoke(root, tmp_path):
    port = _free_port()
    log = open(tmp_path / "http-server.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "maker_cli", "serve-mcp", "--transport", "http", "--port", str(port)],
        cwd=root,
        env=subprocess_env(tmp_path / "home"),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"server exited: {(tmp_path / 'http-server.log').read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start listening in 30 s"
                time.sleep(0.1)

        async def go():
            with anyio.fail_after(30):
                async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                    tools = (await client.list_tools()).tools
                    result = await client.call_tool("maker_estimate", {"steps": 1048575, "p": 0.9978})
                    return tools, result

        tools, result = anyio.run(go)
        assert {t.name for t in tools} == TOOLS
        assert ok(result)["k_min"] == 3
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


# --------------------------------------------------------------------------- listing


def test_tools_names_schemas_and_spending_notice(server):
    async def go():
        async with Client(server) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in anyio.run(go)}
    assert set(tools) == TOOLS
    for name, tool in tools.items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name)
        for prop, schema in tool.input_schema["properties"].items():
            assert schema.get("description") or "$ref" in json.dumps(schema), f"{name}.{prop} lacks a description"
    for name in ("maker_vote", "maker_calibrate"):
        assert "SPENDS MONEY" in tools[name].description
        assert tools[name].annotations.read_only_hint is False
    assert "Free" in tools["maker_estimate"].description and "Free" in tools["maker_validate"].description


# --------------------------------------------------------------------------- maker_estimate


def test_estimate_has_the_fields_of_the_cli_json(server):

    args = dict(steps=1000, p=0.99, output_tokens=500, model="gpt-4.1-mini", budget_usd=5.0, sweep=True)
    cli = CliRunner().invoke(
        app,
        [
            "estimate",
            "--steps",
            "1000",
            "--p",
            "0.99",
            "--output-tokens",
            "500",
            "--model",
            "gpt-4.1-mini",
            "--budget",
            "5",
            "--sweep",
            "--json",
        ],
    )
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    got = ok(call(server, "maker_estimate", **args))
    assert set(expected) <= set(got)
    assert {key: got[key] for key in expected} == expected


def test_estimate_errors_say_what_to_change(server):
    low, zero, unknown, fine = calls(
        server,
        ("maker_estimate", {"steps": 100, "p": 0.4}),
        ("maker_estimate", {"steps": 0, "p": 0.9}),
        ("maker_estimate", {"steps": 100, "p": 0.9, "model": "no-such-model-xyz"}),
        ("maker_estimate", {"steps": 100, "p": 0.9}),
    )
    assert "cannot converge" in error(low)
    assert "steps" in error(zero)
    assert "price_in" in error(unknown) or "--price-in" in error(unknown)
    assert ok(fine)["k"] >= 1


# --------------------------------------------------------------------------- maker_vote


def test_vote_free_prompt_reports_vote_fields_and_spend(server):
    out = ok(call(server, "maker_vote", prompt="6*7?", model=SIM, k=2))
    for key in (
        "winner",
        "decided",
        "votes",
        "samples",
        "red_flag_reasons",
        "errors",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "spent_usd",
        "session_spent_usd",
        "sample_cap",
        "stop_reason",
    ):
        assert key in out
    assert out["winner"] == "42" and out["decided"] and out["k"] == 2 and out["simulated"]
    assert out["spent_usd"] == 0.0 and out["stop_reason"] == "done"


def test_vote_red_flags_and_answer_regex(server):
    out = ok(
        call(
            server,
            "maker_vote",
            prompt="q",
            model="sim:p=0.95,answer=yes,invalid=0.4,seed=2",
            k=2,
            must_not_match=["not sure"],
        )
    )
    assert out["red_flagged"] == sum(out["red_flag_reasons"].values())
    assert set(out["red_flag_reasons"]) <= {"forbidden_pattern", "truncated"}
    regex = ok(call(server, "maker_vote", prompt="q", model="sim:p=1,answer=Answer: 7", answer_regex=ANSWER))
    assert regex["winner"] == "7"


def test_vote_with_a_spec_inside_the_working_directory(server):
    out = ok(
        call(
            server,
            "maker_vote",
            task="arithmetic.yaml",
            inputs={"a": 123, "b": 456, "expected": 56088},
            model="sim:p=0.9,seed=4",
        )
    )
    assert out["winner"] == "56088" and out["task"] == "arithmetic"
    missing = error(call(server, "maker_vote", task="arithmetic.yaml", inputs={"a": 1}, model="sim"))
    assert "missing input 'b'" in missing


def test_vote_spec_paths_are_confined(server, root, tmp_path):
    outside = tmp_path / "outside.yaml"
    shutil.copy(ARITHMETIC, outside)
    (root / "link.yaml").symlink_to(outside)
    (root / "notes.txt").write_text("hello")
    args = dict(inputs={"a": 1, "b": 2, "expected": 2}, model="sim")
    results = calls(
        server,
        ("maker_vote", dict(task="../outside.yaml", **args)),
        ("maker_vote", dict(task=str(outside), **args)),
        ("maker_vote", dict(task="link.yaml", **args)),
        ("maker_vote", dict(task="notes.txt", **args)),
        ("maker_vote", dict(task="/etc/passwd", **args)),
        ("maker_vote", dict(task="nothere.yaml", **args)),
    )
    messages = [error(r) for r in results]
    for message in messages[:3]:
        assert "outside the folders" in message
    assert ".yaml or .yml" in messages[3] and ".yaml or .yml" in messages[4]
    assert "not found" in messages[5]
    for message in messages:
        assert str(tmp_path) not in message


def test_allow_dir_admits_another_folder(root, tmp_path):
    extra = tmp_path / "specs"
    extra.mkdir()
    shutil.copy(ARITHMETIC, extra / "mul.yaml")
    server = build_server(load_settings(), root=root, allowed_dirs=(extra,))
    out = ok(
        call(
            server,
            "maker_vote",
            task=str(extra / "mul.yaml"),
            inputs={"a": 2, "b": 3, "expected": 6},
            model="sim:p=0.9",
        )
    )
    assert out["winner"] == "6"


def test_spec_errors_name_the_spec_not_the_folder(server, root):
    (root / "broken.yaml").write_text("name: x\nuser: hi\nanswer: {regex: 'no group'}\nvotes: 3\n")
    message = error(call(server, "maker_vote", task="broken.yaml", model="sim"))
    assert message.split(": ", 1)[1].startswith("broken.yaml")
    assert str(root) not in message


# --------------------------------------------------------------------------- the spending guard


def test_sample_cap_bounds_every_vote(server):
    conf, capped, too_big_k = calls(
        server,
        ("maker_configure", {"mcp_max_samples": 5}),
        (
            "maker_vote",
            {"prompt": "q", "model": "sim:p=0.51,answer=x,errors=spread,seed=1", "k": 4, "max_samples": 100},
        ),
        ("maker_vote", {"prompt": "q", "model": SIM, "k": 6}),
    )
    assert ok(conf)["mcp_max_samples"] == 5
    out = ok(capped)
    assert out["samples"] <= 5 and out["sample_cap"] == 5
    assert not out["decided"] and out["stop_reason"] == "sample_cap"
    assert any("lowered to the per-call cap" in note for note in out["guard_notes"])
    assert "k = 6 needs at least 6 samples" in error(too_big_k)


def test_dollar_cap_refuses_the_worst_case_and_says_what_fits(server):
    priced = {"price_in": 1.0, "price_out": 10.0, "mcp_max_cost_usd": 0.05}
    conf, refused = calls(server, ("maker_configure", priced), ("maker_vote", {"prompt": "q", "model": SIM}))
    assert ok(conf)["mcp_max_cost_usd"] == 0.05
    message = error(refused)
    fits = int(re.search(r"max_samples <= (\d+)", message).group(1))
    assert "over the per-call cap" in message and 3 <= fits < 50
    out = ok(call(server, "maker_vote", prompt="q", model=SIM, max_samples=fits))
    assert out["decided"] and out["worst_case_usd"] <= 0.05 and out["spent_usd"] > 0


def test_spend_stops_at_the_dollar_cap_and_is_reported(server):
    calls(server, ("maker_configure", {"price_in": 1.0, "price_out": 10.0, "mcp_max_cost_usd": 0.05}))
    # every sample reports 2000 output tokens (red-flagged as too long, but paid for): the backstop stops it
    first, second = calls(
        server,
        ("maker_vote", {"prompt": "q", "model": "sim:p=0.51,answer=x,out_tokens=2000", "max_samples": 6}),
        ("maker_configure", {}),
    )
    out = ok(first)
    assert out["stop_reason"] == "cost_cap" and not out["decided"] and out["winner"] is None
    assert out["spent_usd"] >= 0.05 and out["samples"] < 6
    assert out["red_flag_reasons"] == {"too_long": out["samples"]}
    assert ok(second)["session_spent_usd"] == pytest.approx(out["spent_usd"])


def test_unpriced_models_are_refused_unless_self_hosted():
    settings = load_settings()
    from mcp.server.mcpserver.exceptions import ToolError

    job = merge_job_settings(settings, flags={"model": "my-private-model-xyz"})
    with pytest.raises(ToolError, match="price_in and price_out"):
        plan_spend(job, cap_samples=50, cap_usd=0.5, requested=None, prompt_chars=10)
    local = merge_job_settings(settings, flags={"model": "my-private-model-xyz", "api_base": "http://127.0.0.1:9/v1"})
    plan = plan_spend(local, cap_samples=50, cap_usd=0.5, requested=None, prompt_chars=10)
    assert plan.samples == 50 and plan.worst_case_usd is None and "dollar cap is not checked" in plan.notes[0]


def test_caps_come_from_the_environment(root, monkeypatch):
    monkeypatch.setenv("MAKER_MCP_MAX_SAMPLES", "7")
    monkeypatch.setenv("MAKER_MCP_MAX_COST_USD", "0.01")
    out = ok(call(build_server(load_settings(), root=root), "maker_configure"))
    assert out["mcp_max_samples"] == 7 and out["mcp_max_cost_usd"] == 0.01


# --------------------------------------------------------------------------- maker_configure


def test_configure_persists_validates_resets_and_locks(server, root):
    results = calls(
        server,
        ("maker_configure", {"model": SIM, "k": 5, "temperature": 0.3}),
        ("maker_vote", {"prompt": "q"}),
        ("maker_configure", {"k": 0}),
        ("maker_configure", {"model": "sim:bogus=1"}),
        ("maker_configure", {}),
        ("maker_configure", {"reset": True}),
    )
    first, voted, bad_k, bad_model, after_errors, reset = results
    assert ok(first)["changed"] == ["k", "model", "temperature"]
    assert ok(voted)["k"] == 5 and ok(voted)["model"] == SIM
    assert "k" in error(bad_k)
    assert "unknown option" in error(bad_model)
    assert ok(after_errors)["k"] == 5 and ok(after_errors)["temperature"] == 0.3
    assert ok(reset)["k"] == 3 and ok(reset)["model"] == "gpt-4.1-mini"
    locked = build_server(load_settings(), root=root, lock_caps=True)
    assert "locked" in error(call(locked, "maker_configure", mcp_max_cost_usd=100))
    assert ok(call(locked, "maker_configure", k=4))["caps_locked"] is True


# --------------------------------------------------------------------------- maker_validate


@pytest.mark.parametrize(
    "args, valid, answer, reasons",
    [
        (dict(response="work...\nAnswer: 056088", answer_regex=ANSWER, canonical=["number"]), True, "56088", []),
        (dict(response="no answer here", answer_regex=ANSWER), False, None, ["format"]),
        (dict(response='{"result": {"value": 7}}', json_path="result.value", json_type="int"), True, "7", []),
        (
            dict(response='{"result": {"value": "7"}}', json_path="result.value", json_type="int"),
            False,
            None,
            ["format"],
        ),
        (
            dict(response="Answer: 5", answer_regex=ANSWER, output_tokens=900, max_output_tokens=750),
            False,
            "5",
            ["too_long"],
        ),
        (dict(response="Answer: 5", answer_regex=ANSWER, finish_reason="length"), False, "5", ["truncated"]),
        (
            dict(response="Answer: 5\nAnswer: 6", answer_regex=ANSWER, must_not_match=["(?ms)^Answer:.*^Answer:"]),
            False,
            "6",
            ["forbidden_pattern"],
        ),
        (dict(response="Answer: 9", answer_regex=ANSWER, allowed=["1", "2"]), False, None, ["format"]),
        (dict(response="   "), False, None, ["empty"]),
        (dict(response="  Paris \n"), True, "Paris", []),
    ],
)
def test_validate_cases(server, args, valid, answer, reasons):
    out = ok(call(server, "maker_validate", **args))
    assert out["valid"] is valid and out["answer"] == answer
    assert [flag["reason"] for flag in out["red_flags"]] == reasons


def test_validate_bad_rules_are_tool_errors(server):
    no_group, bad_regex, bad_path, after = calls(
        server,
        ("maker_validate", {"response": "x", "answer_regex": r"Answer: (\d+)"}),
        ("maker_validate", {"response": "x", "must_not_match": ["(unclosed"]}),
        ("maker_validate", {"response": "{}", "json_path": "a..b"}),
        ("maker_validate", {"response": "Answer: 1", "answer_regex": ANSWER}),
    )
    assert "(?P<answer>" in error(no_group)
    assert "unclosed" in error(bad_regex) or "missing )" in error(bad_regex)
    assert "json_path" in error(bad_path) or "JSON path" in error(bad_path)
    assert ok(after)["valid"]


BACKTRACKS = r"^(a|aa)+$"  # under `re`, minutes on the reply below, with the event loop blocked
HOSTILE = "a" * 40 + "!"


@pytest.mark.timeout(60)
def test_validate_a_pattern_that_backtracks_is_a_tool_error_and_the_server_keeps_answering(server):
    start = time.perf_counter()
    forbidden, answer, required, after = calls(
        server,
        ("maker_validate", {"response": HOSTILE, "must_not_match": [BACKTRACKS]}),
        ("maker_validate", {"response": HOSTILE, "answer_regex": r"^(?P<answer>(a|aa)+)$"}),
        ("maker_validate", {"response": HOSTILE, "require": BACKTRACKS}),
        ("maker_validate", {"response": "Answer: 1", "answer_regex": ANSWER}),
    )
    assert time.perf_counter() - start < 20  # three matches cut off at a quarter of a second each
    for result, what in ((forbidden, "must_not_match pattern"), (answer, "regex"), (required, "require")):
        message = error(result)
        assert f": {what} '" in message and "ran longer than 0.25 s" in message and "\n" not in message
        assert "regex_timeout" in message
    assert ok(after)["valid"]


@pytest.mark.timeout(60)
def test_the_server_answers_other_calls_while_a_pattern_runs(server):
    """maker_validate runs in a worker thread and `regex` lets go of the GIL while it matches: an
    estimate sent after a backtracking validate comes back before it."""
    finished = []

    async def go():
        async with Client(server) as client:

            async def one(name, args):
                result = await client.call_tool(name, args)
                finished.append((name, result))

            async with anyio.create_task_group() as group:
                group.start_soon(one, "maker_validate", {"response": HOSTILE, "must_not_match": [BACKTRACKS] * 3})
                await anyio.sleep(0.05)
                group.start_soon(one, "maker_estimate", {"steps": 100, "p": 0.9})

    anyio.run(go)
    assert [name for name, _ in finished] == ["maker_estimate", "maker_validate"]
    assert ok(finished[0][1])["k"] >= 1 and "regex_timeout" in error(finished[1][1])


@pytest.mark.timeout(60)
def test_labelled_calibration_counts_the_responses_a_pattern_runs_out_of_time_on(server):
    responses = [{"response": "Answer: 42", "expected": "42"}] * 3 + [{"response": HOSTILE, "expected": "42"}]
    out = ok(call(server, "maker_calibrate", responses=responses, answer_regex=ANSWER, must_not_match=[BACKTRACKS]))
    assert out["samples"] == 4 and out["valid"] == 3 and out["red_flags"] == {"regex_timeout": 1}


def test_must_not_match_takes_at_most_a_hundred_patterns(server):
    assert "100" in error(call(server, "maker_validate", response="x", must_not_match=["x"] * 101))


# --------------------------------------------------------------------------- maker_calibrate


def test_calibrate_labelled_gives_p_with_wilson_interval_and_k(server):
    responses = (
        [{"response": "Answer: 42", "expected": "42"}] * 45
        + [{"response": "Answer: 41", "expected": "42"}] * 3
        + [{"response": "I think 42", "expected": "42"}] * 2
    )
    out = ok(call(server, "maker_calibrate", responses=responses, answer_regex=ANSWER, steps=1000, target=0.9))
    assert out["mode"] == "labelled" and out["samples"] == 50 and out["valid"] == 48 and out["correct"] == 45
    assert out["p"] == pytest.approx(45 / 48)
    assert out["p_ci"] == pytest.approx(list(wilson_interval(45, 48)))
    assert out["valid_rate_ci"] == pytest.approx(list(wilson_interval(48, 50)))
    assert out["red_flags"] == {"format": 2}
    rec = out["recommendation"]
    assert rec["recommended_k"] == out["recommended_k"] == maths.k_min(out["p_ci"][0], 1000, 0.9)
    assert rec["k_at_point_estimate"] == maths.k_min(45 / 48, 1000, 0.9)
    assert out["guard"] is None


def test_calibrate_labelled_json_types_and_length_flags(server):
    responses = [
        {"response": '{"n": 3}', "expected": "3", "output_tokens": 10},
        {"response": '{"n": 3}', "expected": "3", "output_tokens": 5000},
        {"response": '{"n": 4}', "expected": "3"},
    ]
    out = ok(call(server, "maker_calibrate", responses=responses, json_path="n", json_type="int"))
    assert (out["valid"], out["correct"], out["red_flags"]) == (2, 1, {"too_long": 1})
    bad = error(
        call(server, "maker_calibrate", responses=[{"response": "{}", "expected": "x"}], json_path="n", json_type="int")
    )
    assert "responses[0].expected" in bad


def test_calibrate_model_modes_are_capped(server):
    conf, hanoi, spec, neither = calls(
        server,
        ("maker_configure", {"mcp_max_samples": 20}),
        ("maker_calibrate", {"task": "hanoi", "disks": 4, "model": "sim:p=0.9,seed=3", "samples": 500, "steps": 15}),
        (
            "maker_calibrate",
            {
                "task": "arithmetic.yaml",
                "model": "sim:p=0.9",
                "items": [{"a": 2, "b": 3, "expected": 6}, {"inputs": {"a": 4, "b": 5}, "expected": 20}],
            },
        ),
        ("maker_calibrate", {}),
    )
    assert ok(conf)["mcp_max_samples"] == 20
    out = ok(hanoi)
    assert out["mode"] == "model" and out["task"] == "hanoi-4" and out["samples"] == 20
    assert out["guard"]["sample_cap"] == 20 and out["guard"]["spent_usd"] == 0.0
    assert any("lowered" in note for note in out["guard"]["guard_notes"])
    assert out["hanoi"]["disks"] == 4 and out["recommendation"]["steps"] == 15
    by_spec = ok(spec)
    assert by_spec["task"] == "arithmetic" and by_spec["samples"] == 2
    assert by_spec["recommendation"]["steps"] == 2  # the CLI's default: one step per item
    assert "exactly one of responses" in error(neither)


def test_calibrate_has_the_fields_of_the_cli_json(server):

    cli = CliRunner().invoke(
        app,
        ["calibrate", "hanoi", "--model", "sim:p=0.95,seed=2", "--disks", "4", "--samples", "20", "--json"],
    )
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    got = ok(call(server, "maker_calibrate", task="hanoi", model="sim:p=0.95,seed=2", disks=4, samples=20))
    missing = set(expected) - set(got) - {"calibration_file", "warnings"}
    assert not missing
    for key in ("p", "p_ci", "valid_rate", "samples", "recommended_k", "hanoi"):
        assert got[key] == expected[key], key


def test_calibrate_model_mode_refused_over_the_dollar_cap(server):
    calls(server, ("maker_configure", {"price_in": 5.0, "price_out": 50.0, "mcp_max_cost_usd": 0.2}))
    message = error(call(server, "maker_calibrate", task="hanoi", disks=3, model="sim:p=0.9", samples=40))
    fits = int(re.search(r"samples <= (\d+)", message).group(1))
    assert "refused" in message and 1 <= fits < 40
    out = ok(call(server, "maker_calibrate", task="hanoi", disks=3, model="sim:p=0.9", samples=fits))
    assert out["samples"] == fits and 0 < out["guard"]["spent_usd"] <= 0.2
    nothing_fits = error(
        call(server, "maker_calibrate", task="hanoi", disks=3, model="sim:p=0.9", max_output_tokens=100_000)
    )
    assert "cheaper model or a lower max_output_tokens" in nothing_fits


# --------------------------------------------------------------------------- redaction


def test_secrets_in_errors_are_redacted(server, monkeypatch):
    secret = "sk-test-abcdefghijklmnop123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    message = error(call(server, "maker_vote", prompt="q", model=f"sim:token={secret}"))
    assert "unknown option" in message and secret not in message and "[redacted]" in message


def test_session_redact_hides_urls_credentials_and_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890")
    session = Session(base=load_settings(), root=tmp_path / "root", allowed=(tmp_path / "extra",))
    text = session.redact(
        f"{tmp_path}/root/a.yaml {tmp_path}/extra/b.yaml {Path.home()}/x https://bob:pw@host/v1 tok-1234567890"
        " Bearer abc.def ghp_abcdefghijklmnopqrstuvwx"
    )
    assert str(tmp_path) not in text and "pw@" not in text and "tok-1234567890" not in text
    assert "./a.yaml" in text and "<allowed folder 1>/b.yaml" in text and "~/x" in text
    assert "abc.def" not in text and "ghp_" not in text


def test_calibrate_a_sequential_spec_along_its_reference_path(root, server):
    import shutil

    shutil.copy(Path(__file__).resolve().parents[2] / "examples" / "sequential" / "addition.yaml", root / "add.yaml")
    out = ok(call(server, "maker_calibrate", task="add.yaml", model="sim:p=0.95,seed=4", samples=40))
    assert out["mode"] == "model" and out["samples"] == 40
    assert out["recommendation"]["steps"] > 1  # the reference path's length, not one per item
    assert "no items" in error(
        call(server, "maker_calibrate", task="add.yaml", model="sim:p=0.9", items=[{"a": 1, "expected": 1}])
    )


def test_vote_refuses_an_empty_prompt_and_a_simulated_p_at_or_below_one_half(server):
    empty, low = calls(
        server,
        ("maker_vote", {"prompt": "  ", "model": "sim:p=0.9,answer=1"}),
        ("maker_vote", {"prompt": "q", "model": "sim:p=0.4,answer=1"}),
    )
    assert "the prompt is empty" in error(empty)
    assert "cannot converge" in error(low)
