"""Long addition, one digit column per step (examples/sequential/addition.yaml).

State: {"a": digits of a still to add, "b": the same for b, "position": columns done,
"carry": 0 or 1, "digits": the digits of the sum so far}. A step adds the last digit of a and of
b (0 when a number has run out) and the carry, writes the units digit in front of `digits`,
keeps the tens as the new carry, and drops the two last digits.
"""

from __future__ import annotations

from maker_cli._types import JSONObject

_DIGITS = "0123456789"


def _last(digits: str) -> int:
    return _DIGITS.index(digits[-1]) if digits and digits[-1] in _DIGITS else 0


def solve(state: JSONObject, step: int, inputs: JSONObject) -> tuple[int, JSONObject]:
    total = _last(state["a"]) + _last(state["b"]) + state["carry"]
    digit = total % 10
    next_state = {
        "a": state["a"][:-1],
        "b": state["b"][:-1],
        "position": state["position"] + 1,
        "carry": total // 10,
        "digits": str(digit) + state["digits"],
    }
    return digit, next_state
