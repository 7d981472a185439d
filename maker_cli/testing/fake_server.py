"""A fake OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks (stdlib only).

    with FakeOpenAIServer(responder=fixed_responder("hi")) as srv:
        srv.inject("429", retry_after=0.2)      # the next request gets a 429 with Retry-After
        ... point a client at srv.base_url ...  # "http://127.0.0.1:PORT/v1"
        assert srv.requests == 2

Endpoints: POST /v1/chat/completions (also /chat/completions) and GET /v1/models (also /models).
Each chat request asks `responder(messages, temperature, n, max_tokens)` for its choices and
answers a `chat.completion` with one choice per FakeChoice and a `usage` block:

- `prompt_tokens` counts whitespace-separated words over all message contents, once per request
  (a fake count, not a tokenizer; `count_words` is the function);
- `completion_tokens` sums the choices' `completion_tokens` (when a FakeChoice leaves it None,
  the words of its text).

Faults apply to the next requests in the order injected (`inject`), or at random with
`fault_rate` and `faults` (seeded) once the script is empty. Kinds (`FAULT_KINDS`):

- "429" (with `retry_after` seconds or a verbatim header value such as an HTTP date, and/or
  `retry_after_ms`), "400", "401", "403", "404", "500", "502", "503": an OpenAI-style error body;
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
import json
import random
import select
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence

FAULT_KINDS = ("429", "400", "401", "403", "404", "500", "502", "503", "slow", "drop", "malformed")
_ERROR_TYPES = {
    "400": "invalid_request_error",
    "401": "authentication_error",
    "403": "permission_error",
    "404": "not_found_error",
    "429": "rate_limit_error",
    "500": "server_error",
    "502": "server_error",
    "503": "server_error",
}


@dataclass(frozen=True, slots=True)
class FakeChoice:
    """One choice the fake server returns. `completion_tokens=None`: the words of `text`."""

    text: str
    finish_reason: str = "stop"
    completion_tokens: int | None = None


Responder = Callable[[list[dict[str, Any]], float, int, "int | None"], list[FakeChoice]]


def fixed_responder(text: str = "Hello from the fake server.", finish_reason: str = "stop") -> Responder:
    """A responder that answers `text` for every one of the n choices."""

    def respond(messages: list[dict[str, Any]], temperature: float, n: int, max_tokens: int | None) -> list[FakeChoice]:
        return [FakeChoice(text, finish_reason) for _ in range(n)]

    return respond


def count_words(text: str) -> int:
    """The fake server's token count: whitespace-separated words."""
    return len(text.split())


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: str
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    delay: float = 1.0
    body: str | None = None


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
    ) -> None:
        for kind in faults:
            _check_kind(kind)
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self.responder: Responder = responder or fixed_responder()
        self.model = model
        self.fault_rate = fault_rate
        self.random_faults = tuple(faults)
        self.latency = latency  # seconds every normal answer waits before it is sent
        self.api_key = api_key  # when set, requests without "Bearer <api_key>" get a 401
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
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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
    ) -> None:
        """Apply fault `kind` to the next `times` chat requests (after faults injected earlier)."""
        _check_kind(kind)
        fault = _Fault(kind, retry_after, retry_after_ms, delay, body)
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
            self._bodies: list[dict[str, Any]] = []

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
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies)

    # -- used by the handler ----------------------------------------------------------------------

    def _admit(self, body: dict[str, Any], unauthorized: bool = False) -> _Fault | None:
        """Count one chat request and pick the fault it gets, if any."""
        with self._lock:
            self._requests += 1
            self._bodies.append(body)
            if unauthorized:
                fault: _Fault | None = _Fault("401")
            else:
                fault = self._script.popleft() if self._script else None
            if fault is None and self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                fault = _Fault(self._rng.choice(self.random_faults))
            if fault is not None:
                self._faults[fault.kind] += 1
            return fault

    def _answered(self, choices: int, undo: bool = False) -> None:
        with self._lock:
            self._ok += -1 if undo else 1
            self._choices += choices

    def _gave_up(self) -> None:
        with self._lock:
            self._abandoned += 1

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: many clients connect at once in benchmarks
    fake: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # clients that hung up: expected under faults
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            model = {"id": self.server.fake.model, "object": "model", "created": 0, "owned_by": "fake"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_error("404", f"no route GET {path}")

    def do_POST(self) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error("404", f"no route POST {path}")
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            self._send_error("400", "request body is not a JSON object")
            return
        unauthorized = fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}"
        fault = fake._admit(body, unauthorized)
        if fault is None:
            self._answer(body, fake.latency)
        elif fault.kind == "slow":
            self._answer(body, fault.delay)
        elif fault.kind == "drop":
            self._drop()
        elif fault.kind == "malformed":
            text = fault.body if fault.body is not None else "this is not JSON {"
            self._send(200, text.encode(), {"Content-Type": "application/json"})
        else:
            self._send_error(fault.kind, f"injected fault {fault.kind}", _retry_headers(fault))

    def _answer(self, body: dict[str, Any], delay: float) -> None:
        fake = self.server.fake
        if delay > 0:
            fake._stop.wait(delay)
            if _peer_closed(self.connection):
                fake._gave_up()
                self.close_connection = True
                return
        messages = body.get("messages") or []
        n = int(body.get("n") or 1)
        temperature = float(body.get("temperature", 1.0))
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        try:
            choices = fake.responder(messages, temperature, n, max_tokens)
        except Exception as exc:  # a broken responder is a server error, not a hang
            self._send_error("500", f"responder failed: {type(exc).__name__}: {exc}")
            return
        payload = _completion(body.get("model") or fake.model, messages, choices)
        fake._answered(len(choices))  # before the write: a client may read the counters at once
        if not self._send_json(200, payload):
            fake._answered(-len(choices), undo=True)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_error(self, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        error = {"message": message, "type": _ERROR_TYPES.get(kind, "server_error"), "param": None, "code": kind}
        self._send_json(int(kind), {"error": error}, headers)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> bool:
        return self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> bool:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:
            self.close_connection = True
            return False


def _retry_headers(fault: _Fault) -> dict[str, str]:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        value = fault.retry_after
        headers["Retry-After"] = value if isinstance(value, str) else f"{value:g}"
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
    return headers


def _peer_closed(conn: socket.socket) -> bool:
    """True when the client has closed its end (it timed out while we were slow)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _completion(model: str, messages: list[dict[str, Any]], choices: list[FakeChoice]) -> dict[str, Any]:
    prompt_tokens = sum(count_words(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
    completion_tokens = sum(
        c.completion_tokens if c.completion_tokens is not None else count_words(c.text) for c in choices
    )
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
                "logprobs": None,
            }
            for i, c in enumerate(choices)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


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
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
