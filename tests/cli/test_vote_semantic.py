"""Semantic answer matching end to end: `maker vote` with the simulated models and over HTTP against
the fake server (`--api-base`), the Python API, and the MCP maker_vote tool and its spending caps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from mcp.server.mcpserver.exceptions import ToolError
from mcp_helpers import call, error, ok, server_for
from typer.testing import CliRunner

import maker_cli
from maker_cli.cli.app import app
from maker_cli.providers.paraphrase import core
from maker_cli.specs import load_spec
from maker_cli.tasks.question import QuestionTask
from maker_cli.testing.fake_server import FakeOpenAIServer
from maker_cli.testing.sim_responder import sim_responder

ROOT = Path(__file__).resolve().parents[2]
SEMANTIC = ROOT / "examples" / "semantic_capital.yaml"
INPUTS = ["--input", "country=France", "--input", "expected=Paris"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def with_embedding(tmp_path: Path, **embedding: object) -> Path:
    data = yaml.safe_load(SEMANTIC.read_text(encoding="utf-8"))
    data["answer"]["canonical"][-1] = {"embedding": {"threshold": 0.9, **embedding}}
    path = tmp_path / "capital.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_vote_with_the_simulated_models_matches_paraphrases():
    r = run("vote", "--task", str(SEMANTIC), *INPUTS, "--model", "sim:p=0.8,paraphrase=0.6,seed=4", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["decided"] and core(out["winner"]) == "paris"
    clusters = out["clusters"]
    assert set(clusters) == set(out["votes"])  # every candidate is a cluster, shown by its representative
    assert all(sum(members.values()) == out["votes"][rep] for rep, members in clusters.items())
    assert sum(len(members) for members in clusters.values()) > len(clusters)  # paraphrases were joined
    assert out["matching_calls"] >= 1 and out["matching_tokens"] > 0 and out["matching_cost_usd"] == 0.0


def test_vote_for_people_says_what_was_matched():
    r = run("vote", "--task", str(SEMANTIC), *INPUTS, "--model", "sim:p=1,paraphrase=1,seed=2")
    assert r.exit_code == 0, r.output
    assert "matched: 3 distinct answers into 1 (1 embedding call" in r.stdout
    assert "the winner also counts" in r.stdout


def test_vote_with_a_number_tolerance(tmp_path):
    data = yaml.safe_load((ROOT / "examples" / "arithmetic.yaml").read_text(encoding="utf-8"))
    data.pop("canonical")
    data["answer"]["canonical"] = [{"number": {"tolerance": 5}}]
    path = tmp_path / "near.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    inputs = ["--input", "a=12", "--input", "b=12", "--input", "expected=144"]
    r = run("vote", "--task", str(path), *inputs, "--model", "sim:p=0.6,errors=collide,seed=1", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # the sim's wrong answer is one off: within the tolerance, it votes along
    assert out["decided"] and out["votes"] == {out["winner"]: out["valid"]}
    assert out["clusters"][out["winner"]].keys() == {"144", "145"} and out["matching_calls"] == 0


def test_vote_over_http_embeds_through_the_fake_server(tmp_path):
    path = with_embedding(tmp_path, model="openai/fake-embed", price=100.0)
    spec = load_spec(path)
    inputs = {"country": "France", "expected": "Paris"}
    task = QuestionTask(spec, inputs)
    responder = sim_responder("sim:p=0.8,paraphrase=0.5,seed=3", reference_for=lambda s, u: task.reference(inputs))
    with FakeOpenAIServer(responder=responder) as srv:
        srv.inject("429", retry_after=0.01)  # the first request (a chat call) is retried
        r = run(
            "vote",
            "--task",
            str(path),
            *INPUTS,
            "--model",
            "openai/fake",
            "--api-base",
            srv.base_url,
            "--price-in",
            "1",
            "--price-out",
            "1",
            "--json",
        )
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["decided"] and core(out["winner"]) == "paris"
        assert out["matching_calls"] == srv.embedding_requests >= 1
        assert srv.embedded_texts == sum(len(m) for m in out["clusters"].values())  # each distinct text once
        assert out["matching_cost_usd"] == pytest.approx(out["matching_tokens"] * 100 / 1e6)
        chat_cost = out["cost_usd"] - out["matching_cost_usd"]
        assert chat_cost == pytest.approx((out["input_tokens"] - out["matching_tokens"] + out["output_tokens"]) / 1e6)


def test_an_embedding_failure_is_an_error_naming_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MAKER_MAX_ATTEMPTS", "1")
    path = with_embedding(tmp_path, model="openai/fake-embed")
    broken = FakeOpenAIServer(responder=sim_responder("sim:p=1,seed=1", reference_for=_paris), embedder=_broken)
    with broken as srv:
        r = run("vote", "--task", str(path), *INPUTS, "--model", "openai/fake", "--api-base", srv.base_url)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "embedding model openai/fake-embed" in r.stderr and "embedder failed" in r.stderr


def _broken(texts: list[str]) -> list[list[float]]:
    raise RuntimeError("no vectors today")


def _paris(system: str, user: str):
    from maker_cli.providers.base import Reference

    return Reference("Answer: Paris", lambda v: "Answer: Parit")


def test_the_python_api_matches_paraphrases():
    result = maker_cli.vote(
        task=str(SEMANTIC),
        inputs={"country": "France", "expected": "Paris"},
        model="sim:p=0.9,paraphrase=0.5,seed=5",
    )
    assert result.decided and core(result.winner or "") == "paris" and result.clusters is not None


# --- MCP ----------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(SEMANTIC, folder / "capital.yaml")
    return folder


def test_mcp_vote_with_an_embedding_step(root):
    server = server_for(root)
    out = ok(
        call(
            server,
            "maker_vote",
            task="capital.yaml",
            inputs={"country": "France", "expected": "Paris"},
            model="sim:p=0.9,paraphrase=0.5,seed=1",
        )
    )
    assert out["decided"] and core(out["winner"]) == "paris" and out["matching_calls"] >= 1
    assert out["clusters"] and out["spent_usd"] == out["cost_usd"]


def test_mcp_spending_caps_count_the_embedding_price(root, tmp_path):
    priced = with_embedding(tmp_path, model="sim", price=1000.0)  # $0.001 a token
    shutil.copy(priced, root / "priced.yaml")
    server = server_for(root)
    args = dict(task="priced.yaml", inputs={"country": "France", "expected": "Paris"}, model="sim:p=0.9,seed=1")
    refused = error(call(server, "maker_vote", **args, max_samples=1000))
    assert "refused: the worst case" in refused  # 750 output tokens embedded at $0.001 each, per sample
    out = ok(call(server, "maker_vote", **args, max_samples=3, max_output_tokens=100))
    assert out["matching_cost_usd"] > 0
    assert out["cost_usd"] == pytest.approx(out["matching_cost_usd"])  # the chat model is free
    assert out["session_spent_usd"] == pytest.approx(out["cost_usd"])


def test_mcp_refuses_an_embedding_model_without_a_price(root, tmp_path):
    shutil.copy(with_embedding(tmp_path, model="openai/fake-embed"), root / "unpriced.yaml")
    server = server_for(root)
    message = error(
        call(server, "maker_vote", task="unpriced.yaml", inputs={"country": "France", "expected": "Paris"}, model="sim")
    )
    assert "no price is known for the embedding model 'openai/fake-embed'" in message


def test_the_spend_plan_prices_embeddings_from_the_map_or_notes_a_self_hosted_one():
    from maker_cli.config.job import merge_job_settings
    from maker_cli.config.settings import load_settings
    from maker_cli.mcp.guard import plan_spend
    from maker_cli.specs.matching import EmbeddingMatch

    job = merge_job_settings(load_settings(), flags={"model": "sim", "max_output_tokens": 1000}, spec={})
    plain = plan_spend(job, cap_samples=10, cap_usd=1.0, requested=10, prompt_chars=100)
    mapped = EmbeddingMatch(model="openai/text-embedding-3-small", threshold=0.9)
    priced = plan_spend(job, cap_samples=10, cap_usd=1.0, requested=10, prompt_chars=100, matching=mapped)
    assert priced.worst_case_usd == pytest.approx(plain.worst_case_usd + 10 * 1000 * 0.02 / 1e6)
    local = EmbeddingMatch(model="openai/e5", threshold=0.9)
    on_server = merge_job_settings(
        load_settings(),
        flags={"model": "sim", "max_output_tokens": 1000, "api_base": "http://127.0.0.1:8000/v1"},
        spec={},
    )
    hosted = plan_spend(on_server, cap_samples=10, cap_usd=1.0, requested=10, prompt_chars=100, matching=local)
    assert hosted.worst_case_usd is None and "embedding price unknown" in hosted.notes[-1]
    # a spec's own price is not trusted by the spending guard: it could make a model look free
    claimed = EmbeddingMatch(model="openai/e5", threshold=0.9, price=0.0)
    with pytest.raises(ToolError, match="no price is known for the embedding model"):
        plan_spend(job, cap_samples=10, cap_usd=1.0, requested=10, prompt_chars=100, matching=claimed)
    cheaper = EmbeddingMatch(model="openai/text-embedding-3-small", threshold=0.9, price=0.0)
    mapped_again = plan_spend(job, cap_samples=10, cap_usd=1.0, requested=10, prompt_chars=100, matching=cheaper)
    assert mapped_again.worst_case_usd == priced.worst_case_usd  # the map's price, not the spec's 0


def test_a_spec_price_never_replaces_the_maps():
    from maker_cli.providers.embeddings import embedding_price

    assert embedding_price("openai/text-embedding-3-small", 0.0) == pytest.approx(0.02)
    assert embedding_price("openai/my-own-embedder", 0.5) == 0.5
    assert embedding_price("openai/my-own-embedder", None) is None


def test_the_event_log_adds_up_with_matching(tmp_path):
    path = with_embedding(tmp_path, model="sim", price=5.0)
    log = tmp_path / "events.jsonl"
    args = ["vote", "--task", str(path), *INPUTS, "--model", "sim:p=0.7,paraphrase=0.7,seed=9", "--json"]
    r = run(*args, "--events", str(log))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    samples = [e for e in lines if e["event"] == "sample_finished"]
    (decided,) = [e for e in lines if e["event"] == "step_decided"]
    assert decided["matching_calls"] == out["matching_calls"] >= 1
    assert out["input_tokens"] == sum(e["input_tokens"] for e in samples) + decided["matching_tokens"]
    assert out["cost_usd"] == pytest.approx(sum(e["cost_usd"] for e in samples) + decided["matching_cost_usd"])
    rounds = [e for e in lines if e["event"] == "round_finished"]
    assert rounds[-1]["votes"] == out["votes"]  # by representative


def test_embedding_retries_are_counted_and_reported(tmp_path):
    path = with_embedding(tmp_path, model="openai/fake-embed", price=1.0)
    responder = sim_responder("sim:p=1,seed=1", reference_for=_paris)
    with FakeOpenAIServer(responder=responder, embedder=_flaky()) as srv:
        r = run("vote", "--task", str(path), *INPUTS, "--model", "openai/fake", "--api-base", srv.base_url, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["retries"] == 1 and out["matching_calls"] == 1 and out["winner"] == "paris"


def _flaky():
    calls = []

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("warming up")  # a 500: retried by maker
        from maker_cli.providers.paraphrase import sim_vector

        return [sim_vector(t) for t in texts]

    return embed
