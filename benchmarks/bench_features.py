"""Feature build throughput: archetype (Polars) vs DuckDB on the same Parquet, same run.

    python benchmarks/bench_features.py                        # 400k customers ~ 21M events
    python benchmarks/bench_features.py --customers 40000 --repeat 3

Data: ``archetype synth`` output (365 days, ~53 events per customer, hive folders by day)
generated once under ``--data`` (default ``/tmp/archetype-fbench-<customers>``); ``--random``
writes a random canonical log with NumPy instead (``--events`` rows).  Each measurement runs
in a fresh subprocess so its peak RSS (``ru_maxrss`` of the child) and CPU time are its own;
both engines use every core (Polars' and DuckDB's defaults) unless ``--threads`` is given.
With ``--repeat N`` the engines alternate N times and the median ratio is reported.  The
CPU-seconds ratio is printed too: on a shared machine it moves far less than wall time.

Ours is timed end to end (validation counts, channel discovery, duplicate removal,
features); the peer runs its feature query (with duplicate removal and the as-of cut) plus
its first-day query, with the channel list handed to it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

AS_OF = dt.date(2026, 12, 31)


def make_data(root: Path, events: int, customers: int, use_synth: bool, seed: int) -> Path:
    ev = root / "events"
    if ev.exists():
        return ev
    if use_synth and importlib.util.find_spec("archetype.synth") is not None:
        from archetype.synth import generate

        generate(root, customers=customers, days=365, seed=seed, end_date=AS_OF)
        return ev
    from archetype.features.testing import random_events

    ev.mkdir(parents=True)
    blocks = max(1, events // 2_000_000)
    per_c = customers // blocks
    for b in range(blocks):
        df = random_events(
            events // blocks, per_c, seed=seed + b, start=dt.date(2026, 1, 1), days=365
        )
        df = df.with_columns(df["customer_id"] + b * per_c)
        df.write_parquet(ev / f"part-{b:05d}.parquet", row_group_size=500_000)
    return ev


def _child(engine: str, data: str, threads: int | None, window: int | None) -> dict:
    import polars as pl

    n = pl.scan_parquet(f"{data}/**/*.parquet").select(pl.len()).collect().item()
    t0 = time.perf_counter()
    c0 = time.process_time()
    if engine == "polars":
        from archetype.features import compute_features

        df, facts = compute_features(data, AS_OF, window_days=window)
        channels = facts["channels"]
        used_threads = pl.thread_pool_size()
    else:
        import duckdb

        from archetype.bench.duckdb_features import duckdb_features

        channels = json.loads(os.environ["BENCH_CHANNELS"])
        df = duckdb_features(data, AS_OF, channels=channels, window_days=window, threads=threads)
        used_threads = threads or duckdb.sql("SELECT current_setting('threads')").fetchall()[0][0]
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "engine": engine,
        "events": n,
        "customers": df.height,
        "seconds": sec,
        "cpu_seconds": cpu,
        "threads": int(used_threads),
        "events_per_s": n / sec,
        "peak_rss_bytes": rss,
        "channels": channels,
    }


def run_engine(engine, data, threads, window, channels=None) -> dict:
    env = dict(os.environ)
    if threads:
        env["POLARS_MAX_THREADS"] = str(threads)
    if channels is not None:
        env["BENCH_CHANNELS"] = json.dumps(channels)
    cmd = [sys.executable, __file__, "--child", engine, "--data", str(data)]
    if threads:
        cmd += ["--threads", str(threads)]
    if window:
        cmd += ["--window-days", str(window)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _show(r: dict) -> str:
    return (
        f"{r['engine']:>7}: {r['events']:,} events, {r['customers']:,} customers, "
        f"{r['seconds']:.2f}s (cpu {r['cpu_seconds']:.1f}s, {r['threads']} threads), "
        f"{r['events_per_s'] / 1e6:.2f} M events/s, peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--customers", type=int, default=400_000)
    ap.add_argument("--events", type=int, default=20_000_000, help="rows for --random only")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--window-days", type=int, default=None)
    ap.add_argument("--random", action="store_true", help="NumPy random log instead of synth")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", choices=["polars", "duckdb"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(a.child, str(a.data), a.threads, a.window_days)))
        return
    data = a.data or Path(f"/tmp/archetype-fbench-{a.customers}")
    t0 = time.perf_counter()
    ev = make_data(data, a.events, a.customers, not a.random, a.seed)
    print(f"data: {ev} ({time.perf_counter() - t0:.1f}s to prepare)", flush=True)
    runs = []
    for i in range(a.repeat):
        ours = run_engine("polars", ev, a.threads, a.window_days)
        peer = run_engine("duckdb", ev, a.threads, a.window_days, ours["channels"])
        ratio = ours["events_per_s"] / peer["events_per_s"]
        print(f"run {i + 1}/{a.repeat}  (load {os.getloadavg()[0]:.1f})", flush=True)
        for r in (ours, peer):
            print("  " + _show(r), flush=True)
        cpu_ratio = peer["cpu_seconds"] / ours["cpu_seconds"]
        print(
            f"  ratio ours/peer (events/s): {ratio:.2f}x; CPU seconds peer/ours: {cpu_ratio:.2f}x",
            flush=True,
        )
        runs.append({"ours": ours, "peer": peer, "ratio": ratio, "cpu_ratio": cpu_ratio})
    ratios = [r["ratio"] for r in runs]
    med = statistics.median(ratios)
    print(
        f"median ratio ours/peer: {med:.2f}x over {len(runs)} run(s) "
        f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x); goal 1.5x; "
        f"{med / 2:.0%} of 2x"
    )
    if a.json:
        a.json.write_text(json.dumps({"runs": runs, "median_ratio": med}, indent=2))


if __name__ == "__main__":
    main()
