"""Deterministic sticky bucketing: hash (salt, customer) into 10,000 buckets.

``bucket(customer, salt)`` is a pure function (SHA-256, not Python's salted ``hash``), so
it survives restarts and is the same on every replica.  The holdout is the first
``holdout x 10,000`` buckets and never changes hands; a fixed allocation splits the other
buckets in contiguous ranges proportional to the variant weights.  Stickiness across
allocation changes comes from :class:`~archetype.live.experiments.runner.ExperimentRunner`,
which records each customer's first variant and reuses it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from archetype.live.experiments.config import HOLDOUT, N_BUCKETS, ExperimentConfig
from archetype.live.triggers.codec import ckey


def bucket(customer_id: Any, salt: str) -> int:
    """Bucket ``0..9999`` of ``customer_id`` under ``salt``."""
    h = hashlib.sha256(f"{salt}:{ckey(customer_id)}".encode()).digest()
    return int.from_bytes(h[:8], "big") % N_BUCKETS


def fixed_variant(b: int, exp: ExperimentConfig) -> str:
    """Variant of bucket ``b`` under a fixed allocation (holdout first)."""
    h = exp.holdout_buckets
    if b < h:
        return HOLDOUT
    names = list(exp.variants)
    w = np.array([exp.variants[n] for n in names], dtype=np.float64)
    edges = h + np.cumsum(w / w.sum()) * (N_BUCKETS - h)
    i = int(np.searchsorted(edges, b, side="right"))
    return names[min(i, len(names) - 1)]


def unit_draw(*parts: Any) -> float:
    """A uniform number in [0, 1) that is a pure function of ``parts``."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64
