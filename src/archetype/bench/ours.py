"""Archetype's own stages as benchmark entries, called through their public APIs.

Each function has the worker's entry signature ``(spec, X, C) -> Measured``.  They import
the layer they measure inside the function, so a layer that is not installed (or not
built yet) makes only its own lines "unavailable", never the whole suite.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from archetype.bench.timing import Measured, Stopwatch


def synth(spec: dict, X=None, C=None) -> Measured:
    """``archetype.synth.generate`` of ``n`` customers over ``days`` into ``paths.out``."""
    from archetype.synth import generate

    out = Path(spec["paths"]["out"])
    sw = Stopwatch()
    with sw():
        summary = generate(out, customers=int(spec["n"]), days=int(spec["days"]),
                           seed=int(spec["seed"]))
    extra = {"days": int(spec["days"])}
    events = getattr(summary, "n_events", None)
    if isinstance(events, int | np.integer):
        extra["events"] = int(events)
        extra["events_per_s"] = int(events) / sw.seconds
    return Measured(sw.seconds, extra=extra)


def _as_of(spec: dict) -> dt.date:
    if "as_of" in spec:
        return dt.date.fromisoformat(spec["as_of"])
    from archetype.synth import DEFAULT_END_DATE

    return DEFAULT_END_DATE


def features(spec: dict, X=None, C=None) -> Measured:
    """``read_events`` + ``build_features`` (Polars) on the synth output: rows x features."""
    from archetype.events import read_events
    from archetype.features import build_features

    events = Path(spec["paths"]["events"])
    as_of = _as_of(spec)
    sw = Stopwatch()
    with sw():
        scan = read_events(events, as_of=as_of, window_days=spec.get("window_days"))
        df = build_features(scan.lazy, as_of)
    return Measured(sw.seconds, extra={"rows_out": df.height, "columns_out": df.width})


def features_duckdb(spec: dict, X=None, C=None) -> Measured:
    """The same features in DuckDB SQL (:func:`archetype.bench.duckdb_features.duckdb_features`).

    The channel list (which our build discovers while it runs) is read before the clock
    starts and handed to the query, as the peer's contract asks.
    """
    import duckdb

    from archetype.bench.duckdb_features import duckdb_features

    events = Path(spec["paths"]["events"])
    as_of = _as_of(spec)
    pattern = str(events / "**" / "*.parquet")
    rows = duckdb.sql(f"SELECT DISTINCT channel FROM read_parquet('{pattern}') "
                      "WHERE channel IS NOT NULL ORDER BY channel").fetchall()
    channels = [r[0] for r in rows]
    sw = Stopwatch()
    with sw():
        df = duckdb_features(events, as_of, channels=channels,
                             window_days=spec.get("window_days"))
    return Measured(sw.seconds, extra={"rows_out": df.height, "columns_out": df.width})


def fit(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """``archetype.MiniBatchKMeans`` from ``C``: its mini-batch epoch, then ``iters`` full
    Lloyd passes with no early stop.  ``seconds_per_pass`` divides by all passes made."""
    from archetype import MiniBatchKMeans

    km = MiniBatchKMeans(
        n_clusters=C.shape[0], init=C, n_init=1, max_iter=int(spec["iters"]),
        batch_size=int(spec["batch_size"]), tol=0.0, max_no_improvement=None,
        random_state=int(spec["seed"]), backend=spec.get("backend", "auto"),
        device=spec["device"],
    )
    sw = Stopwatch(spec["device"])
    with sw():
        km.fit(X)
    n_iter = int(getattr(km, "n_iter_", spec["iters"]))
    n_steps = int(getattr(km, "n_steps_", 0))
    passes = n_iter + n_steps * int(spec["batch_size"]) / X.shape[0]
    return Measured(
        sw.seconds, centers=np.asarray(km.cluster_centers_),
        extra={"backend": str(getattr(km, "backend_", spec.get("backend", "auto"))),
               "n_iter": n_iter, "n_steps": n_steps, "passes": passes,
               "seconds_per_pass": sw.seconds / max(passes, 1e-9)},
    )


def assign(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """``archetype.cluster.assign``: nearest center, distance and margin for every row."""
    from archetype.cluster import assign as assign_fn

    sw = Stopwatch(spec["device"])
    with sw():
        result = assign_fn(X, C, backend=spec.get("backend", "auto"), device=spec["device"])
    return Measured(sw.seconds, labels=np.asarray(result.labels))


def nightly(spec: dict, X=None, C=None) -> Measured:
    """One end-to-end nightly ``archetype.pipeline.run_date`` on the synth output."""
    from archetype.pipeline.config import RunConfig
    from archetype.pipeline.run import run_date

    config = RunConfig.load(None, {
        "events": str(spec["paths"]["events"]), "out": str(spec["paths"]["out"]),
        "k": int(spec["k"]), "seed": int(spec["seed"]), "device": spec["device"],
        "batch_size": int(spec["batch_size"]), "max_iter": int(spec["iters"]),
    })
    as_of = _as_of(spec)
    sw = Stopwatch()
    with sw():
        record = run_date(config, as_of)
    extra = {}
    if isinstance(record, dict):
        for name in ("status", "version", "n_customers", "k"):
            if isinstance(record.get(name), int | str):
                extra[name] = record[name]
        stages = record.get("stages")
        for name, value in (stages.items() if isinstance(stages, dict) else ()):
            secs = value.get("seconds") if isinstance(value, dict) else value
            if isinstance(secs, int | float):
                extra[f"seconds_{name}"] = float(secs)
    return Measured(sw.seconds, extra=extra)


def lloyd_pass(spec: dict, X: np.ndarray, C: np.ndarray) -> Measured:
    """One full Lloyd pass (assign + per-center sums), ``archetype.cluster.partial_stats``.

    Best of ``repeats`` passes; the inertia is the pass's own objective at ``C``.
    """
    from archetype.cluster import partial_stats

    backend, device = spec.get("backend", "auto"), spec["device"]
    best, stats = float("inf"), None
    sw = Stopwatch(device)
    for _ in range(max(1, int(spec.get("repeats", 3)))):
        with sw():
            stats = partial_stats(X, C, backend=backend, device=device)
        best = min(best, sw.seconds)
    return Measured(best, inertia=float(stats.inertia), extra={"seconds_per_pass": best})
