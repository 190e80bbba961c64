"""Thompson sampling over variants with Beta(1 + conversions, 1 + non-conversions) posteriors.

Posteriors are updated per conversion (a success as soon as the conversion is processed in
event time) and per closed exposure window (a failure), never in hourly batches.  The draw
for a customer is seeded from (salt, customer, firing key), so a replay makes the same
choices.  The holdout is decided by bucket before the bandit is asked, so it is never
starved whatever the posteriors say.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _rng(*parts: Any) -> random.Random:
    h = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(h, "big"))


def thompson_choice(
    stats: Mapping[str, Sequence[float]], variants: Sequence[str], *seed_parts: Any
) -> str:
    """The variant whose Beta(1 + s, 1 + f) draw is largest (``stats[v] = (n, s, f)``)."""
    rng = _rng(*seed_parts)
    best, best_draw = variants[0], -1.0
    for v in variants:
        _, s, f = stats.get(v, (0, 0, 0))
        draw = rng.betavariate(1.0 + s, 1.0 + f)
        if draw > best_draw:
            best, best_draw = v, draw
    return best


def prob_best(
    stats: Mapping[str, Sequence[float]],
    variants: Sequence[str],
    *,
    draws: int = 20_000,
    seed: int = 0,
) -> dict[str, float]:
    """Posterior probability that each variant has the highest conversion rate."""
    rng = np.random.default_rng(seed)
    samples = np.stack(
        [
            rng.beta(1.0 + stats.get(v, (0, 0, 0))[1], 1.0 + stats.get(v, (0, 0, 0))[2], draws)
            for v in variants
        ]
    )
    wins = np.bincount(samples.argmax(axis=0), minlength=len(variants))
    return {v: float(w) / draws for v, w in zip(variants, wins, strict=True)}
