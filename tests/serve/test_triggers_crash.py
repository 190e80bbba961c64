"""kill -9 `archetype serve --config` while it ingests a followed folder, restart, finish:
the outbox holds exactly the firings of an uninterrupted run (same idempotency keys, none
lost, none twice), and the experiment exposures are the same."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import numpy as np
import pytest

from archetype.live.automation import load_config
from archetype.live.experiments import read_exposures
from archetype.live.follow import Follower
from archetype.live.hooks import attach
from archetype.live.segmenter import LiveSegmenter
from archetype.live.store.lmdb_store import LmdbStore
from archetype.live.triggers import read_outbox
from archetype.serve.testing import first_line_url, spawn_serve

pytestmark = pytest.mark.slow

CONFIG = """
[triggers]
lateness = "30m"

[[triggers.rule]]
name = "cart"
kind = "absence"
on = "add_to_cart"
absent = "purchase"
within = "1h"
cooldown = "1d"
experiment = "reminder"

[[triggers.rule]]
name = "twice"
kind = "repeat"
on = "view"
count = 2
calendar_day = true

[experiments.reminder]
holdout = 0.2
variants = { a = 1, b = 1 }
allocation = "thompson"

[learning]
update_every = "6h"
"""


def _start(root, state, folder, config):
    args = ("--state-dir", str(state), "--follow", str(folder), "--config", str(config))
    proc = spawn_serve(root, *args, "--chunk-rows", "80", "--poll", "0.05")
    return proc, first_line_url(proc)


def _outbox(state):
    st = LmdbStore(state)
    try:
        with st.read() as r:
            return (
                [(f.key, f.rule, f.customer_id, f.ts_us, f.variant) for f in read_outbox(r)],
                [(e["key"], e["variant"], e["status"]) for e in read_exposures(r)],
            )
    finally:
        st.close()


def test_kill9_resumes_without_losing_or_duplicating_a_firing(root_now, tmp_path):
    _, root, log = root_now
    log = log.sort("ts")  # in time order: nothing arrives later than the lateness bound
    folder = tmp_path / "in"
    folder.mkdir()
    n_files = 30
    for i in range(n_files):
        lo, hi = i * log.height // n_files, (i + 1) * log.height // n_files
        log.slice(lo, hi - lo).write_parquet(folder / f"part-{i:03d}.parquet")
    config = tmp_path / "live.toml"
    config.write_text(CONFIG)

    with LiveSegmenter.open(root, state_dir=tmp_path / "ref", background=False) as ref:
        auto = attach(ref, load_config(config), deliver=False)
        Follower(ref, folder, chunk_rows=80).scan_once()
        want_events = ref.meta.applied
        auto.close()
    want = _outbox(tmp_path / "ref")
    assert len(want[0]) > 50 and want[1]

    rng = np.random.default_rng(3)
    state = tmp_path / "st"
    proc, url = _start(root, state, folder, config)
    try:
        for _ in range(3):
            time.sleep(float(rng.uniform(0.3, 1.5)))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            proc, url = _start(root, state, folder, config)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:  # "serving model" is printed just before the server accepts connections
                if httpx.get(f"{url}/healthz", timeout=10).json()["events_applied"] >= want_events:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    got = _outbox(state)
    assert len({k for k, *_ in got[0]}) == len(got[0])  # no firing twice
    assert got == want  # none lost, same keys, same variants, same conversions
