"""The provider interface every model backend implements.

A provider turns one `SampleRequest` into `n` completions (one request with `n` where the backend
supports it) and reports retries. It never votes, never red-flags and never sees the race.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Reference:
    """What a *simulated* model needs to answer a step: a correct response and wrong ones.

    Only simulated providers read this; real providers ignore it and the voting never sees it.
    `wrong(variant)` returns a well-formed wrong response; variant 0 is the one all wrong samples
    share in `errors=collide` mode. `restate(variant, i)`, when given, is the correct response
    (variant None) or wrong response `variant` with its answer paraphrased (template i; the
    simulated model's `paraphrase` option).
    """

    correct: str
    wrong: Callable[[int], str]
    restate: Callable[[int | None, int], str] | None = None


@dataclass(frozen=True, slots=True)
class SampleRequest:
    system: str
    user: str
    temperature: float
    n: int = 1
    max_output_tokens: int | None = None
    step: int = 0
    reference: Reference | None = None
    logprobs: bool = False  # ask for token log-probabilities (only a method that reads them does: cisc, early stop)


@dataclass(frozen=True, slots=True)
class Completion:
    """One sampled response with the provider's own accounting."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    finish_reason: str | None
    latency_s: float
    cost_usd: float | None  # None: the price of this model is unknown (never reported as 0)
    # input tokens the provider served from its prompt cache (part of input_tokens, priced at the
    # model's cache-read rate); None: the provider did not say
    cached_tokens: int | None = None
    # the reply's token log-probabilities, when asked for and returned; None otherwise
    logprobs: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.text.isascii():  # untrusted text: a lone surrogate could not be stored or printed
            object.__setattr__(self, "text", well_formed(self.text))


def well_formed(text: str) -> str:
    """`text` with each lone surrogate (a JSON reply may carry "\\ud800", which no UTF-8 file, store or
    terminal can take) replaced by U+FFFD; other text as it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class CallResult:
    completions: list[Completion]
    retries: int = 0  # failed attempts that were retried before this result (never votes)


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str  # the model string as given
    simulated: bool
    supports_n: bool
    prices_known: bool
    # True when calls finish without waiting on I/O (the simulated model at zero latency):
    # the engine then awaits them in turn instead of scheduling tasks.
    inline: bool = False
    notes: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    info: ProviderInfo

    async def complete(self, request: SampleRequest) -> CallResult:
        """Return exactly `request.n` completions, or raise ProviderError after bounded retries."""
        ...

    async def aclose(self) -> None: ...


def chat_messages(system: str, user: str) -> list[dict[str, str]]:
    """The chat messages a call sends: the system message (when there is one), then the user's."""
    messages = [{"role": "user", "content": user}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return messages


@dataclass(frozen=True, slots=True)
class EmbeddingBatch:
    """The embeddings of some texts (one vector per text, in order) with the call's accounting."""

    vectors: list[list[float]]
    input_tokens: int | None  # None: the server did not say
    cost_usd: float | None  # None: the price of the embedding model is unknown (never reported as 0)
    retries: int = 0


@runtime_checkable
class Embedder(Protocol):
    """An embedding model: `embed` returns one vector per text, or raises ProviderError after
    bounded retries."""

    model: str

    async def embed(self, texts: Sequence[str]) -> EmbeddingBatch: ...
