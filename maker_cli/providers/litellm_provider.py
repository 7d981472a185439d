"""The litellm provider: any litellm model string, an OpenAI-compatible `api_base`, or a Router file.

litellm is imported on first use (`litellm_support.load_litellm`), never at module import. litellm itself never retries
(`max_retries=0` and `num_retries=0` on every call, even with `litellm.num_retries` set; Router
`num_retries=0`); `retrying.call_with_retries` does, honouring the
server's Retry-After. A retry is never a vote: `CallResult.retries` reports them.

- n: providers that accept `n` (openai, azure, hosted_vllm) get one request with `n`, so the
  prompt is billed once; its input tokens and input cost go on the first completion. Others get
  `n` concurrent single requests. A server that answers an n-request with fewer choices, or
  rejects it with a 400 that single requests do not get, is switched to single requests.
- Output tokens per choice: usage only has the total, so it is apportioned over the choices in
  proportion to litellm.token_counter counts of their texts (largest remainders; sums exactly).
- Cost: --price-in/--price-out (USD per million tokens) when given, else litellm's local price
  map, else None (unknown, never 0).
- Cached prompt tokens (`Completion.cached_tokens`, see litellm_support.cached_prompt_tokens) are
  priced at the map's cache-read rate; `prompt_cache=True` marks the system message with
  `cache_control` for providers that cache only at explicit breakpoints (Anthropic).
- latency_s is the wall time of the whole call, retries and their waits included.
- Malformed bodies (unparseable JSON, no choices, more choices than asked) are retried like 5xx;
  when every attempt is malformed the call raises ProviderError.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from pathlib import Path

from maker_cli._types import JSONObject, LiteLLMResponse, LiteLLMRouter
from maker_cli.errors import ConfigError, MissingApiKey, ProviderError, SpecError
from maker_cli.providers.base import CallResult, Completion, ProviderInfo, SampleRequest, chat_messages
from maker_cli.providers.litellm_support import (
    DUMMY_API_KEY,
    Malformed,
    apportion,
    cached_prompt_tokens,
    count_tokens,
    failure_kind,
    is_connection_error,
    is_retryable,
    is_timeout,
    load_litellm,
    load_router_config,
    one_line,
    refuses_logprobs,
    server_wait,
    status_of,
    token_logprobs,
    with_local_key,
)
from maker_cli.providers.prices import Prices, resolve_prices
from maker_cli.providers.retrying import Attempts, RetryPolicy, call_with_retries
from maker_cli.secrets import redact, register

N_PROVIDERS = frozenset({"openai", "azure", "hosted_vllm"})  # accept `n`: the prompt is billed once
# Providers whose credentials may come from elsewhere (local servers, cloud credential chains):
# no MissingApiKey check before the first call.
_AMBIENT_CREDENTIALS = frozenset(
    {"ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile", "bedrock", "sagemaker", "vertex_ai"}
)


@dataclass(frozen=True, slots=True)
class _Target:
    """One place calls go: the model, or one Router deployment."""

    model: str  # the litellm model string (with its provider prefix)
    provider: str
    supports_n: bool
    prices: Prices


class LiteLLMProvider:
    """A Provider over litellm (see the module doc). Build with `from_settings` or explicit arguments.

    `supports_n=None` decides from the provider; True/False forces one request with n / n requests.
    `retry_policy` overrides the backoff (its max_attempts wins over `max_attempts`).
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        router_config: Path | str | None = None,
        timeout: float = 60.0,
        max_attempts: int = 6,
        price_in: float | None = None,
        price_out: float | None = None,
        supports_n: bool | None = None,
        retry_policy: RetryPolicy | None = None,
        prompt_cache: bool = False,
    ) -> None:
        if timeout <= 0:
            raise ConfigError("timeout must be positive")
        self._litellm = load_litellm()
        self.timeout = float(timeout)
        self.policy = retry_policy or RetryPolicy(max_attempts=max_attempts)
        self._price_in = price_in
        self._price_out = price_out
        self._api_base = api_base
        self._api_key = api_key
        self._prompt_cache = prompt_cache  # mark the system message cacheable (cache_control, see _messages)
        register(api_key)
        self._router: LiteLLMRouter | None = None
        self._closed = False
        self._logprobs = True  # False once the model refused `logprobs`: not asked again
        notes: dict[str, str] = {}
        if router_config is not None:
            self._model, self._targets = self._build_router(model, Path(router_config), notes)
        else:
            self._model, target = self._single_target(model, notes)
            self._targets = {"": target}
            if api_base is None and api_key is None:
                self._check_api_key(target)
            elif api_key is None and not self._litellm.validate_environment(model=target.model)["keys_in_environment"]:
                self._api_key = DUMMY_API_KEY
        if supports_n is not None:
            self._targets = {k: replace(t, supports_n=supports_n) for k, t in self._targets.items()}
        if price_in is not None or price_out is not None:
            notes["prices"] = "from --price-in/--price-out"
        self._default = next(iter(self._targets.values()))
        self.info = ProviderInfo(
            name=model if self._router is None else self._model,  # a router: the model_name group
            simulated=False,
            supports_n=all(t.supports_n for t in self._targets.values()),
            prices_known=all(t.prices.known for t in self._targets.values()),
            notes=notes,
        )
        self._call_kwargs = self._fixed_kwargs()

    # -- set-up -----------------------------------------------------------------------------------

    def _single_target(self, model: str, notes: dict[str, str]) -> tuple[str, _Target]:
        litellm = self._litellm
        try:
            _, provider, _, _ = litellm.get_llm_provider(model=model, api_base=self._api_base)
        except Exception:  # noqa: BLE001 - litellm raises assorted types for an unknown provider
            if self._api_base is None:
                raise ConfigError(
                    f"litellm does not know the provider of model {model!r}: write provider/model "
                    "(e.g. openai/gpt-4.1-mini, ollama_chat/llama3) or give --api-base"
                ) from None
            model, provider = f"openai/{model}", "openai"
            notes["model"] = f"sent as {model} to the OpenAI-compatible server"
        return model, self._target(model, provider, {})

    def _target(self, model: str, provider: str, params: JSONObject) -> _Target:
        litellm = self._litellm
        supports_n = False
        if provider in N_PROVIDERS:
            try:
                supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider) or []
                supports_n = "n" in supported
            except Exception:  # noqa: BLE001 - litellm's capability lookup is best effort: assume no `n`
                supports_n = False
        price_in, price_out = self._price_in, self._price_out
        if price_in is None and params.get("input_cost_per_token") is not None:  # a Router deployment's own
            price_in = float(params["input_cost_per_token"]) * 1e6
        if price_out is None and params.get("output_cost_per_token") is not None:
            price_out = float(params["output_cost_per_token"]) * 1e6
        return _Target(model, provider, supports_n, resolve_prices(model, price_in, price_out))

    def _fixed_kwargs(self) -> dict[str, object]:
        """What every call passes litellm besides the request itself, built once.

        `max_retries=0` stops the OpenAI SDK's retries; `num_retries=0` stops litellm's own retry
        wrapper even when `litellm.num_retries` is set (a Router is built with num_retries=0). The
        same key, base and timeout on every call keep litellm's cached HTTP client (one aiohttp
        session) in use for all of them: litellm keys that cache on exactly these.
        """
        fixed: dict[str, object] = {"model": self._model, "timeout": self.timeout, "max_retries": 0}
        if self._router is None:
            fixed["num_retries"] = 0
            if self._api_base is not None:
                fixed["api_base"] = self._api_base
            if self._api_key is not None:
                fixed["api_key"] = self._api_key
        return fixed

    def _check_api_key(self, target: _Target) -> None:
        if target.provider in _AMBIENT_CREDENTIALS:
            return
        try:
            missing = self._litellm.validate_environment(model=target.model).get("missing_keys") or []
        except Exception:  # noqa: BLE001 - a key check litellm cannot do is left to the first call
            return
        keys = [name for name in missing if not name.endswith(("_BASE", "_URL", "_VERSION", "_REGION"))]
        if keys:
            verb = "is" if len(keys) == 1 else "are"
            raise MissingApiKey(f"{' and '.join(keys)} {verb} not set (needed for model {target.model})")

    def _build_router(self, model: str, path: Path, notes: dict[str, str]) -> tuple[str, dict[str, _Target]]:
        litellm = self._litellm
        model_list, settings = load_router_config(path)
        names = list(dict.fromkeys(d["model_name"] for d in model_list))
        if model in names:
            group = model
        elif len(names) == 1:
            group = names[0]
        else:
            raise SpecError(
                f"{path}: model {model!r} is not a model_name in this router config (it has: {', '.join(names)})"
            )
        deployments = [with_local_key(litellm, d, f"maker-{i}") for i, d in enumerate(model_list)]
        targets: dict[str, _Target] = {}  # by deployment id; priced before litellm.Router registers
        for deployment in deployments:  # its deployments in the price map (with zero prices)
            if deployment["model_name"] != group:
                continue
            params = deployment["litellm_params"]
            try:
                _, provider, _, _ = litellm.get_llm_provider(model=params["model"], api_base=params.get("api_base"))
            except Exception:  # noqa: BLE001 - litellm raises assorted types for an unknown provider
                raise SpecError(f"{path}: litellm does not know the provider of model {params['model']!r}") from None
            targets[str(deployment["model_info"]["id"])] = self._target(params["model"], provider, params)
        try:
            self._router = litellm.Router(model_list=deployments, num_retries=0, retry_after=0, **settings)
        except Exception as exc:  # noqa: BLE001 - whatever the Router refuses is the config's problem
            raise SpecError(f"{path}: litellm.Router rejected the config: {one_line(exc)}") from None
        notes["router"] = f"{path} ({len(targets)} deployment{'s' if len(targets) != 1 else ''} of {group})"
        return group, targets

    # -- calls ------------------------------------------------------------------------------------

    async def complete(self, request: SampleRequest) -> CallResult:
        if self._closed:
            raise ProviderError(f"{self.info.name}: provider is closed")
        if request.n < 1:
            raise ValueError("n must be at least 1")
        if request.n == 1 or not self.info.supports_n:
            return await self._separate(request, request.n)
        try:
            completions, retries = await self._request(request, request.n)
        except ProviderError as exc:
            if exc.status != 400:
                raise
            result = await self._separate(request, request.n)  # raises again if n was not the problem
            self._single_requests_from_now("the server rejected n (HTTP 400)")
            return replace(result, retries=result.retries + exc.retries)
        if len(completions) < request.n:  # the server ignored n: top up with single requests
            self._single_requests_from_now(f"the server answered {len(completions)} of {request.n} choices")
            rest = await self._separate(request, request.n - len(completions))
            return CallResult(completions + rest.completions, retries + rest.retries)
        return CallResult(completions, retries)

    async def aclose(self) -> None:
        """Stop taking calls. litellm's HTTP clients are its own: cached process-wide (by key, base and
        timeout, so other providers may be using them) and closed by litellm at exit."""
        self._closed = True

    async def _separate(self, request: SampleRequest, count: int) -> CallResult:
        if count == 1:
            completions, retries = await self._request(request, 1)
            return CallResult(completions, retries)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._request(request, 1)) for _ in range(count)]
        except* ProviderError as failures:
            raise failures.exceptions[0] from None
        results = [task.result() for task in tasks]
        return CallResult([c for completions, _ in results for c in completions], sum(r for _, r in results))

    async def _request(self, request: SampleRequest, n: int) -> tuple[list[Completion], int]:
        """One chat request (with retries) for `n` choices; may return fewer if the server ignores n."""
        attempts = Attempts()
        start = time.perf_counter()
        asked = request.logprobs and self._logprobs  # this request asks for log-probabilities
        try:
            response = await call_with_retries(
                lambda: self._acompletion(request, n),
                self.policy,
                is_retryable=is_retryable,
                server_wait=server_wait,
                attempts=attempts,
            )
        except Exception as exc:  # noqa: BLE001 - any failure of the call after its retries is a ProviderError
            if asked and refuses_logprobs(exc):  # once more without (calls in flight may be refused too)
                self._logprobs = False  # confidence falls back to the heuristic, which says so
                note = "the model refused logprobs: sample confidence comes from the text heuristic"
                self.info = replace(self.info, notes={**self.info.notes, "logprobs": note})
                return await self._request(request, n)
            raise ProviderError(
                self._describe(exc, attempts), retries=attempts.retries, status=status_of(exc), kind=failure_kind(exc)
            ) from None
        latency = time.perf_counter() - start
        target = self._targets.get(
            str((getattr(response, "_hidden_params", None) or {}).get("model_id")), self._default
        )
        return self._completions(response, target, latency, request), attempts.retries

    def _messages(self, request: SampleRequest) -> list[JSONObject]:
        """The chat messages; with prompt_cache the system message is one text block marked
        `cache_control: {"type": "ephemeral"}` (litellm's form for providers with explicit cache
        breakpoints, e.g. Anthropic: the static prefix up to it is cached)."""
        messages: list[JSONObject] = list(chat_messages(request.system, request.user))
        if self._prompt_cache and request.system:
            block = {"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}
            messages[0] = {"role": "system", "content": [block]}
        return messages

    async def _acompletion(self, request: SampleRequest, n: int) -> LiteLLMResponse:
        kwargs: dict[str, object] = {
            **self._call_kwargs,
            "messages": self._messages(request),
            "temperature": request.temperature,
        }
        if n > 1:
            kwargs["n"] = n
        if request.max_output_tokens is not None:
            kwargs["max_tokens"] = request.max_output_tokens
        if request.logprobs and self._logprobs:
            kwargs["logprobs"] = True  # only for a method that reads them (cisc, early stopping)
            # llama.cpp's OpenAI-compatible server returns null logprobs unless top_logprobs is set
            # (seen with llama-cpp-python's server); 1 is the least that makes it answer
            kwargs["top_logprobs"] = 1
        async with asyncio.timeout(self.timeout * 1.5 + 5.0):  # in case a backend ignores `timeout`
            if self._router is not None:
                response = await self._router.acompletion(**kwargs)
            else:
                response = await self._litellm.acompletion(**kwargs)
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise Malformed("the response has no choices")
        if len(choices) > n:
            raise Malformed(f"the response has {len(choices)} choices for n={n}")
        for choice in choices:
            message = getattr(choice, "message", None)
            content = getattr(message, "content", None)
            if message is None or (content is not None and not isinstance(content, str)):
                raise Malformed("a choice has no text message")
        return response

    def _completions(
        self, response: LiteLLMResponse, target: _Target, latency: float, request: SampleRequest
    ) -> list[Completion]:
        choices = response.choices
        texts = [choice.message.content or "" for choice in choices]
        usage = getattr(response, "usage", None)
        prompt_tokens = count_tokens(getattr(usage, "prompt_tokens", None))
        output_total = count_tokens(getattr(usage, "completion_tokens", None))
        # litellm fills 0 for a count the server did not send; a prompt or a non-empty reply has tokens,
        # so a 0 there is a missing count: it comes from litellm's tokenizer instead
        prompt_missing = not prompt_tokens
        output_missing = not output_total and any(texts)
        if prompt_missing or output_missing:
            if prompt_missing:
                prompt_tokens = self._litellm.token_counter(model=target.model, messages=self._messages(request))
            if output_missing:
                output_total = sum(self._litellm.token_counter(model=target.model, text=t) if t else 0 for t in texts)
            if "usage" not in self.info.notes:
                note = "the server sends no (or partial) token usage: the missing counts come from litellm's tokenizer"
                self.info = replace(self.info, notes={**self.info.notes, "usage": note + " (an estimate)"})
        output_total = output_total or 0  # only empty replies are left without a count
        cached = cached_prompt_tokens(usage)
        if cached is not None and prompt_tokens is not None:
            cached = min(cached, prompt_tokens)
        outputs: list[int | None]
        if len(texts) == 1:
            outputs = [output_total]
        else:
            weights = [self._litellm.token_counter(model=target.model, text=t) if t else 0 for t in texts]
            outputs = list(apportion(output_total, weights))
        completions = []
        for i, (choice, text) in enumerate(zip(choices, texts, strict=True)):
            input_tokens = prompt_tokens if i == 0 or prompt_tokens is None else 0
            cached_tokens = cached if i == 0 or cached is None else 0  # with the prompt, on the first choice
            completions.append(
                Completion(
                    text=text,
                    input_tokens=input_tokens,
                    output_tokens=outputs[i],
                    finish_reason=getattr(choice, "finish_reason", None),
                    latency_s=latency,
                    cost_usd=target.prices.cost(input_tokens, outputs[i], cached_tokens),
                    cached_tokens=cached_tokens,
                    logprobs=token_logprobs(getattr(choice, "logprobs", None)) if request.logprobs else None,
                )
            )
        return completions

    def _single_requests_from_now(self, why: str) -> None:
        self._targets = {k: replace(t, supports_n=False) for k, t in self._targets.items()}
        self._default = next(iter(self._targets.values()))
        self.info = replace(self.info, supports_n=False, notes={**self.info.notes, "n": f"single requests: {why}"})

    def _describe(self, exc: BaseException, attempts: Attempts) -> str:
        status = status_of(exc)
        kind = f"HTTP {status}" if status else type(exc).__name__
        reason = one_line(exc)
        if is_timeout(exc) or status == 408:
            reason, kind = "no answer in time", f"timeout {self.timeout:g}s"
        elif is_connection_error(exc):
            kind = "no connection"
        elif isinstance(exc, Malformed):
            kind = "malformed response"
        tries = f" after {attempts.count} attempts" if attempts.count > 1 else ""
        return redact(f"{self.info.name}: {reason} ({kind}){tries}")
