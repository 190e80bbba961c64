"""Live form of :mod:`archetype.features.content`: spread of interest over categories."""

from __future__ import annotations

import math

from archetype.live.incremental.base import LiveContext
from archetype.live.state import CATEGORIES, CustomerState

FAMILY = "content"


def intermediates(state: CustomerState, days: list, c: LiveContext) -> dict:
    """The batch ``frames`` of this family: ``_cat_entropy``, ``_cat_top`` (None: no
    category events in the window)."""
    counts: dict[int, int] = {}
    for _, b in days:
        for k, n in b[CATEGORIES].items():
            counts[k] = counts.get(k, 0) + n
    if not counts:
        return {"_cat_entropy": None, "_cat_top": None}
    total = float(sum(counts.values()))
    inv = 1.0 / total  # the batch divides by the broadcast sum as n * (1 / sum)
    shares = [n * inv for n in counts.values()]
    return {
        "_cat_entropy": -math.fsum(p * math.log(p) for p in shares),
        "_cat_top": max(shares),
    }


def values(i: dict, c: LiveContext) -> dict[str, float]:
    e, top = i["_cat_entropy"], i["_cat_top"]
    return {
        "category_entropy": max(0.0 if e is None else e, 0.0) + 0.0,
        "top_category_share": 0.0 if top is None else top,
    }
