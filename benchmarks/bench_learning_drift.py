"""Continuous learning on the drift scenario vs the nightly re-cluster (one run, one table).

    python benchmarks/bench_learning_drift.py                 # 5,000 customers, 120 days
    python benchmarks/bench_learning_drift.py --customers 20000 --days 180 --json out.json

1. ``archetype synth --scenario drift`` (deal hunters lapse over weeks from 45% of the log,
   a new behavior joins from 55%);
2. the nightly pipeline (warm start, stable ids, one transform) on every day from
   ``--start-frac`` of the log to its end;
3. the live side simulated per day (``archetype.bench.learning_drift.simulate_live``):
   hourly online-centroid versions, bounded moves, hysteresis; with the morning swap to last
   night's model (``resync``, what the service does) and without it (the learner alone for
   the whole range);
4. per day: ARI against that night's re-cluster, share of customers with the same segment
   id, moves and flaps; the frozen previous model (nearest centroid, no learning) as the
   baseline; ARI against the ground truth.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument(
        "--start-frac",
        type=float,
        default=0.33,
        help="first nightly run at this fraction of the log",
    )
    ap.add_argument("--steps-per-day", type=int, default=24)
    ap.add_argument("--hysteresis", type=float, default=0.05)
    ap.add_argument("--max-move", type=float, default=0.05)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="keep the world and root here")
    args = ap.parse_args()

    from archetype.bench.learning_drift import run_nightly, simulate_live
    from archetype.live.learning import LearningConfig
    from archetype.synth.drift import generate_drift

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="archetype-drift-"))
    res: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    try:
        end = dt.date(2026, 12, 31)
        start = end - dt.timedelta(days=args.days - 1)
        first = start + dt.timedelta(days=int(args.start_frac * args.days))
        t0 = time.perf_counter()
        generate_drift(
            tmp / "world", customers=args.customers, days=args.days, seed=args.seed, end_date=end
        )
        run_nightly(tmp / "world" / "events", tmp / "root", first, end, k=args.k, seed=args.seed)
        res["nightly_s"] = time.perf_counter() - t0
        cfg = LearningConfig(hysteresis=args.hysteresis, max_move=args.max_move)
        for resync in (True, False):
            t0 = time.perf_counter()
            rep = simulate_live(
                tmp / "root",
                first,
                end,
                config=cfg,
                steps_per_day=args.steps_per_day,
                resync=resync,
                truth_history=tmp / "world" / "truth_history.parquet",
                events=tmp / "world" / "events",
            )
            key = "service" if resync else "learner_alone"
            res[key] = rep.to_dict()
            res[key]["seconds"] = time.perf_counter() - t0
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


def report(res: dict) -> None:
    a = res["args"]
    print(
        f"# drift scenario: {a['customers']} customers, {a['days']} days, k={a['k']}, "
        f"hysteresis {a['hysteresis']}, max_move {a['max_move']}, "
        f"{a['steps_per_day']} updates/day"
    )
    print(
        "| mode | days | ARI vs nightly min / mean (min on stable nights) | frozen model "
        "ARI min / mean | "
        "same id min | flaps/day max (frozen) | moves/day max | ARI vs truth (live / "
        "nightly, last day) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key, label in (
        ("service", "service (morning swap + learning)"),
        ("learner_alone", "learner alone (no nightly swap)"),
    ):
        s = res[key]["summary"]
        print(
            f"| {label} | {s['days']} | {s['ari_nightly_min']:.3f} / "
            f"{s['ari_nightly_mean']:.3f} ({s['ari_nightly_min_stable_nights']:.3f}) | "
            f"{s['ari_static_min']:.3f} / "
            f"{s['ari_static_mean']:.3f} | {s['same_id_min']:.3f} | "
            f"{100 * s['flap_share_max']:.2f}% ({100 * s['static_flap_share_max']:.2f}%) | "
            f"{100 * s['moves_share_max']:.2f}% | {s['ari_truth_live_last']:.3f} / "
            f"{s['ari_truth_nightly_last']:.3f} |"
        )
    unstable = res["service"]["summary"]["unstable_nights"]
    print(f"nights whose re-cluster differs from the night before by ARI < 0.9: {unstable}")
    alerts = res["learner_alone"]["summary"]["alerts"]
    print(f"alerts (learner alone): {len(alerts)}; first: {alerts[:6]}")


if __name__ == "__main__":
    main()
