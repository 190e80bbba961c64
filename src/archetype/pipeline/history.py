"""Backfills: run a range of dates in order, or re-assign a range with a fixed model.

``backfill`` runs each date with :func:`~archetype.pipeline.run.run_date` under one lock
on ROOT, oldest first, so each date warm-starts from the model of the one before.  Dates
whose run record says complete (and whose outputs check out, see
:func:`~archetype.pipeline.records.is_complete`) are skipped, which is also how an
interrupted backfill resumes: run it again.

``backfill_assign`` (``--assign-only --model VERSION``) re-assigns every date with one
fixed model.  Dates are independent, so features + assignment run in a small process
pool (``jobs`` processes, each holding one date: memory is bounded by ``jobs`` dates);
each worker stages its assignments in a hidden file, and the parent finalizes dates in
order (previous segment ids, transitions, migration matrix, run record).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype._atomic import TMP_PREFIX, DirLock, make_dirs, tmp_sibling
from archetype.cluster.assign import Assignment
from archetype.errors import UserError
from archetype.pipeline.config import RunConfig
from archetype.pipeline.ids import engine_features
from archetype.pipeline.layout import PART, Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.privacy import Suppression
from archetype.pipeline.records import is_complete, new_record, now_iso, read_record, write_record
from archetype.pipeline.registry import Registry
from archetype.pipeline.run import make_engine, open_root, prepare, run_date
from archetype.pipeline.steps import assignment_frame, write_assignments, write_transitions
from archetype.pipeline.workers import worker_pool
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)
EVERY = {"day": 1, "week": 7}


@dataclass
class BackfillResult:
    """Dates run, skipped (already complete) and the records written."""

    ran: list[dt.date] = field(default_factory=list)
    skipped: list[dt.date] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def date_range(start: dt.date, end: dt.date, every: str = "day") -> list[dt.date]:
    """``start, start + step, ... <= end`` with step 1 day or 7 days."""
    if every not in EVERY:
        raise UserError(f"--every={every!r} should be one of {', '.join(EVERY)}")
    if end < start:
        raise UserError(f"--end={end} is before --start={start}")
    step = dt.timedelta(days=EVERY[every])
    out, d = [], start
    while d <= end:
        out.append(d)
        d += step
    return out


def backfill(
    cfg: RunConfig,
    start: dt.date,
    end: dt.date,
    every: str = "day",
    *,
    tracker: Tracker | None = None,
    engine: Any = None,
    force: bool = False,
    fallback_model: bool = False,
) -> BackfillResult:
    """Run every date of the range in order, skipping complete ones (unless ``force``)."""
    dates = date_range(start, end, every)
    prep = prepare(cfg)
    layout = Layout(cfg.out)
    result = BackfillResult()
    with DirLock(cfg.out):
        open_root(cfg, prep)
        engine = engine if engine is not None else make_engine(cfg)
        with tracker_or_null(tracker).task("backfill", total=len(dates)) as task:
            for d in dates:
                task.update(description=f"backfill {d}")
                if not force and is_complete(layout, d, mode="run"):
                    result.skipped.append(d)
                    log.info("%s complete, skipped", d)
                else:
                    # one bar with an ETA for the range; per-date bars would pile up
                    result.records[d.isoformat()] = run_date(
                        cfg, d, engine=engine, lock=False, prepared=prep,
                        fallback_model=fallback_model)
                    result.ran.append(d)
                task.advance(1)
    return result


# ---------------------------------------------------------------- assign-only


def _load_fixed_features(layout: Layout, d: dt.date, model: SegmentModel):
    """Ids + embedding of ``features/date=d`` if it was built with ``model``'s transform."""
    fdir = layout.features(d)
    try:
        saved = json.loads((fdir / "transform.json").read_text())
    except (OSError, ValueError):
        return None
    if saved != model.transform:
        return None
    ids = pl.read_parquet(fdir / "ids.parquet")["customer_id"]
    return ids, np.load(fdir / "embedding.npy", mmap_mode="r")


def _assign_one(cfg_dict: dict[str, Any], version: str, d: dt.date, threads: int,
                engine: Any = None, key: bytes | None = None,
                suppress: Suppression | None = None) -> tuple[str, str]:
    """Worker: features of ``d`` with the fixed model's transform, assign, stage the result.

    The staging dir (``assignments/.tmp-assign-D.*``, private) holds the features while
    they are built; only pseudonymized, suppression-filtered assignments are kept.
    """
    if threads:
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:  # pragma: no cover
            pass
    cfg = RunConfig(**cfg_dict)
    layout = Layout(cfg.out)
    model = Registry(cfg.out).load(version)
    engine = engine if engine is not None else make_engine(cfg)
    staging = tmp_sibling(layout.root / "assignments" / f"assign-{d.isoformat()}")
    make_dirs(staging.parent)
    staging.mkdir(mode=0o700)
    got = _load_fixed_features(layout, d, model)
    if got is None:
        fs = engine_features(engine, cfg, d, staging / "features", transform=model.transform,
                             key=key, suppress=suppress)
        ids, emb = fs.ids, fs.embedding
    else:
        ids, emb = got
        if suppress:
            drop = suppress.mask(None if key is not None else ids,
                                 ids if key is not None else None)
            if drop.any():
                ids, emb = ids.filter(pl.Series(~drop)), np.asarray(emb)[~drop]
    a = engine.assign(emb, model.centroids, metric=model.metric, backend=cfg.backend,
                      device=cfg.device)
    df = pl.DataFrame({
        "customer_id": ids,
        "label": pl.Series(np.asarray(a.labels, dtype=np.int64)),
        "distance": pl.Series(np.asarray(a.distances, dtype=np.float32)),
        "margin": pl.Series(np.asarray(a.margin, dtype=np.float32)),
    })
    df.write_parquet(staging / PART)
    shutil.rmtree(staging / "features", ignore_errors=True)
    return d.isoformat(), str(staging)


def backfill_assign(
    cfg: RunConfig,
    start: dt.date,
    end: dt.date,
    version: str,
    every: str = "day",
    *,
    jobs: int | None = None,
    tracker: Tracker | None = None,
    engine: Any = None,
    force: bool = False,
) -> BackfillResult:
    """Re-assign every date of the range with model ``version`` (dates in parallel).

    ``engine`` given explicitly (or ``jobs == 1``) runs the dates in this process.  The
    worker processes die with this one (killed, or stopped by SIGTERM): see
    :mod:`archetype.pipeline.workers`.
    """
    dates = date_range(start, end, every)
    prep = prepare(cfg)
    key = prep.key
    layout = Layout(cfg.out)
    result = BackfillResult()
    jobs = cfg.jobs if jobs is None else jobs
    with DirLock(cfg.out):
        model = Registry(cfg.out).load(version)
        open_root(cfg, prep)
        for left in (layout.root / "assignments").glob(f"{TMP_PREFIX}assign-*"):
            shutil.rmtree(left, ignore_errors=True)  # staged by an interrupted backfill
        todo = []
        for d in dates:
            rec = read_record(layout, d)
            if (not force and is_complete(layout, d, mode="assign-only")
                    and rec.get("model_version") == version):
                result.skipped.append(d)
            else:
                todo.append(d)
        cfg_dict = {k: v for k, v in cfg.__dict__.items()}
        seg_ids = model.segment_id_array()
        with tracker_or_null(tracker).task(f"re-assign with {version}", total=len(dates)) as task:
            task.advance(len(result.skipped))
            sup = prep.suppress
            if engine is not None or jobs <= 1 or len(todo) <= 1:
                staged = (_assign_one(cfg_dict, version, d, 0, engine, key, sup) for d in todo)
                _finalize_all(layout, todo, staged, seg_ids, version, result, task)
            else:
                threads = max(1, (os.cpu_count() or 1) // jobs)
                n = len(todo)
                with worker_pool(jobs) as pool:
                    staged = pool.map(_assign_one, [cfg_dict] * n, [version] * n, todo,
                                      [threads] * n, [None] * n, [key] * n, [sup] * n)
                    _finalize_all(layout, todo, staged, seg_ids, version, result, task)
    return result


def _finalize_all(layout, todo, staged, seg_ids, version, result, task) -> None:
    """In date order: previous ids, outputs and a complete record for each staged date."""
    for d, (_iso, path) in zip(todo, staged, strict=True):
        rec = new_record(d, "assign-only", model_version=version)
        try:
            df_raw = pl.read_parquet(Path(path) / PART)
            labels = df_raw["label"].to_numpy()
            a = Assignment(labels, df_raw["distance"].to_numpy(), df_raw["margin"].to_numpy())
            prev_dates = [p for p in layout.partition_dates("assignments") if p < d]
            previous = None
            if prev_dates:
                previous = pl.read_parquet(layout.assignments(prev_dates[-1]) / PART,
                                           columns=["customer_id", "segment_id"])
            df = assignment_frame(df_raw["customer_id"], seg_ids, a, previous)
            write_assignments(layout, d, df)
            moved, _matrix = write_transitions(layout, d, df, previous)
        finally:
            shutil.rmtree(path, ignore_errors=True)
        rec.update(status="complete", finished_at=now_iso(),
                   counts={"customers": df.height, "transitions": moved.height})
        write_record(layout, d, rec)
        result.records[d.isoformat()] = rec
        result.ran.append(d)
        task.advance(1)

