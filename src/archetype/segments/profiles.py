"""Segment profiles: what each segment looks like in the raw (unscaled) features.

For every segment and every raw numeric feature, over the customers for whom the feature
is *defined* (``FeatureSpec.defined_when``: inter-purchase statistics need 3 purchase days,
a rate its denominator ...; a fill value is not a fact about a customer):

- ``n_defined``: how many customers that is;
- ``mean`` and ``median`` (nulls and NaN ignored too);
- ``std_diff`` = (segment mean − population mean) / population standard deviation
  (``ddof=0``; 0 where the feature is constant);
- ``index`` = 100 × segment mean / population mean, only where that ratio means something:
  the feature is never negative and the population mean is at least
  ``index_min_mean_sd`` population standard deviations above 0 (else NaN, and the
  difference is shown in natural units).  So the index never contradicts ``std_diff``.

Plus the segment's size, share of customers, share of revenue (sum of ``revenue_col``;
``None`` when the log has no money), lifecycle state shares (:mod:`.lifecycle`) and the
typical time of day (from ``hour_sin``/``hour_cos``; shown in words, never as sin/cos).
The features that "most set a segment apart" are the visible ones with the largest
``|std_diff|`` among features defined for enough of its customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from archetype.errors import UserError
from archetype.features.spec import FeatureSpec, defined_masks
from archetype.segments.config import SegmentsConfig, as_config
from archetype.segments.display import DISPLAY_UNITS, HIDDEN, hour_from_circle, kind
from archetype.segments.lifecycle import LifecycleStats, lifecycle_stats

ID_COLUMN = "customer_id"
_SEG = "__segment__"


@dataclass
class SegmentProfiles:
    """Per-segment summary of raw features.

    Attributes
    ----------
    segment_ids : ndarray of shape (k,), int64
        Segment ids in ascending order; row ``i`` of every (k, ...) array is ``segment_ids[i]``.
    feature_names : list of str
        Raw numeric features profiled (columns of the (k, f) arrays).
    sizes : ndarray of shape (k,), int64
    shares : ndarray of shape (k,), float64
        ``sizes / n``.
    revenue_shares : ndarray of shape (k,) or None
        Share of the population's total ``revenue_col``; None when that column is absent
        or sums to 0 (a log without money).
    means, medians : ndarray of shape (k, f), float64
        Over the customers for whom the feature is defined.
    n_defined : ndarray of shape (k, f), int64
    pop_mean, pop_median, pop_std : ndarray of shape (f,), float64
        Population statistics over defined values (``pop_std`` with ``ddof=0``).
    pop_n_defined : ndarray of shape (f,), int64
    index : ndarray of shape (k, f)
        ``100 * means / pop_mean`` where meaningful (see module docstring), else NaN.
    std_diff : ndarray of shape (k, f)
        ``(means - pop_mean) / pop_std`` (0 where ``pop_std == 0``; NaN where undefined).
    n : int
        Number of customers profiled.
    units, defined_for : dict of feature -> str
        Spec unit ("" when unknown) and plain words for whom it is defined.
    hour, hour_resultant : ndarray of shape (k,) or None
        Typical hour of activity (0..24) and how concentrated (0..1); pop_hour likewise.
    lifecycle : LifecycleStats or None
    horizon_days : int or None
        Days the log covers (the manifest's ``horizon_days``, or max tenure + 1).
    """

    segment_ids: np.ndarray
    feature_names: list[str]
    sizes: np.ndarray
    shares: np.ndarray
    revenue_shares: np.ndarray | None
    means: np.ndarray
    medians: np.ndarray
    pop_mean: np.ndarray
    pop_median: np.ndarray
    pop_std: np.ndarray
    index: np.ndarray
    std_diff: np.ndarray
    n: int
    revenue_col: str | None = None
    names: dict[int, str] = field(default_factory=dict)
    n_defined: np.ndarray | None = None
    pop_n_defined: np.ndarray | None = None
    units: dict[str, str] = field(default_factory=dict)
    defined_for: dict[str, str] = field(default_factory=dict)
    hour: np.ndarray | None = None
    hour_resultant: np.ndarray | None = None
    pop_hour: tuple[float, float] | None = None
    lifecycle: LifecycleStats | None = None
    horizon_days: int | None = None
    config: SegmentsConfig = field(default_factory=SegmentsConfig)
    naming: dict[int, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.segment_ids.shape[0])

    @property
    def has_money(self) -> bool:
        """Whether the log carries money (revenue shares exist)."""
        return self.revenue_shares is not None

    def row(self, segment_id: int) -> int:
        """Row of ``segment_id`` in the (k, ...) arrays."""
        hits = np.flatnonzero(self.segment_ids == segment_id)
        if hits.size == 0:
            raise KeyError(f"no segment with id {segment_id}")
        return int(hits[0])

    def feature(self, name: str) -> int:
        """Column of feature ``name`` in the (k, f) arrays."""
        return self.feature_names.index(name)

    def unit(self, name: str) -> str:
        return self.units.get(name, "")

    def visible(self, name: str) -> bool:
        """Shown to people: not sin/cos, not constant, not money on a log without money."""
        j = self.feature(name)
        if name in HIDDEN or not self.pop_std[j] > 0:
            return False
        return self.has_money or kind(self.unit(name)) != "money"

    def defined_share(self, segment_id: int, name: str) -> float:
        """Share of a segment's customers for whom ``name`` is defined."""
        r = self.row(segment_id)
        if self.n_defined is None:
            return 1.0
        return float(self.n_defined[r, self.feature(name)]) / max(int(self.sizes[r]), 1)

    def top_features(
        self,
        segment_id: int,
        n: int = 3,
        *,
        exclude: tuple[str, ...] = (),
        min_defined_share: float | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` visible features with the largest ``|std_diff|`` for a segment.

        Only features defined for at least ``min_defined_share`` of the segment (default
        the naming config's).  Returns ``(feature, std_diff)`` pairs, largest first; ties
        broken by feature name.
        """
        r = self.row(segment_id)
        share = (
            self.config.naming.min_defined_share if min_defined_share is None else min_defined_share
        )
        pairs = [
            (f, float(self.std_diff[r, j]))
            for j, f in enumerate(self.feature_names)
            if f not in exclude
            and np.isfinite(self.std_diff[r, j])
            and self.visible(f)
            and self.defined_share(segment_id, f) >= share
        ]
        pairs.sort(key=lambda p: (-abs(p[1]), p[0]))
        return pairs[:n]

    def to_frame(self) -> pl.DataFrame:
        """Long table: one row per (segment, feature) with n_defined, mean, median, index,
        std_diff."""
        k, f = self.means.shape
        nd = self.n_defined if self.n_defined is not None else np.tile(self.sizes, (f, 1)).T
        return pl.DataFrame(
            {
                "segment_id": np.repeat(self.segment_ids, f),
                "feature": self.feature_names * k,
                "n_defined": nd.ravel().astype(np.int64),
                "mean": self.means.ravel(),
                "median": self.medians.ravel(),
                "pop_mean": np.tile(self.pop_mean, k),
                "index": self.index.ravel(),
                "std_diff": self.std_diff.ravel(),
            }
        )

    def summary_frame(self) -> pl.DataFrame:
        """One row per segment: id, name, size, share, revenue share."""
        data: dict[str, Any] = {
            "segment_id": self.segment_ids,
            "name": [self.names.get(int(s), "") for s in self.segment_ids],
            "size": self.sizes,
            "share": self.shares,
        }
        if self.revenue_shares is not None:
            data["revenue_share"] = self.revenue_shares
        return pl.DataFrame(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN written as None)."""

        def clean(a: np.ndarray) -> list:
            return [None if not np.isfinite(v) else float(v) for v in np.asarray(a).ravel()]

        def per_feature(a) -> dict:
            return dict(zip(self.feature_names, clean(a), strict=True))

        segs = []
        for i, sid in enumerate(self.segment_ids):
            nm = self.naming.get(int(sid))
            segs.append(
                {
                    "segment_id": int(sid),
                    "name": self.names.get(int(sid)),
                    "evidence": None if nm is None else list(nm.evidence),
                    "size": int(self.sizes[i]),
                    "share": float(self.shares[i]),
                    "revenue_share": None
                    if self.revenue_shares is None
                    else float(self.revenue_shares[i]),
                    "n_defined": None
                    if self.n_defined is None
                    else dict(zip(self.feature_names, map(int, self.n_defined[i]), strict=True)),
                    "mean": per_feature(self.means[i]),
                    "median": per_feature(self.medians[i]),
                    "index": per_feature(self.index[i]),
                    "std_diff": per_feature(self.std_diff[i]),
                    "typical_hour": None if self.hour is None else _clean1(self.hour[i]),
                    "top_features": [
                        {"feature": f, "std_diff": d} for f, d in self.top_features(int(sid), 5)
                    ],
                }
            )
        return {
            "n": self.n,
            "revenue_col": self.revenue_col,
            "horizon_days": self.horizon_days,
            "currency": self.config.currency,
            "feature_names": list(self.feature_names),
            "population": {
                "mean": per_feature(self.pop_mean),
                "median": per_feature(self.pop_median),
                "std": per_feature(self.pop_std),
            },
            "lifecycle": None
            if self.lifecycle is None
            else self.lifecycle.to_dict(self.segment_ids),
            "segments": segs,
        }


def _clean1(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def _numeric_features(features: pl.DataFrame, id_col: str) -> list[str]:
    return [
        c
        for c, dt in features.schema.items()
        if c != id_col and (dt.is_numeric() or dt == pl.Boolean)
    ]


def _specs(names: list[str]) -> dict[str, FeatureSpec]:
    from archetype.features.catalog import specs_for_names

    return {s.name: s for s in specs_for_names(names) if s.name in names}


def profile_segments(
    features: pl.DataFrame,
    segment_ids: Any,
    *,
    revenue_col: str | None = "total_spend",
    id_col: str = ID_COLUMN,
    config: SegmentsConfig | dict | None = None,
    horizon_days: int | None = None,
) -> SegmentProfiles:
    """Profile segments on raw features.

    Parameters
    ----------
    features : pl.DataFrame of shape (n, 1 + f)
        ``customer_id`` (optional) plus raw features; non-numeric columns are ignored.
    segment_ids : array-like of shape (n,)
        Segment id of each row of ``features`` (same order).
    revenue_col : str or None, default "total_spend"
        Column whose sum gives revenue shares; skipped when absent, None or all 0.
    id_col : str, default "customer_id"
        Identifier column, never profiled.
    config : SegmentsConfig or ``[segments]`` dict, optional
        Lifecycle thresholds, index rule, currency (kept for names and the report).
    horizon_days : int, optional
        Days the log covers (feature manifest); default max ``tenure_days`` + 1.

    Returns
    -------
    SegmentProfiles
    """
    cfg = as_config(config)
    seg = np.asarray(segment_ids)
    if seg.ndim != 1 or seg.shape[0] != features.height:
        raise UserError(
            f"{seg.shape[0] if seg.ndim == 1 else seg.shape} segment ids for "
            f"{features.height} feature rows; they must match one to one"
        )
    if features.height == 0:
        raise UserError("cannot profile an empty feature table")
    names = _numeric_features(features, id_col)
    if not names:
        raise UserError("no numeric feature columns to profile")
    seg = seg.astype(np.int64)
    specs = _specs(names)
    masks = defined_masks(features, specs.values())
    # NaN, null and "not defined for this customer" are all ignored by every statistic.
    cols = []
    for c in names:
        x = pl.col(c).cast(pl.Float64).fill_nan(None)
        if c in masks:
            x = pl.when(pl.Series(masks[c])).then(x)
        cols.append(x.alias(c))
    num = features.select(cols).with_columns(pl.Series(_SEG, seg))

    pop = num.select(
        [pl.col(c).mean().alias(f"mean:{c}") for c in names]
        + [pl.col(c).median().alias(f"median:{c}") for c in names]
        + [pl.col(c).std(ddof=0).alias(f"std:{c}") for c in names]
        + [pl.col(c).min().alias(f"min:{c}") for c in names]
        + [pl.col(c).count().alias(f"n:{c}") for c in names]
    ).row(0, named=True)
    pop_mean = np.array([_f(pop[f"mean:{c}"]) for c in names])
    pop_median = np.array([_f(pop[f"median:{c}"]) for c in names])
    pop_std = np.array([_f(pop[f"std:{c}"]) for c in names])
    pop_min = np.array([_f(pop[f"min:{c}"]) for c in names])
    pop_n = np.array([int(pop[f"n:{c}"]) for c in names], dtype=np.int64)

    grouped = (
        num.group_by(_SEG)
        .agg(
            [pl.len().alias("__size__")]
            + [pl.col(c).mean().alias(f"mean:{c}") for c in names]
            + [pl.col(c).median().alias(f"median:{c}") for c in names]
            + [pl.col(c).count().alias(f"n:{c}") for c in names]
        )
        .sort(_SEG)
    )
    ids = grouped[_SEG].to_numpy().astype(np.int64)
    sizes = grouped["__size__"].to_numpy().astype(np.int64)
    means = np.column_stack([_col(grouped, f"mean:{c}") for c in names])
    medians = np.column_stack([_col(grouped, f"median:{c}") for c in names])
    n_def = np.column_stack([grouped[f"n:{c}"].to_numpy() for c in names]).astype(np.int64)

    std_diff, index = _std_diff_and_index(means, pop_mean, pop_std, pop_min, cfg)

    revenue_shares = None
    used_rev = None
    if revenue_col is not None and revenue_col in names:
        rev = (
            features.select(pl.col(revenue_col).cast(pl.Float64).fill_nan(None))
            .with_columns(pl.Series(_SEG, seg))
            .group_by(_SEG)
            .agg(pl.col(revenue_col).sum().alias("r"))
            .sort(_SEG)["r"]
            .to_numpy()
            .astype(np.float64)
        )
        total = float(np.nansum(rev))
        if total > 0:
            revenue_shares = rev / total
            used_rev = revenue_col

    if horizon_days is None and "tenure_days" in names:
        t = features["tenure_days"].max()
        horizon_days = None if t is None else int(t) + 1
    life = None
    if horizon_days is not None:
        life = lifecycle_stats(features, seg, ids, cfg.lifecycle, int(horizon_days))

    hour = res = pop_hour = None
    js = names.index("hour_sin") if "hour_sin" in names else -1
    jc = names.index("hour_cos") if "hour_cos" in names else -1
    # a log of dates without times (every event at midnight) says nothing about the hour
    if js >= 0 and jc >= 0 and (pop_std[js] > 0 or pop_std[jc] > 0):
        pairs = [hour_from_circle(s, c) for s, c in zip(means[:, js], means[:, jc], strict=True)]
        hour = np.array([h for h, _ in pairs])
        res = np.array([r for _, r in pairs])
        pop_hour = hour_from_circle(pop_mean[js], pop_mean[jc])

    return SegmentProfiles(
        segment_ids=ids,
        feature_names=names,
        sizes=sizes,
        shares=sizes / float(features.height),
        revenue_shares=revenue_shares,
        means=means,
        medians=medians,
        pop_mean=pop_mean,
        pop_median=pop_median,
        pop_std=pop_std,
        index=index,
        std_diff=std_diff,
        n=features.height,
        revenue_col=used_rev,
        n_defined=n_def,
        pop_n_defined=pop_n,
        units={c: DISPLAY_UNITS.get(c, specs[c].unit if c in specs else "") for c in names},
        defined_for={c: specs[c].defined_for if c in specs else "customers" for c in names},
        hour=hour,
        hour_resultant=res,
        pop_hour=pop_hour,
        lifecycle=life,
        horizon_days=horizon_days,
        config=cfg,
    )


def _std_diff_and_index(
    means: np.ndarray,
    pop_mean: np.ndarray,
    pop_std: np.ndarray,
    pop_min: np.ndarray,
    cfg: SegmentsConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Standardized differences, and indexes only where they mean something."""
    with np.errstate(divide="ignore", invalid="ignore"):
        std_diff = np.where(pop_std > 0, (means - pop_mean) / pop_std, 0.0)
        meaningful = (
            (pop_min >= 0)
            & (pop_mean > 0)
            & (pop_mean >= cfg.naming.index_min_mean_sd * np.nan_to_num(pop_std))
        )
        index = np.where(meaningful, 100.0 * means / pop_mean, np.nan)
    std_diff = np.where(np.isnan(means), np.nan, std_diff)
    return std_diff, index


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _col(df: pl.DataFrame, name: str) -> np.ndarray:
    return df[name].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)
