"""A provider wrapper that adds up what its completions cost and stops at a dollar cap."""

from __future__ import annotations

from maker_cli.errors import BudgetExceeded
from maker_cli.providers.base import CallResult, Provider, SampleRequest


class MeteredProvider:
    """Wraps a provider: counts the spend and refuses new calls (BudgetExceeded) once it reaches
    `cap_usd`. Calls already in flight still finish: at most the concurrency of them."""

    def __init__(self, inner: Provider, cap_usd: float) -> None:
        self.inner = inner
        self.info = inner.info
        self.cap_usd = cap_usd
        self.spent = 0.0
        self.cost_known = True

    async def complete(self, request: SampleRequest) -> CallResult:
        if self.spent > 0 and self.spent >= self.cap_usd:
            raise BudgetExceeded(f"stopped at the cap: spent ${self.spent:.4g} of ${self.cap_usd:g}")
        result = await self.inner.complete(request)
        for completion in result.completions:
            if completion.cost_usd is None:
                self.cost_known = False
            else:
                self.spent += completion.cost_usd
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def spent_usd(self) -> float | None:
        return self.spent if self.cost_known else None
