"""Segment profiles: what each segment looks like in the raw (unscaled) features.

For every segment and every raw numeric feature:

- ``mean`` and ``median`` of the segment's members (nulls and NaN ignored);
- ``index`` = 100 × segment mean / population mean (100 = like everyone; NaN where the
  population mean is 0);
- ``std_diff`` = (segment mean − population mean) / population standard deviation
  (``ddof=0``; 0 where the feature is constant).

Plus the segment's size, share of customers and share of revenue (sum of ``revenue_col``).
The features that "most set a segment apart" are those with the largest ``|std_diff|``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from archetype.errors import UserError

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
        Share of the population's total ``revenue_col``; None when that column is absent.
    means, medians : ndarray of shape (k, f), float64
    pop_mean, pop_median, pop_std : ndarray of shape (f,), float64
        Population statistics (``pop_std`` with ``ddof=0``).
    index : ndarray of shape (k, f)
        ``100 * means / pop_mean`` (NaN where ``pop_mean == 0``).
    std_diff : ndarray of shape (k, f)
        ``(means - pop_mean) / pop_std`` (0 where ``pop_std == 0``).
    n : int
        Number of customers profiled.
    revenue_col : str or None
        The revenue column used for ``revenue_shares``.
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

    @property
    def k(self) -> int:
        return int(self.segment_ids.shape[0])

    def row(self, segment_id: int) -> int:
        """Row of ``segment_id`` in the (k, ...) arrays."""
        hits = np.flatnonzero(self.segment_ids == segment_id)
        if hits.size == 0:
            raise KeyError(f"no segment with id {segment_id}")
        return int(hits[0])

    def feature(self, name: str) -> int:
        """Column of feature ``name`` in the (k, f) arrays."""
        return self.feature_names.index(name)

    def top_features(
        self, segment_id: int, n: int = 3, *, exclude: tuple[str, ...] = ()
    ) -> list[tuple[str, float]]:
        """The ``n`` features with the largest ``|std_diff|`` for a segment.

        Returns ``(feature, std_diff)`` pairs, largest first; ties broken by feature name.
        """
        r = self.row(segment_id)
        pairs = [
            (f, float(self.std_diff[r, j]))
            for j, f in enumerate(self.feature_names)
            if f not in exclude and np.isfinite(self.std_diff[r, j])
        ]
        pairs.sort(key=lambda p: (-abs(p[1]), p[0]))
        return pairs[:n]

    def to_frame(self) -> pl.DataFrame:
        """Long table: one row per (segment, feature) with mean, median, index, std_diff."""
        k, f = self.means.shape
        return pl.DataFrame(
            {
                "segment_id": np.repeat(self.segment_ids, f),
                "feature": self.feature_names * k,
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

        segs = []
        for i, sid in enumerate(self.segment_ids):
            segs.append(
                {
                    "segment_id": int(sid),
                    "name": self.names.get(int(sid)),
                    "size": int(self.sizes[i]),
                    "share": float(self.shares[i]),
                    "revenue_share": None
                    if self.revenue_shares is None
                    else float(self.revenue_shares[i]),
                    "mean": dict(zip(self.feature_names, clean(self.means[i]), strict=True)),
                    "median": dict(zip(self.feature_names, clean(self.medians[i]), strict=True)),
                    "index": dict(zip(self.feature_names, clean(self.index[i]), strict=True)),
                    "std_diff": dict(zip(self.feature_names, clean(self.std_diff[i]), strict=True)),
                    "top_features": [
                        {"feature": f, "std_diff": d} for f, d in self.top_features(int(sid), 5)
                    ],
                }
            )
        return {
            "n": self.n,
            "revenue_col": self.revenue_col,
            "feature_names": list(self.feature_names),
            "population": {
                "mean": dict(zip(self.feature_names, clean(self.pop_mean), strict=True)),
                "median": dict(zip(self.feature_names, clean(self.pop_median), strict=True)),
                "std": dict(zip(self.feature_names, clean(self.pop_std), strict=True)),
            },
            "segments": segs,
        }


def _numeric_features(features: pl.DataFrame, id_col: str) -> list[str]:
    return [
        c
        for c, dt in features.schema.items()
        if c != id_col and (dt.is_numeric() or dt == pl.Boolean)
    ]


def profile_segments(
    features: pl.DataFrame,
    segment_ids: Any,
    *,
    revenue_col: str | None = "total_spend",
    id_col: str = ID_COLUMN,
) -> SegmentProfiles:
    """Profile segments on raw features.

    Parameters
    ----------
    features : pl.DataFrame of shape (n, 1 + f)
        ``customer_id`` (optional) plus raw features; non-numeric columns are ignored.
    segment_ids : array-like of shape (n,)
        Segment id of each row of ``features`` (same order).
    revenue_col : str or None, default "total_spend"
        Column whose sum gives revenue shares; skipped when absent or None.
    id_col : str, default "customer_id"
        Identifier column, never profiled.

    Returns
    -------
    SegmentProfiles
    """
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
    # NaN and null both mean "not defined for this customer": ignored by every statistic.
    num = features.select(
        [pl.col(c).cast(pl.Float64).fill_nan(None).alias(c) for c in names]
    ).with_columns(pl.Series(_SEG, seg))

    pop = num.select(
        [pl.col(c).mean().alias(f"mean:{c}") for c in names]
        + [pl.col(c).median().alias(f"median:{c}") for c in names]
        + [pl.col(c).std(ddof=0).alias(f"std:{c}") for c in names]
    ).row(0, named=True)
    pop_mean = np.array([_f(pop[f"mean:{c}"]) for c in names])
    pop_median = np.array([_f(pop[f"median:{c}"]) for c in names])
    pop_std = np.array([_f(pop[f"std:{c}"]) for c in names])

    grouped = (
        num.group_by(_SEG)
        .agg(
            [pl.len().alias("__size__")]
            + [pl.col(c).mean().alias(f"mean:{c}") for c in names]
            + [pl.col(c).median().alias(f"median:{c}") for c in names]
        )
        .sort(_SEG)
    )
    ids = grouped[_SEG].to_numpy().astype(np.int64)
    sizes = grouped["__size__"].to_numpy().astype(np.int64)
    means = np.column_stack([_col(grouped, f"mean:{c}") for c in names])
    medians = np.column_stack([_col(grouped, f"median:{c}") for c in names])

    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(pop_mean != 0, 100.0 * means / pop_mean, np.nan)
        std_diff = np.where(pop_std > 0, (means - pop_mean) / pop_std, 0.0)
    std_diff = np.where(np.isnan(means), np.nan, std_diff)

    revenue_shares = None
    used_rev = None
    if revenue_col is not None and revenue_col in names:
        rev = (
            num.group_by(_SEG)
            .agg(pl.col(revenue_col).sum().alias("r"))
            .sort(_SEG)["r"]
            .to_numpy()
            .astype(np.float64)
        )
        total = float(np.nansum(rev))
        revenue_shares = rev / total if total != 0 else np.zeros_like(rev)
        used_rev = revenue_col

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
    )


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _col(df: pl.DataFrame, name: str) -> np.ndarray:
    return df[name].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)
