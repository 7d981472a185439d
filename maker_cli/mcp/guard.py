"""The spending guard of the MCP tools that call a model (maker_vote, maker_calibrate in model mode).

Before any call: samples = min(requested, mcp_max_samples); the worst case (every sample at the
output-token limit, input tokens estimated high, at the prices the provider will charge: the one
price resolver) must fit in the call's dollar cap (mcp_max_cost_usd, or what the session has left
under --max-session-cost), else the call is refused and the error says which sample count fits. A
model whose prices are unknown is refused unless it is self-hosted (api_base/router_config): then
only the sample cap applies. A question spec that matches answers by embedding adds, per sample,
embedding an answer of the output-token limit at the embedding model's price (unknown: refused
unless the embedding model is self-hosted too); the embedding calls' cost is counted in the vote's
cost, so the spend limit and the session's spend include it. While running, the engine's spend limit (votes) or a MeteredProvider
(calibration) stops at the dollar cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcp.server.mcpserver.exceptions import ToolError

from maker_cli.config.job import JobSettings
from maker_cli.providers import is_sim
from maker_cli.providers.prices import resolve_prices
from maker_cli.specs.matching import EmbeddingMatch, MatchRule

CHARS_PER_TOKEN_LOW = 3  # fewer characters per token than usual: a high input-token estimate
FRAMING_TOKENS = 16  # chat-format overhead per call


@dataclass(frozen=True)
class SpendPlan:
    samples: int  # samples this call may draw
    cap_usd: float  # the dollar cap of this call
    worst_case_usd: float | None  # None when prices are unknown (self-hosted)
    notes: tuple[str, ...]


def plan_spend(
    job: JobSettings,
    *,
    cap_samples: int,
    cap_usd: float,
    requested: int | None,
    prompt_chars: int,
    least: int = 1,
    what: str = "max_samples",
    locked: bool = False,
    cap_name: str | None = None,
    matching: MatchRule | None = None,
) -> SpendPlan:
    """Both caps, before any call; ToolError when fewer than `least` samples are allowed, when the
    worst case exceeds the dollar cap, or when the dollar cap cannot be checked."""
    notes: list[str] = []
    samples = min(requested or cap_samples, cap_samples)
    if requested is not None and requested > cap_samples:
        notes.append(f"{what} {requested} lowered to the per-call cap mcp_max_samples = {cap_samples}")
    raise_it = (
        "the caps are locked by the server's operator"
        if locked
        else ("raise the cap with maker_configure if the user agrees")
    )
    if samples < least:
        raise ToolError(
            f"k = {least} needs at least {least} samples, but a call may draw at most {samples} "
            f"(mcp_max_samples = {cap_samples}); lower k or {raise_it}"
        )
    prices = resolve_prices(job.model, job.price_in, job.price_out, simulated=is_sim(job.model))
    if not prices.known:
        if job.api_base is None and job.router_config is None:
            raise ToolError(
                f"no price is known for model {job.model!r}, so the ${cap_usd:g} cap cannot be enforced; "
                "give price_in and price_out (USD per million tokens) with maker_configure, or use a model "
                "from litellm's price map"
            )
        notes.append("prices unknown (self-hosted model?): the dollar cap is not checked; only the sample cap applies")
        return SpendPlan(samples, cap_usd, None, tuple(notes))
    in_tokens = math.ceil(prompt_chars / CHARS_PER_TOKEN_LOW) + FRAMING_TOKENS
    out_tokens = job.max_output_tokens or 4096
    per = prices.cost(in_tokens, out_tokens) or 0.0
    if isinstance(matching, EmbeddingMatch):
        embedding_price = _embedding_price(matching, job, cap_usd, notes)
        if embedding_price is None:
            return SpendPlan(samples, cap_usd, None, tuple(notes))
        per += out_tokens * embedding_price / 1e6
    worst = per * samples
    if worst > cap_usd:
        fits = int(cap_usd // per) if per > 0 else samples
        advice = f"pass {what} <= {fits}" if fits >= least else "use a cheaper model or a lower max_output_tokens"
        raise ToolError(
            f"refused: the worst case for {samples} samples of {job.model} is ${worst:.4g} "
            f"(${per:.4g} each at {out_tokens} output tokens), over {cap_name or f'the cap of ${cap_usd:g}'}; "
            f"{advice}, or {raise_it}"
        )
    return SpendPlan(samples, cap_usd, worst, tuple(notes))


def _embedding_price(rule: EmbeddingMatch, job: JobSettings, cap_usd: float, notes: list[str]) -> float | None:
    """USD per million tokens of the embedding model; None (with a note) for a self-hosted one
    without a price; ToolError when the price is unknown and the model is not self-hosted."""
    if is_sim(rule.model):
        return rule.price or 0.0
    price = resolve_prices(rule.model, None, 0.0).price_in  # a spec's own price is not trusted here
    if price is not None:
        return price
    if job.api_base is None:
        raise ToolError(
            f"no price is known for the embedding model {rule.model!r}, so the ${cap_usd:g} cap cannot be "
            "enforced; use an embedding model from litellm's price map"
        )
    notes.append("embedding price unknown (self-hosted?): the dollar cap is not checked; only the sample cap applies")
    return None
