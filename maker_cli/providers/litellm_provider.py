"""The litellm provider: any litellm model string, an OpenAI-compatible `api_base`, or a Router file.

litellm is imported on first use (`load_litellm`), never at module import, with its network price
map fetch, debug prints and logging noise turned off. litellm itself never retries
(`max_retries=0`, Router `num_retries=0`); `retrying.call_with_retries` does, honouring the
server's Retry-After. A retry is never a vote: `CallResult.retries` reports them.

- n: providers that accept `n` (openai, azure, hosted_vllm) get one request with `n`, so the
  prompt is billed once; its input tokens and input cost go on the first completion. Others get
  `n` concurrent single requests. A server that answers an n-request with fewer choices, or
  rejects it with a 400 that single requests do not get, is switched to single requests.
- Output tokens per choice: usage only has the total, so it is apportioned over the choices in
  proportion to litellm.token_counter counts of their texts (largest remainders; sums exactly).
- Cost: --price-in/--price-out (USD per million tokens) when given, else litellm's local price
  map, else None (unknown, never 0).
- latency_s is the wall time of the whole call, retries and their waits included.
- Malformed bodies (unparseable JSON, no choices, more choices than asked) are retried like 5xx;
  when every attempt is malformed the call raises ProviderError.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import warnings
import re
import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maker_cli.errors import ConfigError, MissingApiKey, ProviderError, SpecError
from maker_cli.providers.base import CallResult, Completion, ProviderInfo, SampleRequest
from maker_cli.providers.retrying import Attempts, RetryPolicy, call_with_retries, retry_after_seconds

if TYPE_CHECKING:
    from maker_cli.config.settings import Settings

DUMMY_API_KEY = "sk-no-key"  # for OpenAI-compatible servers that need no key (litellm wants one)
N_PROVIDERS = frozenset({"openai", "azure", "hosted_vllm"})  # accept `n`: the prompt is billed once
# Providers whose credentials may come from elsewhere (local servers, cloud credential chains):
# no MissingApiKey check before the first call.
_AMBIENT_CREDENTIALS = frozenset(
    {"ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile", "bedrock", "sagemaker", "vertex_ai"}
)
_RETRY_STATUSES = frozenset({408, 409, 425, 429})  # and every status >= 500
_ROUTER_SETTINGS = frozenset(
    {"routing_strategy", "routing_strategy_args", "cooldown_time", "allowed_fails", "disable_cooldowns",
     "enable_pre_call_checks"}
)
_SECRET = re.compile(r"\b((?:sk|pk|rk|gsk|xai)-)[A-Za-z0-9_\-]{6,}|(Bearer\s+)\S+", re.IGNORECASE)


@cache
def load_litellm() -> Any:
    """Import litellm once, quietly and offline (its price map from the installed package)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # pydantic warns about litellm's own TypedDicts (ReadOnly items) on first use: not ours to fix
    warnings.filterwarnings("ignore", message=".*is using the `ReadOnly` qualifier.*", category=UserWarning)
    import litellm

    litellm.suppress_debug_info = True
    if hasattr(litellm, "telemetry"):
        litellm.telemetry = False
    if hasattr(litellm, "set_verbose"):
        litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return litellm


class _Malformed(Exception):
    """A 200 response that is not a usable chat completion (retried like a 5xx)."""


@dataclass(frozen=True, slots=True)
class _Prices:
    per_in: float | None  # USD per input token
    per_out: float | None

    @property
    def known(self) -> bool:
        return self.per_in is not None and self.per_out is not None

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        if self.per_in is None or self.per_out is None or input_tokens is None or output_tokens is None:
            return None
        return input_tokens * self.per_in + output_tokens * self.per_out


@dataclass(frozen=True, slots=True)
class _Target:
    """One place calls go: the model, or one Router deployment."""

    model: str  # the litellm model string (with its provider prefix)
    provider: str
    supports_n: bool
    prices: _Prices


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
        self._router: Any = None
        self._closed = False
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

    @classmethod
    def from_settings(cls, settings: Settings) -> LiteLLMProvider:
        return cls(
            settings.model,
            api_base=settings.api_base,
            router_config=settings.router_config,
            timeout=settings.timeout,
            max_attempts=settings.max_attempts,
            price_in=settings.price_in,
            price_out=settings.price_out,
        )

    # -- set-up -----------------------------------------------------------------------------------

    def _single_target(self, model: str, notes: dict[str, str]) -> tuple[str, _Target]:
        litellm = self._litellm
        try:
            _, provider, _, _ = litellm.get_llm_provider(model=model, api_base=self._api_base)
        except Exception:
            if self._api_base is None:
                raise ConfigError(
                    f"litellm does not know the provider of model {model!r}: write provider/model "
                    "(e.g. openai/gpt-4.1-mini, ollama_chat/llama3) or give --api-base"
                ) from None
            model, provider = f"openai/{model}", "openai"
            notes["model"] = f"sent as {model} to the OpenAI-compatible server"
        return model, self._target(model, provider, {})

    def _target(self, model: str, provider: str, params: dict[str, Any]) -> _Target:
        litellm = self._litellm
        supports_n = False
        if provider in N_PROVIDERS:
            try:
                supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider) or []
                supports_n = "n" in supported
            except Exception:
                supports_n = False
        map_in, map_out = params.get("input_cost_per_token"), params.get("output_cost_per_token")
        if map_in is None or map_out is None:
            map_in, map_out = map_prices(litellm, model)
        per_in = self._price_in / 1e6 if self._price_in is not None else map_in
        per_out = self._price_out / 1e6 if self._price_out is not None else map_out
        return _Target(model, provider, supports_n, _Prices(per_in, per_out))

    def _check_api_key(self, target: _Target) -> None:
        if target.provider in _AMBIENT_CREDENTIALS:
            return
        try:
            missing = self._litellm.validate_environment(model=target.model).get("missing_keys") or []
        except Exception:
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
            raise SpecError(f"{path}: model {model!r} is not a model_name in this router config (it has: {', '.join(names)})")
        deployments = [_with_local_key(litellm, d, f"maker-{i}") for i, d in enumerate(model_list)]
        targets: dict[str, _Target] = {}  # by deployment id; priced before litellm.Router registers
        for deployment in deployments:  # its deployments in the price map (with zero prices)
            if deployment["model_name"] != group:
                continue
            params = deployment["litellm_params"]
            try:
                _, provider, _, _ = litellm.get_llm_provider(model=params["model"], api_base=params.get("api_base"))
            except Exception:
                raise SpecError(f"{path}: litellm does not know the provider of model {params['model']!r}") from None
            targets[str(deployment["model_info"]["id"])] = self._target(params["model"], provider, params)
        try:
            self._router = litellm.Router(model_list=deployments, num_retries=0, retry_after=0, **settings)
        except Exception as exc:
            raise SpecError(f"{path}: litellm.Router rejected the config: {_one_line(exc)}") from None
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
        """Stop taking calls. litellm's HTTP clients are shared and closed by litellm at exit."""
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
        try:
            response = await call_with_retries(
                lambda: self._acompletion(request, n),
                self.policy,
                is_retryable=is_retryable,
                server_wait=server_wait,
                attempts=attempts,
            )
        except Exception as exc:
            raise ProviderError(self._describe(exc, attempts), retries=attempts.retries, status=status_of(exc)) from None
        latency = time.perf_counter() - start
        target = self._targets.get(str((getattr(response, "_hidden_params", None) or {}).get("model_id")), self._default)
        return self._completions(response, target, latency), attempts.retries

    async def _acompletion(self, request: SampleRequest, n: int) -> Any:
        messages = [{"role": "user", "content": request.user}]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        kwargs: dict[str, Any] = {
            "messages": messages,
            "temperature": request.temperature,
            "timeout": self.timeout,
            "max_retries": 0,
        }
        if n > 1:
            kwargs["n"] = n
        if request.max_output_tokens is not None:
            kwargs["max_tokens"] = request.max_output_tokens
        async with asyncio.timeout(self.timeout * 1.5 + 5.0):  # in case a backend ignores `timeout`
            if self._router is not None:
                response = await self._router.acompletion(model=self._model, **kwargs)
            else:
                if self._api_base is not None:
                    kwargs["api_base"] = self._api_base
                if self._api_key is not None:
                    kwargs["api_key"] = self._api_key
                response = await self._litellm.acompletion(model=self._model, **kwargs)
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise _Malformed("the response has no choices")
        if len(choices) > n:
            raise _Malformed(f"the response has {len(choices)} choices for n={n}")
        for choice in choices:
            message = getattr(choice, "message", None)
            content = getattr(message, "content", None)
            if message is None or (content is not None and not isinstance(content, str)):
                raise _Malformed("a choice has no text message")
        return response

    def _completions(self, response: Any, target: _Target, latency: float) -> list[Completion]:
        choices = response.choices
        texts = [choice.message.content or "" for choice in choices]
        usage = getattr(response, "usage", None)
        prompt_tokens = _count(getattr(usage, "prompt_tokens", None))
        output_total = _count(getattr(usage, "completion_tokens", None))
        if prompt_tokens == 0 and output_total == 0:  # litellm fills zeros when the server sent no usage
            prompt_tokens = output_total = None
        if output_total is None:
            outputs: list[int | None] = [None] * len(texts)
        elif len(texts) == 1:
            outputs = [output_total]
        else:
            weights = [self._litellm.token_counter(model=target.model, text=t) if t else 0 for t in texts]
            outputs = list(apportion(output_total, weights))
        completions = []
        for i, (choice, text) in enumerate(zip(choices, texts)):
            input_tokens = prompt_tokens if i == 0 or prompt_tokens is None else 0
            completions.append(
                Completion(
                    text=text,
                    input_tokens=input_tokens,
                    output_tokens=outputs[i],
                    finish_reason=getattr(choice, "finish_reason", None),
                    latency_s=latency,
                    cost_usd=target.prices.cost(input_tokens, outputs[i]),
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
        reason = _one_line(exc)
        if isinstance(exc, _Malformed):
            kind = "malformed response"
        elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or status == 408:
            reason, kind = "no answer in time", f"timeout {self.timeout:g}s"
        tries = f" after {attempts.count} attempts" if attempts.count > 1 else ""
        if self._api_key and self._api_key != DUMMY_API_KEY:
            reason = reason.replace(self._api_key, "***")
        return f"{self.info.name}: {reason} ({kind}){tries}"


# -- error classification (used by the retry policy) ----------------------------------------------


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries, if any (litellm exceptions set `status_code`)."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def is_retryable(exc: BaseException) -> bool:
    """429, 408/409/425, 5xx, timeouts, connection errors and malformed bodies; never 400/401/403/404."""
    if isinstance(exc, (_Malformed, TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return True
    status = status_of(exc)
    if status is not None:
        return status in _RETRY_STATUSES or status >= 500
    if type(exc).__name__ == "RouterRateLimitError":  # every deployment cooling down
        return True
    import httpx
    import openai

    return isinstance(exc, (openai.APIConnectionError, httpx.TransportError))


def server_wait(exc: BaseException) -> float | None:
    """Seconds the server asked for, from the response headers litellm keeps on its exceptions.

    litellm 1.106 puts the vendor's headers on `exc.litellm_response_headers` (httpx.Headers);
    `exc.response.headers` is usually rebuilt empty, and `exc.headers` is set only for some errors.
    """
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        try:
            wait = retry_after_seconds(headers) if headers else None
        except Exception:
            wait = None
        if wait is not None:
            return wait
    cooldown = getattr(exc, "cooldown_time", None)  # Router: all deployments cooling down
    return float(cooldown) if isinstance(cooldown, (int, float)) else None


# -- helpers --------------------------------------------------------------------------------------


def apportion(total: int, weights: list[int]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainders): non-negative, sums to total."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    weights = [max(w, 0) for w in weights]
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (total * weights[i]) % whole, reverse=True)
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def load_router_config(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read a litellm Router config: `model_list` (deployments) and optional `router_settings`."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read router config: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {_one_line(exc)}") from None
    if not isinstance(data, dict) or "model_list" not in data:
        raise SpecError(f"{path}: a router config is a mapping with 'model_list' (a list of deployments)")
    unknown = sorted(set(data) - {"model_list", "router_settings"})
    if unknown:
        raise SpecError(f"{path}: unknown key '{unknown[0]}' (allowed: model_list, router_settings)")
    model_list = data["model_list"]
    if not isinstance(model_list, list) or not model_list:
        raise SpecError(f"{path}: 'model_list' must be a non-empty list of deployments")
    for i, deployment in enumerate(model_list):
        where = f"{path}: model_list[{i}]"
        if not isinstance(deployment, dict):
            raise SpecError(f"{where}: a deployment is a mapping with model_name and litellm_params")
        if not isinstance(deployment.get("model_name"), str) or not deployment["model_name"]:
            raise SpecError(f"{where}.model_name: required (the name calls use, shared by deployments of one model)")
        params = deployment.get("litellm_params")
        if not isinstance(params, dict):
            raise SpecError(f"{where}.litellm_params: required (a mapping with at least 'model')")
        if not isinstance(params.get("model"), str) or not params["model"]:
            raise SpecError(f"{where}.litellm_params.model: required (a litellm model string)")
        if not isinstance(deployment.get("model_info", {}), dict):
            raise SpecError(f"{where}.model_info: must be a mapping")
        for limit in ("rpm", "tpm"):
            for holder, name in ((deployment, limit), (params, f"litellm_params.{limit}")):
                value = holder.get(limit)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                    raise SpecError(f"{where}.{name}: must be a positive integer")
    settings = data.get("router_settings") or {}
    if not isinstance(settings, dict):
        raise SpecError(f"{path}: 'router_settings' must be a mapping")
    bad = sorted(set(settings) - _ROUTER_SETTINGS)
    if bad:
        raise SpecError(f"{path}: router_settings.{bad[0]}: not supported (allowed: {', '.join(sorted(_ROUTER_SETTINGS))})")
    return model_list, dict(settings)


def map_prices(litellm: Any, model: str) -> tuple[float | None, float | None]:
    """USD per input and output token from litellm's price map; (None, None) for unknown models.

    Only entries that really carry prices count: litellm.Router adds price-less entries for its
    deployments, which `get_model_info` would report as free.
    """
    try:
        info = litellm.get_model_info(model=model)
    except Exception:  # not in the price map
        return None, None
    entry = litellm.model_cost.get(info.get("key") or model) or litellm.model_cost.get(model) or {}
    if "input_cost_per_token" not in entry or "output_cost_per_token" not in entry:
        return None, None
    return info.get("input_cost_per_token"), info.get("output_cost_per_token")


def _with_local_key(litellm: Any, deployment: dict[str, Any], default_id: str) -> dict[str, Any]:
    """A copy of a deployment with an id; one on a custom api_base without any key gets the dummy key."""
    deployment = copy.deepcopy(deployment)
    deployment.setdefault("model_info", {}).setdefault("id", default_id)
    params = deployment["litellm_params"]
    if params.get("api_base") and not params.get("api_key"):
        try:
            has_key = litellm.validate_environment(model=params["model"])["keys_in_environment"]
        except Exception:
            has_key = False
        if not has_key:
            params["api_key"] = DUMMY_API_KEY
    return deployment


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _one_line(exc: BaseException) -> str:
    """A short, secret-free line from an exception's message."""
    text = str(exc).strip()
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    for _ in range(3):  # "litellm.RateLimitError: RateLimitError: OpenAIException - why"
        line = re.sub(r"^(?:litellm\.)?\w*(?:Error|Exception|Timeout)(?::| -)\s*", "", line)
    line = _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", line)
    return line if len(line) <= 200 else line[:197] + "..."
