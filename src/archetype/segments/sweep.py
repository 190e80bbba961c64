"""Choosing k: fit a range of k and compare standard cluster-quality measures.

For each k, on one random sample of the embedding (rows shared by every k):

- ``inertia``: sum of squared distances to the nearest centroid (best seed);
- ``silhouette``: :func:`sklearn.metrics.silhouette_score` on a sub-sample (higher is better);
- ``davies_bouldin``: :func:`sklearn.metrics.davies_bouldin_score` (lower is better);
- ``calinski_harabasz``: :func:`sklearn.metrics.calinski_harabasz_score` (higher is better);
- ``stability``: mean :func:`sklearn.metrics.adjusted_rand_score` between the labelings of
  every pair of seeds (1 = every seed finds the same segments).

Recommendation: among the k whose stability is at least ``min_stability`` (all k when none
is, or with one seed), the one with the highest silhouette; ties go to the smaller k.  The
reason is stated in words, with whether Davies–Bouldin and Calinski–Harabasz agree.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)

from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)

#: A fit function: (X, k, seed) -> (labels (n,), inertia).
FitFn = Callable[[np.ndarray, int, int], tuple[np.ndarray, float]]

DEFAULT_MIN_STABILITY = 0.9


def parse_k_range(spec: str, *, step: int | None = None) -> list[int]:
    """Parse ``"4:32"`` (inclusive), ``"4:32:2"`` or ``"4,6,8"`` into a sorted list of k.

    ``step`` (``--step``) applies to the ``a:b`` form.  Every k must be >= 2.
    """
    s = str(spec).strip()
    try:
        if ":" in s:
            parts = [int(p) for p in s.split(":")]
            if len(parts) == 2:
                parts.append(step or 1)
            elif len(parts) != 3:
                raise ValueError
            lo, hi, st = parts
            if step is not None and len(s.split(":")) == 3 and step != st:
                raise UserError(f"--k={spec!r} has a step and --step={step} disagrees")
            if st < 1 or hi < lo:
                raise ValueError
            ks = list(range(lo, hi + 1, st))
        else:
            ks = sorted({int(p) for p in re.split(r"[,\s]+", s) if p})
    except ValueError:
        raise UserError(f"--k={spec!r} is not a k range; use e.g. 4:32, 4:32:2 or 4,6,8") from None
    if not ks:
        raise UserError(f"--k={spec!r} gives no k")
    if ks[0] < 2:
        raise UserError(f"--k={spec!r}: k={ks[0]} should be >= 2")
    return ks


@dataclass
class SweepResult:
    """Quality measures per k (lists aligned with ``ks``) and the recommended k."""

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    davies_bouldin: list[float]
    calinski_harabasz: list[float]
    stability: list[float | None]
    recommended_k: int
    reason: str
    n: int
    n_sample: int
    silhouette_sample: int
    seeds: int
    estimator: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stability"] = [None if v is None or not np.isfinite(v) else v for v in self.stability]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepResult:
        known = set(cls.__dataclass_fields__)
        missing = known - set(d) - {"extra"}
        if missing:
            raise UserError(f"not a sweep result (missing {', '.join(sorted(missing))})")
        return cls(**{k: v for k, v in d.items() if k in known})

    def rows(self) -> list[dict[str, Any]]:
        """One dict per k (for tables)."""
        return [
            {
                "k": k,
                "inertia": self.inertia[i],
                "silhouette": self.silhouette[i],
                "davies_bouldin": self.davies_bouldin[i],
                "calinski_harabasz": self.calinski_harabasz[i],
                "stability": self.stability[i],
            }
            for i, k in enumerate(self.ks)
        ]


def _default_fit() -> tuple[FitFn, str]:
    """archetype's ``MiniBatchKMeans``."""
    from archetype.cluster.estimator import MiniBatchKMeans

    def fit(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float]:
        est = MiniBatchKMeans(n_clusters=k, random_state=seed).fit(x)
        return np.asarray(est.labels_), float(est.inertia_)

    return fit, "archetype.MiniBatchKMeans"


def sweep_k(
    X: np.ndarray,
    ks: Sequence[int],
    *,
    seeds: int = 3,
    sample: int | None = 50_000,
    silhouette_sample: int = 5_000,
    random_state: int = 0,
    min_stability: float = DEFAULT_MIN_STABILITY,
    fit: FitFn | None = None,
    tracker: Tracker | None = None,
) -> SweepResult:
    """Fit every k in ``ks`` with ``seeds`` seeds and measure quality.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The embedding (float32 or float64; may be a memmap).
    ks : sequence of int
        Values of k to try (each >= 2 and < number of sampled rows).
    seeds : int, default 3
        Fits per k; stability needs >= 2.
    sample : int or None, default 50_000
        Rows drawn once (without replacement) for every fit and measure; None = all rows.
    silhouette_sample : int, default 5_000
        Rows for the silhouette (quadratic cost), drawn from the sample.
    random_state : int, default 0
        Seed of the sampling; fit seeds are ``random_state + i``.
    min_stability : float, default 0.9
        Stability a k needs to be recommended (when any k reaches it).
    fit : callable, optional
        ``fit(X, k, seed) -> (labels, inertia)``; default archetype's ``MiniBatchKMeans``,
        or scikit-learn's ``KMeans`` when that is not installed.
    tracker : Tracker, optional

    Returns
    -------
    SweepResult
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise UserError(f"embedding must be 2-D, got shape {X.shape}")
    n = X.shape[0]
    if seeds < 1:
        raise UserError(f"--seeds={seeds} should be >= 1")
    rng = np.random.default_rng(random_state)
    if sample is not None and sample < n:
        if sample < 3:
            raise UserError(f"--sample={sample} should be >= 3")
        rows = np.sort(rng.choice(n, size=sample, replace=False))
        xs = np.ascontiguousarray(X[rows], dtype=np.float32)
    else:
        xs = np.ascontiguousarray(X, dtype=np.float32)
    m = xs.shape[0]
    if not np.isfinite(xs).all():
        bad = int(np.flatnonzero(~np.isfinite(xs).all(axis=1))[0])
        raise UserError(f"embedding has NaN/inf values (first in sampled row {bad})")
    ks = sorted({int(k) for k in ks})
    if ks[0] < 2:
        raise UserError(f"k={ks[0]} should be >= 2")
    if ks[-1] >= m:
        raise UserError(f"k={ks[-1]} should be < n_samples={m}")
    sil_n = min(silhouette_sample, m)
    fit_fn, est_name = (fit, "custom") if fit is not None else _default_fit()

    out: dict[str, list] = {k: [] for k in ("inertia", "sil", "db", "ch", "stab")}
    with tracker_or_null(tracker).task("sweep k", total=len(ks) * seeds) as task:
        for k in ks:
            labelings, inertias = [], []
            for s in range(seeds):
                labels, inertia = fit_fn(xs, k, random_state + s)
                labelings.append(np.asarray(labels))
                inertias.append(inertia)
                task.advance(1)
            best = int(np.argmin(inertias))
            lab = labelings[best]
            n_found = len(np.unique(lab))
            if n_found < 2:
                sil = db = ch = float("nan")
            else:
                sil = float(
                    silhouette_score(xs, lab, sample_size=sil_n, random_state=random_state)
                )
                db = float(davies_bouldin_score(xs, lab))
                ch = float(calinski_harabasz_score(xs, lab))
            if seeds >= 2:
                aris = [
                    adjusted_rand_score(a, b) for a, b in itertools.combinations(labelings, 2)
                ]
                stab: float | None = float(np.mean(aris))
            else:
                stab = None
            out["inertia"].append(float(inertias[best]))
            out["sil"].append(sil)
            out["db"].append(db)
            out["ch"].append(ch)
            out["stab"].append(stab)
            log.info("k=%d inertia=%.4g silhouette=%.3f stability=%s", k, inertias[best], sil, stab)

    rec, reason = recommend_k(ks, out["sil"], out["db"], out["ch"], out["stab"], min_stability)
    return SweepResult(
        ks=ks,
        inertia=out["inertia"],
        silhouette=out["sil"],
        davies_bouldin=out["db"],
        calinski_harabasz=out["ch"],
        stability=out["stab"],
        recommended_k=rec,
        reason=reason,
        n=n,
        n_sample=m,
        silhouette_sample=sil_n,
        seeds=seeds,
        estimator=est_name,
    )


def recommend_k(
    ks: Sequence[int],
    silhouette: Sequence[float],
    davies_bouldin: Sequence[float],
    calinski_harabasz: Sequence[float],
    stability: Sequence[float | None],
    min_stability: float = DEFAULT_MIN_STABILITY,
) -> tuple[int, str]:
    """The recommended k and the reason in words (rule in the module docstring)."""
    ks = list(ks)
    sil = np.array(silhouette, dtype=float)
    stab = np.array([np.nan if v is None else v for v in stability], dtype=float)
    has_stab = np.isfinite(stab).any()
    stable = np.isfinite(stab) & (stab >= min_stability)
    if has_stab and stable.any():
        cand = np.flatnonzero(stable & np.isfinite(sil))
        scope = f"among the {len(cand)} k with stability (ARI across seeds) >= {min_stability:g}"
    else:
        cand = np.flatnonzero(np.isfinite(sil))
        scope = (
            f"no k reached stability {min_stability:g}, so among all k"
            if has_stab
            else "among all k (one seed: stability not measured)"
        )
    if cand.size == 0:
        return ks[0], "no k produced two or more segments; fell back to the smallest k"
    # highest silhouette; ties (within 1e-12) to the smaller k
    best = int(cand[np.argmax(np.round(sil[cand], 12))])
    k = ks[best]
    parts = [f"k={k} has the highest silhouette ({sil[best]:.3f}) {scope}"]
    if np.isfinite(stab[best]):
        parts.append(f"stability {stab[best]:.2f}")
    db = np.array(davies_bouldin, dtype=float)
    ch = np.array(calinski_harabasz, dtype=float)
    agree = []
    if np.isfinite(db).any() and ks[int(np.nanargmin(db))] == k:
        agree.append("lowest Davies–Bouldin")
    if np.isfinite(ch).any() and ks[int(np.nanargmax(ch))] == k:
        agree.append("highest Calinski–Harabasz")
    if agree:
        parts.append("it also has the " + " and the ".join(agree))
    else:
        parts.append(
            f"Davies–Bouldin prefers k={ks[int(np.nanargmin(db))]}, "
            f"Calinski–Harabasz k={ks[int(np.nanargmax(ch))]}"
            if np.isfinite(db).any() and np.isfinite(ch).any()
            else "other measures undefined"
        )
    return k, "; ".join(parts) + "."
