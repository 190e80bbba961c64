"""The ingest cost of triggers, experiments and online learning (used by bench_serve.py).

The same durable ingest (Python API, LMDB, batches in time order) runs without and with
the automation attached (``--trigger-rules`` rules of every kind from
``archetype.live.triggers.examples.benchmark_rules``, one Thompson experiment, and
``[learning]`` with hourly centroid versions), alternating plain / automated runs
``repeat`` times on fresh state folders, so machine noise hits both alike.  Reported:
events/s (wall and process CPU) of each, and the cost ``1 - rate_with / rate_without``
(goal: <= 20%).  Webhook delivery is off (no receiver): the outbox rows are still written
inside the commits.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path


def _run(root: Path, state: Path, log, batch: int, config) -> dict:
    from archetype.live.hooks import attach
    from archetype.live.segmenter import LiveSegmenter

    shutil.rmtree(state, ignore_errors=True)
    with LiveSegmenter.open(root, state_dir=state, background=False, watch_s=None) as seg:
        auto = attach(seg, config, deliver=False) if config is not None else None
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(0, log.height, batch):
            seg.ingest(log.slice(s, batch))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        fired = 0
        if auto is not None:
            from archetype.live.triggers import read_outbox

            with seg.store.read() as r:
                fired = len(read_outbox(r))
            auto.close()
    shutil.rmtree(state, ignore_errors=True)
    return {"events_s": log.height / wall, "cpu_events_s": log.height / cpu, "firings": fired}


def triggers_phase(
    root: Path,
    log,
    tmp: Path,
    *,
    batch: int,
    rules: int = 20,
    repeat: int = 3,
    learning: bool = True,
) -> dict:
    """Ingest without / with the automation, alternating; medians and the cost."""
    from archetype.live.automation import AutomationConfig
    from archetype.live.model import load_live_model
    from archetype.live.triggers.examples import benchmark_rules

    m = load_live_model(root)
    d = benchmark_rules(rules, [int(s) for s in m.segment_ids[:3]])
    if learning:
        d["learning"] = {"update_every": "1h", "hysteresis": 0.1}
    cfg = AutomationConfig.from_dict(d)
    plain, auto = [], []
    for i in range(repeat):
        plain.append(_run(root, tmp / f"plain{i}", log, batch, None))
        auto.append(_run(root, tmp / f"auto{i}", log, batch, cfg))
        print(f"triggers run {i}: plain {plain[-1]}, automated {auto[-1]}", flush=True)

    def med(runs, k):
        return statistics.median(r[k] for r in runs)

    out = {
        "rules": len(cfg.triggers.rules),
        "learning": learning,
        "repeat": repeat,
        "plain_events_s": med(plain, "events_s"),
        "auto_events_s": med(auto, "events_s"),
        "plain_cpu_events_s": med(plain, "cpu_events_s"),
        "auto_cpu_events_s": med(auto, "cpu_events_s"),
        "firings": auto[0]["firings"],
        "events": log.height,
    }
    out["cost_wall"] = 1.0 - out["auto_events_s"] / out["plain_events_s"]
    out["cost_cpu"] = 1.0 - out["auto_cpu_events_s"] / out["plain_cpu_events_s"]
    return out


def report_triggers(t: dict) -> None:
    print(
        f"| ingest with {t['rules']} trigger rules + experiment"
        f"{' + learning' if t['learning'] else ''} (lmdb) | {t['auto_events_s']:,.0f} vs "
        f"{t['plain_events_s']:,.0f} events/s: cost {100 * t['cost_wall']:.1f}% wall, "
        f"{100 * t['cost_cpu']:.1f}% CPU ({t['firings']:,} firings, median of "
        f"{t['repeat']}) | <= 20% | without triggers |"
    )
