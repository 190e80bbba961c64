"""Live form of :mod:`archetype.features.content`: spread of interest over categories."""

from __future__ import annotations

import math

from archetype.live.incremental.base import LiveContext
from archetype.live.state import CATEGORIES, CustomerState

FAMILY = "content"


def intermediates(state: CustomerState, days: list, c: LiveContext) -> dict:
    """The batch ``frames`` of this family: ``_cat_entropy``, ``_cat_top`` (None: no
    category events in the window)."""
    counts: dict[str, int] = {}
    for _, b in days:
        for cat, n in b[CATEGORIES].items():
            counts[cat] = counts.get(cat, 0) + n
    if not counts:
        return {"_cat_entropy": None, "_cat_top": None}
    total = float(sum(counts.values()))
    shares = [n / total for _, n in sorted(counts.items())]
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
