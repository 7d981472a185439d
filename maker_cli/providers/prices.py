"""Model prices (USD per million tokens): the one resolver every cost figure uses.

`resolve_prices(model, price_in, price_out)` is used by `maker estimate`, a run's budget guard,
the MCP spending guard and the providers' own accounting, so they always agree: a price given
(flag, keyword, config) wins per side; else litellm's price map; else 0 for the simulated model;
else unknown (None) — never 0 for a real model, and a price for one side never zeroes the other.

Cached input tokens (a provider's prompt cache) are priced at the model's cache-read rate
(`cache_read_input_token_cost` in litellm's map) when the input price comes from the map; an input
price given by hand, or a model the map has no cache rate for, prices them as ordinary input
(`Prices.price_cached` None). The cost of a call is
(input - cached) x price_in + cached x price_cached + output x price_out.

The price map is looked up lazily and offline.

litellm costs about two seconds to import, so nothing here imports it at module level. When litellm
is already loaded (a run that calls models), its live `litellm.model_cost` is used, so prices
registered at runtime count. Otherwise the price map that litellm ships with its package is read
directly (the same file litellm itself loads with LITELLM_LOCAL_MODEL_COST_MAP=True), which takes
milliseconds; if that file cannot be found, litellm is imported with the local map forced. No
lookup ever goes to the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from maker_cli._types import JSONObject, JSONValue

_MAP_FILE = "model_prices_and_context_window_backup.json"
PER_MILLION = 1_000_000


def call_cost(
    input_tokens: float,
    output_tokens: float,
    price_in: float,
    price_out: float,
    cached_tokens: float = 0.0,
    price_cached: float | None = None,
) -> float:
    """USD for one call: tokens times prices given in USD per million tokens. `cached_tokens` (a part
    of `input_tokens`, clamped to it) cost `price_cached` each (None: `price_in`, no discount)."""
    cached = min(max(cached_tokens, 0.0), input_tokens)
    cache_rate = price_in if price_cached is None else price_cached
    return ((input_tokens - cached) * price_in + cached * cache_rate + output_tokens * price_out) / PER_MILLION


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million input and output tokens (None: unknown) and where they came from.

    `price_cached`: USD per million input tokens served from the provider's prompt cache; None when
    there is no cache rate (cached tokens then cost `price_in`)."""

    price_in: float | None
    price_out: float | None
    source: str | None  # e.g. "flags", "litellm", "flags+litellm", "simulated"; None when unknown
    price_cached: float | None = None

    @property
    def known(self) -> bool:
        return self.price_in is not None and self.price_out is not None

    def cost(
        self, input_tokens: float | None, output_tokens: float | None, cached_tokens: float | None = None
    ) -> float | None:
        """USD for these tokens (`cached_tokens` of the input at the cache rate); None when a count or a
        price it needs is unknown."""
        if input_tokens is None or output_tokens is None:
            return None
        if (input_tokens and self.price_in is None) or (output_tokens and self.price_out is None):
            return None
        return call_cost(
            input_tokens,
            output_tokens,
            self.price_in or 0.0,
            self.price_out or 0.0,
            cached_tokens or 0.0,
            self.price_cached,
        )


def resolve_prices(
    model: str,
    price_in: float | None = None,
    price_out: float | None = None,
    *,
    simulated: bool = False,
    given_source: str = "flags",
) -> Prices:
    """Prices per side: the given one, else litellm's map for `model`, else 0 if simulated, else None.
    The cache-read rate comes from the map with the input price (see the module doc)."""
    mapped = None if simulated or (price_in is not None and price_out is not None) else model_prices(model)
    values: list[float | None] = []
    sources: list[str] = []
    for side, given in enumerate((price_in, price_out)):
        if given is not None:
            values.append(float(given))
            sources.append(given_source)
        elif mapped is not None:
            values.append(mapped[side])
            sources.append("litellm")
        elif simulated:
            values.append(0.0)
            sources.append("simulated")
        else:
            values.append(None)
    source = "+".join(dict.fromkeys(sources)) or None
    cached = model_cache_price(model) if price_in is None and mapped is not None else None
    return Prices(values[0], values[1], source, cached)


def model_prices(model: str) -> tuple[float, float] | None:
    """(USD per million input tokens, USD per million output tokens) for `model`, or None if unknown.

    Tries the name as given, then without a provider prefix ("openai/gpt-4.1-mini" ->
    "gpt-4.1-mini"), then in lower case.
    """
    cost_map = _cost_map()
    for name in _candidates(model):
        entry = cost_map.get(name)
        prices = _prices_of(entry)
        if prices is not None:
            return prices
    return None


def model_cache_price(model: str) -> float | None:
    """USD per million input tokens read from the prompt cache (`cache_read_input_token_cost`) for the
    model whose prices `model_prices` finds, or None when its map entry has no cache rate."""
    cost_map = _cost_map()
    for name in _candidates(model):
        entry = cost_map.get(name)
        if isinstance(entry, Mapping) and _prices_of(entry) is not None:
            rate = entry.get("cache_read_input_token_cost")
            if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate >= 0:
                return float(f"{rate * PER_MILLION:.12g}")
            return None
    return None


def _candidates(model: str) -> list[str]:
    names = [model]
    if "/" in model:
        names.append(model.split("/", 1)[1])
    names += [n.lower() for n in names if n.lower() != n]
    return [n for n in names if n and n != "sample_spec"]


def _prices_of(entry: object) -> tuple[float, float] | None:
    if not isinstance(entry, Mapping):
        return None
    cin, cout = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if not isinstance(cin, (int, float)) or not isinstance(cout, (int, float)):
        return None
    # per-token figures like 4e-07 -> 0.4 (not 0.39999999999999997)
    return float(f"{cin * PER_MILLION:.12g}"), float(f"{cout * PER_MILLION:.12g}")


def _cost_map() -> Mapping[str, JSONValue]:
    cost_map: Mapping[str, JSONValue]  # litellm's price map: model name -> its JSON entry
    if "litellm" in sys.modules:
        cost_map = sys.modules["litellm"].model_cost
        return cost_map
    bundled = _bundled_map()
    if bundled is not None:
        return bundled
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # heavy (about 2 s): only when the bundled price map file cannot be found

    cost_map = litellm.model_cost
    return cost_map


@lru_cache(maxsize=1)
def _bundled_map() -> JSONObject | None:
    """The price map shipped inside the litellm package, read without importing litellm."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, _MAP_FILE)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return None
