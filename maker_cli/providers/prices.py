"""Model prices (USD per million tokens) from litellm's model price map, looked up lazily and offline.

litellm costs about two seconds to import, so nothing here imports it at module level. When litellm
is already loaded (a run that calls models), its live `litellm.model_cost` is used, so prices
registered at runtime count. Otherwise the price map that litellm ships with its package is read
directly (the same file litellm itself loads with LITELLM_LOCAL_MODEL_COST_MAP=True), which takes
milliseconds; if that file cannot be found, litellm is imported with the local map forced. No
lookup ever goes to the network.
"""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from typing import Any, Mapping

_MAP_FILE = "model_prices_and_context_window_backup.json"
PER_MILLION = 1_000_000


def call_cost(input_tokens: float, output_tokens: float, price_in: float, price_out: float) -> float:
    """USD for one call: tokens times prices given in USD per million tokens."""
    return (input_tokens * price_in + output_tokens * price_out) / PER_MILLION


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


def _candidates(model: str) -> list[str]:
    names = [model]
    if "/" in model:
        names.append(model.split("/", 1)[1])
    names += [n.lower() for n in names if n.lower() != n]
    return [n for n in names if n and n != "sample_spec"]


def _prices_of(entry: Any) -> tuple[float, float] | None:
    if not isinstance(entry, Mapping):
        return None
    cin, cout = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if not isinstance(cin, (int, float)) or not isinstance(cout, (int, float)):
        return None
    # per-token figures like 4e-07 -> 0.4 (not 0.39999999999999997)
    return float(f"{cin * PER_MILLION:.12g}"), float(f"{cout * PER_MILLION:.12g}")


def _cost_map() -> Mapping[str, Any]:
    if "litellm" in sys.modules:
        return sys.modules["litellm"].model_cost
    bundled = _bundled_map()
    if bundled is not None:
        return bundled
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm.model_cost


@lru_cache(maxsize=1)
def _bundled_map() -> dict[str, Any] | None:
    """The price map shipped inside the litellm package, read without importing litellm."""
    import importlib.util

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
