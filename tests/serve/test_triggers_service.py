"""Triggers, experiments and online centroids inside the live service (LiveSegmenter).

The service's firings equal a library replay of the same events, in every automation
mode (inline in the commits, a worker thread, a worker process); they commit with the
state (outbox, exposures); webhooks are delivered after commit (from the worker process
too, to a real HTTP receiver); segment transitions fire transition rules; the online
centroids are served as versions ``<model>+<n>``.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
from tests.live.test_triggers_replay import RULES as REPLAY_RULES

from archetype.live.automation import Automation, AutomationConfig, read_versions
from archetype.live.backfill import replay
from archetype.live.experiments import read_exposures
from archetype.live.hooks import attach
from archetype.live.ingest import prepare
from archetype.live.segmenter import LiveSegmenter
from archetype.live.triggers import TriggerEngine, read_outbox

RULES = [
    {
        "name": "cart",
        "kind": "absence",
        "on": "add_to_cart",
        "absent": "purchase",
        "within": "1h",
        "cooldown": "1d",
        "experiment": "reminder",
    },
    *(r for r in REPLAY_RULES if r["name"] in ("twice", "open_no_click")),
]
EXPERIMENTS = {"reminder": {"holdout": 0.2, "variants": {"a": 1, "b": 1}, "allocation": "thompson"}}


def config(rules=RULES, learning=None, webhook="http://hooks.test/in"):
    d = {
        "triggers": {"lateness": "30m", "webhook": webhook, "rule": rules},
        "experiments": EXPERIMENTS,
    }
    if learning is not None:
        d["learning"] = learning
    return AutomationConfig.from_dict(d)


class Receiver:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, req: httpx.Request) -> httpx.Response:
        with self.lock:
            self.keys.append(req.headers["Idempotency-Key"])
        return httpx.Response(200)


class HttpReceiver:
    """A real webhook receiver on 127.0.0.1 (a worker process cannot use a mock client)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        keys, lock = self.keys, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    keys.append(self.headers["Idempotency-Key"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/in"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ingest(seg, log, size=3000):
    for s in range(0, log.height, size):
        seg.ingest(log.slice(s, size))


@pytest.mark.parametrize("mode", ["inline", "thread", "process"])
def test_service_firings_equal_the_replay_and_are_delivered(root_now, tmp_path, mode):
    _, root, log = root_now
    log = log.sort("ts")
    if mode == "process":  # webhooks from the worker process: a real receiver
        rx = HttpReceiver()
        cfg, kw = config(webhook=rx.url), {}
    else:
        rx = Receiver()
        cfg = config()
        kw = {"client": httpx.Client(transport=httpx.MockTransport(rx))}
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False, watch_s=None) as seg:
        auto = attach(seg, cfg, mode=mode, retry_poll_s=0.02, **kw)
        try:
            ingest(seg, log)
            assert auto.sync(timeout=120)
            with seg.store.read() as r:
                live = read_outbox(r)
                live_exp = read_exposures(r)
                done_until = TriggerEngine.watermark(r)
            owed = {f.key for f in live if f.status == "pending"}
            deadline = time.monotonic() + 60
            while set(rx.keys) != owed and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            auto.close()
            if mode == "process":
                rx.close()
        m = seg.model
    assert len(live) > 100 and {f.status for f in live} == {"pending", "holdout"}
    assert set(rx.keys) == owed and len(rx.keys) == len(owed)  # each delivered once here
    with (
        LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False, watch_s=None) as seg,
        seg.store.read() as r,
    ):
        assert list(r.scan("trg.pending")) == []  # nothing owed any more
    # the library replay of the very events the service applied
    batch = prepare(
        log,
        events_config=m.events_config,
        id_dtype=m.id_dtype,
        pseudonymize_key=None,
        source="test",
    )
    events = [e for g in batch.groups.values() for _, _, e in g]
    rep = replay(events, Automation(cfg, replay=True), flush_until=done_until)
    want = sorted((f.key, f.rule, f.ts_us, f.variant) for f in rep.firings)
    got = sorted((f.key, f.rule, f.ts_us, f.variant) for f in live)
    assert want == got  # same decisions up to the service's trigger watermark
    assert [(e["key"], e["variant"]) for e in live_exp] == [
        (e["key"], e["variant"]) for e in rep.exposures
    ]


def test_transition_rules_follow_the_service_moves(root_earlier, tmp_path):
    _, root, log = root_earlier
    log = log.sort("ts")
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False, watch_s=None) as seg:
        ids = [int(i) for i in seg.model.segment_ids]
        rules = [{"name": f"in_{s}", "kind": "transition", "entered": s} for s in ids]
        auto = attach(seg, config(rules=rules), deliver=False, mode="inline")
        ingest(seg, log, size=500)
        moves = seg.recent_transitions(limit=100_000)
        with seg.store.transaction() as tx:  # decide up to the last event (test only)
            auto.automation.on_watermark(tx, seg.meta.watermark_us, flush=True)
        with seg.store.read() as r:
            firings = read_outbox(r)
        auto.close()
    assert firings
    moved = {(t.customer_id, t.to_segment) for t in moves if t.from_segment is not None}
    for f in firings:
        assert (f.customer_id, f.segment_id) in moved
        assert f.rule == f"in_{f.segment_id}" and f.detail["to"] == f.segment_id
    # every move between two segments fired its rule (no cooldown configured)
    assert len(firings) == sum(1 for t in moves if None not in (t.from_segment, t.to_segment))


@pytest.mark.parametrize("mode", ["inline", "process"])
def test_online_centroids_are_served_as_versions(root_earlier, tmp_path, mode):
    _, root, log = root_earlier
    log = log.sort("ts")
    cfg = config(rules=RULES[:1], learning={"update_every": "6h", "hysteresis": 0.1})
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False, watch_s=None) as seg:
        base = seg.model.version
        auto = attach(seg, cfg, deliver=False, mode=mode)
        ingest(seg, log, size=1000)
        assert auto.sync(timeout=120)
        deadline = time.monotonic() + 30
        with seg.store.read() as r:
            versions = read_versions(r)
            L = auto.automation.learner(r)
        while seg.model.version != L.version and time.monotonic() < deadline:
            time.sleep(0.05)  # the swap happens after commit, in the delivery thread
        served = seg.model
        auto.close()
    assert versions and served.version == versions[-1]["version"] == f"{base}+{len(versions)}"
    assert served.hysteresis == 0.1 and served.base_version == base
    assert np.allclose(served.model.centroids, L.centroids, atol=1e-6)
    assert list(served.model.segment_ids) == list(L.ids)  # ids never change online
    # a restart serves the stored centroids again
    with LiveSegmenter.open(
        root, state_dir=tmp_path / "st", background=False, watch_s=None
    ) as seg2:
        auto2 = attach(seg2, cfg, deliver=False, mode=mode)
        assert seg2.model.version == served.version
        auto2.close()


def test_live_model_hysteresis_matches_numpy(root_now):
    import dataclasses

    from archetype.live.model import load_live_model

    _, root, _ = root_now
    m = dataclasses.replace(load_live_model(root), hysteresis=0.3)
    C = m.model.centroids.astype(np.float64)
    ids = np.asarray(m.segment_ids)
    rng = np.random.default_rng(0)
    # points between random pairs of centroids, each "currently" in a random segment
    a, b = rng.integers(len(C), size=(2, 500))
    t = rng.uniform(0, 1, (500, 1))
    emb = (C[a] * t + C[b] * (1 - t)).astype(np.float32)
    cur = ids[b].copy()  # currently at the far end of the pair
    cur[:20] = -1  # no segment yet: nearest
    got, dist, _ = m.nearest(emb, cur)
    d2 = ((emb[:, None, :].astype(np.float64) - C[None]) ** 2).sum(-1)
    best = d2.argmin(1)
    row = {int(s): i for i, s in enumerate(ids)}
    want = ids[best].copy()
    for i, c in enumerate(cur):
        if c >= 0 and d2[i, best[i]] > 0.7 * d2[i, row[int(c)]]:
            want[i] = c
    assert np.array_equal(got, want)
    assert (got != ids[best]).sum() > 10  # the hysteresis did hold some customers
    assert np.allclose(dist, d2[np.arange(500), [row[int(g)] for g in got]], rtol=1e-4)
    plain, _, _ = dataclasses.replace(m, hysteresis=0.0).nearest(emb, cur)
    assert np.array_equal(plain, ids[best])  # off by default: the batch's nearest centroid


def test_redis_backend_gives_the_same_firings(root_now, tmp_path, redis_url):
    """LMDB and Redis, inline and with the worker process (which opens the store itself)."""
    _, root, log = root_now
    log = log.sort("ts").head(12_000)
    cfg = config(learning={"update_every": "6h"}, webhook=None)
    out = {}
    runs = (
        ("lmdb", "lmdb", "inline"),
        ("lmdb", "lmdb", "process"),
        ("redis", f"{redis_url}?prefix=trg-test:", "process"),
        ("redis", f"{redis_url}?prefix=trg-test2:", "inline"),
    )
    for name, spec, mode in runs:
        with LiveSegmenter.open(
            root, spec, state_dir=tmp_path / f"st-{mode}", background=False, watch_s=None
        ) as seg:
            auto = attach(seg, cfg, deliver=False, mode=mode)
            ingest(seg, log, size=1500)
            assert auto.sync(timeout=120)
            with seg.store.read() as r:
                out[(name, mode)] = (
                    [(f.key, f.ts_us, f.variant, f.status) for f in read_outbox(r)],
                    [(e["key"], e["status"]) for e in read_exposures(r)],
                    [v["version"] for v in read_versions(r)],
                )
            auto.close()
    first = out[("lmdb", "inline")]
    assert first[0] and all(got == first for got in out.values())
