"""Build the provider a model string names: `sim:...` in-process, anything else through litellm."""

from __future__ import annotations

from pathlib import Path

from maker_cli.config.job import JobSettings
from maker_cli.providers import is_sim
from maker_cli.providers.base import Provider
from maker_cli.providers.sim import SimProvider


def make_provider(
    model: str,
    *,
    api_base: str | None = None,
    router_config: Path | None = None,
    timeout: float = 60.0,
    max_attempts: int = 6,
    price_in: float | None = None,
    price_out: float | None = None,
    prompt_cache: bool = False,
) -> Provider:
    """`prompt_cache`: mark the system message cacheable (litellm models; the simulated model ignores it).

    A `router_config` is read and checked whatever the model: the simulated model has no
    deployments to route to, but a missing or broken file is an error, never silently ignored."""
    if is_sim(model):
        if router_config is not None:
            from maker_cli.providers.litellm_support import load_router_config  # no litellm import

            load_router_config(Path(router_config))
        return SimProvider(model, price_in=price_in, price_out=price_out)
    from maker_cli.providers.litellm_provider import LiteLLMProvider  # imports litellm (about 2 s)

    return LiteLLMProvider(
        model,
        api_base=api_base,
        router_config=router_config,
        timeout=timeout,
        max_attempts=max_attempts,
        price_in=price_in,
        price_out=price_out,
        prompt_cache=prompt_cache,
    )


def provider_for(job: JobSettings) -> Provider:
    """The provider a job's settings describe."""
    return make_provider(
        job.model,
        api_base=job.api_base,
        router_config=job.router_config,
        timeout=job.timeout,
        max_attempts=job.max_attempts,
        price_in=job.price_in,
        price_out=job.price_out,
        prompt_cache=job.prompt_cache,
    )
