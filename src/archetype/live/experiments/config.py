"""Experiments declared in TOML (the ``[experiments]`` table), as pydantic models.

```toml
[experiments.cart_reminder]       # attached to a rule with experiment = "cart_reminder"
salt = "cart_reminder_2026_11"    # bucketing salt (default: the name); change it to re-draw
holdout = 0.1                     # share of customers who get nothing (always kept)
variants = { email = 1, push = 1 }   # relative weights (fixed allocation) / arms (bandit)
allocation = "thompson"           # "fixed" (default) or "thompson"
conversion = { event = "purchase", within = "7d" }   # what counts, per exposure
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, RootModel, field_validator, model_validator

from archetype.live.triggers.config import (
    US,
    EventFilter,
    EventType,
    PositiveDuration,
    _Model,
    validate,
)

HOLDOUT = "holdout"
N_BUCKETS = 10_000
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConversionRule(_Model):
    """An exposure converts on the first ``event`` (matching ``where``) within ``within``."""

    event: EventType = "purchase"
    within: PositiveDuration = 7 * US["d"]
    where: EventFilter = Field(default_factory=EventFilter)


class ExperimentConfig(_Model):
    """One experiment: variants, a holdout, sticky bucketing, a conversion rule."""

    name: str = ""
    salt: str | None = None
    holdout: float = Field(0.1, gt=0.0, lt=1.0)
    variants: dict[str, float]
    allocation: Literal["fixed", "thompson"] = "fixed"
    conversion: ConversionRule = Field(default_factory=ConversionRule)
    enabled: bool = True

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("give at least one variant, e.g. variants = { email = 1 }")
        for name, w in v.items():
            if name == HOLDOUT:
                raise ValueError(f"{HOLDOUT!r} is reserved for the holdout")
            if not _NAME.match(name):
                raise ValueError(f"variant {name!r}: use letters, digits, '_', '.' or '-'")
            if not w > 0:
                raise ValueError(f"variant {name!r}: weight {w} should be > 0")
        return v

    @model_validator(mode="after")
    def _salt(self) -> ExperimentConfig:
        if self.salt is None:
            object.__setattr__(self, "salt", self.name)
        return self

    @property
    def holdout_buckets(self) -> int:
        return round(self.holdout * N_BUCKETS)


class _Experiments(RootModel[dict[str, ExperimentConfig]]):
    pass


def parse_experiments(
    d: dict | None, *, source: str = "[experiments]"
) -> dict[str, ExperimentConfig]:
    """``{name: ExperimentConfig}`` from the ``[experiments]`` table (bad -> UserError)."""
    named = {k: {**v, "name": k} if isinstance(v, dict) else v for k, v in (d or {}).items()}
    for k in named:
        if not _NAME.match(k):
            from archetype.errors import UserError

            raise UserError(f"{source}: experiment name {k!r}: use letters, digits, '_', '.', '-'")
    return dict(validate(_Experiments, named, source).root)
