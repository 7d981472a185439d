"""Keys in use never reach stderr, the run store, `runs show` or an MCP tool error — whatever their
shape, wherever they came from (environment, Router file, config)."""

from __future__ import annotations

import json
import textwrap

import anyio
import pytest
from mcp import Client
from typer.testing import CliRunner

from maker_cli.cli.app import app
from maker_cli.config.settings import load_settings
from maker_cli.mcp.server import build_server
from maker_cli.secrets import REDACTED, redact, register
from maker_cli.testing import FakeOpenAIServer

KEY = "plainsecretvalue1234"  # not shaped like sk-…: only knowing it is a key in use can hide it


def test_an_environment_key_echoed_by_a_server_is_never_printed_or_stored(tmp_path, monkeypatch):
    """The regression: a 401 echoing the key printed it on stderr, stored it in runs.message and
    `runs show` showed it."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    store = str(tmp_path / "s.sqlite")
    with FakeOpenAIServer(api_key="the-right-one") as srv:
        r = CliRunner().invoke(
            app,
            [
                "run",
                "hanoi",
                "--disks",
                "2",
                "--model",
                "openai/fake",
                "--api-base",
                srv.base_url,
                "--k",
                "1",
                "--store",
                store,
                "--json",
            ],
        )
    assert r.exit_code == 1, r.output
    assert KEY not in r.output and KEY not in r.stdout
    assert "Incorrect API key provided: [redacted]" in r.output
    run_id = json.loads(r.stdout)["run_id"]
    assert KEY not in (tmp_path / "s.sqlite").read_bytes().decode("latin-1")
    for args in (["runs", "show", run_id], ["runs", "show", run_id, "--json"], ["runs", "list", "--json"]):
        shown = CliRunner().invoke(app, [*args, "--store", store])
        assert shown.exit_code == 0 and KEY not in shown.output


def test_a_router_files_inline_key_never_reaches_an_mcp_tool_error(tmp_path):
    """The regression: an inline api_key in a Router file leaked in an MCP tool error."""
    with FakeOpenAIServer(api_key="the-right-one") as srv:
        router = tmp_path / "router.yaml"
        router.write_text(
            textwrap.dedent(f"""
            model_list:
              - model_name: fake
                litellm_params: {{model: openai/fake, api_base: "{srv.base_url}", api_key: {KEY}}}
        """),
            encoding="utf-8",
        )
        settings = load_settings(None, router_config=router, model="fake", max_attempts=1, timeout=5)
        server = build_server(settings, root=tmp_path)

        async def go():
            async with Client(server) as client:
                await client.call_tool("maker_configure", {"price_in": 1.0, "price_out": 1.0})
                return await client.call_tool("maker_vote", {"prompt": "q", "k": 1, "max_samples": 1})

        result = anyio.run(go)
    text = result.content[0].text
    assert result.is_error and "Incorrect API key provided" in text, text
    assert KEY not in text and "[redacted]" in text


@pytest.mark.parametrize(
    "text",
    [
        "token sk-abcdefghijklmnop",
        "Authorization: Bearer abc.def.ghi",
        "https://user:pa55word@host/v1",
        "https://host/v1?api_key=pa55word&x=1",
        "https://host/v1?x=1&X-Access-Token=pa55word#top",
        "AKIAABCDEFGHIJKLMNOP",
        f"key {KEY}",
    ],
)
def test_redact_hides_shapes_urls_and_registered_keys(text):
    register(KEY)
    out = redact(text)
    assert REDACTED in out
    for secret in ("abcdefghijklmnop", "abc.def.ghi", "pa55word", "AKIAABCDEFGHIJKLMNOP", KEY):
        assert secret not in out


def test_only_variables_named_as_secrets_are_hidden(monkeypatch):
    """A word of the name decides: KEYBOARD_LAYOUT and XAUTHORITY hold no secret; their values
    (a layout name, a file path) must stay readable in error messages."""
    monkeypatch.setenv("KEYBOARD_LAYOUT", "english-intl")
    monkeypatch.setenv("XAUTHORITY", "/home/someone/.Xauthority")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tokenvalue42")
    assert redact("layout english-intl, file /home/someone/.Xauthority") == (
        "layout english-intl, file /home/someone/.Xauthority"
    )
    assert redact("sent tokenvalue42") == f"sent {REDACTED}"


def test_a_query_parameter_is_hidden_only_when_its_name_says_secret():
    assert redact("https://h/?keyboard=1&monkey=2&page=3") == "https://h/?keyboard=1&monkey=2&page=3"
    assert redact("https://h/?key=abc&page=3") == f"https://h/?key={REDACTED}&page=3"


def test_api_base_credentials_never_reach_json_or_the_store_and_resume_asks_for_them(tmp_path):
    """The regression: `--api-base http://bob:PASSWORD@host/v1` was printed by --json (settings.api_base)
    and kept in clear in the run store (and shown by `runs show --json`). The simulated model takes
    an --api-base and ignores it, which is all this needs: what is printed and stored."""
    store = tmp_path / "s.sqlite"
    base = "http://bob:hunter2pass@127.0.0.1:9/v1"
    common = ["--model", "sim:p=0.999,seed=1", "--k", "2", "--price-in", "1000", "--price-out", "1000"]

    def run(*args: str):
        return CliRunner().invoke(app, ["run", "hanoi", "--store", str(store), "--json", *args])

    first = run("--disks", "6", "--api-base", base, *common, "--max-cost", "0.05", "--yes")
    out = json.loads(first.stdout)
    assert first.exit_code == 4 and out["status"] == "budget_exhausted", first.output
    shown = CliRunner().invoke(app, ["runs", "show", out["run_id"], "--store", str(store), "--json"])
    for text in (first.output, shown.output, store.read_bytes().decode("latin-1")):
        assert "hunter2pass" not in text
    assert out["settings"]["api_base"] == f"http://{REDACTED}@127.0.0.1:9/v1"
    missing = run("--resume", out["run_id"], "--max-cost", "100")
    assert missing.exit_code == 2 and "give the same --api-base again to resume it" in missing.stderr
    other = run("--resume", out["run_id"], "--max-cost", "100", "--api-base", "http://127.0.0.1:9/v1")
    assert other.exit_code == 2 and "drop --api-base" in other.stderr
    done = run("--resume", out["run_id"], "--max-cost", "100", "--api-base", base)
    assert done.exit_code == 0 and json.loads(done.stdout)["status"] == "solved", done.output
    assert "hunter2pass" not in store.read_bytes().decode("latin-1")
    voted = CliRunner().invoke(
        app, ["vote", "--prompt", "q", "--model", "sim:p=0.9,answer=1", "--api-base", base, "--json"]
    )
    assert voted.exit_code == 0 and "hunter2pass" not in voted.stdout, voted.output
