"""Ready-made rule sets: the examples of docs/triggers.md and the benchmark's 20 rules."""

from __future__ import annotations

from typing import Any

CATEGORIES = ("electronics", "apparel", "home", "beauty", "grocery", "sports", "toys", "books")


def benchmark_rules(n: int = 20, segment_ids: list[int] | None = None) -> dict[str, Any]:
    """``n`` rules of every kind (the ``[triggers]`` table as a dict) and one experiment.

    Absence rules on carts, email opens and views with different windows and filters,
    repeat rules per category, and transition rules on ``segment_ids`` (when given):
    the mix a marketing team would run, used by ``benchmarks/bench_serve.py``.
    """
    rules: list[dict[str, Any]] = [
        {
            "name": "abandoned_cart",
            "kind": "absence",
            "on": "add_to_cart",
            "absent": "purchase",
            "within": "1h",
            "cooldown": "1d",
            "experiment": "cart_reminder",
        },
        {
            "name": "abandoned_cart_24h",
            "kind": "absence",
            "on": "add_to_cart",
            "absent": "purchase",
            "within": "24h",
            "cooldown": "3d",
        },
        {
            "name": "open_no_click",
            "kind": "absence",
            "on": "email_open",
            "absent": "email_click",
            "within": "2d",
            "cooldown": "7d",
        },
        {
            "name": "click_no_view",
            "kind": "absence",
            "on": "email_click",
            "absent": "view",
            "within": "30m",
            "same_category": True,
        },
        {
            "name": "ad_no_cart",
            "kind": "absence",
            "on": "ad_click",
            "absent": "add_to_cart",
            "within": "6h",
            "cooldown": "1d",
        },
        {
            "name": "big_spender",
            "kind": "repeat",
            "on": "purchase",
            "count": 2,
            "within": "7d",
            "per_category": False,
            "where": {"min_amount": 100},
        },
    ]
    for c in CATEGORIES:
        rules.append(
            {
                "name": f"{c}_twice",
                "kind": "repeat",
                "on": "view",
                "count": 2,
                "calendar_day": True,
                "where": {"category": c},
                "cooldown": "1d",
            }
        )
    segs = list(segment_ids or [])
    for s in segs:
        rules.append({"name": f"entered_{s}", "kind": "transition", "entered": s, "cooldown": "7d"})
        rules.append({"name": f"left_{s}", "kind": "transition", "left": s})
    i = 0
    while len(rules) < n:  # more absence rules with other windows
        i += 1
        rules.append(
            {
                "name": f"cart_{i}h",
                "kind": "absence",
                "on": "add_to_cart",
                "absent": "purchase",
                "within": f"{i + 1}h",
                "cooldown": "1d",
            }
        )
    return {
        "triggers": {"lateness": "5m", "rule": rules[:n]},
        "experiments": {
            "cart_reminder": {
                "holdout": 0.1,
                "variants": {"email": 1, "push": 1},
                "allocation": "thompson",
            }
        },
    }
