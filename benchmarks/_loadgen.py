"""A lean HTTP/1.1 load generator for bench_serve.py, run in its own process.

Raw asyncio streams over keep-alive connections (uvloop when installed): a request is a
few bytes written and one response parsed by Content-Length, so on a 2-core machine the
client costs far less CPU than the server it measures.  Bounded: a fixed number of
requests and a time cap, loopback only.

    python benchmarks/_loadgen.py SPEC.json      # writes its results to SPEC's "result" path

SPEC: {"host", "port", "mode": "get"|"post"|"visible", "paths": [...], "bodies": [...],
       "concurrency", "requests", "seconds", "headers": {...}, "result": PATH}
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time


def _req(
    method: str,
    path: str,
    host: str,
    body: bytes = b"",
    ctype: str = "",
    headers: dict | None = None,
) -> bytes:
    h = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if body:
        h.append(f"Content-Length: {len(body)}")
        h.append(f"Content-Type: {ctype}")
    for k, v in (headers or {}).items():
        h.append(f"{k}: {v}")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    n = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            n = int(line[15:])
            break
    body = await reader.readexactly(n) if n else b""
    return status, body


async def _worker(spec, reqs, lat, errors, deadline, counter):
    reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
    try:
        while counter[0] < spec["requests"] and time.perf_counter() < deadline:
            counter[0] += 1
            payload = random.choice(reqs)
            t0 = time.perf_counter()
            writer.write(payload)
            status, _ = await _read_response(reader)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def run_load(spec: dict) -> dict:
    host = spec["host"]
    hdr = spec.get("headers") or {}
    if spec["mode"] == "get":
        reqs = [_req("GET", p, host, headers=hdr) for p in spec["paths"]]
    else:
        reqs = [
            _req("POST", spec["path"], host, b.encode(), spec.get("ctype", "application/json"), hdr)
            for b in spec["bodies"]
        ]
    lat: list[float] = []
    errors: list[int] = []
    counter = [0]
    t0 = time.perf_counter()
    deadline = t0 + spec["seconds"]
    await asyncio.gather(
        *(_worker(spec, reqs, lat, errors, deadline, counter) for _ in range(spec["concurrency"]))
    )
    wall = time.perf_counter() - t0
    return {"latencies": lat, "errors": len(errors), "wall": wall}


async def run_visible(spec: dict) -> dict:
    """Probe event-to-visible under a background ingest stream: POST one event of a new
    customer, then GET it until it answers 200; time from the POST to that answer."""
    host, port = spec["host"], spec["port"]
    stop = False

    async def background():
        reader, writer = await asyncio.open_connection(host, port)
        i = 0
        while not stop:
            body = spec["bodies"][i % len(spec["bodies"])].encode()
            i += 1
            writer.write(_req("POST", "/v1/events", host, body, "application/x-ndjson"))
            await _read_response(reader)
        writer.close()

    bg = [asyncio.create_task(background()) for _ in range(spec.get("background", 1))]
    await asyncio.sleep(0.5)
    reader, writer = await asyncio.open_connection(host, port)
    out = []
    for i in range(spec["probes"]):
        cid = spec["first_id"] + i
        ev = json.dumps(
            {"customer_id": cid, "ts": spec["ts"], "event_type": "view", "event_id": f"probe-{cid}"}
        ).encode()
        t0 = time.perf_counter()
        writer.write(_req("POST", "/v1/events", host, ev, "application/x-ndjson"))
        status, _ = await _read_response(reader)
        assert status == 200, status
        while True:
            writer.write(_req("GET", f"/v1/customers/{cid}", host))
            status, _ = await _read_response(reader)
            if status == 200:
                break
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(spec.get("gap", 0.02))
    stop = True
    await asyncio.gather(*bg, return_exceptions=True)
    writer.close()
    return {"latencies": out, "errors": 0, "wall": 0.0}


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    random.seed(spec.get("seed", 0))
    fn = run_visible if spec["mode"] == "visible" else run_load
    try:
        import uvloop

        res = uvloop.run(fn(spec))
    except ImportError:
        res = asyncio.run(fn(spec))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    res["client_cpu_s"] = ru.ru_utime + ru.ru_stime
    # to a file, not stdout: the result holds every latency (hundreds of KB), and the
    # event loop may leave stdout non-blocking, which cut large prints at 128 KiB under load
    with open(spec["result"], "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    main()
