"""kill -9 the real `archetype serve` process at random moments during ingest (a followed
folder and an HTTP client at once), restart it, finish: the state equals an uninterrupted
run -- no acknowledged event lost, none applied twice.  And a model swap under concurrent
reads never gives a mixed answer."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import replace

import httpx
import numpy as np
import polars as pl
import pytest

from archetype.live.follow import Follower
from archetype.live.records import CustomerRecord
from archetype.live.segmenter import LiveSegmenter
from archetype.live.store.lmdb_store import LmdbStore
from archetype.serve.testing import first_line_url, spawn_serve

pytestmark = pytest.mark.slow

N_HTTP_BATCHES = 24


def _http_batches(log: pl.DataFrame) -> list[list[dict]]:
    """Extra events with event ids (retries are recognized by them)."""
    ids = log["customer_id"].unique().sort().to_list()[:120]
    rng = np.random.default_rng(5)
    out = []
    for b in range(N_HTTP_BATCHES):
        out.append(
            [
                {
                    "customer_id": int(ids[int(rng.integers(len(ids)))]),
                    "ts": f"2026-12-31 {10 + b % 12:02d}:{i:02d}:{int(rng.integers(60)):02d}",
                    "event_type": ["view", "add_to_cart", "purchase", "session_start"][i % 4],
                    "amount": round(float(rng.uniform(5, 80)), 2) if i % 4 == 2 else None,
                    "channel": "web",
                    "category": "books",
                    "event_id": f"h{b}-{i}",
                }
                for i in range(15)
            ]
        )
    return out


class Service:
    """`archetype serve` as a subprocess whose port is read from its first line."""

    def __init__(self, root, state, follow) -> None:
        self.root = root
        self.args = ("--state-dir", str(state), "--follow", str(follow))
        self.args += ("--chunk-rows", "60", "--poll", "0.05")
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None

    def start(self) -> None:
        self.proc = spawn_serve(self.root, *self.args)
        self.url = first_line_url(self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("serve did not answer /healthz")

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.url = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Client(threading.Thread):
    """Posts the batches in order; a batch is done only when acknowledged (200); on a
    dead server it waits for the next one and sends the same batch again."""

    def __init__(self, svc: Service, batches: list) -> None:
        super().__init__(daemon=True)
        self.svc, self.batches = svc, batches
        self.acked = 0
        self.retries = 0
        self.stop = False

    def run(self) -> None:
        while self.acked < len(self.batches) and not self.stop:
            url = self.svc.url
            if url is None:
                time.sleep(0.05)
                continue
            try:
                r = httpx.post(f"{url}/v1/events", json=self.batches[self.acked], timeout=30)
            except httpx.HTTPError:
                self.retries += 1
                time.sleep(0.05)
                continue
            assert r.status_code == 200, r.text
            self.acked += 1
            time.sleep(0.08)


def _dump(state_dir) -> tuple[dict, int]:
    st = LmdbStore(state_dir)
    try:
        with st.read() as r:
            out = {}
            for k, v in r.scan("st"):
                rec = CustomerRecord.decode(v)
                out[k] = (sorted(rec.event_keys.tolist()), rec.state)
            from archetype.live.meta import load_meta

            meta = load_meta(r)
            # every distinct event once: applied, or too old to change a feature (which
            # of the two depends on the arrival order, the state does not)
            return out, meta.applied + meta.too_old
    finally:
        st.close()


def _write_files(log: pl.DataFrame, folder, n_files: int = 40) -> None:
    folder.mkdir()
    n = log.height
    for i in range(n_files):
        log.slice(i * n // n_files, (i + 1) * n // n_files - i * n // n_files).write_parquet(
            folder / f"part-{i:03d}.parquet"
        )


def test_kill9_during_ingest_then_restart_equals_uninterrupted(root_now, tmp_path):
    ev, root, log = root_now
    folder = tmp_path / "in"
    _write_files(log, folder)
    batches = _http_batches(log)

    # the uninterrupted reference, in process
    with LiveSegmenter.open(root, state_dir=tmp_path / "ref", background=False) as ref:
        Follower(ref, folder, chunk_rows=60).scan_once()
        for b in batches:
            ref.ingest(b)
        ids = log["customer_id"].unique().sort().to_list()
        ref_answers = {i: ref.get(i).segment_id for i in ids}
    ref_dump, ref_applied = _dump(tmp_path / "ref")

    svc = Service(root, tmp_path / "st", folder)
    rng = np.random.default_rng(13)
    svc.start()
    client = Client(svc, batches)
    client.start()
    kills = 0
    try:
        for _ in range(4):
            time.sleep(float(rng.uniform(0.2, 1.5)))
            svc.kill9()
            kills += 1
            svc.start()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            h = httpx.get(f"{svc.url}/healthz", timeout=10).json()
            if client.acked == len(batches) and h["follow"]["files_pending"] == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"ingest did not finish: {h}, acked {client.acked}")
        got_answers = {
            i: httpx.get(f"{svc.url}/v1/customers/{i}", timeout=10).json()["segment_id"]
            for i in ids
        }
    finally:
        client.stop = True
        svc.stop()
    assert kills == 4
    dump, applied = _dump(tmp_path / "st")
    assert applied == ref_applied  # nothing lost, nothing counted twice
    assert dump.keys() == ref_dump.keys()
    diff = [k for k in dump if dump[k] != ref_dump[k]]
    assert diff == []
    assert got_answers == ref_answers


def test_model_swap_under_concurrent_reads_never_mixes(root_now, tmp_path):
    """Readers hammer get/batch_get while the model is swapped back and forth: every
    answer is wholly from one model (its version, segment ids and names agree)."""
    ev, root, log = root_now
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        seg.ingest(log)
        a = seg.model
        # model B: same space, segments renumbered and renamed -- any mix is detectable
        ma = a.model
        perm = list(reversed(range(ma.k)))
        mb = replace(
            ma,
            centroids=ma.centroids[perm],
            segment_ids=[100 + i for i in perm],
            segment_names=[f"B{i}" for i in perm],
            version="B",
        )
        b = replace(a, model=mb, version="B")
        ids = log["customer_id"].unique().sort().to_list()[:200]
        truth = {}
        for m in (a, b):
            seg.swap_model(m)
            truth[m.version] = {
                i: (x.segment_id, x.segment_name)
                for i, x in zip(ids, seg.batch_get(ids), strict=True)
            }
        assert {s for s, _ in truth["B"].values()} - {None} == set(range(100, 100 + ma.k))
        bad: list = []
        stop = threading.Event()

        def reader(k: int) -> None:
            r = np.random.default_rng(k)
            while not stop.is_set():
                chunk = [ids[j] for j in r.choice(len(ids), 20)]
                for x in seg.batch_get(chunk):
                    if (x.segment_id, x.segment_name) != truth[x.model_version][x.customer_id]:
                        bad.append(x)
                one = seg.get(chunk[0])
                if (one.segment_id, one.segment_name) != truth[one.model_version][chunk[0]]:
                    bad.append(one)

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for i in range(200):
            seg.swap_model(a if i % 2 else b)
            time.sleep(0.001)
        stop.set()
        for t in threads:
            t.join()
        assert bad == []
