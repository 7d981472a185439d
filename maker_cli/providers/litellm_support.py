"""What the litellm provider needs around the calls: loading litellm quietly, classifying errors
for the retry policy, splitting output tokens over choices, and reading Router config files.

litellm is imported on first use (`load_litellm`), never at module import (it takes about 2 s),
with its network price-map fetch, debug prints and logging noise turned off.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import os
import re
import warnings
from functools import cache
from pathlib import Path

from maker_cli._types import JSONObject, LiteLLM
from maker_cli.bounded_yaml import read_yaml_file
from maker_cli.errors import SpecError
from maker_cli.providers.retrying import retry_after_seconds
from maker_cli.secrets import redact, register

DUMMY_API_KEY = "sk-no-key"  # for OpenAI-compatible servers that need no key (litellm wants one)
_RETRY_STATUSES = frozenset({408, 409, 425, 429})  # and every status >= 500
_ROUTER_SETTINGS = frozenset(
    {
        "routing_strategy",
        "routing_strategy_args",
        "cooldown_time",
        "allowed_fails",
        "disable_cooldowns",
        "enable_pre_call_checks",
    }
)


@cache
def load_litellm() -> LiteLLM:
    """Import litellm once, quietly and offline (its price map from the installed package)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # pydantic warns about litellm's own TypedDicts (ReadOnly items) on first use: not ours to fix
    warnings.filterwarnings("ignore", message=".*is using the `ReadOnly` qualifier.*", category=UserWarning)
    # and about values its own response models did not expect (a server's per-token embeddings)
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
    import litellm  # heavy (about 2 s): only a run that calls a real model pays for it

    litellm.suppress_debug_info = True
    if hasattr(litellm, "telemetry"):
        litellm.telemetry = False
    if hasattr(litellm, "set_verbose"):
        litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # some of litellm's paths read `max_retries or litellm.DEFAULT_MAX_RETRIES` (its OpenAI embedding
    # path does), so the max_retries=0 maker passes became hidden SDK retries; maker retries itself
    # (tenacity), so litellm's default is 0 for the whole process
    if hasattr(litellm, "DEFAULT_MAX_RETRIES"):
        litellm.DEFAULT_MAX_RETRIES = 0
    return litellm


class Malformed(Exception):
    """A 200 response that is not a usable chat completion (retried like a 5xx)."""


# -- error classification (used by the retry policy) ----------------------------------------------


def status_of(exc: BaseException) -> int | None:
    """The HTTP status a server answered with, if any (litellm exceptions set `status_code`). A
    connection that failed has none, whatever litellm puts there (it says 500)."""
    if is_connection_error(exc):
        return None
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


_CONNECTION_ERRORS = {
    "APIConnectionError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "UnsupportedProtocol",
    "InvalidURL",
    "ClientConnectorError",
}


_TIMEOUTS = {"Timeout", "APITimeoutError", "TimeoutException", "TimeoutError"}


def is_timeout(exc: BaseException) -> bool:
    """The call took longer than the timeout (litellm's Timeout derives from a connection error)."""
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or bool(
        {c.__name__ for c in type(exc).__mro__} & _TIMEOUTS
    )


def is_connection_error(exc: BaseException) -> bool:
    """No answer came back at all: refused, reset, unresolvable host, bad URL. litellm wraps these
    in errors that say 500, so the chain of causes is read. A timeout is not one (see `is_timeout`)."""
    if is_timeout(exc):
        return False
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionError) or {c.__name__ for c in type(seen).__mro__} & _CONNECTION_ERRORS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def failure_kind(exc: BaseException) -> str | None:
    """The kind of a failed call that its HTTP status does not say (`ProviderError.kind`): timeout,
    connection or malformed; None when the status says it (or nothing does)."""
    if is_timeout(exc):
        return "timeout"
    if is_connection_error(exc):
        return "connection"
    if isinstance(exc, Malformed):
        return "malformed"
    return None


def is_retryable(exc: BaseException) -> bool:
    """429, 408/409/425, 5xx, timeouts, connection errors and malformed bodies; never 400/401/403/404."""
    if isinstance(exc, (Malformed, ConnectionError)) or is_timeout(exc) or is_connection_error(exc):
        return True
    status = status_of(exc)
    if status is not None:
        return status in _RETRY_STATUSES or status >= 500
    if type(exc).__name__ == "RouterRateLimitError":  # every deployment cooling down
        return True
    import httpx  # both installed with litellm, loaded by then: no cost on the start-up path
    import openai  # (this only runs on a litellm error)

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
        except (TypeError, ValueError, AttributeError):  # headers of an unexpected shape: no hint
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


def load_router_config(path: Path) -> tuple[list[JSONObject], JSONObject]:
    """Read a litellm Router config: `model_list` (deployments) and optional `router_settings`."""
    data = read_yaml_file(path, "router config")
    if not isinstance(data, dict) or "model_list" not in data:
        raise SpecError(f"{path}: a router config is a mapping with 'model_list' (a list of deployments)")
    unknown = sorted(set(data) - {"model_list", "router_settings"})
    if unknown:
        raise SpecError(f"{path}: unknown key '{unknown[0]}' (allowed: model_list, router_settings)")
    model_list = data["model_list"]
    for deployment in model_list if isinstance(model_list, list) else ():
        params = deployment.get("litellm_params") if isinstance(deployment, dict) else None
        if isinstance(params, dict) and isinstance(params.get("api_key"), str):
            register(params["api_key"])  # an inline key must never reach an error message
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
        raise SpecError(
            f"{path}: router_settings.{bad[0]}: not supported (allowed: {', '.join(sorted(_ROUTER_SETTINGS))})"
        )
    return model_list, dict(settings)


def with_local_key(litellm: LiteLLM, deployment: JSONObject, default_id: str) -> JSONObject:
    """A copy of a deployment with an id; one on a custom api_base without any key gets the dummy key."""
    deployment = copy.deepcopy(deployment)
    deployment.setdefault("model_info", {}).setdefault("id", default_id)
    params = deployment["litellm_params"]
    if params.get("api_base") and not params.get("api_key"):
        try:
            has_key = litellm.validate_environment(model=params["model"])["keys_in_environment"]
        except Exception:  # noqa: BLE001 - litellm's key check is best effort: assume none
            has_key = False
        if not has_key:
            params["api_key"] = DUMMY_API_KEY
    return deployment


def count_tokens(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def cached_prompt_tokens(usage: object) -> int | None:
    """Prompt tokens served from the provider's cache, as litellm's usage carries them, or None when the
    server did not say: OpenAI-style `prompt_tokens_details.cached_tokens` (litellm maps Anthropic's
    `cache_read_input_tokens` and DeepSeek's `prompt_cache_hit_tokens` there too), else a top-level
    `cache_read_input_tokens`. Anthropic's cache writes (`cache_creation_input_tokens`) are not cache
    reads: they stay ordinary input tokens (litellm counts them in `prompt_tokens`)."""
    details = getattr(usage, "prompt_tokens_details", None)
    cached = count_tokens(getattr(details, "cached_tokens", None)) if details is not None else None
    if cached is None:
        cached = count_tokens(getattr(usage, "cache_read_input_tokens", None))
    return cached


_UNSUPPORTED = re.compile(
    r"drop_params|unsupported.?param|does not support param|doesn't support|not supported with this model",
    re.IGNORECASE,
)
_LITELLM_ADVICE = re.compile(r"\s*To drop unsupported[^.]*(?:\.|$).*", re.IGNORECASE | re.DOTALL)


def unsupported_param(line: str) -> str | None:
    """For a model that refuses a parameter maker sends (reasoning models take only temperature 1),
    the model's words without litellm's advice to set `litellm.drop_params` (a maker user cannot),
    and what to pass to maker instead; None for other errors."""
    if not _UNSUPPORTED.search(line):
        return None
    words = _LITELLM_ADVICE.sub("", line).rstrip(" .")
    if "temperature" in line.lower():
        return (
            f"{words}: this model takes only temperature 1, so pass --temperature 1 --first-temperature 1 "
            "(or set temperature and first_temperature in the config file)"
        )
    return f"{words}: this model refuses a request parameter maker sends; please report it with the model name"


def one_line(exc: BaseException) -> str:
    """A short, secret-free line from an exception's message."""
    text = str(exc).strip()
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    for _ in range(3):  # "litellm.RateLimitError: RateLimitError: OpenAIException - why"
        line = re.sub(r"^(?:litellm\.)?\w*(?:Error|Exception|Timeout)(?::| -)\s*", "", line)
    line = redact(line)
    hinted = unsupported_param(line)
    if hinted is not None:
        return hinted if len(hinted) <= 400 else hinted[:397] + "..."
    return line if len(line) <= 200 else line[:197] + "..."


def token_logprobs(logprobs: object) -> tuple[float, ...] | None:
    """The token log-probabilities of one choice, OpenAI's shape: `choices[i].logprobs.content[*].logprob`
    (litellm gives objects or dicts); None when the server sent none (or something else)."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else getattr(logprobs, "content", None)
    if not isinstance(content, list) or not content:
        return None
    out: list[float] = []
    for entry in content:
        value = entry.get("logprob") if isinstance(entry, dict) else getattr(entry, "logprob", None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return None
        out.append(float(value))
    return tuple(out)


def refuses_logprobs(exc: BaseException) -> bool:
    """True when a request failed because the model does not take `logprobs` (an HTTP 400, or
    litellm's unsupported-parameter error, that names it)."""
    return status_of(exc) in (400, 422, None) and "logprob" in str(exc).lower()
