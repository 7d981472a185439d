"""One price resolver for estimates, run budgets, the MCP guard and the providers' own accounting."""

from __future__ import annotations

import pytest

from maker_cli.providers.prices import Prices, model_prices, resolve_prices
from maker_cli.providers.sim import SimProvider


def test_a_given_price_wins_per_side_and_the_map_fills_the_other():
    mapped = model_prices("gpt-4.1-mini")
    assert mapped is not None
    cached = 0.1  # the map's cache-read rate, which comes with the map's input price
    assert resolve_prices("gpt-4.1-mini") == Prices(mapped[0], mapped[1], "litellm", cached)
    assert resolve_prices("gpt-4.1-mini", price_in=0.0) == Prices(0.0, mapped[1], "flags+litellm")
    assert resolve_prices("gpt-4.1-mini", price_out=9.0, given_source="config") == Prices(
        mapped[0], 9.0, "litellm+config", cached
    )


def test_unknown_stays_unknown_and_the_simulated_model_is_free():
    assert resolve_prices("my-private-model") == Prices(None, None, None)
    assert resolve_prices("my-private-model", price_in=1.0) == Prices(1.0, None, "flags")
    assert resolve_prices("sim:p=0.9", simulated=True) == Prices(0.0, 0.0, "simulated")
    assert resolve_prices("sim:p=0.9", price_out=2.0, simulated=True) == Prices(0.0, 2.0, "simulated+flags")


def test_costs_need_the_prices_of_the_sides_they_use():
    prices = Prices(1.0, None, "flags")
    assert prices.cost(1_000_000, 0) == pytest.approx(1.0)
    assert prices.cost(1_000_000, 10) is None and prices.cost(None, 0) is None


def test_the_providers_charge_what_the_resolver_says():
    sim = SimProvider("sim:p=1,answer=x", price_in=1.0)
    assert sim.prices == resolve_prices("sim:p=1,answer=x", 1.0, None, simulated=True)
    from maker_cli.providers.litellm_provider import LiteLLMProvider

    provider = LiteLLMProvider("gpt-4.1-mini", api_base="http://127.0.0.1:9/v1", price_in=0.5)
    assert provider._default.prices == resolve_prices("gpt-4.1-mini", 0.5, None)
