"""The ingest cost of triggers, experiments and online learning (used by bench_serve.py).

The same durable ingest (Python API, LMDB or Redis, batches in time order) runs without
the automation (``plain``) and with it attached in each mode of ``archetype.live.hooks``
(``--trigger-rules`` rules of every kind from
``archetype.live.triggers.examples.benchmark_rules``, one Thompson experiment, and
``[learning]`` with hourly centroid versions):

* ``inline``: triggers and learning inside the ingest commits;
* ``process`` (what ``archetype serve`` runs): the commits append inbox records, a worker
  process consumes them on the other core.

Runs alternate plain / inline / process ``repeat`` times on fresh state folders, so
machine noise hits all alike.  Reported per mode (medians): the service's ingest events/s
(wall, until the last ``ingest`` call returned) and its process CPU per event; the
worker process's CPU per event after its start-up (and of its consuming thread alone),
the total CPU per event (service + worker), the time the worker took to drain what was
still queued when ingest ended and the end-to-end rate (ingest + drain); the cost
``1 - rate_with / rate_without`` (goal: <= 20%).  Then the firing lag at a steady load
(``paced_lag``: ms from the commit of a batch to the worker's commit of its outputs,
sampled every 2 ms).  Webhook delivery is off (no receiver): the outbox rows are still
written.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import threading
import time
from pathlib import Path

MODES = ("plain", "inline", "process")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(root: Path, state: Path, log, batch: int, config, mode: str, redis: str | None) -> dict:
    from archetype.live.hooks import attach
    from archetype.live.segmenter import LiveSegmenter

    shutil.rmtree(state, ignore_errors=True)
    out: dict = {}
    spec = "lmdb" if redis is None else f"{redis}?prefix=bench-{state.name}:"
    with LiveSegmenter.open(root, spec, state_dir=state, background=False, watch_s=None) as seg:
        auto = attach(seg, config, deliver=False, mode=mode) if mode != "plain" else None
        kids0 = _children_cpu()
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(0, log.height, batch):
            seg.ingest(log.slice(s, batch))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        drain = 0.0
        if auto is not None:
            t1 = time.perf_counter()
            assert auto.sync(timeout=600), "the worker did not catch up"
            drain = time.perf_counter() - t1
            from archetype.live.triggers import read_outbox
            from archetype.live.worker import worker_stats

            with seg.store.read() as r:
                out["firings"] = len(read_outbox(r))
                st = worker_stats(r)
                out["consume_cpu_s"] = st.get("cpu_seconds", 0.0)
                out["worker_process_cpu_s"] = st.get("process_cpu_seconds", 0.0)
            auto.close()
        out["worker_cpu_s"] = _children_cpu() - kids0  # with its start-up
    shutil.rmtree(state, ignore_errors=True)
    n = log.height
    out.update(
        events_s=n / wall,
        cpu_us=cpu / n * 1e6,
        drain_s=drain,
        end_to_end_events_s=n / (wall + drain),
        worker_cpu_us=out.get("worker_process_cpu_s", 0.0) / n * 1e6,
        consume_cpu_us=out.get("consume_cpu_s", 0.0) / n * 1e6,
        startup_cpu_s=out["worker_cpu_s"] - out.get("worker_process_cpu_s", 0.0),
    )
    out["total_cpu_us"] = out["cpu_us"] + out["worker_cpu_us"]
    return out


def paced_lag(root: Path, log, tmp: Path, config, *, rate: float, batch: int, seconds: float):
    """Firing latency at a steady load: ``rate`` events/s in batches of ``batch`` for
    ``seconds`` (worker process); ms from each record's commit to the worker's commit."""
    from archetype.live.hooks import attach
    from archetype.live.segmenter import LiveSegmenter
    from archetype.live.worker import progress

    state = tmp / "paced"
    shutil.rmtree(state, ignore_errors=True)
    n = min(log.height, int(rate * seconds))
    samples: list[tuple[float, int]] = []
    commits: list[tuple[float, int]] = []
    with LiveSegmenter.open(root, state_dir=state, background=False, watch_s=None) as seg:
        auto = attach(seg, config, deliver=False, mode="process")
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.002):
                with seg.store.read() as r:
                    samples.append((time.perf_counter(), progress(r)[0]))

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        t0 = time.perf_counter()
        late = 0.0
        for i, s in enumerate(range(0, n, batch)):
            wait = t0 + i * batch / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            else:
                late = max(late, -wait)
            seg.ingest(log.slice(s, batch))
            with seg.store.read() as r:
                commits.append((time.perf_counter(), progress(r)[1]))
        assert auto.sync(timeout=600)
        time.sleep(0.01)
        stop.set()
        th.join()
        auto.close()
    shutil.rmtree(state, ignore_errors=True)
    lags = _lags(commits, samples)
    return {
        "rate": rate,
        "batch": batch,
        "events": n,
        "behind_schedule_s": late,
        "lag_ms": {"p50": _pct(lags, 50), "p99": _pct(lags, 99), "max": _pct(lags, 100)},
    }


def _lags(commits: list[tuple[float, int]], samples: list[tuple[float, int]]) -> list[float]:
    """Per inbox record: ms from the ingest call that committed it to the first sample
    that saw it consumed."""
    out = []
    j = 0
    prev_head = 0
    for t_commit, head in commits:
        for seq in range(prev_head + 1, head + 1):
            while j < len(samples) and samples[j][1] < seq:
                j += 1
            if j < len(samples):
                out.append(max(0.0, samples[j][0] - t_commit) * 1e3)
        prev_head = head
    return out


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def triggers_phase(
    root: Path,
    log,
    tmp: Path,
    *,
    batch: int,
    rules: int = 20,
    repeat: int = 3,
    learning: bool = True,
    modes: tuple[str, ...] = MODES,
    redis: str | None = None,
    paced: tuple[float, int] | None = (2000.0, 100),
) -> dict:
    """Ingest without / with the automation in each mode, alternating; medians, costs."""
    from archetype.live.automation import AutomationConfig
    from archetype.live.model import load_live_model
    from archetype.live.triggers.examples import benchmark_rules

    m = load_live_model(root)
    d = benchmark_rules(rules, [int(s) for s in m.segment_ids[:3]])
    if learning:
        d["learning"] = {"update_every": "1h", "hysteresis": 0.1}
    cfg = AutomationConfig.from_dict(d)
    runs: dict[str, list[dict]] = {k: [] for k in modes}
    for i in range(repeat):
        for mode in modes:
            auto_cfg = None if mode == "plain" else cfg
            r = _run(root, tmp / f"{mode}{i}", log, batch, auto_cfg, mode, redis)
            runs[mode].append(r)
            show = {k: round(v, 2) for k, v in r.items() if isinstance(v, float)}
            print(f"triggers run {i} {mode}: {show} firings={r.get('firings')}", flush=True)

    def med(mode: str, k: str) -> float:
        return statistics.median(r[k] for r in runs[mode])

    out: dict = {
        "rules": len(cfg.triggers.rules),
        "learning": learning,
        "repeat": repeat,
        "batch": batch,
        "events": log.height,
        "store": "redis" if redis else "lmdb",
        "modes": {},
    }
    plain_rate, plain_cpu = med("plain", "events_s"), med("plain", "cpu_us")
    for mode in modes:
        keys = (
            "events_s",
            "cpu_us",
            "drain_s",
            "end_to_end_events_s",
            "worker_cpu_us",
            "consume_cpu_us",
        )
        res = {k: med(mode, k) for k in keys}
        res["total_cpu_us"] = med(mode, "total_cpu_us")
        res["firings"] = runs[mode][0].get("firings")
        res["cost_wall"] = 1.0 - res["events_s"] / plain_rate
        res["cost_cpu"] = 1.0 - plain_cpu / res["cpu_us"]
        res["cost_end_to_end"] = 1.0 - res["end_to_end_events_s"] / plain_rate
        out["modes"][mode] = res
    out["runs"] = {m: [{"startup_cpu_s": r["startup_cpu_s"]} for r in rs] for m, rs in runs.items()}
    if "process" in modes and paced:
        out["paced"] = paced_lag(root, log, tmp, cfg, rate=paced[0], batch=paced[1], seconds=10)
        print(f"paced: {out['paced']}", flush=True)
    return out


def report_triggers(t: dict) -> None:
    p = t["modes"]["plain"]
    what = f"{t['rules']} rules + experiment{' + learning' if t['learning'] else ''}"
    print(
        f"\ningest cost of triggers ({what}; {t['store']}; {t['events']:,} events in batches of "
        f"{t['batch']:,}; median of {t['repeat']}); plain: {p['events_s']:,.0f} events/s, "
        f"{p['cpu_us']:.1f} us CPU/event"
    )
    print(
        "| mode | service events/s | cost (wall) | service CPU us/event | cost (CPU) "
        "| worker CPU us/event (consuming) | total CPU us/event | drain s "
        "| end-to-end events/s | firings |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, r in t["modes"].items():
        if mode == "plain":
            continue
        print(
            f"| {mode} | {r['events_s']:,.0f} | {100 * r['cost_wall']:.1f}% | {r['cpu_us']:.1f} "
            f"| {100 * r['cost_cpu']:.1f}% | {r['worker_cpu_us']:.1f} ({r['consume_cpu_us']:.1f}) "
            f"| {r['total_cpu_us']:.1f} | {r['drain_s']:.2f} | {r['end_to_end_events_s']:,.0f} "
            f"| {r['firings']:,} |"
        )
    startup = [r["startup_cpu_s"] for r in t["runs"].get("process", [])]
    print(
        "goal: cost <= 20% of the service's ingest rate"
        + (
            f"; worker process start-up: {statistics.median(startup):.1f} s CPU, once"
            if startup
            else ""
        )
    )
    if "paced" in t:
        p = t["paced"]
        lag = p["lag_ms"]
        print(
            f"firing lag at a steady {p['rate']:,.0f} events/s (batches of {p['batch']}, "
            f"{p['events']:,} events, worker process): p50 {lag['p50']:.0f} ms, p99 "
            f"{lag['p99']:.0f} ms, max {lag['max']:.0f} ms (commit of the events -> commit of "
            f"the worker's outputs; {p['behind_schedule_s']:.2f} s behind schedule at worst)"
        )
