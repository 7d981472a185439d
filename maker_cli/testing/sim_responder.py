"""A fake-server responder that answers through the simulated model, seeing only the messages.

    from maker_cli.testing.fake_server import FakeOpenAIServer
    from maker_cli.testing.sim_responder import sim_responder
    with FakeOpenAIServer(responder=sim_responder("sim:p=0.99,seed=1")) as srv: ...

The reference for each request comes from the prompt itself (`reference_for(system, user)`; by
default Hanoi's `reference_from_prompt`), so tests exercise the real HTTP path, litellm, retries
and parsing with the same answers the in-process simulated model would give.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable

from maker_cli._types import JSONObject
from maker_cli.providers.base import Reference, SampleRequest
from maker_cli.providers.sim import SimProvider
from maker_cli.tasks.hanoi_sim import reference_from_prompt
from maker_cli.testing.fake_server import FakeChoice, Responder
from maker_cli.testing.fake_wire import content_text

ReferenceFor = Callable[[str, str], "Reference | None"]


def _hanoi_reference(system: str, user: str) -> Reference | None:
    return reference_from_prompt(system, user)


def sim_responder(model: str = "sim:p=0.99", reference_for: ReferenceFor | None = None) -> Responder:
    sim = SimProvider(model)
    find = reference_for or _hanoi_reference
    lock = threading.Lock()  # the server answers on several threads; the sim's RNG is not shared-safe

    def respond(messages: list[JSONObject], temperature: float, n: int, max_tokens: int | None) -> list[FakeChoice]:
        # content as text, or text blocks (a system message marked for prompt caching)
        system = "\n".join(content_text(m.get("content")) for m in messages if m.get("role") == "system")
        user = "\n".join(content_text(m.get("content")) for m in messages if m.get("role") == "user")
        ref = find(system, user)
        step = zlib.crc32(user.encode())  # a stable stand-in for the step index (hard steps)
        # log-probabilities always (from the sim's own generator: the answers stay the same); the server
        # sends them only to a request that asks
        request = SampleRequest(system, user, temperature, n, max_tokens, step, ref, logprobs=True)
        with lock:
            completions = sim.sample(request)
        return [FakeChoice(c.text, c.finish_reason or "stop", c.output_tokens, c.logprobs) for c in completions]

    return respond
