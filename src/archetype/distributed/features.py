"""Features on Ray: shuffle events by customer, build features per group with the local builder.

Stages (see ``docs/distributed.md``):

1. **map** — one task per group of event files: ``read_events`` on each file (mapping,
   validation and the as-of cut are row-wise) and split the rows into ``n_groups`` buckets
   by ``hash(customer_id) mod n_groups``; each bucket is one Arrow table in the object store.
2. **reduce** — one task per bucket: concatenate its pieces (now every event of a customer
   is here) and run :func:`archetype.features.build_features`.
3. **driver** — concatenate the groups, sort by ``customer_id``, fit the ``FeatureTransform``
   on all raw features (exact, not sketched: the result equals the local engine's) and
   write the features dir with the features layer's writer.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from archetype.distributed._ray import cluster_cpus, ensure_ray
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)

ROUTE_SEED = 0x0A4C_E7E5
TASK_RETRIES = 3


def route(ids: pl.Expr | pl.Series, n_groups: int):
    """Group of each customer id: ``hash(customer_id) mod n_groups`` (same on every node)."""
    return (ids.hash(seed=ROUTE_SEED) % n_groups).cast(pl.Int64)


def _map_task(
    files: list[str],
    config: Any,
    as_of: date,
    window_days: int | None,
    n_groups: int,
) -> tuple:
    """Read ``files`` and return ``n_groups`` Arrow tables (one per bucket) and a report dict."""
    from archetype.events import read_events

    frames, reports = [], []
    for f in files:
        scan = read_events(f, config, as_of=as_of, window_days=window_days)
        frames.append(scan.lazy.collect())
        reports.append(scan.report.to_dict())
    df = pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
    keyed = df.with_columns(route(pl.col("customer_id"), n_groups).alias("__group"))
    parts = keyed.partition_by("__group", as_dict=True, include_key=False)
    empty = df.clear()
    tables = [parts.get((g,), empty).to_arrow() for g in range(n_groups)]
    return (*tables, reports)


def _reduce_task(as_of: date, config: Any, *tables) -> Any:
    """Build the raw features of one customer group (returned as an Arrow table)."""
    from archetype.features import build_features

    frames = [pl.from_arrow(t) for t in tables]
    df = pl.concat(frames, how="vertical_relaxed")
    if df.height == 0:
        return None  # no customer of the log hashed to this group
    return build_features(df.lazy(), as_of, config).to_arrow()


def file_groups(files: list[str], files_per_task: int) -> list[list[str]]:
    """Consecutive groups of at most ``files_per_task`` files."""
    return [files[i : i + files_per_task] for i in range(0, len(files), files_per_task)]


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Add the per-file validation reports into one (counts summed, date range widened)."""
    out: dict[str, Any] = {}
    for r in reports:
        for key, val in r.items():
            if isinstance(val, bool):
                out[key] = out.get(key, True) and val
            elif isinstance(val, int):
                out[key] = out.get(key, 0) + val
            elif isinstance(val, list):
                seen = out.setdefault(key, [])
                seen.extend(v for v in val if v not in seen)
            elif key == "first_day" and val is not None:
                out[key] = min(val, out.get(key) or val)
            elif key == "last_day" and val is not None:
                out[key] = max(val, out.get(key) or val)
            else:
                out.setdefault(key, val)
    return out


def ray_raw_features(
    events_path: str | Path,
    as_of: date,
    *,
    config: Any = None,
    events_config: Any = None,
    window_days: int | None = None,
    n_groups: int | None = None,
    files_per_task: int = 4,
    address: str | None = None,
    tracker: Tracker | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Raw features of every customer, computed by a Ray shuffle; sorted by ``customer_id``.

    Returns
    -------
    (DataFrame, dict)
        What ``build_features`` returns on the whole log, and the merged validation report.
    """
    from archetype.events.readers import resolve

    ray = ensure_ray(address)
    source = resolve(events_path)
    groups = file_groups(list(source.files), max(1, files_per_task))
    n_groups = max(1, n_groups or 2 * cluster_cpus(ray))
    mapper = ray.remote(num_returns=n_groups + 1, max_retries=TASK_RETRIES)(_map_task)
    reducer = ray.remote(max_retries=TASK_RETRIES)(_reduce_task)
    track = tracker_or_null(tracker)
    with track.task("features on Ray", total=n_groups) as task:
        outs = [mapper.remote(g, events_config, as_of, window_days, n_groups) for g in groups]
        if n_groups + 1 == 1:  # pragma: no cover - num_returns=1 returns a single ref
            outs = [[o] for o in outs]
        reduced = [
            reducer.remote(as_of, config, *[o[g] for o in outs]) for g in range(n_groups)
        ]
        frames = []
        for ref in reduced:
            table = ray.get(ref)
            if table is not None:
                frames.append(pl.from_arrow(table))
            task.advance(1)
        reports = [r for o in outs for r in ray.get(o[n_groups])]
    raw = pl.concat(frames, how="vertical_relaxed").sort("customer_id")
    return raw, merge_reports(reports)
