"""Feature settings (``[features]`` in the config TOML) and the default occasion windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archetype.errors import UserError

# Month-day windows, inclusive: name -> ("MM-DD", "MM-DD").  A window may wrap the new year.
DEFAULT_OCCASIONS: dict[str, tuple[str, str]] = {
    "black_friday_week": ("11-23", "11-30"),
    "holidays": ("12-01", "12-24"),
    "back_to_school": ("08-01", "09-07"),
}

FAMILIES: tuple[str, ...] = (
    "rfm",
    "usage",
    "purchase",
    "timing",
    "occasions",
    "loyalty",
    "engagement",
    "content",
)

_KEYS = {
    "occasions",
    "channels",
    "max_channels",
    "window_days",
    "log1p",
    "winsorize",
    "pca_components",
    "family_weights",
    "partition_rows",
    "scaling",
    "max_correlation",
}
SCALINGS = ("max", "std", "robust")


def month_day(value: str, where: str) -> int:
    """``"MM-DD"`` -> ``MM*100 + DD`` (validated)."""
    try:
        m, d = (int(x) for x in str(value).split("-"))
    except ValueError:
        raise UserError(f"{where}: {value!r} is not MM-DD") from None
    if not (1 <= m <= 12 and 1 <= d <= 31):
        raise UserError(f"{where}: {value!r} is not a month-day MM-DD")
    return m * 100 + d


@dataclass(frozen=True)
class FeatureConfig:
    """What to compute and how to turn raw features into the embedding.

    Parameters
    ----------
    occasions : dict[str, tuple[str, str]]
        Occasion windows (inclusive month-days), default :data:`DEFAULT_OCCASIONS`.
    channels : list[str], optional
        Channels that get a share feature; ``None`` = the ``max_channels`` most frequent
        in the data (fixed afterwards by the saved transform).
    max_channels : int
        Cap on discovered channels (default 8).
    window_days : int, optional
        Default lookback window; the ``window_days`` argument / flag wins.
    log1p : bool
        Apply ``log1p`` to count and money features (default True).
    winsorize : tuple[float, float] or None
        Quantiles to clip each feature at, fitted on the data (default (0.01, 0.99)).
    pca_components : int, optional
        Project onto this many principal components after scaling (default: no PCA).
    family_weights : dict[str, float]
        Multiply a family's scaled columns by a weight (default 1 for every family).
    partition_rows : int
        Events per hash partition of customers; bounds memory on large logs.
    scaling : {"max", "std", "robust"}
        Scale of each (winsorized) column: the larger of its IQR and standard deviation
        (default), its standard deviation, or its IQR (``robust``, the scaling of older
        transforms).
    max_correlation : float or None
        A feature whose |Pearson r| with an earlier kept feature reaches this is left out
        of the embedding as a duplicate (default 0.98; ``None`` keeps every feature).
    """

    occasions: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_OCCASIONS))
    channels: list[str] | None = None
    max_channels: int = 8
    window_days: int | None = None
    log1p: bool = True
    winsorize: tuple[float, float] | None = (0.01, 0.99)
    pca_components: int | None = None
    family_weights: dict[str, float] = field(default_factory=dict)
    partition_rows: int = 15_000_000
    scaling: str = "max"
    max_correlation: float | None = 0.98

    def __post_init__(self) -> None:
        for name, (lo, hi) in self.occasions.items():
            if not name.isidentifier():
                raise UserError(f"[features.occasions] name {name!r} should be snake_case")
            month_day(lo, f"[features.occasions] {name}")
            month_day(hi, f"[features.occasions] {name}")
        if self.winsorize is not None:
            lo, hi = self.winsorize
            if not 0.0 <= lo < hi <= 1.0:
                raise UserError(
                    f"[features] winsorize={list(self.winsorize)} needs 0 <= lo < hi <= 1"
                )
        if self.pca_components is not None and self.pca_components < 1:
            raise UserError(f"[features] pca_components={self.pca_components} should be >= 1")
        for fam, w in self.family_weights.items():
            if fam not in FAMILIES:
                raise UserError(
                    f"[features.family_weights] {fam!r} is not a family; use {', '.join(FAMILIES)}"
                )
            if not w >= 0:
                raise UserError(f"[features.family_weights] {fam}={w} should be >= 0")
        if self.max_channels < 0:
            raise UserError(f"[features] max_channels={self.max_channels} should be >= 0")
        if self.partition_rows < 1000:
            raise UserError(f"[features] partition_rows={self.partition_rows} should be >= 1000")
        if self.scaling not in SCALINGS:
            raise UserError(f"[features] scaling={self.scaling!r}; use {', '.join(SCALINGS)}")
        if self.max_correlation is not None and not 0.0 < self.max_correlation <= 1.0:
            raise UserError(f"[features] max_correlation={self.max_correlation} needs 0 < r <= 1")
        if self.window_days is not None and self.window_days < 1:
            raise UserError(f"[features] window_days={self.window_days} should be >= 1")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> FeatureConfig:
        """Build from the ``[features]`` table of a config TOML (``None`` = defaults)."""
        d = dict(d or {})
        unknown = set(d) - _KEYS
        if unknown:
            raise UserError(
                f"[features] has unknown key(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(_KEYS))}"
            )
        kw: dict[str, Any] = {}
        if "occasions" in d:
            occ = {}
            for name, win in dict(d["occasions"]).items():
                if len(win) != 2:
                    raise UserError(f'[features.occasions] {name} should be ["MM-DD", "MM-DD"]')
                occ[str(name)] = (str(win[0]), str(win[1]))
            kw["occasions"] = occ
        if "channels" in d:
            kw["channels"] = None if d["channels"] is None else [str(c) for c in d["channels"]]
        if "winsorize" in d:
            w = d["winsorize"]
            kw["winsorize"] = None if w in (None, False) else (float(w[0]), float(w[1]))
        if "family_weights" in d:
            kw["family_weights"] = {str(k): float(v) for k, v in dict(d["family_weights"]).items()}
        for k in ("max_channels", "window_days", "pca_components", "partition_rows"):
            if k in d:
                kw[k] = None if d[k] is None else int(d[k])
        if "log1p" in d:
            kw["log1p"] = bool(d["log1p"])
        if "scaling" in d:
            kw["scaling"] = str(d["scaling"])
        if "max_correlation" in d:
            r = d["max_correlation"]
            kw["max_correlation"] = None if r in (None, False) else float(r)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "occasions": {k: list(v) for k, v in self.occasions.items()},
            "channels": None if self.channels is None else list(self.channels),
            "max_channels": self.max_channels,
            "window_days": self.window_days,
            "log1p": self.log1p,
            "winsorize": None if self.winsorize is None else list(self.winsorize),
            "pca_components": self.pca_components,
            "family_weights": dict(self.family_weights),
            "partition_rows": self.partition_rows,
            "scaling": self.scaling,
            "max_correlation": self.max_correlation,
        }
