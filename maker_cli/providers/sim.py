"""The simulated model: in-process, no key, for dry runs, tests and benchmarks.

Selected with a model string such as `sim:p=0.99,invalid=0.02,latency_ms=0,errors=collide,seed=1`.
It answers any step that carries a `Reference` (Hanoi; task specs with expected answers):

- correct with probability `p` (per valid sample), otherwise wrong;
- `errors=collide` makes every wrong sample of a step the same wrong answer (the worst case the
  maths assumes); `errors=spread` makes wrong samples differ;
- with probability `invalid` the sample is malformed (half unparseable, half over-long: the
  provider reports finish_reason "length" and max tokens, as a real API does);
- `hard=F,hard_p=Q` makes a fixed (seeded) fraction F of steps much harder (success probability Q):
  correlated errors, as real models show;
- `latency_ms=L` (optionally `jitter_ms=J`) delays each call; `latency_dist=lognormal,sigma=S` draws
  each call's delay from a lognormal with median L (real API latencies: a long right tail); `out_tokens=N` reports N output
  tokens per valid response instead of the text's own size (to mimic reasoning before the answer);
- `paraphrase=F` restates a valid answer (right or wrong) in other words with probability F ("Paris"
  -> "the answer is Paris", `maker_cli.providers.paraphrase`), for steps whose reference can
  restate (task specs); exact matching then splits the votes, semantic matching (`embedding`)
  joins them again;
- `conf=C,conf_wrong=W,conf_spread=S`: when a call asks for token log-probabilities (cisc, early
  stopping), every token of a right reply has probability C and of a wrong (or malformed) one W,
  each reply's value moved by a uniform draw in [-S, S] (from its own seeded generator, so asking
  never changes the answers); defaults 0.9, 0.6, 0.1: right answers are more confident than wrong
  ones, as the CISC paper finds of real models. conf_wrong=0.9 makes the confidences uninformative;
- `cached=F` reports the share F of the prompt's tokens as served from a prompt cache on every call
  after the first with the same system text (priced at the cache rate `price_cached`, when given).

A prompt may carry its own simulated behaviour: a marker such as `<!-- sim:p=0.8,invalid=0.05 -->`
in the system text overrides `p`, `invalid`, `errors`, `hard`, `hard_p` and `out_tokens` for the
calls that send it, so that two prompts can be compared offline (`maker calibrate --prompt A
--prompt B`). A real model sees the marker as an HTML comment; use it only for simulations.

Token usage is counted as a real tokenizer roughly would (about 4 characters per token); it is a
simulation and every output that uses it says "simulated".
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from dataclasses import dataclass, replace

from maker_cli.errors import UsageError
from maker_cli.providers.base import CallResult, Completion, ProviderInfo, Reference, SampleRequest
from maker_cli.providers.paraphrase import TEMPLATES, paraphrase
from maker_cli.providers.prices import resolve_prices

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class SimParams:
    p: float = 0.99
    invalid: float = 0.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    latency_dist: str = "fixed"  # fixed (latency_ms + uniform jitter) or lognormal (median latency_ms, sigma)
    sigma: float = 0.5  # lognormal: the standard deviation of the latency's logarithm
    errors: str = "collide"
    seed: int = 0
    hard: float = 0.0
    hard_p: float = 0.3
    out_tokens: int | None = None
    answer: str | None = None  # a fixed correct answer, for prompts without a reference
    paraphrase: float = 0.0  # share of valid answers restated in other words (when the reference can)
    cached: float = 0.0  # share of the prompt's tokens reported cached (calls after the first per system text)
    conf: float = 0.9  # token probability of a right reply (when log-probabilities are asked for)
    conf_wrong: float = 0.6  # token probability of a wrong or malformed reply
    conf_spread: float = 0.1  # each reply's token probability moved by a uniform draw in [-S, S]


def parse_sim(model: str) -> SimParams:
    """Parse `sim:key=value,...`; unknown keys and bad values are usage errors."""
    body = model[4:] if model.startswith("sim:") else ""
    values: dict[str, object] = {}
    fields = SimParams.__dataclass_fields__
    for part in filter(None, (x.strip() for x in body.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            known = ", ".join(fields)
            raise UsageError(f"simulated model: unknown option '{part}' (known: {known})")
        try:
            if key in ("errors", "answer", "latency_dist"):
                values[key] = raw.strip()
            elif key in ("seed", "out_tokens"):
                values[key] = int(raw)
            else:
                values[key] = float(raw)
        except ValueError:
            raise UsageError(f"simulated model: {key} needs a number, got '{raw}'") from None
    params = SimParams(**values)  # type: ignore[arg-type]  # each value has its field's type (converted above)
    for name in ("p", "invalid", "hard", "hard_p", "cached", "paraphrase", "conf", "conf_wrong", "conf_spread"):
        v = getattr(params, name)
        if not 0.0 <= v <= 1.0:
            raise UsageError(f"simulated model: {name} must be between 0 and 1, got {v}")
    if params.latency_dist not in ("fixed", "lognormal"):
        raise UsageError(f"simulated model: latency_dist must be fixed or lognormal, got '{params.latency_dist}'")
    if not 0.0 <= params.sigma <= 5.0:
        raise UsageError(f"simulated model: sigma must be between 0 and 5, got {params.sigma}")
    if params.errors not in ("collide", "spread"):
        raise UsageError(f"simulated model: errors must be collide or spread, got '{params.errors}'")
    if params.latency_ms < 0 or params.jitter_ms < 0:
        raise UsageError("simulated model: latency_ms and jitter_ms must be >= 0")
    return params


PROMPT_MARKER = re.compile(r"<!--\s*sim:([^>]*?)\s*-->")
PROMPT_KEYS = ("p", "invalid", "errors", "hard", "hard_p", "out_tokens", "paraphrase", "conf", "conf_wrong")


def prompt_params(base: str, text: str) -> SimParams | None:
    """The parameters of model `base` with the last `<!-- sim:... -->` marker in `text` applied,
    or None when `text` has no marker. UsageError for a key a prompt may not set."""
    found = PROMPT_MARKER.findall(text) if "<!--" in text else []
    if not found:
        return None
    marker = found[-1]
    for part in filter(None, (x.strip() for x in marker.split(","))):
        key = part.partition("=")[0].strip()
        if key not in PROMPT_KEYS:
            raise UsageError(
                f"simulated model: a prompt's <!-- sim:... --> marker may set {', '.join(PROMPT_KEYS)}, not '{key}'"
            )
    body = base[4:] if base.startswith("sim:") else ""
    return parse_sim(f"sim:{body},{marker}")


def sim_params(model: str, system: str) -> SimParams:
    """The parameters of simulated model `model` for calls sending `system` (its marker applies)."""
    return prompt_params(model, system) or parse_sim(model)


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


class SimProvider:
    """The simulated model behind the Provider interface (supports `n`, like vLLM)."""

    def __init__(
        self,
        model: str,
        *,
        price_in: float | None = None,
        price_out: float | None = None,
        price_cached: float | None = None,
    ) -> None:
        self.params = parse_sim(model)
        self.model = model
        self._rng = random.Random(self.params.seed)
        self._latency_rng = random.Random(self.params.seed ^ 0x5EED)  # latency draws never shift the answers
        self._conf_rng = random.Random(self.params.seed ^ 0xC0F)  # nor do the log-probabilities' draws
        self.prices = resolve_prices(model, price_in, price_out, simulated=True)
        self._price_in = (self.prices.price_in or 0.0) / 1e6  # per token, for the hot loop
        self._price_out = (self.prices.price_out or 0.0) / 1e6
        if price_cached is not None:
            self.prices = replace(self.prices, price_cached=float(price_cached))
        cache_rate = self.prices.price_cached
        self._price_cached = self._price_in if cache_rate is None else cache_rate / 1e6
        self._cached_systems: set[str] = set()  # system texts sent once: their prompts are cached after
        self.info = ProviderInfo(
            name=model,
            simulated=True,
            supports_n=True,
            prices_known=True,
            inline=self.params.latency_ms == 0 and self.params.jitter_ms == 0,
            notes={"simulated": "true"},
        )
        self.calls = 0
        self._by_system: dict[str, SimParams] = {}

    def params_for(self, system: str) -> SimParams:
        """The parameters for a call sending `system`: the model's, or its prompt marker's."""
        params = self._by_system.get(system)
        if params is None:
            params = prompt_params(self.model, system) or self.params
            if len(self._by_system) < 64:  # a run has one system text; a comparison a few
                self._by_system[system] = params
        return params

    def hard_step(self, step: int, params: SimParams | None = None) -> bool:
        """Whether `step` is one of the fixed, seeded hard steps."""
        params = params or self.params
        if params.hard <= 0:
            return False
        return _mix(step * 1_000_003 + params.seed) / 2**64 < params.hard

    async def complete(self, request: SampleRequest) -> CallResult:
        params = self.params
        start = time.perf_counter()
        if params.latency_ms or params.jitter_ms:
            if params.latency_dist == "lognormal":
                delay = params.latency_ms * math.exp(params.sigma * self._latency_rng.gauss(0.0, 1.0))
            else:
                delay = params.latency_ms + (self._rng.random() * params.jitter_ms if params.jitter_ms else 0.0)
            await asyncio.sleep(delay / 1000.0)
        return CallResult(self.sample(request, start))

    def sample(self, request: SampleRequest, start: float | None = None) -> list[Completion]:
        """Draw `request.n` completions at once (no latency): the simulated model's core."""
        params = self.params_for(request.system)
        if start is None:
            start = time.perf_counter()
        self.calls += 1
        ref = request.reference or self._fixed_reference()
        p = params.hard_p if params.hard and self.hard_step(request.step, params) else params.p
        in_tokens = _tokens(request.system) + _tokens(request.user)
        cached = 0
        if params.cached:
            if request.system in self._cached_systems:
                cached = int(in_tokens * params.cached)
            elif len(self._cached_systems) < 64:
                self._cached_systems.add(request.system)
        out: list[Completion] = []
        rand = self._rng.random
        for i in range(request.n):
            finish = "stop"
            right = False
            if params.invalid and rand() < params.invalid:
                if rand() < 0.5:
                    text = ref.correct[: max(1, len(ref.correct) // 3)] + " ... I am not sure"
                    out_tokens = _tokens(text)
                else:
                    text = ref.correct[: len(ref.correct) // 2]
                    out_tokens = request.max_output_tokens or 4096
                    finish = "length"
            else:
                variant: int | None = None
                if rand() < p:
                    text, right = ref.correct, True
                elif params.errors == "collide":
                    variant = 0
                    text = ref.wrong(0)
                else:
                    variant = 1 + self._rng.randrange(1 << 30)
                    text = ref.wrong(variant)
                if params.paraphrase and ref.restate is not None and rand() < params.paraphrase:
                    text = ref.restate(variant, 1 + self._rng.randrange(len(TEMPLATES) - 1))
                out_tokens = params.out_tokens if params.out_tokens is not None else _tokens(text)
            billed_in, billed_cached = (in_tokens, cached) if i == 0 else (0, 0)
            cost = (billed_in - billed_cached) * self._price_in + billed_cached * self._price_cached
            cost += out_tokens * self._price_out
            logprobs = self._logprobs(params, right, text) if request.logprobs else None
            out.append(
                Completion(
                    text, billed_in, out_tokens, finish, time.perf_counter() - start, cost, billed_cached, logprobs
                )
            )
        return out

    def _logprobs(self, params: SimParams, right: bool, text: str) -> tuple[float, ...]:
        """The reply's token log-probabilities: every token at conf (right) or conf_wrong, moved by the spread."""
        base = params.conf if right else params.conf_wrong
        if params.conf_spread:
            base += (2.0 * self._conf_rng.random() - 1.0) * params.conf_spread
        return (math.log(min(1.0, max(1e-6, base))),) * _tokens(text)

    def _fixed_reference(self) -> Reference:
        answer = self.params.answer
        if answer is None:
            raise UsageError(
                "the simulated model can only answer steps it has a reference for (Hanoi, a task spec with an "
                "expected answer, a free prompt with answer=TEXT, e.g. 'sim:p=0.9,answer=42')"
            )
        return Reference(
            answer,
            lambda v: f"{answer} (wrong #{v})",
            lambda v, i: paraphrase(answer if v is None else f"{answer} (wrong #{v})", i),
        )

    async def aclose(self) -> None:
        return None
