"""The metered provider: it adds up what its completions cost, refuses new calls once the cap is
reached, and says the spend is unknown as soon as one completion's cost is."""

from __future__ import annotations

import asyncio

import pytest

from maker_cli.errors import BudgetExceeded
from maker_cli.providers.base import CallResult, Completion, SampleRequest
from maker_cli.providers.metered import MeteredProvider
from maker_cli.providers.sim import SimProvider

ASK = SampleRequest("system", "what is 6 x 7?", 0.1, n=2)


def test_calls_stop_once_the_spend_reaches_the_cap():
    sim = SimProvider("sim:p=1,answer=42", price_in=1000.0, price_out=1000.0)  # about $0.01 a call

    async def go() -> tuple[list[CallResult], MeteredProvider]:
        meter = MeteredProvider(sim, cap_usd=0.02)
        results = []
        with pytest.raises(BudgetExceeded) as stopped:
            for _ in range(100):
                results.append(await meter.complete(ASK))
        await meter.aclose()
        assert str(stopped.value) == f"stopped at the cap: spent ${meter.spent:.4g} of $0.02"
        return results, meter

    results, meter = asyncio.run(go())
    costs = [c.cost_usd for r in results for c in r.completions]
    assert meter.spent_usd == pytest.approx(sum(costs)) and meter.spent >= 0.02
    assert meter.spent - costs[-1] - costs[-2] < 0.02  # the call that crossed the cap was the last one
    assert sim.calls == len(results) and meter.info is sim.info


def test_one_completion_of_unknown_cost_makes_the_spend_unknown():
    class Unpriced:
        info = SimProvider("sim:p=1,answer=x").info

        async def complete(self, request: SampleRequest) -> CallResult:
            return CallResult([Completion("x", 3, 1, "stop", 0.0, None)])

        async def aclose(self) -> None:
            return None

    async def go() -> MeteredProvider:
        meter = MeteredProvider(Unpriced(), cap_usd=1.0)
        await meter.complete(ASK)
        await meter.complete(ASK)  # an unknown spend never reaches the cap
        return meter

    meter = asyncio.run(go())
    assert meter.spent_usd is None and meter.spent == 0.0
