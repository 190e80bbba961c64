"""Continuous learning on the drift scenario, measured against a nightly re-cluster.

1. ``archetype synth --scenario drift`` (:func:`archetype.synth.drift.generate_drift`).
2. The nightly pipeline (:func:`archetype.pipeline.backfill`, warm-started, stable ids) on
   every day from ``start`` to the log's end: per-day features (one transform, fitted on
   the first day and re-applied, so every day's embedding is in the same space), models
   and assignments.
3. The live side, simulated hour by hour: from last night's model (or, without ``resync``,
   from the first day's model for the whole range), each customer's vector of the day (what
   the live service computes at that as-of, equal to the batch features) arrives at the
   hour of its last event that day (at midnight for customers without events: the
   background re-assign when the as-of day moves), replaces the customer's previous
   contribution under its nearest centroid (the Lloyd labels), and the customer is
   answered with hysteresis against the centroids of that hour; the centroids are updated
   ``steps_per_day`` times a day (bounded moves).

Per day: ARI between the live labels and that night's re-cluster (and, as a baseline,
the frozen first model's nearest-centroid labels), share of customers whose live segment
id equals the nightly id, moves, flaps (a customer back in a segment it left earlier the
same day, or reversing the previous day's move: ``A -> B`` then ``B -> A``), alerts, and
ARI against the ground truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import adjusted_rand_score

from archetype.live.learning import LearningConfig, OnlineCentroids
from archetype.progress import Tracker, tracker_or_null

DAY_US = 86_400_000_000


@dataclass
class DayFigures:
    date: str
    customers: int
    ari_nightly: float
    ari_static: float
    same_id: float
    moves: int
    flaps: int
    flap_share: float
    ari_truth_live: float
    ari_truth_nightly: float
    alerts: list[str] = field(default_factory=list)
    static_flap_share: float = 0.0
    ari_nightly_prev: float = 1.0  # the nightly re-cluster against the night before


@dataclass
class DriftReport:
    days: list[DayFigures]
    config: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        d = self.days
        return {
            "days": len(d),
            "ari_nightly_min": min(x.ari_nightly for x in d),
            "ari_nightly_mean": float(np.mean([x.ari_nightly for x in d])),
            "ari_nightly_min_stable_nights": min(
                (x.ari_nightly for x in d if x.ari_nightly_prev >= 0.9), default=float("nan")
            ),
            "unstable_nights": [x.date for x in d if x.ari_nightly_prev < 0.9],
            "ari_static_min": min(x.ari_static for x in d),
            "ari_static_mean": float(np.mean([x.ari_static for x in d])),
            "static_flap_share_max": max(x.static_flap_share for x in d),
            "same_id_min": min(x.same_id for x in d),
            "flap_share_max": max(x.flap_share for x in d),
            "moves_share_max": max(x.moves / x.customers for x in d),
            "ari_truth_live_last": d[-1].ari_truth_live,
            "ari_truth_nightly_last": d[-1].ari_truth_nightly,
            "alerts": [f"{x.date} {a}" for x in d for a in x.alerts],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "config": self.config,
            "days": [asdict(x) for x in self.days],
        }


def run_nightly(
    events: Path,
    root: Path,
    start: dt.date,
    end: dt.date,
    *,
    k: int,
    seed: int = 0,
    tracker: Tracker | None = None,
) -> None:
    """The nightly pipeline on every day of ``start..end`` under ``root``."""
    from archetype.pipeline import RunConfig, backfill

    cfg = RunConfig.load(
        None, {"events": str(events), "out": str(root), "k": k, "seed": seed, "report": False}
    )
    backfill(cfg, start, end, "day", tracker=tracker)


def _day(root: Path, d: dt.date) -> tuple[pl.Series, np.ndarray, pl.DataFrame]:
    fdir = root / "features" / f"date={d.isoformat()}"
    ids = pl.read_parquet(fdir / "ids.parquet")["customer_id"]
    X = np.load(fdir / "embedding.npy")
    a = pl.read_parquet(root / "assignments" / f"date={d.isoformat()}" / "part-0.parquet")
    return ids, X, a.select("customer_id", "segment_id")


def _record(
    visited: dict, day_flap: np.ndarray, pos: np.ndarray, old: np.ndarray, new: np.ndarray
) -> None:
    """Note today's moves; a customer back in a segment it held earlier today flaps."""
    for p, o, n in zip(pos.tolist(), old.tolist(), new.tolist(), strict=True):
        if o == n or o < 0:
            continue
        seen = visited.setdefault(p, {o})
        if n in seen:
            day_flap[p] = True
        seen.add(n)


def _activity(events: Path) -> dict[dt.date, pl.DataFrame]:
    """Per day: ``customer_id, hour`` of each customer's last event that day."""
    df = (
        pl.scan_parquet(str(Path(events) / "**" / "*.parquet"), hive_partitioning=False)
        .select("customer_id", "ts")
        .group_by(pl.col("ts").dt.date().alias("day"), "customer_id")
        .agg(pl.col("ts").max().dt.hour().cast(pl.Int64).alias("hour"))
        .collect()
    )
    return {k[0]: g.drop("day") for k, g in df.group_by(["day"])}


def _labels(ids: pl.Series, a: pl.DataFrame) -> np.ndarray:
    """Segment id of each of ``ids`` in assignments ``a`` (same order)."""
    j = ids.to_frame().join(a, on="customer_id", how="left", maintain_order="left")
    return j["segment_id"].to_numpy()


def simulate_live(
    root: Path,
    start: dt.date,
    end: dt.date,
    *,
    config: LearningConfig | None = None,
    steps_per_day: int = 24,
    resync: bool = True,
    truth_history: Path | None = None,
    events: Path | None = None,
    tracker: Tracker | None = None,
) -> DriftReport:
    """Replay the per-day vectors of a nightly ``root`` through online centroids.

    ``resync=True`` (the service): each morning the service swaps to last night's model
    (a fresh learner from it, everyone re-assigned by it) and learns through the day; the
    day is then compared with the next nightly re-cluster.  ``resync=False``: one learner
    from ``start``'s model for the whole range (no nightly model ever swapped in).

    ``events`` (the log): a customer with events on a day gets that day's vector at the
    hour of its last event (re-assigned against the centroids of that hour); the others
    at midnight.  Without it, everyone at midnight.  Centroids are updated
    ``steps_per_day`` times a day.
    """
    from archetype.pipeline.model import SegmentModel

    config = config or LearningConfig()
    truth = pl.read_parquet(truth_history) if truth_history is not None else None
    activity = _activity(events) if events is not None else None
    last_ids, _, _ = _day(root, end)
    index = {c: i for i, c in enumerate(last_ids.to_list())}
    n_all = len(index)
    served = np.full(n_all, -1, dtype=np.int64)  # segment id the service answers
    learn = np.full(n_all, -1, dtype=np.int64)  # learner row of each contribution
    before = np.full(n_all, -1, dtype=np.int64)  # end-of-day label before the last move
    changed_on = np.full(n_all, -10, dtype=np.int64)
    st_lab = np.full(n_all, -1, dtype=np.int64)  # the static baseline: last model, nearest
    st_before = np.full(n_all, -1, dtype=np.int64)
    st_changed_on = np.full(n_all, -10, dtype=np.int64)
    prev_x: np.ndarray | None = None
    L = static = None
    days: list[DayFigures] = []
    dates = [start + dt.timedelta(days=i) for i in range(1, (end - start).days + 1)]
    t0 = (start - dt.date(1970, 1, 1)).days * DAY_US
    with tracker_or_null(tracker).task("live learning", total=len(dates)) as task:
        for di, d in enumerate(dates, start=1):
            day_start = served.copy()
            day_flap = np.zeros(n_all, dtype=bool)
            visited: dict[int, set[int]] = {}  # labels held today by customers who moved

            if L is None or resync:  # the morning model swap
                y = d - dt.timedelta(days=1)
                m = SegmentModel.load(root / "models" / y.isoformat())
                L = OnlineCentroids(
                    m.centroids,
                    m.segment_ids,
                    config,
                    model_version=m.version or y.isoformat(),
                    metric=m.metric,
                )
                static = OnlineCentroids(
                    m.centroids, m.segment_ids, LearningConfig(hysteresis=0.0), metric=m.metric
                )
                ids_y, X_y, a_y = _day(root, y)
                if prev_x is None:
                    prev_x = np.zeros((n_all, X_y.shape[1]))
                pos_y = np.array([index[c] for c in ids_y.to_list()])
                lab_y = _labels(ids_y, a_y)
                learn[:] = -1
                learn[pos_y] = [L.row[s] for s in lab_y.tolist()]
                L.bootstrap(X_y, learn[pos_y])
                # the service re-assigns everyone to the new model, with hysteresis against
                # the segment (stable id) each customer is in now
                cur = np.array([L.row.get(v, -1) for v in served[pos_y].tolist()])
                srv = L.assign(X_y, cur)
                new_ids = np.array(L.ids)[srv]
                _record(visited, day_flap, pos_y, served[pos_y], new_ids)
                served[pos_y], prev_x[pos_y] = new_ids, X_y
            seg_ids = np.array(L.ids)
            ids, X, a = _day(root, d)
            pos = np.array([index[c] for c in ids.to_list()])
            # customers with events today get today's vector at the hour of their last
            # event; the others at midnight (the as-of day moved: a background re-assign)
            hour = np.zeros(len(ids), dtype=np.int64)
            if activity is not None and d in activity:
                act = ids.to_frame().join(
                    activity[d], on="customer_id", how="left", maintain_order="left"
                )["hour"]
                hour = act.fill_null(0).to_numpy().astype(np.int64)
            alerts = []
            every = max(1, 24 // steps_per_day)
            for h in range(24):
                sel = np.flatnonzero(hour == h)
                if sel.size:
                    p_ = pos[sel]
                    Xs = X[sel]
                    # learning labels: nearest centroid (a Lloyd update); served: hysteresis
                    new = L.assign(Xs)
                    L.update(learn[p_], new, prev_x[p_], Xs)
                    cur = np.array([L.row.get(v, -1) for v in served[p_].tolist()])
                    srv = L.assign(Xs, cur)
                    _record(visited, day_flap, p_, served[p_], seg_ids[srv])
                    learn[p_], prev_x[p_], served[p_] = new, Xs, seg_ids[srv]
                if (h + 1) % every == 0:
                    step = L.step(t0 + di * DAY_US + (h + 1) * (DAY_US // 24))
                    if step is not None:
                        alerts += [f"{x['kind']}:{x['segment_id']}" for x in step.alerts]
            live_ids = served[pos]
            prev = day_start[pos]
            moved = (prev >= 0) & (live_ids != prev)
            back = moved & (changed_on[pos] == di - 1) & (before[pos] == live_ids)
            flap = back | day_flap[pos]  # back where it was yesterday, or within the day
            before[pos[moved]] = prev[moved]
            changed_on[pos[moved]] = di
            nightly = _labels(ids, a)
            _, _, a_prev = _day(root, d - dt.timedelta(days=1))
            both = a.join(a_prev, on="customer_id", suffix="_prev")
            ari_prev = float(adjusted_rand_score(both["segment_id_prev"], both["segment_id"]))
            st_new = np.asarray(static.ids)[static.assign(X)]
            st_old = st_lab[pos]
            st_moved = (st_old >= 0) & (st_new != st_old)
            st_flap = st_moved & (st_changed_on[pos] == di - 1) & (st_before[pos] == st_new)
            st_before[pos[st_moved]] = st_old[st_moved]
            st_changed_on[pos[st_moved]] = di
            st_lab[pos] = st_new
            fig = DayFigures(
                date=d.isoformat(),
                customers=len(ids),
                ari_nightly=float(adjusted_rand_score(nightly, live_ids)),
                ari_static=float(adjusted_rand_score(nightly, st_new)),
                same_id=float(np.mean(live_ids == nightly)),
                moves=int(moved.sum()),
                flaps=int(flap.sum()),
                flap_share=float(flap.sum()) / len(ids),
                ari_truth_live=float("nan"),
                ari_truth_nightly=float("nan"),
                alerts=alerts,
                static_flap_share=float(st_flap.sum()) / len(ids),
                ari_nightly_prev=ari_prev,
            )
            if truth is not None:
                from archetype.synth.drift import truth_on

                t = (
                    ids.to_frame()
                    .join(truth_on(truth, d), on="customer_id", how="left", maintain_order="left")[
                        "archetype"
                    ]
                    .to_numpy()
                )
                fig.ari_truth_live = float(adjusted_rand_score(t, live_ids))
                fig.ari_truth_nightly = float(adjusted_rand_score(t, nightly))
            days.append(fig)
            task.advance(1)
    cfg = config.model_dump()
    cfg.update(steps_per_day=steps_per_day, resync=resync)
    return DriftReport(days=days, config=cfg)
