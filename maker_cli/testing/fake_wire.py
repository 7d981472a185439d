"""The fake OpenAI-compatible server's wire: the HTTP handler and the chat-completion format.

`FakeOpenAIServer` (maker_cli.testing.fake_server) owns the state (scripted faults, counters,
the responder); this module speaks HTTP for it.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from maker_cli._types import JSONObject

if TYPE_CHECKING:
    from maker_cli.testing.fake_server import FakeChoice, FakeOpenAIServer, _Fault

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


def count_words(text: str) -> int:
    """The fake server's token count: whitespace-separated words."""
    return len(text.split())


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: many clients connect at once in benchmarks
    fake: FakeOpenAIServer

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
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

    def log_message(self, format: str, *args: object) -> None:  # quiet
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
        embedding = path in ("/v1/embeddings", "/embeddings")
        if path not in ("/v1/chat/completions", "/chat/completions") and not embedding:
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
        fault = fake._admit(body, unauthorized, embedding=embedding)
        if fault is None and embedding:
            self._embed(body)
        elif fault is None:
            self._answer(body, fake.latency)
        elif fault.kind == "slow" and embedding:
            self._embed(body)  # an embedding answer is never slowed down
        elif fault.kind == "slow":
            self._answer(body, fault.delay)
        elif fault.kind == "drop":
            self._drop()
        elif fault.kind == "malformed":
            text = fault.body if fault.body is not None else "this is not JSON {"
            self._send(200, text.encode(), {"Content-Type": "application/json"})
        elif unauthorized:  # as real servers do, the error names the key it was given
            presented = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            self._send_error(
                "401", f"Incorrect API key provided: {presented}. You can find your API key in your account settings."
            )
        else:
            self._send_error(fault.kind, fault.body or f"injected fault {fault.kind}", _retry_headers(fault))

    def _answer(self, body: JSONObject, delay: float) -> None:
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
        except Exception as exc:  # noqa: BLE001 - a broken responder is a server error, not a hang
            self._send_error("500", f"responder failed: {type(exc).__name__}: {exc}")
            return
        payload = _completion(body.get("model") or fake.model, messages, choices, bool(body.get("logprobs")))
        if not fake.usage:
            del payload["usage"]
        else:
            payload["usage"].update(fake._cache_usage(messages, payload["usage"]["prompt_tokens"]))
        fake._answered(len(choices))  # before the write: a client may read the counters at once
        if not self._send_json(200, payload):
            fake._answered(-len(choices), undo=True)

    def _embed(self, body: JSONObject) -> None:
        """An `embeddings` answer: one vector per input text (`fake.embedder`), words as tokens."""
        fake = self.server.fake
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            self._send_error("400", "input must be a string or a non-empty list of strings")
            return
        try:
            vectors = fake.embedder(texts)
        except Exception as exc:  # noqa: BLE001 - a broken embedder is a server error, not a hang
            self._send_error("500", f"embedder failed: {type(exc).__name__}: {exc}")
            return
        tokens = sum(max(1, count_words(t)) for t in texts)
        fake._embedded(len(texts))
        self._send_json(
            200,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "model": body.get("model") or fake.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_error(self, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        error = {"message": message, "type": _ERROR_TYPES.get(kind, "server_error"), "param": None, "code": kind}
        self._send_json(int(kind), {"error": error}, headers)

    def _send_json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> bool:
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


def content_text(content: object) -> str:
    """A message's text: its content string, or its text parts joined with spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _logprobs(choice: FakeChoice) -> JSONObject | None:
    """OpenAI's `choices[i].logprobs`: one `content` entry per token (the words of the text stand in)."""
    if choice.logprobs is None:
        return None
    words = choice.text.split() or [""]
    tokens = [words[i % len(words)] for i in range(len(choice.logprobs))]
    return {
        "content": [
            {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []}
            for t, lp in zip(tokens, choice.logprobs, strict=True)
        ],
        "refusal": None,
    }


def _completion(model: str, messages: list[JSONObject], choices: list[FakeChoice], logprobs: bool) -> JSONObject:
    prompt_tokens = sum(count_words(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
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
                "logprobs": _logprobs(c) if logprobs else None,
            }
            for i, c in enumerate(choices)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
