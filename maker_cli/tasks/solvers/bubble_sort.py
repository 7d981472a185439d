"""Bubble sort, one comparison (and maybe a swap) per step (examples/sequential/bubble_sort.yaml).

State: {"items": the list, "position": the left index of the pair to compare, "swapped": whether
this pass has swapped anything yet}. A step compares items[position] and items[position + 1],
swaps them if the left one is larger, and moves one pair to the right; after the last pair of a
pass it starts a new pass at position 0, unless the pass swapped nothing: then the list is sorted
and the answer says done.
"""

from __future__ import annotations

from maker_cli._types import JSONObject


def solve(state: JSONObject, step: int, inputs: JSONObject) -> JSONObject:
    items = list(state["items"])
    if len(items) < 2:
        return {"action": "keep", "done": True, "next_state": {"items": items, "position": 0, "swapped": False}}
    i = min(max(state["position"], 0), len(items) - 2)
    action = "keep"
    if items[i] > items[i + 1]:
        items[i], items[i + 1] = items[i + 1], items[i]
        action = "swap"
    swapped = state["swapped"] or action == "swap"
    if i + 1 == len(items) - 1:  # the last pair of this pass
        return {"action": action, "done": not swapped, "next_state": {"items": items, "position": 0, "swapped": False}}
    return {"action": action, "done": False, "next_state": {"items": items, "position": i + 1, "swapped": swapped}}
