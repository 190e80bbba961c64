"""Feature metadata: name, family, unit, formula, and whether the transform takes log1p."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """One named raw feature.

    ``log`` marks non-negative, heavy-tailed counts/money/durations that the transform
    passes through ``log1p`` before winsorizing and scaling.
    """

    name: str
    family: str
    unit: str
    formula: str
    log: bool = False

    def to_dict(self) -> dict:
        return asdict(self)
