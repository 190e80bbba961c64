"""The feature directory: compute it from an event log, or load it back.

Files: ``features.parquet`` (customer_id + raw features), ``ids.parquet`` (customer_id,
row order of the embedding), ``embedding.npy`` (float32, C-order), ``transform.json``,
``manifest.json``.  Written with :func:`archetype._atomic.atomic_dir`: the directory exists
whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import logging
import math
import os
import platform
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype import __version__ as ARCHETYPE_VERSION
from archetype._atomic import atomic_dir, private_tmpdir
from archetype._outputs import check_output
from archetype.errors import UserError
from archetype.events import EventsConfig, ValidationReport, open_events
from archetype.features.base import drop_duplicates, sort_frame
from archetype.features.build import (
    aggregate_lazy,
    feature_specs,
    finalize_lazy,
)
from archetype.features.config import FeatureConfig
from archetype.features.context import FeatureContext, day_number
from archetype.features.transform import FeatureTransform
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)

FILES = ("features.parquet", "ids.parquet", "embedding.npy", "transform.json", "manifest.json")
FORMAT_VERSION = 1
_SLICE_MIN = 200_000  # rows below which one thread aggregates the whole partition


@dataclass
class FeatureSet:
    """A loaded (or just written) feature directory."""

    ids: pl.Series
    features: pl.DataFrame
    embedding: np.ndarray
    transform: FeatureTransform
    manifest: dict[str, Any]
    path: Path | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.transform.feature_names)

    @property
    def output_names(self) -> list[str]:
        return self.transform.output_names


def split_config(
    config: FeatureConfig | EventsConfig | Mapping[str, Any] | None,
    events_config: EventsConfig | None = None,
) -> tuple[EventsConfig, FeatureConfig]:
    """Accept a FeatureConfig, an EventsConfig, a whole config TOML dict (``events``/
    ``features`` tables) or a bare ``[features]`` dict; return both configs."""
    ev = events_config or EventsConfig()
    if config is None:
        return ev, FeatureConfig()
    if isinstance(config, FeatureConfig):
        return ev, config
    if isinstance(config, EventsConfig):
        return config, FeatureConfig()
    if isinstance(config, Mapping):
        if "events" in config or "features" in config:
            ev = events_config or EventsConfig.from_dict(config.get("events"))
            return ev, FeatureConfig.from_dict(config.get("features"))
        return ev, FeatureConfig.from_dict(config)
    raise TypeError(f"config of type {type(config).__name__} is not supported")


def _partition_count(rows: int, partition_rows: int) -> int:
    return max(1, math.ceil(rows / partition_rows))


def compute_features(
    events_path: str | Path,
    as_of: dt.date,
    *,
    config: FeatureConfig | EventsConfig | Mapping[str, Any] | None = None,
    events_config: EventsConfig | None = None,
    window_days: int | None = None,
    channels: list[str] | None = None,
    tracker: Tracker | None = None,
    spill_dir: str | Path | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Read, validate and build raw features; return them and the run's facts (no writing).

    The log is read by one streaming scan that also yields the validation counts and the
    channel ranking.  Up to ``config.partition_rows`` input rows are then built in memory:
    sorted once, cleared of exact duplicates, aggregated.  Larger logs are written by that
    scan to temporary hash partitions of customers (Arrow IPC, compact dtypes) and built
    one partition at a time, so memory stays bounded.  Those spills hold raw events (raw
    ids): they go to a private (0700) ``.tmp-archetype-spill.*`` dir under ``spill_dir``
    (default ``$TMPDIR``; :func:`compute_feature_dir` uses the output's folder), removed on
    every exit path and, after a ``kill -9``, by the next start-up there.
    """
    ev_cfg, cfg = split_config(config, events_config)
    window = window_days if window_days is not None else cfg.window_days
    tr = tracker_or_null(tracker)
    with tr.task("reading events", total=None):
        cs = open_events(events_path, ev_cfg, as_of=as_of, window_days=window, compact=True)
        n_rows = int(cs.collect(cs.lazy.select(pl.len())).item())
    n_parts = _partition_count(n_rows, cfg.partition_rows)
    if channels is None:
        channels = cfg.channels
    kept = cs.kept()
    parts: list[pl.DataFrame] = []
    ctx: FeatureContext | None = None

    def build(events: pl.DataFrame) -> None:
        nonlocal ctx
        if ctx is None:  # horizon is applied later, in finalize
            ctx = FeatureContext.make(as_of, 1, cfg, list(channels))
        srt = sort_frame(events)
        # Contiguous customer slices of the sorted frame aggregate in parallel threads
        # (Polars releases the GIL); a customer never spans two slices.
        slices = customer_slices(srt, pl.thread_pool_size() if srt.height >= _SLICE_MIN else 1)

        def one(sl: pl.DataFrame) -> pl.DataFrame:
            return aggregate_lazy(drop_duplicates(sl, cs.dedupe).lazy(), ctx).collect()

        if len(slices) == 1:
            parts.append(one(slices[0]))
        else:
            with ThreadPoolExecutor(len(slices)) as ex:
                parts.extend(ex.map(one, slices))

    with tr.task("building features", total=n_parts) as task:
        if n_parts == 1:
            # One streaming scan: validation counts and the used rows, then in memory.
            cnt, events = cs.collect_all([cs.lazy.select(cs.count_exprs()), kept])
            counts = cnt.row(0, named=True)
            if not cs.has_errors(counts) and events.height:
                if channels is None:
                    channels = top_channels(events.group_by("channel").len(), cfg.max_channels)
                build(events)
            del events
            task.advance(1)
        else:
            # One streaming scan writes the used rows to temporary hash partitions (IPC,
            # compact dtypes) and counts; each partition is then read back and built alone.
            with private_tmpdir(spill_dir, "archetype-spill") as spill:
                tmp = str(spill)
                part = (pl.col("customer_id").hash(seed=0) % n_parts).alias("_part")
                sink = kept.with_columns(part).sink_ipc(
                    pl.PartitionBy(tmp, key="_part", include_key=False), lazy=True, mkdir=True
                )
                cnt, chan, _ = cs.collect_all(
                    [cs.lazy.select(cs.count_exprs()), kept.group_by("channel").len(), sink]
                )
                counts = cnt.row(0, named=True)
                if channels is None:
                    channels = top_channels(chan, cfg.max_channels)
                for p in range(n_parts):
                    files = sorted(
                        glob.glob(os.path.join(tmp, f"_part={p}", "**", "*.ipc"), recursive=True)
                    )
                    if files and not cs.has_errors(counts):
                        build(pl.scan_ipc(files).collect())
                    task.advance(1)
    return finish_features(parts, cs.report(counts), as_of=as_of, window=window, cfg=cfg,
                           ev_cfg=ev_cfg, channels=channels, events_path=events_path,
                           partitions=n_parts)


def finish_features(parts: list[pl.DataFrame], report: Any, *, as_of: dt.date,
                    window: int | None, cfg: FeatureConfig, ev_cfg: EventsConfig,
                    channels: list[str], events_path: str | Path, partitions: int
                    ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The last step of both engines (local and Ray): the horizon, the finalize of the
    aggregated partitions ``parts``, the duplicate count, and the run's facts."""
    if window is not None:
        horizon = int(window)
    else:
        horizon = day_number(as_of) - day_number(dt.date.fromisoformat(report.first_day)) + 1
    ctx = FeatureContext.make(as_of, horizon, cfg, list(channels))
    inter = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
    df = finalize_lazy(inter.lazy(), ctx, keep_event_counts=True).collect()
    df = record_duplicates(report, df)
    log.info("events: %s", report.summary())
    facts = {
        "as_of": as_of.isoformat(),
        "window_days": window,
        "horizon_days": horizon,
        "events_path": str(events_path),
        "events_config": ev_cfg.to_dict(),
        "feature_config": cfg.to_dict(),
        "channels": list(channels),
        "partitions": partitions,
        "report": report.to_dict(),
        "specs": [s.to_dict() for s in feature_specs(ctx)],
    }
    return df, facts


def record_duplicates(report: ValidationReport, df: pl.DataFrame) -> pl.DataFrame:
    """Put the builder's duplicate counts into ``report``; drop the count columns.

    ``df`` is :func:`finalize_lazy` output with ``keep_event_counts=True``: rows dropped as
    duplicates are the used rows not aggregated; ``_identical`` (rule ``none``) counts the
    rows kept although identical to an earlier one.
    """
    identical = int(df["_identical"].sum()) if "_identical" in df.columns else None
    report.add_duplicates(report.rows_used - int(df["_events"].sum()), identical)
    return df.drop([c for c in ("_events", "_identical") if c in df.columns])


def customer_slices(sorted_events: pl.DataFrame, k: int) -> list[pl.DataFrame]:
    """Split a frame sorted by ``customer_id`` into up to ``k`` zero-copy slices of about
    equal rows, cut only between customers."""
    cid, n = sorted_events["customer_id"], sorted_events.height
    cuts = [0]
    for i in range(1, max(k, 1)):
        t = n * i // k
        cuts.append(max(cuts[-1], int(cid.search_sorted(cid[t], side="left"))))
    cuts.append(n)
    pairs = zip(cuts[:-1], cuts[1:], strict=True)
    return [sorted_events.slice(a, b - a) for a, b in pairs if b > a]


def top_channels(counts: pl.DataFrame, max_channels: int) -> list[str]:
    """:func:`discover_channels` from ``channel, len`` counts (same ranking: count, then name)."""
    if max_channels == 0:
        return []
    top = (
        counts.filter(pl.col("channel").is_not_null())
        .with_columns(pl.col("channel").cast(pl.String))
        .sort(["len", "channel"], descending=[True, False])
        .head(max_channels)
    )
    return sorted(top["channel"].to_list())


def reapplied(transform: FeatureTransform | Mapping[str, Any] | None
              ) -> tuple[FeatureTransform | None, list[str] | None]:
    """A saved transform to re-apply (or None) and the channel list it was fitted with."""
    if isinstance(transform, Mapping):
        transform = FeatureTransform.from_dict(transform)
    if transform is not None and "channels" in transform.extra:
        return transform, list(transform.extra["channels"])
    return transform, None


def compute_feature_dir(
    events_path: str | Path,
    as_of: dt.date,
    out_dir: str | Path,
    *,
    config: FeatureConfig | EventsConfig | Mapping[str, Any] | None = None,
    window_days: int | None = None,
    transform: FeatureTransform | Mapping[str, Any] | None = None,
    tracker: Tracker | None = None,
    events_config: EventsConfig | None = None,
    id_map: Callable[[pl.Series], pl.Series] | None = None,
    overwrite: bool = True,
) -> FeatureSet:
    """Build the feature directory ``out_dir`` from an event log.

    Parameters
    ----------
    events_path : str or Path
        Parquet/CSV file, glob or (hive) folder.
    as_of : date
        Last day included.
    out_dir : str or Path
        Written atomically; an earlier feature dir there is replaced when ``overwrite``,
        anything else is refused (:class:`UserError`).
    config : FeatureConfig, EventsConfig or dict, optional
        A whole config TOML dict (``events`` and ``features`` tables) is accepted.
    window_days : int, optional
        Lookback window in days.
    transform : FeatureTransform or dict, optional
        Re-apply this fitted transform (and its channel list) instead of fitting one.
    tracker : Tracker, optional
        Progress reporting.
    events_config : EventsConfig, optional
        Column/event-type maps when ``config`` is a FeatureConfig.
    id_map : callable, optional
        Applied to the ``customer_id`` Series (e.g. pseudonymization) before anything is
        written: ``features.parquet``, ``ids.parquet`` and the returned FeatureSet carry the
        mapped ids, in the same row order; it must return a Series of the same length.
        The features and the embedding do not depend on it.

    Returns
    -------
    FeatureSet
    """
    check_output(out_dir, "features", overwrite=overwrite)  # before any work
    transform, channels = reapplied(transform)
    df, facts = compute_features(
        events_path,
        as_of,
        config=config,
        events_config=events_config,
        window_days=window_days,
        channels=channels,
        tracker=tracker,
        spill_dir=Path(os.path.abspath(out_dir)).parent,
    )
    return finish_feature_dir(
        df,
        facts,
        out_dir,
        config=config,
        events_config=events_config,
        transform=transform,
        tracker=tracker,
        id_map=id_map,
        overwrite=overwrite,
    )


def finish_feature_dir(
    df: pl.DataFrame,
    facts: dict,
    out_dir: str | Path,
    *,
    config: Any = None,
    events_config: Any = None,
    transform: FeatureTransform | None = None,
    tracker: Tracker | None = None,
    id_map: Callable[[pl.Series], pl.Series] | None = None,
    mmap: bool = False,
    overwrite: bool = True,
) -> FeatureSet:
    """Fit (or re-apply) the transform and write the feature dir atomically.

    The second half of :func:`compute_feature_dir`, shared with the Ray engine: ``df`` and
    ``facts`` are what :func:`compute_features` (or its distributed twin) returns.  With
    ``mmap`` the returned embedding is memory-mapped from the written file.  ``out_dir``
    may replace only an earlier feature dir (``overwrite``), never anything else.
    """
    _, cfg = split_config(config, events_config)
    tr = tracker_or_null(tracker)
    with tr.task("embedding", total=None):
        if transform is None:
            from archetype.features.spec import FeatureSpec

            specs = [FeatureSpec(**s) for s in facts["specs"]]
            transform = FeatureTransform.fit(
                df, cfg, specs=specs, extra={"channels": facts["channels"]}
            )
        else:
            df = _conform(df, transform)
        emb = transform.transform(df)
    if id_map is not None:
        df = df.with_columns(_mapped_ids(df["customer_id"], id_map))
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in facts.items() if k != "specs"},
        "n_customers": df.height,
        "n_events": facts["report"]["rows_used"] - facts["report"]["duplicate_events"],
        "feature_names": transform.feature_names,
        "output_names": transform.output_names,
        "embedding_shape": list(emb.shape),
        "features": facts["specs"],
        "versions": {
            "archetype": ARCHETYPE_VERSION,
            "polars": pl.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    out = Path(out_dir)
    with (
        tr.task("writing", total=None),
        atomic_dir(out, kind="features", overwrite=overwrite) as tmp,
    ):
        df.write_parquet(tmp / "features.parquet")
        df.select("customer_id").write_parquet(tmp / "ids.parquet")
        np.save(tmp / "embedding.npy", emb)
        (tmp / "transform.json").write_text(json.dumps(transform.to_dict(), indent=1) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    log.info("features: %d customers x %d features -> %s", df.height, emb.shape[1], out)
    if mmap:
        emb = np.load(out / "embedding.npy", mmap_mode="r")
    return FeatureSet(df["customer_id"], df, emb, transform, manifest, out)


def _mapped_ids(ids: pl.Series, id_map: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``id_map(ids)`` checked to be a Series of the same length, named customer_id."""
    out = id_map(ids)
    if not isinstance(out, pl.Series) or out.len() != ids.len():
        got = f"length {out.len()}" if isinstance(out, pl.Series) else type(out).__name__
        raise ValueError(f"id_map must return a Series of length {ids.len()}; got {got}")
    return out.alias("customer_id")


def _conform(df: pl.DataFrame, transform: FeatureTransform) -> pl.DataFrame:
    """Columns of a re-applied transform: missing channel/occasion shares are 0."""
    cols = []
    for n in transform.feature_names:
        if n in df.columns:
            cols.append(pl.col(n))
        elif n.startswith(("channel_share_", "occasion_share_")):
            cols.append(pl.lit(0.0).alias(n))
        else:
            raise UserError(f"the saved transform needs feature {n!r}, which was not built")
    # features the transform left out of the embedding stay in features.parquet (profiles)
    cols += [pl.col(n) for n in transform.dropped_names if n in df.columns]
    return df.select("customer_id", *cols)


def load_feature_dir(path: str | Path, mmap: bool = True) -> FeatureSet:
    """Load a feature directory written by :func:`compute_feature_dir`.

    ``mmap=True`` memory-maps ``embedding.npy`` read-only.
    """
    p = Path(path)
    if not p.is_dir():
        raise UserError("not a feature directory (missing)", path=p)
    missing = [f for f in FILES if not (p / f).exists()]
    if missing:
        raise UserError(f"not a feature directory; missing {', '.join(missing)}", path=p)
    try:
        manifest = json.loads((p / "manifest.json").read_text())
        transform = FeatureTransform.from_dict(json.loads((p / "transform.json").read_text()))
        ids = pl.read_parquet(p / "ids.parquet")["customer_id"]
        features = pl.read_parquet(p / "features.parquet")
        emb = np.load(p / "embedding.npy", mmap_mode="r" if mmap else None)
    except (OSError, ValueError, json.JSONDecodeError) as e:
        if isinstance(e, UserError):
            raise
        raise UserError(f"feature directory is unreadable ({e})", path=p) from None
    if emb.dtype != np.float32 or emb.ndim != 2 or emb.shape[0] != len(ids):
        raise UserError(
            f"embedding.npy has shape {emb.shape} dtype {emb.dtype}; "
            f"expected ({len(ids)}, d) float32",
            path=p / "embedding.npy",
        )
    return FeatureSet(ids, features, emb, transform, manifest, p)
