"""The fake OpenAI-compatible server on its own, through plain httpx (no litellm)."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from maker_cli.providers.retrying import retry_after_seconds
from maker_cli.testing import FakeChoice, FakeOpenAIServer, count_words, fixed_responder

BODY = {
    "model": "fake-model",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say three words"}],
    "temperature": 0.1,
    "max_tokens": 40,
}


@pytest.fixture
def srv():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def test_default_answer_and_usage(srv, client):
    r = client.post(f"{srv.base_url}/chat/completions", json={**BODY, "n": 3})
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in data["choices"]} == {"Hello from the fake server."}
    assert all(c["finish_reason"] == "stop" for c in data["choices"])
    assert data["usage"]["prompt_tokens"] == 5  # words of "be brief" + "say three words", once
    assert data["usage"]["completion_tokens"] == 3 * 5
    assert data["usage"]["total_tokens"] == 5 + 15
    assert (srv.requests, srv.ok, srv.choices, srv.faults) == (1, 1, 3, {})
    assert srv.bodies[0]["n"] == 3 and srv.bodies[0]["max_tokens"] == 40


def test_responder_gets_the_request_and_sets_tokens(client):
    seen = []

    def responder(messages, temperature, n, max_tokens):
        seen.append((messages, temperature, n, max_tokens))
        return [FakeChoice("a b c", "length", completion_tokens=7), FakeChoice("d", "stop")][:n]

    with FakeOpenAIServer(responder) as srv:
        data = client.post(f"{srv.url}/chat/completions", json={**BODY, "n": 2}).json()
    assert seen == [(BODY["messages"], 0.1, 2, 40)]
    assert [c["finish_reason"] for c in data["choices"]] == ["length", "stop"]
    assert data["usage"]["completion_tokens"] == 7 + 1


def test_models_endpoint_and_unknown_routes(srv, client):
    assert client.get(f"{srv.base_url}/models").json()["data"][0]["id"] == "fake-model"
    assert client.get(f"{srv.url}/nowhere").status_code == 404
    assert client.post(f"{srv.base_url}/completions", json=BODY).status_code == 404
    assert client.post(f"{srv.base_url}/chat/completions", content=b"[1, 2").status_code == 400


@pytest.mark.parametrize("kind", ["400", "401", "403", "404", "429", "500", "502", "503"])
def test_error_faults(srv, client, kind):
    srv.inject(kind)
    r = client.post(f"{srv.base_url}/chat/completions", json=BODY)
    assert r.status_code == int(kind)
    assert r.json()["error"]["code"] == kind
    assert client.post(f"{srv.base_url}/chat/completions", json=BODY).status_code == 200  # one request only
    assert (srv.requests, srv.ok, srv.faults) == (2, 1, {kind: 1})


def test_retry_after_headers(srv, client):
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    srv.inject("429", retry_after=0.25)
    srv.inject("429", retry_after_ms=150)
    srv.inject("429", retry_after=date)
    waits = []
    for _ in range(3):
        r = client.post(f"{srv.base_url}/chat/completions", json=BODY)
        assert r.status_code == 429
        waits.append(retry_after_seconds(r.headers))
    assert waits[0] == pytest.approx(0.25)
    assert waits[1] == pytest.approx(0.15)
    assert 27 < waits[2] <= 30


def test_faults_apply_in_order_then_stop(srv, client):
    srv.inject("500", times=2)
    srv.inject("503")
    codes = [client.post(f"{srv.base_url}/chat/completions", json=BODY).status_code for _ in range(4)]
    assert codes == [500, 500, 503, 200]
    assert srv.faults == {"500": 2, "503": 1}


def test_a_fault_when_a_field_is_set_waits_for_a_request_that_sets_it(srv, client):
    srv.inject("400", body="logprobs is not supported", when="logprobs")
    plain = client.post(f"{srv.base_url}/chat/completions", json=BODY).status_code
    asked = client.post(f"{srv.base_url}/chat/completions", json={**BODY, "logprobs": True})
    again = client.post(f"{srv.base_url}/chat/completions", json={**BODY, "logprobs": True}).status_code
    assert (plain, asked.status_code, again) == (200, 400, 200) and "not supported" in asked.text


def test_drop_closes_without_answer(srv, client):
    srv.inject("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{srv.base_url}/chat/completions", json=BODY)
    assert client.post(f"{srv.base_url}/chat/completions", json=BODY).status_code == 200
    assert (srv.requests, srv.ok, srv.faults) == (2, 1, {"drop": 1})


def test_malformed_bodies(srv, client):
    srv.inject("malformed")
    srv.inject("malformed", body='{"object": "chat.completion"}')
    first = client.post(f"{srv.base_url}/chat/completions", json=BODY)
    assert first.status_code == 200
    with pytest.raises(ValueError):
        first.json()
    assert client.post(f"{srv.base_url}/chat/completions", json=BODY).json() == {"object": "chat.completion"}
    assert (srv.ok, srv.choices, srv.faults) == (0, 0, {"malformed": 2})


def test_slow_answers_late_or_counts_abandoned(srv):
    srv.inject("slow", delay=0.3)
    start = time.perf_counter()
    with httpx.Client(timeout=5) as c:
        assert c.post(f"{srv.base_url}/chat/completions", json=BODY).status_code == 200
    assert time.perf_counter() - start >= 0.3
    srv.inject("slow", delay=0.6)
    with httpx.Client(timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        c.post(f"{srv.base_url}/chat/completions", json=BODY)
    deadline = time.monotonic() + 5
    while srv.abandoned == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (srv.ok, srv.abandoned, srv.faults) == (1, 1, {"slow": 2})


def test_random_faults_are_seeded_and_near_the_rate(client):
    def run(seed):
        with FakeOpenAIServer(fault_rate=0.3, faults=("429", "500"), seed=seed) as srv:
            codes = [client.post(f"{srv.base_url}/chat/completions", json=BODY).status_code for _ in range(200)]
            assert srv.requests == 200 and srv.ok == codes.count(200)
            return codes

    first = run(7)
    assert first == run(7)
    failures = sum(code != 200 for code in first)
    assert 30 <= failures <= 90  # binomial(200, 0.3): mean 60, sd 6.5
    assert {429, 500} <= set(first)


def test_api_key_required_when_set(client):
    with FakeOpenAIServer(api_key="sk-test") as srv:
        url = f"{srv.base_url}/chat/completions"
        assert client.post(url, json=BODY).status_code == 401
        assert client.post(url, json=BODY, headers={"Authorization": "Bearer sk-test"}).status_code == 200


def test_bad_arguments_and_lifecycle():
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOpenAIServer().inject("418")
    with pytest.raises(ValueError):
        FakeOpenAIServer(faults=("teapot",))
    srv = FakeOpenAIServer(fixed_responder("x"))
    with pytest.raises(RuntimeError):
        srv.base_url
    with srv:
        port = srv.port
        assert srv.base_url == f"http://127.0.0.1:{port}/v1"
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY, timeout=1)


def test_count_words():
    assert count_words("  move = [1, 0, 2]\n") == 5
    assert count_words("") == 0
