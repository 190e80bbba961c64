"""Stable segment ids: match tonight's centroids to yesterday's.

Downstream campaigns key on segment ids, so a re-fit must not relabel segments that are
still the same behavior.  New centroids are matched one-to-one to old ones with the
Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`) on a cost mixing

* **centroid distance**: ``||old_i - new_j|| / scale``, capped at 1, where ``scale`` is
  the median distance between distinct old centroids (a move of a "typical gap between
  segments" costs the full distance term), and
* **member overlap**: ``1 - Jaccard(members of old_i, members of new_j)`` over the
  customers present in both runs (only when both label vectors are given).

``cost = w * distance_term + (1 - w) * overlap_term`` with ``w = distance_weight``
(``1.0`` when no labels are given).  A matched pair whose cost exceeds ``max_cost`` is
not the same segment: the new centroid gets a fresh id (``next_id``, ``next_id + 1``, ...)
and the old id is retired.  Retired ids are never handed out again because ``next_id``
only grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

DEFAULT_MAX_COST = 0.6
DEFAULT_DISTANCE_WEIGHT = 0.5


@dataclass
class MatchResult:
    """Outcome of matching new centroids to old segment ids.

    Attributes
    ----------
    ids : list of int
        Stable id of each new centroid row.
    new_ids : list of int
        Ids created tonight (new segments).
    retired_ids : list of int
        Old ids with no match tonight (never reused).
    next_id : int
        The next id to hand out after this match.
    cost : ndarray of shape (k_old, k_new)
        The cost matrix used.
    matched_cost : dict
        ``{id: cost}`` of every kept id.
    """

    ids: list[int]
    new_ids: list[int] = field(default_factory=list)
    retired_ids: list[int] = field(default_factory=list)
    next_id: int = 0
    cost: np.ndarray | None = None
    matched_cost: dict[int, float] = field(default_factory=dict)


def _pairwise_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d2, 0.0))


def distance_scale(centroids: np.ndarray) -> float:
    """Median distance between distinct centroids (1.0 when fewer than two)."""
    c = np.asarray(centroids, dtype=np.float64)
    if c.shape[0] < 2:
        return 1.0
    d = _pairwise_dist(c, c)[np.triu_indices(c.shape[0], 1)]
    s = float(np.median(d))
    return s if s > 0 else 1.0


def overlap_matrix(
    old_labels: np.ndarray, new_labels: np.ndarray, k_old: int, k_new: int
) -> np.ndarray:
    """Jaccard overlap between old and new segment memberships.

    Parameters
    ----------
    old_labels, new_labels : ndarray of shape (n,), int
        Row labels (``0..k-1``) of the same ``n`` customers in the old and the new run;
        a negative old label means the customer was not in the old run and is ignored.

    Returns
    -------
    ndarray of shape (k_old, k_new)
        ``|old_i ∩ new_j| / |old_i ∪ new_j|`` (0 where the union is empty).
    """
    old = np.asarray(old_labels, dtype=np.int64)
    new = np.asarray(new_labels, dtype=np.int64)
    keep = old >= 0
    old, new = old[keep], new[keep]
    inter = np.zeros((k_old, k_new), dtype=np.float64)
    np.add.at(inter, (old, new), 1.0)
    size_old = np.bincount(old, minlength=k_old).astype(np.float64)
    size_new = np.bincount(new, minlength=k_new).astype(np.float64)
    union = size_old[:, None] + size_new[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / union, 0.0)
    return jac


def match_cost(
    old_centroids: np.ndarray,
    new_centroids: np.ndarray,
    *,
    old_labels: np.ndarray | None = None,
    new_labels: np.ndarray | None = None,
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT,
) -> np.ndarray:
    """The (k_old, k_new) matching cost in ``[0, 1]`` described in the module docstring."""
    old_c = np.asarray(old_centroids, dtype=np.float64)
    new_c = np.asarray(new_centroids, dtype=np.float64)
    dist = np.minimum(_pairwise_dist(old_c, new_c) / distance_scale(old_c), 1.0)
    if old_labels is None or new_labels is None:
        return dist
    jac = overlap_matrix(old_labels, new_labels, old_c.shape[0], new_c.shape[0])
    w = float(distance_weight)
    return w * dist + (1.0 - w) * (1.0 - jac)


def match_segments_detailed(
    old_centroids: np.ndarray,
    new_centroids: np.ndarray,
    old_ids: list[int] | np.ndarray,
    *,
    next_id: int | None = None,
    old_labels: np.ndarray | None = None,
    new_labels: np.ndarray | None = None,
    max_cost: float = DEFAULT_MAX_COST,
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT,
) -> MatchResult:
    """Give each new centroid a stable id.

    Parameters
    ----------
    old_centroids : ndarray of shape (k_old, d)
    new_centroids : ndarray of shape (k_new, d)
        Both in the same embedding space (same transform).
    old_ids : sequence of int, length k_old
        Stable id of each old centroid row.
    next_id : int, optional
        First id free for a new segment; default ``max(old_ids) + 1``.  Pass the model's
        ``next_segment_id`` so retired ids are never reused.
    old_labels, new_labels : ndarray of shape (n,), optional
        Old and new row labels of the customers present in both runs (old label < 0 for
        customers absent from the old run).  Enables the member-overlap term.
    max_cost : float, default 0.6
        A matched pair costing more is a genuinely new segment.
    distance_weight : float, default 0.5
        Weight of the distance term when labels are given.

    Returns
    -------
    MatchResult
    """
    old_ids = [int(i) for i in old_ids]
    k_old, k_new = len(old_ids), int(np.asarray(new_centroids).shape[0])
    if np.asarray(old_centroids).shape[0] != k_old:
        raise ValueError(f"{k_old} old ids for {np.asarray(old_centroids).shape[0]} centroids")
    nxt = (max(old_ids) + 1 if old_ids else 0) if next_id is None else int(next_id)
    if k_old == 0:
        ids = list(range(nxt, nxt + k_new))
        return MatchResult(ids=ids, new_ids=list(ids), next_id=nxt + k_new)
    cost = match_cost(
        old_centroids, new_centroids, old_labels=old_labels, new_labels=new_labels,
        distance_weight=distance_weight,
    )
    rows, cols = linear_sum_assignment(cost)
    ids: list[int | None] = [None] * k_new
    matched: dict[int, float] = {}
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] <= max_cost:
            ids[c] = old_ids[r]
            matched[old_ids[r]] = float(cost[r, c])
    new_ids = []
    for j in range(k_new):
        if ids[j] is None:
            ids[j] = nxt
            new_ids.append(nxt)
            nxt += 1
    retired = [i for i in old_ids if i not in matched]
    return MatchResult(
        ids=[int(i) for i in ids], new_ids=new_ids, retired_ids=retired, next_id=nxt,
        cost=cost, matched_cost=matched,
    )


def match_segments(
    old_centroids: np.ndarray,
    new_centroids: np.ndarray,
    old_ids: list[int] | np.ndarray,
    **options: Any,
) -> list[int]:
    """Stable id of each new centroid row: :func:`match_segments_detailed`'s ``ids``, with
    the same keyword options (``next_id``, ``old_labels``, ``new_labels``, ``max_cost``,
    ``distance_weight``)."""
    return match_segments_detailed(old_centroids, new_centroids, old_ids, **options).ids
