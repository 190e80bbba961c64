"""What every feature family needs to know besides the events: the as-of day and horizon."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from archetype.features.config import FeatureConfig, month_day

EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01 (the integer day the builders work in)."""
    return (d - EPOCH).days


def slug(value: str) -> str:
    """A channel value as a column-name suffix (``"Paid Search"`` -> ``paid_search``)."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(value)).strip("_").lower()
    return s or "blank"


@dataclass(frozen=True)
class FeatureContext:
    """Resolved settings for one build.

    Attributes
    ----------
    as_of : date
        Last day included.
    horizon_days : int
        Days observable: the window length, or as-of minus the first event day + 1.
        Used as the "never happened" value of day-valued features.
    occasions : dict[str, tuple[int, int]]
        Window name -> (MMDD lo, MMDD hi), inclusive.
    channels : tuple[str, ...]
        Channels that get a share feature.
    """

    as_of: dt.date
    horizon_days: int
    occasions: dict[str, tuple[int, int]]
    channels: tuple[str, ...]

    @property
    def as_of_day(self) -> int:
        return day_number(self.as_of)

    @classmethod
    def make(
        cls, as_of: dt.date, horizon_days: int, config: FeatureConfig, channels: list[str]
    ) -> FeatureContext:
        occ = {
            name: (month_day(lo, name), month_day(hi, name))
            for name, (lo, hi) in config.occasions.items()
        }
        return cls(as_of, int(horizon_days), occ, tuple(channels))
