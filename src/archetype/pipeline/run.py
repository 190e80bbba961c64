"""One nightly run: features → warm-started fit → assign → stable ids → outputs → registry.

:func:`run_date` is what ``archetype run`` calls and what ``backfill`` calls per date.
Order of the writes (each one atomic):

1. ``features/date=D/``  2. ``assignments/date=D/``  3. ``transitions/date=D/``
4. ``models/D/``  5. ``models/CURRENT``  6. ``runs/D.json`` with ``status: complete``.

A crash between any two leaves whole outputs and a record that does not say complete;
re-running the date redoes it and replaces each output atomically.  Re-running a
complete date gives identical outputs: the parent is the latest model strictly *before*
D, and features, fit (seeded) and matching are deterministic.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from typing import Any

import numpy as np

from archetype._atomic import DirLock
from archetype.errors import UserError
from archetype.pipeline.config import RunConfig
from archetype.pipeline.engine import get_engine
from archetype.pipeline.layout import Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.privacy import load_key
from archetype.pipeline.records import new_record, now_iso, write_record
from archetype.pipeline.registry import Registry, version_for
from archetype.pipeline.stages import StageClock
from archetype.pipeline.steps import (
    assignment_frame,
    build_features,
    describe,
    previous_assignments,
    stable_ids,
    write_assignments,
    write_report,
    write_transitions,
)
from archetype.progress import Tracker
from archetype.segments.migration import centroid_shift, drift_summary

log = logging.getLogger(__name__)


def preflight(cfg: RunConfig) -> bytes | None:
    """Checks that need no output written; returns the pseudonymization key (or None)."""
    if not cfg.events.exists() and not any(ch in str(cfg.events) for ch in "*?["):
        raise UserError("events path not found", path=cfg.events)
    if cfg.out.exists() and not cfg.out.is_dir():
        raise UserError("--out must be a directory", path=cfg.out)
    return load_key(cfg.key_env) if cfg.pseudonymize else None


def make_engine(cfg: RunConfig) -> Any:
    return get_engine(cfg.engine, cfg.ray_address, batch_size=cfg.batch_size,
                      max_iter=cfg.max_iter)


def run_date(
    cfg: RunConfig,
    date: dt.date,
    *,
    tracker: Tracker | None = None,
    engine: Any = None,
    lock: bool = True,
) -> dict[str, Any]:
    """Run the nightly job for ``date`` under ``cfg.out``; returns the run record.

    Parameters
    ----------
    cfg : RunConfig
    date : date
        The as-of date: features use events up to it; the model is version ``D``.
    tracker : Tracker, optional
    engine : engine object, optional
        Default: ``get_engine(cfg.engine, cfg.ray_address)``.
    lock : bool, default True
        Take the lock on ROOT (``backfill`` holds it already and passes False).

    Raises
    ------
    UserError
        Bad input (before anything is written), or a lock held by another run.
    Exception
        Runtime failures, after writing a ``failed`` run record saying why.
    """
    key = preflight(cfg)
    if lock:
        with DirLock(cfg.out):
            return run_date(cfg, date, tracker=tracker, engine=engine, lock=False)
    engine = engine if engine is not None else make_engine(cfg)
    layout = Layout(cfg.out)
    record = new_record(
        date, "run", config_hash=cfg.config_hash(), config=_safe_config(cfg),
        engine=getattr(engine, "name", type(engine).__name__),
    )
    write_record(layout, date, record)
    clock = StageClock().start()
    try:
        _run(cfg, date, layout, engine, key, clock, record, tracker)
        record["status"] = "complete"
        record["exit_code"] = 0
    except BaseException as e:
        record["status"] = "failed"
        record["error"] = f"{type(e).__name__}: {e}"
        record["error_kind"] = "user" if isinstance(e, UserError) else "runtime"
        record["exit_code"] = 2 if isinstance(e, UserError) else 1
        record["traceback"] = traceback.format_exc(limit=8).splitlines()[-12:]
        raise
    finally:
        clock.stop()
        record["stages"] = clock.stages
        record["total"] = clock.total()
        record["finished_at"] = now_iso()
        write_record(layout, date, record)
    return record


def _safe_config(cfg: RunConfig) -> dict[str, Any]:
    d = cfg.to_dict()
    d.pop("events_table", None)
    d.pop("features_table", None)
    return d  # holds key_env (a name), never the key


def _run(cfg, date, layout, engine, key, clock, record, tracker) -> None:
    registry = Registry(cfg.out)
    prev = registry.latest_before(date)
    same_space = prev is not None and not cfg.refit
    warm = same_space and prev.k == cfg.k and prev.metric == cfg.metric
    record.update(parent=prev.version if prev else None, warm_start=warm,
                  transform_reused=same_space)
    if prev is not None and prev.config_hash != cfg.config_hash():
        record["config_changed"] = True  # since the parent; after [features] edits use --refit
    with clock.stage("features"):
        fs = build_features(
            engine, cfg, layout, date,
            transform=prev.transform if same_space else None,
            key=key, tracker=tracker,
        )
    n = len(fs.ids)
    with clock.stage("fit"):
        centroids, info = engine.fit(
            fs.embedding, cfg.k, init=prev.centroids if warm else None, seed=cfg.seed,
            backend=cfg.backend, device=cfg.device, metric=cfg.metric, tracker=tracker,
        )
    with clock.stage("assign"):
        a = engine.assign(fs.embedding, centroids, metric=cfg.metric, backend=cfg.backend,
                          device=cfg.device)
    with clock.stage("ids"):
        prev_date, previous = previous_assignments(layout, date)
        if previous is not None and previous["customer_id"].dtype != fs.ids.dtype:
            # e.g. pseudonymization switched on: yesterday's ids cannot be joined to today's
            log.warning("previous assignments of %s have %s ids, today's are %s; ignored",
                        prev_date, previous["customer_id"].dtype, fs.ids.dtype)
            record["previous_ignored"] = f"customer_id type changed since {prev_date}"
            prev_date, previous = None, None
        match = stable_ids(prev, centroids, a.labels, fs.ids, previous, cfg,
                           same_space=same_space)
        seg_ids = np.asarray(match.ids, dtype=np.int64)
        df = assignment_frame(fs.ids, seg_ids, a, previous)
    with clock.stage("write_assignments"):
        write_assignments(layout, date, df)
    with clock.stage("transitions"):
        moved, matrix = write_transitions(layout, date, df, previous)
    with clock.stage("names"):
        sticky = None
        if prev is not None and prev.segment_names:
            sticky = dict(zip(prev.segment_ids, prev.segment_names, strict=True))
        try:
            names = describe(fs.features, fs.ids, seg_ids[np.asarray(a.labels)], sticky,
                             cfg.segments_table)
        except Exception as e:  # names are a convenience; ids are the contract
            log.warning("naming segments of %s failed: %s", date, e)
            record["names_error"] = f"{type(e).__name__}: {e}"
            names = None
    with clock.stage("registry"):
        shift = centroid_shift(prev.centroids, prev.segment_ids, centroids, match.ids) \
            if same_space else {}
        drift = drift_summary(df, shift, new_ids=match.new_ids if prev else [],
                              retired_ids=match.retired_ids)
        sizes = np.bincount(np.asarray(a.labels), minlength=cfg.k)
        distances = np.asarray(a.distances, dtype=np.float64)
        metrics = {
            "inertia": float(distances.sum()),
            "mean_distance": float(distances.mean()) if n else None,
            "customers": n,
            "sizes": {str(i): int(s) for i, s in zip(match.ids, sizes, strict=True)},
            "drift": drift,
            "fit": info,
            "previous_assignments_date": prev_date.isoformat() if prev_date else None,
        }
        retired = list(prev.retired_ids) + list(match.retired_ids) if prev else []
        model = SegmentModel(
            centroids=centroids, feature_names=fs.feature_names, transform=fs.transform_dict,
            metric=cfg.metric, segment_ids=match.ids,
            segment_names=[names.get(i, f"segment {i}") for i in match.ids] if names else None,
            version=version_for(date), parent=prev.version if prev else None,
            date=date.isoformat(), config_hash=cfg.config_hash(),
            backend=str(info.get("backend", cfg.backend)),
            device=str(info.get("device", cfg.device)), metrics=metrics,
            retired_ids=retired, next_segment_id=match.next_id,
            extra={"warm_start": warm, "transform_reused": same_space,
                   "match_cost": {str(k): v for k, v in match.matched_cost.items()}},
        )
        registry.save(model)
        registry.set_current(model.version)
    if cfg.report:
        with clock.stage("report"):
            try:
                path = write_report(layout, date, fs, df, model, previous, cfg.segments_table)
                record["report"] = None if path is None else str(path)
            except Exception as e:  # the segments are the product; a report is a bonus
                log.warning("report of %s failed: %s", date, e)
                record["report_error"] = f"{type(e).__name__}: {e}"
    record.update(
        model_version=model.version,
        counts={"customers": n, "transitions": moved.height,
                "segments": cfg.k, "migration_cells": matrix.height},
        metrics={"inertia": metrics["inertia"], "share_moved": drift["share_moved"],
                 "mean_centroid_shift": drift["mean_centroid_shift"],
                 "new_segment_ids": drift["new_segment_ids"],
                 "retired_segment_ids": drift["retired_segment_ids"]},
    )
