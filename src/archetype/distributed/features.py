"""Features on Ray: shuffle events by customer, build each group with the local builder.

The local engine (``archetype.features.featureset.compute_features``) already builds big
logs one hash partition of customers at a time.  Here the partitions are Ray tasks:

1. **map** — one task per group of event files.  Each file is opened with
   ``archetype.events.open_events`` (column maps, as-of cut, validation — all row-wise) and
   one streaming pass yields its validation counts, its channel counts and its used rows,
   split into ``n_groups`` frames by ``hash(customer_id) mod n_groups``.  The frames stay
   in the object store; only the counts come back to the driver.
2. **driver** — merges the counts (``merge_counts``), picks the channels as the local
   engine does, and validates (the same ``CanonicalScan.report``).
3. **reduce** — one task per customer group concatenates its frames (every event of a
   customer is now here, in file order), sorts, drops exact duplicates and aggregates with
   the local builder's ``sort_frame`` / ``drop_duplicates`` / ``aggregate_lazy``.
4. **driver** — concatenates the groups and finishes them with the local engine's own
   ``finish_features`` (horizon, finalize, duplicate count, run facts); the
   ``FeatureTransform`` is fitted on the combined raw features (exact, not from merged
   sketches) by the shared ``finish_feature_dir``, so every file equals the local one.

Hive folders (``date=YYYY-MM-DD``) are pruned to the window by file, as the local reader
prunes partitions, so the validation counts match too.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import polars as pl

from archetype.distributed._ray import cluster_cpus, ensure_ray
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)

TASK_RETRIES = 3
_HIVE_DATE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def route(ids: pl.Expr, n_groups: int) -> pl.Expr:
    """Customer group of each id: ``hash(customer_id) mod n_groups`` (same on every node
    running the same Polars version)."""
    return (ids.hash(seed=0) % n_groups).cast(pl.Int64)


def file_groups(files: list[str], files_per_task: int) -> list[list[str]]:
    """Consecutive groups of at most ``files_per_task`` files (order kept)."""
    return [files[i : i + files_per_task] for i in range(0, len(files), files_per_task)]


def prune_hive_files(files: list[str], root: str, as_of: dt.date,
                     start: dt.date | None) -> list[str]:
    """Drop files in ``date=YYYY-MM-DD`` folders outside ``[start, as_of]``."""
    keep = []
    for f in files:
        rel = Path(f).relative_to(root).parent.parts if Path(root).is_dir() else ()
        dates = [m.group(1) for p in rel if (m := _HIVE_DATE.match(p))]
        if dates:
            d = dates[-1]
            if d > as_of.isoformat() or (start is not None and d < start.isoformat()):
                continue
        keep.append(f)
    return keep


def _map_task(files: list[str], ev_cfg: Any, as_of: dt.date, window: int | None,
              n_groups: int) -> tuple:
    """Counts, channel counts and ``n_groups`` frames of used rows, for ``files``."""
    from archetype.events import merge_counts, open_events

    counts, chans, pieces = [], [], [[] for _ in range(n_groups)]
    for f in files:
        cs = open_events(f, ev_cfg, as_of=as_of, window_days=window, compact=True)
        kept = cs.kept()
        cnt, chan, rows = cs.collect_all([
            cs.lazy.select(cs.count_exprs()),
            kept.group_by("channel").len(),
            kept.with_columns(route(pl.col("customer_id"), n_groups).alias("__group")),
        ])
        counts.append(cnt.row(0, named=True))
        chans.append(chan.with_columns(pl.col("channel").cast(pl.String)))
        by_group = rows.partition_by("__group", as_dict=True, include_key=False)
        for (g,), part in by_group.items():
            pieces[g].append(part)
    chan_all = (pl.concat(chans).group_by("channel").agg(pl.col("len").sum())
                if chans else pl.DataFrame({"channel": [], "len": []}))
    meta = {"counts": merge_counts(counts), "channels": chan_all}
    frames = [pl.concat(p, how="vertical_relaxed") if p else None for p in pieces]
    return (meta, *frames)


def _reduce_task(as_of: dt.date, cfg: Any, channels: list[str], dedupe: str,
                 *frames) -> pl.DataFrame | None:
    """The local builder's per-partition step on one customer group."""
    from archetype.features.base import drop_duplicates, sort_frame
    from archetype.features.build import aggregate_lazy
    from archetype.features.context import FeatureContext

    frames = [f for f in frames if f is not None and f.height]
    if not frames:
        return None
    events = pl.concat(frames, how="vertical_relaxed")
    ctx = FeatureContext.make(as_of, 1, cfg, list(channels))  # horizon applied in finalize
    return aggregate_lazy(drop_duplicates(sort_frame(events), dedupe).lazy(), ctx).collect()


def ray_compute_features(
    events_path: str | Path,
    as_of: dt.date,
    *,
    config: Any = None,
    events_config: Any = None,
    window_days: int | None = None,
    channels: list[str] | None = None,
    n_groups: int | None = None,
    files_per_task: int = 4,
    address: str | None = None,
    tracker: Tracker | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Raw features and run facts, as ``compute_features`` returns them, computed on Ray."""
    from archetype.events import merge_counts, open_events
    from archetype.events.read import HIVE_DATE
    from archetype.features.featureset import finish_features, split_config, top_channels

    ray = ensure_ray(address)
    ev_cfg, cfg = split_config(config, events_config)
    window = window_days if window_days is not None else cfg.window_days
    whole = open_events(events_path, ev_cfg, as_of=as_of, window_days=window, compact=True)
    files = list(whole.source.files)
    if whole.source.hive and HIVE_DATE not in ev_cfg.columns.values():
        files = prune_hive_files(files, whole.source.path, *whole.partition_bounds())
    groups = file_groups(files, max(1, files_per_task))
    n_groups = max(1, n_groups or 2 * cluster_cpus(ray))
    track = tracker_or_null(tracker)
    mapper = ray.remote(num_returns=n_groups + 1, max_retries=TASK_RETRIES)(_map_task)
    reducer = ray.remote(max_retries=TASK_RETRIES)(_reduce_task)
    with track.task("reading events on Ray", total=len(groups)) as task:
        outs = [mapper.remote(g, ev_cfg, as_of, window, n_groups) for g in groups]
        metas = []
        for o in outs:
            metas.append(ray.get(o[0]))
            task.advance(1)
    if metas:
        counts = merge_counts([m["counts"] for m in metas])
    else:  # every file pruned: the local reader's counts of nothing (and its DataError)
        counts = whole.collect(whole.lazy.select(whole.count_exprs())).row(0, named=True)
    report = whole.report(counts)  # raises the local engine's DataErrors
    if channels is None:
        channels = cfg.channels
    if channels is None:
        chan = pl.concat([m["channels"] for m in metas]).group_by("channel").agg(
            pl.col("len").sum())
        channels = top_channels(chan, cfg.max_channels)
    with track.task("building features on Ray", total=n_groups) as task:
        refs = [reducer.remote(as_of, cfg, list(channels), whole.dedupe, *[o[g + 1] for o in outs])
                for g in range(n_groups)]
        parts = []
        for ref in refs:
            part = ray.get(ref)
            if part is not None:
                parts.append(part)
            task.advance(1)
    df, facts = finish_features(parts, report, as_of=as_of, window=window, cfg=cfg,
                                ev_cfg=ev_cfg, channels=channels, events_path=events_path,
                                partitions=n_groups)
    return df, {**facts, "engine": "ray"}


def ray_feature_dir(
    events_path: str | Path,
    as_of: dt.date,
    out_dir: str | Path,
    *,
    config: Any = None,
    window_days: int | None = None,
    transform: Any = None,
    tracker: Tracker | None = None,
    events_config: Any = None,
    id_map: Any = None,
    n_groups: int | None = None,
    files_per_task: int = 4,
    address: str | None = None,
):
    """``compute_feature_dir`` with the reading and building done on Ray.

    Parameters and result as :func:`archetype.features.compute_feature_dir` (``id_map``
    included: ids are mapped before anything is written); ``n_groups``
    customer groups (default 2 × cluster CPUs) and ``files_per_task`` event files per map
    task set the shuffle's shape.
    """
    from archetype.features.featureset import finish_feature_dir, reapplied

    transform, channels = reapplied(transform)
    df, facts = ray_compute_features(
        events_path, as_of, config=config, events_config=events_config,
        window_days=window_days, channels=channels, n_groups=n_groups,
        files_per_task=files_per_task, address=address, tracker=tracker,
    )
    return finish_feature_dir(
        df, facts, out_dir, config=config, events_config=events_config,
        transform=transform, tracker=tracker, id_map=id_map, mmap=True,
    )
