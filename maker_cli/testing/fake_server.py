"""A fake OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks (stdlib only).

    with FakeOpenAIServer(responder=fixed_responder("hi")) as srv:
        srv.inject("429", retry_after=0.2)      # the next request gets a 429 with Retry-After
        ... point a client at srv.base_url ...  # "http://127.0.0.1:PORT/v1"
        assert srv.requests == 2

Endpoints: POST /v1/chat/completions (also /chat/completions), POST /v1/embeddings (also
/embeddings) and GET /v1/models (also /models).
Each chat request asks `responder(messages, temperature, n, max_tokens)` for its choices and
answers a `chat.completion` with one choice per FakeChoice and a `usage` block:

- `prompt_tokens` counts whitespace-separated words over all message contents, once per request
  (a fake count, not a tokenizer; `count_words` is the function);
- `completion_tokens` sums the choices' `completion_tokens` (when a FakeChoice leaves it None,
  the words of its text);
- when the request asks for `logprobs`, each choice carries OpenAI's `logprobs.content` (one entry
  per token: `token`, `logprob`, `bytes`, `top_logprobs`) if its FakeChoice has `logprobs`
  (`sim_responder` gives them; without the request field `logprobs` is null, as OpenAI sends);
- with `cached_share=F`, the share F of `prompt_tokens` is reported as read from a prompt cache on
  every request after the first with the same system message: `usage.prompt_tokens_details.cached_tokens`
  (`cache_usage="openai"`) or Anthropic's `cache_read_input_tokens` and, on the first request (the
  cache write), `cache_creation_input_tokens` (`cache_usage="anthropic"`).

An embeddings request gets one vector per input text from `embedder(texts)` (by default the
simulated embedding model's `sim_vector`: paraphrases of one answer close, different answers far)
and `usage.prompt_tokens` = the words of the texts (at least one per text). Embedding requests are
counted apart (`embedding_requests`, `embedded_texts`), not in `requests`; faults apply to them too.

Faults apply to the next requests in the order injected (`inject`; with `when=FIELD` only to
requests that set that field, as a server refusing a parameter does), or at random with
`fault_rate` and `faults` (seeded) once the script is empty. Kinds (`FAULT_KINDS`):

- "429" (with `retry_after` seconds or a verbatim header value such as an HTTP date, and/or
  `retry_after_ms`), "400", "401", "403", "404", "500", "502", "503": an OpenAI-style error body
  (its message `body`, when given);
- "slow": wait `delay` seconds, then answer normally if the client is still connected (a client
  that timed out meanwhile is counted in `abandoned`, not in `ok`);
- "drop": close the connection without sending any response;
- "malformed": status 200 with a body that is not a chat completion (`body`, by default not JSON).

Counters (read under a lock, as copies): `requests` (chat requests received), `faults` (per kind),
`ok` (normal answers sent), `choices` (choices in those answers), `abandoned`, `bodies` (the
parsed request bodies, in arrival order).

Run it on its own with `python -m maker_cli.testing.fake_server [--port N] [--text TEXT]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from maker_cli._types import JSONObject
from maker_cli.testing.fake_wire import _Handler, _HTTPServer
from maker_cli.testing.fake_wire import count_words as count_words  # part of this module's API

FAULT_KINDS = ("429", "400", "401", "403", "404", "500", "502", "503", "slow", "drop", "malformed")


@dataclass(frozen=True, slots=True)
class FakeChoice:
    """One choice the fake server returns. `completion_tokens=None`: the words of `text`."""

    text: str
    finish_reason: str = "stop"
    completion_tokens: int | None = None
    logprobs: tuple[float, ...] | None = None  # per token; sent only when the request asks for logprobs


Embedder = Callable[[list[str]], list[list[float]]]  # texts -> one vector per text

Responder = Callable[
    [list[JSONObject], float, int, "int | None"], list[FakeChoice]
]  # (messages, temperature, n, max_tokens)


def fixed_responder(text: str = "Hello from the fake server.", finish_reason: str = "stop") -> Responder:
    """A responder that answers `text` for every one of the n choices."""

    def respond(messages: list[JSONObject], temperature: float, n: int, max_tokens: int | None) -> list[FakeChoice]:
        return [FakeChoice(text, finish_reason) for _ in range(n)]

    return respond


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: str
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    delay: float = 1.0
    body: str | None = None
    when: str | None = None  # only for a request whose body has this field set (truthy)


class FakeOpenAIServer:
    """An OpenAI-compatible server in a background thread; a context manager (see module doc)."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        model: str = "fake-model",
        fault_rate: float = 0.0,
        faults: Sequence[str] = ("429", "500"),
        seed: int | None = 0,
        latency: float = 0.0,
        api_key: str | None = None,
        usage: bool = True,
        cached_share: float = 0.0,
        cache_usage: str = "openai",
        embedder: Embedder | None = None,
    ) -> None:
        for kind in faults:
            _check_kind(kind)
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if not 0.0 <= cached_share <= 1.0:
            raise ValueError("cached_share must be between 0 and 1")
        if cache_usage not in ("openai", "anthropic"):
            raise ValueError("cache_usage must be openai or anthropic")
        self.responder: Responder = responder or fixed_responder()
        self.embedder: Embedder = embedder or _sim_embedder
        self.model = model
        self.fault_rate = fault_rate
        self.random_faults = tuple(faults)
        self.latency = latency  # seconds every normal answer waits before it is sent
        self.api_key = api_key  # when set, requests without "Bearer <api_key>" get a 401
        self.usage = usage  # False: answers carry no `usage` block (as some local servers do)
        self.cached_share = cached_share  # share of the prompt reported cached once its system message was seen
        self.cache_usage = cache_usage  # how: "openai" (prompt_tokens_details) or "anthropic" (cache_*_input_tokens)
        self._systems_seen: set[str] = set()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._script: deque[_Fault] = deque()
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset_counters()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("the fake server is already running")
        httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        httpd.fake = self
        self._stop.clear()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai-server", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wake keep-alive handler threads so they exit
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What OpenAI-compatible clients take as their base URL (api_base)."""
        return f"{self.url}/v1"

    # -- faults -----------------------------------------------------------------------------------

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        delay: float = 1.0,
        body: str | None = None,
        when: str | None = None,
    ) -> None:
        """Apply fault `kind` to the next `times` chat requests (after faults injected earlier); with
        `when`, only to requests whose body sets that field (a server that refuses a parameter refuses
        only the requests that send it): others pass while such a fault waits at the head."""
        _check_kind(kind)
        fault = _Fault(kind, retry_after, retry_after_ms, delay, body, when)
        with self._lock:
            self._script.extend([fault] * times)

    def clear_faults(self) -> None:
        with self._lock:
            self._script.clear()

    # -- counters ---------------------------------------------------------------------------------

    def reset_counters(self) -> None:
        with self._lock:
            self._requests = 0
            self._ok = 0
            self._choices = 0
            self._abandoned = 0
            self._faults: Counter[str] = Counter()
            self._bodies: list[JSONObject] = []
            self._embedding_requests = 0
            self._embedded_texts = 0

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def ok(self) -> int:
        with self._lock:
            return self._ok

    @property
    def choices(self) -> int:
        with self._lock:
            return self._choices

    @property
    def abandoned(self) -> int:
        with self._lock:
            return self._abandoned

    @property
    def faults(self) -> dict[str, int]:
        with self._lock:
            return dict(self._faults)

    @property
    def embedding_requests(self) -> int:
        with self._lock:
            return self._embedding_requests

    @property
    def embedded_texts(self) -> int:
        with self._lock:
            return self._embedded_texts

    @property
    def bodies(self) -> list[JSONObject]:
        with self._lock:
            return list(self._bodies)

    # -- used by the handler ----------------------------------------------------------------------

    def _admit(self, body: JSONObject, unauthorized: bool = False, *, embedding: bool = False) -> _Fault | None:
        """Count one chat (or embeddings) request and pick the fault it gets, if any."""
        with self._lock:
            if embedding:
                self._embedding_requests += 1
            else:
                self._requests += 1
                self._bodies.append(body)
            if unauthorized:
                fault: _Fault | None = _Fault("401")
            else:
                head = self._script[0] if self._script else None
                fault = self._script.popleft() if head is not None and (not head.when or body.get(head.when)) else None
            if fault is None and self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                fault = _Fault(self._rng.choice(self.random_faults))
            if fault is not None:
                self._faults[fault.kind] += 1
            return fault

    def _cache_usage(self, messages: list[JSONObject], prompt_tokens: int) -> JSONObject:
        """The usage fields that report prompt caching for one answer (none without `cached_share`)."""
        if not self.cached_share:
            return {}
        system = next((m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"), "")
        key = json.dumps(system, sort_keys=True)
        with self._lock:
            seen = key in self._systems_seen
            self._systems_seen.add(key)
        share = int(prompt_tokens * self.cached_share)
        if self.cache_usage == "anthropic":
            return {
                "cache_read_input_tokens": share if seen else 0,
                "cache_creation_input_tokens": 0 if seen else share,
            }
        return {"prompt_tokens_details": {"cached_tokens": share if seen else 0}}

    def _answered(self, choices: int, undo: bool = False) -> None:
        with self._lock:
            self._ok += -1 if undo else 1
            self._choices += choices

    def _embedded(self, texts: int) -> None:
        with self._lock:
            self._embedded_texts += texts

    def _gave_up(self) -> None:
        with self._lock:
            self._abandoned += 1

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)


def _sim_embedder(texts: list[str]) -> list[list[float]]:
    from maker_cli.providers.paraphrase import sim_vector

    return [sim_vector(text) for text in texts]


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted; prints the base URL on the first line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m maker_cli.testing.fake_server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--text", default="Hello from the fake server.", help="the fixed answer")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that get a random fault")
    parser.add_argument("--faults", default="429,500", help="comma-separated fault kinds for --fault-rate")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(
        fixed_responder(args.text),
        latency=args.latency,
        fault_rate=args.fault_rate,
        faults=tuple(k for k in args.faults.split(",") if k),
    )
    with server.start(args.port):
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
