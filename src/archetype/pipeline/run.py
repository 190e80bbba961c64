"""One nightly run: features → warm-started fit → assign → stable ids → outputs → registry.

:func:`run_date` is what ``archetype run`` calls and what ``backfill`` calls per date.
Order of the writes (each one atomic):

1. ``features/date=D/``  2. ``assignments/date=D/``  3. ``transitions/date=D/``
4. ``reports/D.html``  5. ``models/D/``  6. ``models/CURRENT``
7. ``runs/D.json`` with ``status: complete``.

Everything that can be checked before writing is (:func:`prepare`): config, paths, the
key, the suppression list, the parent model — a mistake there exits 2 and writes nothing.
A crash between any two writes leaves whole outputs and a record that does not say
complete; re-running the date redoes it and replaces each output atomically.  A failure
or a SIGTERM (:class:`~archetype.errors.Interrupted`) once the run has started writes
``status: failed`` with the reason.  Re-running a complete date gives identical outputs:
the parent is the latest model strictly *before* D, and features, fit (seeded) and
matching are deterministic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archetype._atomic import DirLock, clean_stale_in
from archetype._outputs import MARKER, check_output, claim_root
from archetype.errors import UserError, interruption
from archetype.pipeline.config import RunConfig
from archetype.pipeline.engine import get_engine
from archetype.pipeline.layout import KINDS, Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.privacy import KEY_FILE, Suppression, check_key, load_key
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


@dataclass
class Prepared:
    """What :func:`prepare` found: the pseudonymization key and the suppression list."""

    key: bytes | None
    suppress: Suppression


def prepare(cfg: RunConfig) -> Prepared:
    """Every check that needs no output written (a failure here writes nothing).

    The events path exists; ``out`` is a new, empty or earlier pipeline root (never
    someone else's folder); the key is set, long enough and the one ROOT was written with;
    the suppression list is readable, and when it holds keyed entries the key is there to
    match them.
    """
    if not cfg.events.exists() and not any(ch in str(cfg.events) for ch in "*?["):
        raise UserError("events path not found", path=cfg.events)
    check_output(cfg.out, "pipeline")
    _check_tables(cfg)
    key = load_key(cfg.key_env) if cfg.pseudonymize else None
    if key is not None:
        check_key(cfg.out, key, cfg.key_env, record=False)
    suppress = Suppression.load(cfg.out)
    if suppress.hmac:
        match_key = key
        if match_key is None:
            if not os.environ.get(cfg.key_env):
                raise UserError(
                    f"ROOT's suppression list holds keyed entries (forgotten with a key); "
                    f"set {cfg.key_env} to that key so they stay forgotten",
                    path=cfg.out,
                )
            match_key = load_key(cfg.key_env)
            check_key(cfg.out, match_key, cfg.key_env, record=False)
        suppress.key = match_key
    return Prepared(key, suppress)


def _check_tables(cfg: RunConfig) -> None:
    """The [events]/[features] tables parse (a wrong type is one line before any work)."""
    from archetype.features.featureset import split_config
    from archetype.pipeline.ids import feature_config

    try:
        split_config(feature_config(cfg))
    except UserError:
        raise
    except (TypeError, ValueError, AttributeError) as e:
        where = {"path": cfg.source} if cfg.source else {}
        raise UserError(f"invalid [events]/[features] settings: {e}", **where) from None


def preflight(cfg: RunConfig) -> bytes | None:
    """:func:`prepare`, returning only the key (kept for callers of the old name)."""
    return prepare(cfg).key


def open_root(cfg: RunConfig, prep: Prepared) -> Layout:
    """Under the lock: mark ROOT, record the key fingerprint, remove stale temp entries
    (crashed writers' staging dirs and feature spills) from every partition folder."""
    claim_root(cfg.out)
    if prep.key is not None:
        check_key(cfg.out, prep.key, cfg.key_env, record=True)
    layout = Layout(cfg.out)
    for kind in (*KINDS, "models", "reports", "runs", "privacy"):
        clean_stale_in(layout.root / kind)
    return layout


def _prune_empty(layout: Layout) -> None:
    """Remove partition folders left empty by a failed run (nothing of the user's)."""
    for kind in (*KINDS, "models", "reports"):
        with contextlib.suppress(OSError):
            (layout.root / kind).rmdir()  # only succeeds when empty


def make_engine(cfg: RunConfig) -> Any:
    return get_engine(cfg.engine, cfg.ray_address, batch_size=cfg.batch_size, max_iter=cfg.max_iter)


def run_date(
    cfg: RunConfig,
    date: dt.date,
    *,
    tracker: Tracker | None = None,
    engine: Any = None,
    lock: bool = True,
    fallback_model: bool = False,
    prepared: Prepared | None = None,
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
    fallback_model : bool, default False
        A broken latest model before ``date`` is an error; with True the run warm-starts
        from the newest readable older one (recorded as ``skipped_models``).

    Raises
    ------
    UserError
        Bad input (before anything is written), or a lock held by another run.
    Exception
        Runtime failures, after writing a ``failed`` run record saying why.
    """
    prep = prepared if prepared is not None else prepare(cfg)
    if lock:
        new, existed = is_new_root(cfg.out), cfg.out.exists()
        try:
            with DirLock(cfg.out):
                try:
                    return run_date(
                        cfg,
                        date,
                        tracker=tracker,
                        engine=engine,
                        lock=False,
                        fallback_model=fallback_model,
                        prepared=prep,
                    )
                except UserError:
                    if new:
                        undo_new_root(cfg.out, date)
                    raise
        except UserError:
            if new:
                drop_lock_dir(cfg.out, remove_root=not existed)
            raise
    registry = Registry(cfg.out)
    prev = registry.latest_before(date, fallback=fallback_model)  # broken: error, no writes
    layout = open_root(cfg, prep)
    engine = engine if engine is not None else make_engine(cfg)
    record = new_record(
        date,
        "run",
        config_hash=cfg.config_hash(),
        config=_safe_config(cfg),
        engine=getattr(engine, "name", type(engine).__name__),
    )
    if registry.skipped:
        record["skipped_models"] = list(registry.skipped)
    write_record(layout, date, record)
    clock = StageClock().start()
    try:
        _run(cfg, date, layout, engine, prep, prev, clock, record, tracker)
        record["status"] = "complete"
        record["exit_code"] = 0
    except BaseException as e:
        fail_record(record, e)
        _prune_empty(layout)
        raise
    finally:
        clock.stop()
        record["stages"] = clock.stages
        record["total"] = clock.total()
        record["finished_at"] = now_iso()
        try:
            write_record(layout, date, record)
        except OSError as e:  # e.g. the disk is full: keep the original error
            if record["status"] == "complete":
                raise
            log.error("could not write the failed run record of %s: %s", date, e)
    return record


def is_new_root(root: Path) -> bool:
    """Whether ``root`` is absent or an empty folder (this run will create the root)."""
    root = Path(root)
    if not root.exists():
        return True
    return root.is_dir() and not root.is_symlink() and not any(root.iterdir())


def undo_new_root(root: Path, date: dt.date) -> None:
    """Bad input found by a run in a root it created: remove what it wrote (the marker,
    the key fingerprint, the failed run record, empty folders), so that bad input leaves
    nothing behind.  When anything else is there, everything is left as it is."""
    root = Path(root)
    mine = {MARKER, ".lock", f"runs/{date.isoformat()}.json", f"privacy/{KEY_FILE}"}
    files, dirs = [], []
    for d, sub, names in os.walk(root):
        dirs.extend(Path(d) / n for n in sub)
        files.extend(Path(d) / n for n in names)
    if any(f.relative_to(root).as_posix() not in mine for f in files):
        return
    for f in files:
        if f.name != ".lock":
            f.unlink()
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()


def drop_lock_dir(root: Path, *, remove_root: bool) -> None:
    """After :func:`undo_new_root`: remove ``.lock`` (and ROOT, when this run created it)
    when nothing else is there and no other process holds the lock (one that does keeps
    both)."""
    root = Path(root)
    try:
        if {p.name for p in root.iterdir()} != {".lock"}:
            return
        with DirLock(root):
            (root / ".lock").unlink()
            if remove_root:
                root.rmdir()
    except (OSError, UserError):
        return


def fail_record(record: dict[str, Any], e: BaseException) -> None:
    """Fill ``record`` with why the run failed (error, kind, exit code, traceback)."""
    stop = interruption(e)
    record["status"] = "failed"
    if stop is not None:
        record["error"] = str(stop)
        record["error_kind"] = "interrupted"
        record["exit_code"] = stop.exit_code
    else:
        record["error"] = f"{type(e).__name__}: {e}"
        record["error_kind"] = "user" if isinstance(e, UserError) else "runtime"
        record["exit_code"] = 2 if isinstance(e, UserError) else 1
    record["traceback"] = traceback.format_exc(limit=8).splitlines()[-12:]


def _safe_config(cfg: RunConfig) -> dict[str, Any]:
    d = cfg.to_dict()
    d.pop("events_table", None)
    d.pop("features_table", None)
    return d  # holds key_env (a name), never the key


def _run(cfg, date, layout, engine, prep, prev, clock, record, tracker) -> None:
    registry = Registry(cfg.out)
    same_space = prev is not None and not cfg.refit
    warm = same_space and prev.k == cfg.k and prev.metric == cfg.metric
    record.update(
        parent=prev.version if prev else None, warm_start=warm, transform_reused=same_space
    )
    if prev is not None and prev.config_hash != cfg.config_hash():
        record["config_changed"] = True  # since the parent; after [features] edits use --refit
    with clock.stage("features"):
        fs = build_features(
            engine,
            cfg,
            layout,
            date,
            transform=prev.transform if same_space else None,
            key=prep.key,
            suppress=prep.suppress,
            tracker=tracker,
        )
    if fs.suppressed:
        record["suppressed"] = fs.suppressed
    n = len(fs.ids)
    with clock.stage("fit"):
        centroids, info = engine.fit(
            fs.embedding,
            cfg.k,
            init=prev.centroids if warm else None,
            seed=cfg.seed,
            backend=cfg.backend,
            device=cfg.device,
            metric=cfg.metric,
            tracker=tracker,
        )
    with clock.stage("assign"):
        a = engine.assign(
            fs.embedding, centroids, metric=cfg.metric, backend=cfg.backend, device=cfg.device
        )
    with clock.stage("ids"):
        prev_date, previous = previous_assignments(layout, date)
        if previous is not None and previous["customer_id"].dtype != fs.ids.dtype:
            # e.g. pseudonymization switched on: yesterday's ids cannot be joined to today's
            log.warning(
                "previous assignments of %s have %s ids, today's are %s; ignored",
                prev_date,
                previous["customer_id"].dtype,
                fs.ids.dtype,
            )
            record["previous_ignored"] = f"customer_id type changed since {prev_date}"
            prev_date, previous = None, None
        match = stable_ids(prev, centroids, a.labels, fs.ids, previous, cfg, same_space=same_space)
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
            names = describe(
                fs.features, fs.ids, seg_ids[np.asarray(a.labels)], sticky, cfg.segments_table
            )
        except Exception as e:  # names are a convenience; ids are the contract
            log.warning("naming segments of %s failed: %s", date, e)
            record["names_error"] = f"{type(e).__name__}: {e}"
            names = None
    with clock.stage("model"):
        shift = (
            centroid_shift(prev.centroids, prev.segment_ids, centroids, match.ids)
            if same_space
            else {}
        )
        drift = drift_summary(
            df, shift, new_ids=match.new_ids if prev else [], retired_ids=match.retired_ids
        )
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
            centroids=centroids,
            feature_names=fs.feature_names,
            transform=fs.transform_dict,
            metric=cfg.metric,
            segment_ids=match.ids,
            segment_names=[names.get(i, f"segment {i}") for i in match.ids] if names else None,
            version=version_for(date),
            parent=prev.version if prev else None,
            date=date.isoformat(),
            config_hash=cfg.config_hash(),
            backend=str(info.get("backend", cfg.backend)),
            device=str(info.get("device", cfg.device)),
            metrics=metrics,
            retired_ids=retired,
            next_segment_id=match.next_id,
            extra={
                "warm_start": warm,
                "transform_reused": same_space,
                "match_cost": {str(k): v for k, v in match.matched_cost.items()},
            },
        )
    if cfg.report:
        # Asked for, so not optional: a failing report (disk full, ...) fails the run
        # (exit 1, record says why) before the model is registered.
        with clock.stage("report"):
            try:
                path = write_report(layout, date, fs, df, model, previous, cfg.segments_table)
            except Exception as e:
                record["report_error"] = f"{type(e).__name__}: {e}"
                raise
            record["report"] = None if path is None else str(path)
    with clock.stage("registry"):
        registry.save(model)
        registry.set_current(model.version)
    record.update(
        model_version=model.version,
        counts={
            "customers": n,
            "transitions": moved.height,
            "segments": cfg.k,
            "migration_cells": matrix.height,
        },
        metrics={
            "inertia": metrics["inertia"],
            "share_moved": drift["share_moved"],
            "mean_centroid_shift": drift["mean_centroid_shift"],
            "new_segment_ids": drift["new_segment_ids"],
            "retired_segment_ids": drift["retired_segment_ids"],
        },
    )
