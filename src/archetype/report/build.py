"""Gather a report's inputs from features, assignments, a model and optional extras.

:func:`build_report` is the library entry used by ``archetype report``, ``archetype demo``
and the nightly run; :func:`write_report` writes the HTML atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype._atomic import atomic_file
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null
from archetype.report.html import ReportInputs, render_report
from archetype.segments.config import SegmentsConfig, as_config
from archetype.segments.naming import explain_names
from archetype.segments.profiles import profile_segments
from archetype.segments.sweep import SweepResult
from archetype.segments.triggers import suggest_triggers

log = logging.getLogger(__name__)

ID = "customer_id"
_ROW = "__row__"


def _check_columns(df: pl.DataFrame, cols: tuple[str, ...], what: str) -> None:
    for c in cols:
        if c not in df.columns:
            raise UserError(f"{what} has no column {c!r} (has: {', '.join(df.columns)})", column=c)


def build_report(
    features: pl.DataFrame,
    assignments: pl.DataFrame,
    *,
    embedding: np.ndarray | None = None,
    model: Any | None = None,
    previous: pl.DataFrame | None = None,
    sweep: SweepResult | None = None,
    overrides: Mapping[int, str] | None = None,
    sample: int = 5_000,
    seed: int = 0,
    title: str = "Customer segments",
    facts: Mapping[str, str] | None = None,
    notes: list[str] | None = None,
    revenue_col: str = "total_spend",
    config: SegmentsConfig | Mapping[str, Any] | None = None,
    horizon_days: int | None = None,
    experiments: pl.DataFrame | None = None,
    tracker: Tracker | None = None,
) -> ReportInputs:
    """Profile, name and explain segments; prepare every section of the report.

    Parameters
    ----------
    features : DataFrame
        ``customer_id`` + raw features (``features.parquet``).
    assignments : DataFrame
        ``customer_id, segment_id`` (+ ``previous_segment_id`` from a nightly run).
    embedding : ndarray of shape (n_features_rows, d), optional
        Row ``i`` belongs to row ``i`` of ``features``; enables the 2-D projection.
    model : SegmentModel, optional
        Its ``segment_names`` are kept for the same segment ids (sticky names).
    previous : DataFrame, optional
        The previous run's assignments (``customer_id, segment_id``): adds the migration
        matrix (also drawn when ``assignments`` carries ``previous_segment_id``).
    sweep : SweepResult, optional
        Adds the k-sweep curves.
    overrides : mapping of segment id to name, optional
        Names set by the user; they win over ``config.names``.
    sample : int, default 5000
        Customers drawn for the projection.
    config : SegmentsConfig or ``[segments]`` dict, optional
        Currency, lifecycle thresholds, naming thresholds, fixed names.
    horizon_days : int, optional
        Days the log covers (the feature manifest's ``horizon_days``); default max
        ``tenure_days`` + 1.
    experiments : DataFrame, optional
        An uplift table (``archetype.live.experiments.uplift_table``): adds a section.
    """
    tr = tracker_or_null(tracker)
    cfg = as_config(config)
    _check_columns(features, (ID,), "features")
    _check_columns(assignments, (ID, "segment_id"), "assignments")
    with tr.task("profile segments", total=None):
        feat = features.with_row_index(_ROW)
        asg = assignments.select(ID, pl.col("segment_id").cast(pl.Int64))
        if asg[ID].dtype != feat[ID].dtype:
            asg = asg.with_columns(pl.col(ID).cast(feat[ID].dtype))
        joined = feat.join(asg, on=ID, how="inner", maintain_order="left")
        if joined.height == 0:
            raise UserError("no customer of the assignments is in the features (customer_id)")
        missing = assignments.height - joined.height
        seg = joined["segment_id"].to_numpy()
        profiles = profile_segments(
            joined.drop(_ROW, "segment_id"), seg, revenue_col=revenue_col, config=cfg,
            horizon_days=horizon_days,
        )  # fmt: skip
    sticky = None
    if model is not None and getattr(model, "segment_names", None):
        sticky = dict(zip(model.segment_ids, model.segment_names, strict=True))
    fixed = {**cfg.names, **{int(k): str(v) for k, v in (overrides or {}).items()}}
    naming = explain_names(profiles, overrides=fixed, sticky=sticky)
    names = {sid: n.name for sid, n in naming.items()}
    triggers = suggest_triggers(profiles)

    projection = None
    if embedding is not None:
        if embedding.shape[0] != features.height:
            raise UserError(
                f"embedding has {embedding.shape[0]} rows for {features.height} feature rows"
            )
        with tr.task("2-D projection", total=None):
            rng = np.random.default_rng(seed)
            m = min(sample, joined.height)
            pick = np.sort(rng.choice(joined.height, size=m, replace=False))
            rows = joined[_ROW].to_numpy()[pick]
            projection = (np.asarray(embedding[rows], dtype=np.float32), seg[pick])

    migration = None
    if "previous_segment_id" in assignments.columns or previous is not None:
        from archetype.segments.migration import attach_previous, migration_matrix

        cur = assignments
        if previous is not None:
            _check_columns(previous, (ID, "segment_id"), "previous assignments")
            if "previous_segment_id" in cur.columns:
                cur = cur.drop("previous_segment_id")
            cur = attach_previous(cur.select(ID, "segment_id"), previous)
        migration = migration_matrix(cur, previous)

    all_notes = list(notes or [])
    if missing:
        all_notes.append(f"{missing:,} assigned customers have no features and are not profiled.")
    return ReportInputs(
        profiles=profiles,
        names=names,
        triggers=triggers,
        projection=projection,
        sweep=sweep,
        migration=migration,
        title=title,
        facts=dict(facts or {}),
        notes=all_notes,
        experiments=experiments,
    )


def write_report(path: str | Path, inputs: ReportInputs, *, overwrite: bool = True,
                 kind: str | None = "report") -> Path:
    """Render ``inputs`` and write the HTML file atomically; returns the path.

    The file ends with the ``archetype._outputs.HTML_MARK`` line, so only a report written
    by archetype is ever replaced (``overwrite``); ``kind=None`` for a file inside an
    output archetype owns (a pipeline root).
    """
    from archetype._outputs import HTML_MARK

    path = Path(path)
    html = render_report(inputs)
    with atomic_file(path, kind=kind, overwrite=overwrite) as tmp:
        tmp.write_text(html + "\n" + HTML_MARK + "\n", encoding="utf-8")
    return path


def read_table(path: str | Path, what: str) -> pl.DataFrame:
    """Read a Parquet (or CSV) table; a missing/unreadable file is a :class:`UserError`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} not found", path=path)
    try:
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path)
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise UserError(f"unreadable {what}: {e}", path=path) from None


def read_sweep(path: str | Path) -> SweepResult:
    """Read a ``sweep.json`` written by ``archetype sweep``."""
    path = Path(path)
    if not path.is_file():
        raise UserError("sweep JSON not found", path=path)
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"unreadable sweep JSON: {e}", path=path) from None
    try:
        return SweepResult.from_dict(d)
    except UserError as e:
        raise UserError(str(e), path=path) from None
