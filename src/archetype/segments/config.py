"""Settings for profiles and names: the ``[segments]`` table of the config TOML.

::

    [segments]
    currency = "€"                 # money as "€1,234"; a code ("EUR") is written after

    [segments.lifecycle]           # per-customer lifecycle states (docs/segments.md)
    new_days = 30                  # first event within this many days of as-of: new
    lapsing_days = 90              # no purchase for this long: lapsing
    lapsed_days = 180              # ... for this long: lapsed
    lapsing_factor = 2.0           # or for this many times their own usual interval
    lapsed_factor = 3.0
    min_silence_days = 30          # the own-interval rules need at least this much silence
    majority = 0.5                 # share of a segment in a state to name it after it

    [segments.naming]
    min_defined_share = 0.5        # a feature speaks for a segment only when defined for
                                   # at least this share of its customers
    vip_revenue_ratio = 3.0        # VIP: revenue share >= 3 x customer share
    index_min_mean_sd = 0.2        # index only when population mean >= 0.2 population sd

    [segments.naming.rules."Deal hunters"]   # any rule of docs/segments.md
    z = 1.0                        # its standardized-difference threshold(s)
    level = 0.6                    # its absolute floor/ceiling on the defined mean
    enabled = true

    [segments.names]               # fixed names win over everything
    3 = "Bargain fans"

Parsed by :meth:`SegmentsConfig.from_dict` (pydantic): a wrong key or type is a one-line
:class:`~archetype.errors.UserError` naming the table and key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from archetype.errors import UserError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LifecycleConfig(_Model):
    """Thresholds of the per-customer lifecycle states (see :mod:`.lifecycle`)."""

    new_days: int = Field(30, ge=1)
    lapsing_days: int = Field(90, ge=1)
    lapsed_days: int = Field(180, ge=1)
    lapsing_factor: float = Field(2.0, gt=1.0)
    lapsed_factor: float = Field(3.0, gt=1.0)
    min_silence_days: int = Field(30, ge=0)
    majority: float = Field(0.5, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        if self.lapsed_days <= self.lapsing_days:
            raise ValueError(
                f"lapsed_days={self.lapsed_days} should be > lapsing_days={self.lapsing_days}"
            )
        if self.lapsed_factor <= self.lapsing_factor:
            raise ValueError(
                f"lapsed_factor={self.lapsed_factor} should be > "
                f"lapsing_factor={self.lapsing_factor}"
            )
        return self


class RuleOverride(_Model):
    """Per-rule overrides: ``z`` replaces every condition's threshold, ``level`` the
    absolute bound of conditions that have one; ``enabled = false`` switches it off."""

    z: float | None = None
    level: float | None = None
    enabled: bool = True


class NamingConfig(_Model):
    """How behavior names are chosen (see :mod:`.naming`)."""

    min_defined_share: float = Field(0.5, gt=0.0, le=1.0)
    vip_revenue_ratio: float = Field(3.0, gt=1.0)
    index_min_mean_sd: float = Field(0.2, ge=0.0)
    rules: dict[str, RuleOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_rules(self) -> NamingConfig:
        from archetype.segments.rules import rule_names

        known = rule_names()  # plus "<X> shoppers" for a configured occasion window
        unknown = [r for r in self.rules if r not in known and not r.endswith(" shoppers")]
        if unknown:
            raise ValueError(f"unknown rule(s) {unknown}; known: {', '.join(sorted(known))}")
        return self


class SegmentsConfig(_Model):
    """The ``[segments]`` table."""

    currency: str = Field("", max_length=8)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    naming: NamingConfig = Field(default_factory=NamingConfig)
    names: dict[int, str] = Field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, where: str = "[segments]") -> SegmentsConfig:
        """Validate a ``[segments]`` table (``None``: defaults); errors name the key."""
        try:
            return cls.model_validate(dict(d or {}))
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            got = err.get("input")
            got_s = "" if isinstance(got, Mapping) else f" (got {got!r})"
            key = f" {loc}:" if loc else ""
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise UserError(f"{where}{key} {msg}{got_s}") from None


def as_config(config: SegmentsConfig | Mapping[str, Any] | None) -> SegmentsConfig:
    """A :class:`SegmentsConfig` from itself, a ``[segments]`` dict, or ``None``."""
    if isinstance(config, SegmentsConfig):
        return config
    return SegmentsConfig.from_dict(config)
