"""Run a suite: plan the measurements, run each in a fresh process, derive ratios and slopes.

The result is one JSON-ready document (see ``bench_schema.json``): machine info, one
record per measurement ``{"stage", "impl", "device", "n", "d", "k", "seconds", "inertia",
"peak_mem_bytes", ...}``, the measurements that could not run and why, and the log-log
scaling slopes.  Every record carries ``ratio`` = our time / ``ratio_vs``'s time on the
same data (per pass over the data for ``fit``), so a slow or noisy machine shifts seconds
but hardly the ratios.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archetype.bench import suite as suites
from archetype.bench.entries import STAGES, USER_STAGES, Entry, entries_for, unavailable_reason
from archetype.bench.machine import machine_info
from archetype.bench.memory import run_isolated
from archetype.bench.timing import loglog_slope
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
WORKER = "archetype.bench.worker"
#: Stages measured because a selected one needs them (floors, the single Lloyd pass).
_DERIVED_STAGES = ("bandwidth", "pass")
#: Stages on the fit/assign matrix.
_MATRIX_STAGES = ("pass", "fit", "assign")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass
class Task:
    """One planned measurement."""

    entry: Entry
    device: str
    n: int
    d: int
    k: int
    spec: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, int] | None = None  # (stage, n) whose output this task reads


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is a
    :class:`UserError`."""
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device={device!r} should be one of auto, cpu, cuda")
    if device == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover - torch is a dependency
        has_cuda = False
    if device == "cuda" and not has_cuda:
        raise UserError("--device=cuda but no CUDA device is visible to torch; use --device cpu")
    return "cuda" if has_cuda else "cpu"


def check_stages(stages: list[str] | None) -> tuple[str, ...]:
    """Validate ``--stages``; ``None``/empty means all of them."""
    if not stages:
        return USER_STAGES
    out = []
    for s in stages:
        for part in s.split(","):
            part = part.strip()
            if part not in USER_STAGES:
                raise UserError(f"--stages={part!r} is not a stage; use {', '.join(USER_STAGES)}")
            out.append(part)
    return tuple(dict.fromkeys(out))


def plan(suite: suites.Suite, device: str, stages: tuple[str, ...], work: Path,
         seed: int, impls: tuple[str, ...] | None = None) -> list[Task]:
    """Every measurement of ``suite`` for the selected ``stages``, in run order.

    ``impls`` keeps only the named implementations (floors are always kept)."""
    devices = ("cpu",) if device == "cpu" else ("cuda", "cpu")
    wanted = set(stages)
    if wanted & {"features", "nightly"}:
        wanted.add("synth")  # their input
    if wanted & {"fit", "assign"}:
        wanted.add("bandwidth")
    if "fit" in wanted:
        wanted.add("pass")  # one Lloyd pass vs the GEMM alone
    base = {"seed": seed, "iters": suite.iters, "batch_size": suite.batch_size,
            "repeats": suite.repeats, "rounds": suite.rounds,
            "bandwidth_bytes": suite.bandwidth_bytes,
            "days": suite.days}
    grid = [(n, suite.k0) for n in suite.fit_n]
    n_series = list(grid)
    grid += [(max(suite.fit_n), k) for k in suite.ks if (max(suite.fit_n), k) not in grid]
    tasks: list[Task] = []
    for stage in STAGES:
        if stage not in wanted:
            continue
        for entry in entries_for(stage, variants=suite.variants):
            if impls and entry.impl not in impls and entry.role != "floor":
                continue
            for dev in devices:
                if dev not in entry.devices:
                    continue
                spec = {**base, **entry.params, "stage": stage, "impl": entry.impl,
                        "target": entry.target, "device": dev}
                for n, d, k, paths, after in _sizes(stage, suite, work, dev, grid):
                    if (stage in _MATRIX_STAGES and (n, k) not in n_series
                            and entry.role == "peer"):
                        continue  # the vs-k points: ours and the floors only
                    full = {**spec, "n": n, "d": d, "k": k, "paths": paths}
                    tasks.append(Task(entry, dev, n, d, k, full, after))
    return tasks


def _sizes(stage: str, suite: suites.Suite, work: Path, dev: str, grid):
    if stage == "synth":
        for n in suite.data_n:
            yield n, 0, 0, {"out": str(work / f"synth-{n}")}, None
    elif stage == "features":
        for n in suite.data_n:
            yield n, 0, 0, {"events": str(work / f"synth-{n}" / "events")}, ("synth", n)
    elif stage == "nightly":
        for n in suite.nightly_n:
            paths = {"events": str(work / f"synth-{n}" / "events"),
                     "out": str(work / f"nightly-{n}-{dev}")}
            yield n, 0, suite.k0, paths, ("synth", n)
    elif stage == "bandwidth":
        yield suite.bandwidth_bytes // 8, 1, 0, {}, None
    else:
        for n, k in grid:
            paths = {"X": str(work / f"X-{n}-{suite.d}.npy"),
                     "C": str(work / f"C-{n}-{suite.d}-{k}.npy")}
            yield n, suite.d, k, paths, None


def prepare_data(tasks: list[Task], seed: int) -> None:
    """Write the shared fit/assign matrices and initial centers the tasks read."""
    for t in tasks:
        paths = t.spec.get("paths", {})
        if "X" in paths:
            X = suites.blob_matrix(Path(paths["X"]), t.n, t.d, seed)
            suites.initial_centers(Path(paths["C"]), X, t.k, seed)


def run_suite(suite: suites.Suite, *, device: str = "auto", stages=None, work_dir: Path,
              seed: int = 0, threads: int | None = None, impls=None,
              tracker: Tracker | None = None) -> dict[str, Any]:
    """Run ``suite`` and return the result document (not yet written anywhere).

    Parameters
    ----------
    suite : Suite
    device : {"auto", "cpu", "cuda"}
        ``cuda`` also measures every entry on the CPU, so GPU lines face the CPU peers.
    stages : list of str, optional
        Subset of ``synth, features, fit, assign, nightly``; default all.
    work_dir : Path
        Scratch space for the shared data and stage outputs.
    threads : int, optional
        Thread count for every implementation (``OMP_NUM_THREADS`` & co.); default: theirs.
    impls : list of str, optional
        Only these implementations (plus the floors); default all.
    """
    dev = resolve_device(device)
    selected = check_stages(stages)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    impls = tuple(i.strip() for s in (impls or ()) for i in s.split(",") if i.strip())
    tasks = plan(suite, dev, selected, work_dir, seed, impls)
    env = {v: str(threads) for v in _THREAD_VARS} if threads else {}
    records: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    done: set[tuple[str, int]] = set()
    floors: dict[tuple, tuple[dict[str, Any], int]] = {}  # same floor on same data: once
    with tracker_or_null(tracker).task("preparing data", total=None):
        prepare_data(tasks, seed)
    with tracker_or_null(tracker).task(f"bench {suite.name} ({dev})", total=len(tasks)) as bar:
        for t in tasks:
            bar.update(description=f"{t.entry.stage} {t.entry.impl} {t.device} n={t.n:,}")
            reason = unavailable_reason(t.entry)
            if reason is None and t.after is not None and t.after not in done:
                reason = f"no {t.after[0]} output for n={t.after[1]:,}"
            fkey = (t.entry.target, t.device, t.n, t.d, t.k)
            if reason is None and t.entry.role == "floor" and fkey in floors:
                records.append(_record(t, *floors[fkey]))
            elif reason is None:
                res = run_isolated(WORKER, t.spec, timeout=suite.timeout_s, env=env)
                if res.status == "ok" and res.payload.get("status") == "ok":
                    records.append(_record(t, res.payload, res.peak_rss_bytes))
                    done.add((t.entry.stage, t.n))
                    if t.entry.role == "floor":
                        floors[fkey] = (res.payload, res.peak_rss_bytes)
                else:
                    reason = _failure_note(res, suite.timeout_s)
            if reason is not None:
                log.info("skipped %s %s: %s", t.entry.stage, t.entry.impl, reason)
                skipped.append({"stage": t.entry.stage, "impl": t.entry.impl,
                                "device": t.device, "n": t.n, "k": t.k, "reason": reason})
            bar.advance(1)
    records = [r for r in records if r["stage"] in selected or r["stage"] in _DERIVED_STAGES]
    records += stream_floors(records)
    add_ratios(records, dev)
    records.sort(key=_order)
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": suite.name,
        "device": dev,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {"seed": seed, "threads": threads, "stages": list(selected),
                     "d": suite.d, "iters": suite.iters, "batch_size": suite.batch_size,
                     "fit_n": list(suite.fit_n), "ks": list(suite.ks), "k0": suite.k0,
                     "data_n": list(suite.data_n), "days": suite.days,
                     "impls": list(impls) or None,
                     "timeout_s": suite.timeout_s, "rounds": suite.rounds,
                     "repeats": suite.repeats, "cpu_count": os.cpu_count()},
        "machine": machine_info(),
        "records": records,
        "skipped": [s for s in skipped if s["stage"] in selected or s["stage"] in _DERIVED_STAGES],
        "scaling": scaling(records, suite),
    }


def _order(r: dict[str, Any]) -> tuple:
    """Display order: stage, then size, then ours, peers, floors."""
    return (STAGES.index(r["stage"]), r["n"], r["k"], ("ours", "peer", "floor").index(r["role"]),
            r["device"] != "cuda", r["impl"])


def _failure_note(res, timeout_s: float) -> str:
    if res.status == "timeout":
        return f"timed out after {timeout_s:.0f} s"
    note = res.payload.get("note") or res.stderr_tail.splitlines()[-1:] or ["crashed"]
    note = note if isinstance(note, str) else note[0]
    prefix = "not available: " if res.payload.get("status") == "unavailable" else "failed: "
    return prefix + note[:300]


def _record(t: Task, payload: dict[str, Any], peak_rss: int) -> dict[str, Any]:
    extra = dict(payload.get("extra", {}))
    seconds = float(payload["seconds"])
    rec: dict[str, Any] = {
        "stage": t.entry.stage, "impl": t.entry.impl, "device": t.device,
        "n": t.n, "d": t.d, "k": t.k, "seconds": seconds,
        "inertia": payload.get("inertia"), "peak_mem_bytes": int(peak_rss),
        "role": t.entry.role,
        "rss_before_bytes": int(payload.get("rss_before_bytes", 0)),
    }
    if "gpu_peak_mem_bytes" in payload:
        rec["gpu_peak_mem_bytes"] = int(payload["gpu_peak_mem_bytes"])
    if "seconds_per_pass" in extra:
        rec["seconds_per_pass"] = float(extra.pop("seconds_per_pass"))
    elif t.entry.stage in ("fit", "pass"):  # the GEMM floor is one pass
        rec["seconds_per_pass"] = seconds
    rec["rows_per_s"] = t.n / measure(rec) if measure(rec) > 0 else None
    rec["extra"] = extra
    return rec


def measure(rec: dict[str, Any]) -> float:
    """The time compared in ratios: per pass over the data for ``fit``, else seconds."""
    return float(rec.get("seconds_per_pass") or rec["seconds"])


def stream_floors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Derived floor lines: the time to read each fit/assign matrix once at measured bandwidth.

    Uses ``numpy-read`` (CPU) and ``torch-copy`` (GPU, bytes moved).  Marked ``derived``.
    """
    bw = {r["device"]: r["extra"]["gb_per_s"] for r in records
          if r["stage"] == "bandwidth" and r["impl"] in ("numpy-read", "torch-copy")}
    seen = set()
    out = []
    for r in records:
        key = (r["stage"], r["device"], r["n"], r["d"], r["k"])
        if r["stage"] not in _MATRIX_STAGES or r["device"] not in bw or key in seen:
            continue
        seen.add(key)
        nbytes = r["n"] * r["d"] * 4
        secs = nbytes / (bw[r["device"]] * 1e9)
        rec = {"stage": r["stage"], "impl": "stream-read", "device": r["device"], "n": r["n"],
               "d": r["d"], "k": r["k"], "seconds": secs, "inertia": None,
               "peak_mem_bytes": None, "role": "floor", "derived": True,
               "rows_per_s": r["n"] / secs, "extra": {"bytes": nbytes,
                                                     "gb_per_s": bw[r["device"]]}}
        if r["stage"] in ("fit", "pass"):
            rec["seconds_per_pass"] = secs
        out.append(rec)
    return out


def add_ratios(records: list[dict[str, Any]], device: str) -> None:
    """Set ``ratio``/``ratio_vs`` on every record (in place).

    Peer and floor lines: ours / this, where "ours" is ``archetype`` on the run's device
    (the CPU one for CPU-only stages).  Our lines: ours / the GEMM floor on the same
    device (fit, assign) or ours / the DuckDB peer (features).
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["stage"], r["n"], r["d"], r["k"])].append(r)
    for group in groups.values():
        ours = {r["device"]: r for r in group if r["impl"] == "archetype"}
        ref = ours.get(device) or ours.get("cpu")
        for r in group:
            r["ratio"], r["ratio_vs"] = None, None
            if r["role"] == "ours":
                vs = [g for g in group if g["impl"] in ("gemm", "duckdb")
                      and g["device"] == r["device"]] or [
                      g for g in group if g["impl"] == "duckdb"]
                if vs and measure(vs[0]) > 0:
                    r["ratio"], r["ratio_vs"] = measure(r) / measure(vs[0]), vs[0]["impl"]
            elif ref is not None and measure(r) > 0:
                r["ratio"] = measure(ref) / measure(r)
                r["ratio_vs"] = r["impl"]


def scaling(records: list[dict[str, Any]], suite: suites.Suite) -> list[dict[str, Any]]:
    """Log-log slopes of time vs n (at ``k0``) and vs k (at the largest n) per impl/device."""
    out = []
    series: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    n_max = max(suite.fit_n)
    for r in records:
        if r.get("derived") or r["stage"] == "bandwidth":
            continue
        key = (r["stage"], r["impl"], r["device"])
        if r["stage"] in _MATRIX_STAGES:
            if r["k"] == suite.k0:
                series[(*key, "n", suite.k0)].append((r["n"], measure(r)))
            if r["n"] == n_max:
                series[(*key, "k", n_max)].append((r["k"], measure(r)))
        else:
            series[(*key, "n", None)].append((r["n"], measure(r)))
    for (stage, impl, device, vs, fixed), pts in series.items():
        pts = sorted(set(pts))
        if len({x for x, _ in pts}) < 2:
            continue
        out.append({"stage": stage, "impl": impl, "device": device, "vs": vs,
                    "fixed": fixed, "points": [[x, y] for x, y in pts],
                    "slope": loglog_slope([x for x, _ in pts], [y for _, y in pts])})
    return out
