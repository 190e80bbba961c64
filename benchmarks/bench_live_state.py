"""Live feature state: apply events/s, features() and codec µs, bytes per customer.

    python benchmarks/bench_live_state.py                       # 20k customers, 365 days
    python benchmarks/bench_live_state.py --customers 50000 --window-days 365

Data: ``archetype synth`` (planted archetypes, ~55 events per customer a year), written to
a temp dir.  Events are converted to :class:`LiveEvent` first (not timed) and applied in a
shuffled order.  Then, per customer, what the service does for each changed customer:
``decode``, ``apply`` of one late event inside the window, ``merge_encode`` (merge the
pending event into the packed table, encode), ``features`` (one customer per call) and
``features_many`` (all in one call), and the whole ``changed_customer_cycle`` (decode,
apply, encode, features_many).  Kernels are compiled (or loaded from Numba's cache)
before anything is timed; what is loaded before the timings is frozen out of the garbage
collector's full passes, as ``archetype serve`` does at start-up (``--no-gc-freeze``:
not).  Peers in the same run: the batch feature build (Polars) on the same log
(events/s, and per-customer time for a whole-log rebuild) and the Polars
``FeatureTransform.transform`` of one row against ``transform_numpy``.  Prints one JSON
object; ratios are ours / peer (> 1: ours takes longer per unit).  The 1-minute load
average and a pure-Python calibration loop are printed beside the figures: on a shared
machine the absolute numbers scale with them.  The script uses only the public API
(``FeatureDefinition``, ``CustomerState``), so it measures an older version too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from archetype.features import FeatureConfig, FeatureTransform, build_features
from archetype.features.featureset import top_channels
from archetype.live.definition import FeatureDefinition
from archetype.live.replay import events_from_frame
from archetype.live.state import LiveEvent
from archetype.synth import generate

AS_OF = dt.date(2026, 12, 31)


_CPU: dict[str, float] = {}


def _time(fn, repeat: int = 3, name: str | None = None) -> float:
    """Best wall time of ``repeat`` runs; the CPU time of that run goes to ``_CPU[name]``."""
    best = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        w = time.perf_counter() - t
        if w < best:
            best = w
            if name:
                _CPU[name] = time.process_time() - c
    return best


def _python_loop() -> None:
    """A CPU calibration: 1M additions in a Python loop (~40 ms on an idle modern core)."""
    x = 0
    for i in range(1_000_000):
        x += i


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--window-days", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--gc-freeze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Move what is loaded before the timings out of the garbage collector's reach "
        "(gc.freeze, as `archetype serve` does at start-up); --no-gc-freeze: leave it.",
    )
    ap.add_argument(
        "--exactness",
        action="store_true",
        help="Also print, per feature, the largest live-vs-batch difference.",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="archetype-livebench-") as tmp:
        generate(Path(tmp), customers=args.customers, days=args.days, seed=args.seed)
        log = pl.read_parquet(Path(tmp) / "events" / "**" / "*.parquet")
    channels = top_channels(log.group_by("channel").len(), 8)
    fd = FeatureDefinition(channels, window_days=args.window_days)
    events = list(events_from_frame(log))
    np.random.default_rng(0).shuffle(events)
    n_ev = len(events)

    # apply
    states: dict = {}

    def apply_all():
        states.clear()
        new = fd.new_state
        for ev in events:
            st = states.get(ev.customer_id)
            if st is None:
                st = states[ev.customer_id] = new()
            st.apply(ev)

    t_apply = _time(apply_all, 2, "apply")
    # the service holds no event objects: the collector should not scan them below
    events.clear()
    gc.collect()
    ids = sorted(states)
    sts = [states[i] for i in ids]
    horizon = None if args.window_days else (AS_OF - log["ts"].min().date()).days + 1
    # compile or load the kernels first (Numba's on-disk cache), so no timing includes it
    fd.features_many(sts[:3], AS_OF, horizon)
    fd.features(sts[0], AS_OF, horizon)
    fd.decode(sts[0].encode())
    # codec: every customer encoded after the shuffled apply (merges all pending events)
    blobs = [s.encode() for s in sts]
    sizes = np.array([len(b) for b in blobs])
    if args.gc_freeze:  # as `archetype serve` does after start-up
        gc.collect()
        gc.freeze()
    t_dec = _time(lambda: [fd.decode(b) for b in blobs], 2, "dec")
    # the service's work per changed customer: decode, apply a late event inside the
    # window (an hour before the customer's last one), merge + encode, features
    late = [_late_event(s) for s in sts]
    t_apply1 = _time_on(
        lambda: [fd.decode(b) for b in blobs],
        lambda xs: [s.apply(ev) for s, ev in zip(xs, late, strict=True)],
        "apply1",
    )
    t_enc = _time_on(lambda: _touched(fd, blobs, late), lambda xs: [s.encode() for s in xs], "enc")

    def cycle():
        xs = _touched(fd, blobs, late)
        for s in xs:
            s.encode()
        fd.features_many(xs, AS_OF, horizon)

    t_cycle = _time(cycle, 2, "cycle")
    # features
    sample = sts[:: max(1, len(sts) // 2000)]
    t_one = _time(lambda: [fd.features(s, AS_OF, horizon) for s in sample], 3, "one") / len(sample)
    t_many = _time(lambda: fd.features_many(sts, AS_OF, horizon), 2, "many") / len(sts)
    # peer: the batch build of the same log
    cfg = FeatureConfig(window_days=args.window_days)
    t_batch = _time(lambda: build_features(log.lazy(), AS_OF, cfg, channels=channels), 2, "batch")
    batch = build_features(log.lazy(), AS_OF, cfg, channels=channels)
    # transform: one row, NumPy vs Polars
    t = FeatureTransform.fit(batch, cfg, specs=list(fd.specs))
    row = batch.head(1)
    x = row.select(list(t.feature_names)).to_numpy()
    reps = 2000
    t_np = _time(lambda: [t.transform_numpy(x) for _ in range(reps)], 3, "np") / reps
    t_pl = _time(lambda: [t.transform(row) for _ in range(200)], 3, "pl") / 200
    t_loop = _time(_python_loop)
    out = {
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python_1M_loop_ms": round(t_loop * 1e3, 1),
        "customers": len(sts),
        "events": n_ev,
        "window_days": args.window_days,
        "gc_freeze": args.gc_freeze,
        "apply_events_per_s": round(n_ev / t_apply),
        "batch_build_events_per_s": round(n_ev / t_batch),
        "apply_vs_batch_ratio": round((t_apply / n_ev) / (t_batch / n_ev), 2),
        "features_us_per_customer": round(t_one * 1e6, 1),
        "features_many_us_per_customer": round(t_many * 1e6, 1),
        "batch_build_us_per_customer": round(t_batch / len(sts) * 1e6, 1),
        "decode_us": round(t_dec / len(sts) * 1e6, 1),
        "apply_one_late_event_us": round(t_apply1 / len(sts) * 1e6, 1),
        "merge_encode_us": round(t_enc / len(sts) * 1e6, 1),
        "changed_customer_cycle_us": round(t_cycle / len(sts) * 1e6, 1),
        "bytes_mean": round(float(sizes.mean()), 1),
        "bytes_p50": int(statistics.median(sizes.tolist())),
        "bytes_p99": int(np.percentile(sizes, 99)),
        "bytes_max": int(sizes.max()),
        "transform_numpy_1row_us": round(t_np * 1e6, 1),
        "transform_polars_1row_us": round(t_pl * 1e6, 1),
        "transform_numpy_vs_polars_ratio": round(t_np / t_pl, 3),
        # CPU seconds of the same runs (robust to a shared machine; Polars sums its threads)
        "cpu_apply_events_per_s": round(n_ev / _CPU["apply"]),
        "cpu_batch_build_events_per_s": round(n_ev / _CPU["batch"]),
        "cpu_features_us_per_customer": round(_CPU["one"] / len(sample) * 1e6, 1),
        "cpu_features_many_us_per_customer": round(_CPU["many"] / len(sts) * 1e6, 1),
        "cpu_decode_us": round(_CPU["dec"] / len(sts) * 1e6, 1),
        "cpu_apply_one_late_event_us": round(_CPU["apply1"] / len(sts) * 1e6, 1),
        "cpu_merge_encode_us": round(_CPU["enc"] / len(sts) * 1e6, 1),
        "cpu_changed_customer_cycle_us": round(_CPU["cycle"] / len(sts) * 1e6, 1),
        "cpu_transform_numpy_1row_us": round(_CPU["np"] / reps * 1e6, 1),
        "cpu_transform_polars_1row_us": round(_CPU["pl"] / 200 * 1e6, 1),
    }
    if args.exactness:
        live = fd.features_many(sts, AS_OF, horizon)
        keep = ~np.isnan(live[:, 0])
        assert batch["customer_id"].to_list() == [i for i, k in zip(ids, keep, strict=True) if k]
        out["exactness"] = exactness(batch, live[keep], fd.feature_names)
    print(json.dumps(out, indent=1))


def _time_on(prepare, fn, name: str, repeat: int = 2) -> float:
    """:func:`_time` of ``fn(prepare())``, ``prepare`` not timed (fresh input each run)."""
    best = float("inf")
    for _ in range(repeat):
        x = prepare()
        t, c = time.perf_counter(), time.process_time()
        fn(x)
        w = time.perf_counter() - t
        if w < best:
            best, _CPU[name] = w, time.process_time() - c
    return best


def _late_event(st) -> LiveEvent:
    """A view an hour before the customer's last event, on its first channel/category."""
    return LiveEvent(
        0,
        st.last_ts_us - 3_600_000_000,
        "view",
        channel=st.channels[0] if st.channels else None,
        category=st.categories[0] if st.categories else None,
    )


def _touched(fd, blobs, late) -> list:
    """Each state decoded, with its late event applied (not yet merged)."""
    out = []
    for b, ev in zip(blobs, late, strict=True):
        s = fd.decode(b)
        s.apply(ev)
        out.append(s)
    return out


def exactness(batch: pl.DataFrame, live: np.ndarray, names) -> dict:
    """Per feature: share of bit-equal values, max |diff|, max |diff| / |batch| (batch != 0)."""
    out = {}
    for j, n in enumerate(names):
        x, y = batch[n].to_numpy(), live[:, j]
        d = np.abs(x - y)
        nz = x != 0
        out[n] = {
            "bit_equal": round(float((x == y).mean()), 4),
            "max_abs": float(d.max()),
            "max_rel": float((d[nz] / np.abs(x[nz])).max()) if nz.any() else 0.0,
        }
    return out


if __name__ == "__main__":
    main()
