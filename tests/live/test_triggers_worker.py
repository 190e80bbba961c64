"""The automation off the ingest path: inbox records written in the service's commits, a
worker consuming them in its own transactions.

The worker's firings, exposures, centroid versions and centroids equal the inline path's
(everything in the service commits) exactly, whatever the worker's transaction sizes and
however often it is killed between or inside its transactions; records round-trip; the
buffered transaction reads like a real one.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from tests.live.test_triggers_replay import EXPERIMENTS
from tests.live.test_triggers_replay import RULES as BASE_RULES

from archetype.events.schema import OPTIONAL_COLUMNS
from archetype.live.automation import Automation, AutomationConfig, ModelInfo, read_versions
from archetype.live.experiments import read_exposures
from archetype.live.inbox import (
    NS_INBOX,
    InboxWriter,
    Record,
    record_from_applied,
)
from archetype.live.learning import OnlineCentroids
from archetype.live.listeners import Applied
from archetype.live.memkv import MemoryKV
from archetype.live.state import LiveEvent
from archetype.live.triggers import read_outbox
from archetype.live.worker import (
    AutomationWorker,
    BufferedTx,
    progress,
    stored_model_provider,
)
from archetype.synth import generate

H = 3_600_000_000
RULES = [
    *BASE_RULES[:2],
    {
        "name": "big",
        "kind": "repeat",
        "on": "purchase",
        "count": 2,
        "within": "7d",
        "per_category": False,
    },
    *BASE_RULES[2:],
    {"name": "to_2", "kind": "transition", "entered": 2, "segments": [2]},
    {"name": "from_1", "kind": "transition", "left": 1, "cooldown": "2d"},
]
K, DIM = 3, 4
CENTROIDS = np.random.default_rng(0).normal(size=(K, DIM))
INFO = ModelInfo("m1", (1, 2, 3), ("a", "b", "c"), CENTROIDS)


def config() -> AutomationConfig:
    return AutomationConfig.from_dict(
        {
            "triggers": {"lateness": "30m", "rule": RULES},
            "experiments": EXPERIMENTS,
            "learning": {"update_every": "6h", "max_move": None},
        }
    )


def learner(cfg: AutomationConfig) -> OnlineCentroids:
    return OnlineCentroids(CENTROIDS, [1, 2, 3], cfg.learning, model_version="m1")


@pytest.fixture(scope="module")
def commits(tmp_path_factory) -> list[tuple[list[Applied], int, bool]]:
    """Service-like commits: (applied customers, event time after it, muted)."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, customers=1000, days=60, seed=11)
    df = pl.read_parquet(str(out / "events" / "*" / "*.parquet"), hive_partitioning=False)
    df = df.with_columns(pl.col("ts").dt.cast_time_unit("us").cast(pl.Int64).alias("t")).sort(
        "t", "customer_id"
    )
    rows = df.select("customer_id", "t", *OPTIONAL_COLUMNS).rows()
    rng = np.random.default_rng(1)
    seg: dict[int, int] = {}
    out_commits = []
    wm = 0
    i = 0
    while i < len(rows):
        n = int(rng.integers(20, 300))
        part = [LiveEvent(*r) for r in rows[i : i + n]]
        i += n
        by: dict[int, list] = {}
        for e in part:
            by.setdefault(e.customer_id, []).append(e)
        wm = max(wm, max(e.ts_us for e in part))
        applied = []
        for cid, evs in by.items():
            old = seg.get(cid)
            new = old if rng.random() < 0.8 and old is not None else int(rng.integers(1, 4))
            seg[cid] = new
            vec = (CENTROIDS[new - 1] + rng.normal(scale=0.5, size=DIM)).astype(np.float32)
            applied.append(Applied(cid, tuple(evs), old, new, None, vec, "m1", 0, wm))
        if rng.random() < 0.1:  # a re-assign without events (day change)
            cid = int(rng.choice(list(seg)))
            applied.append(Applied(cid, (), seg[cid], seg[cid] % 3 + 1, None, None, "m1", 0, wm))
            seg[cid] = seg[cid] % 3 + 1
        out_commits.append((applied, wm, len(out_commits) < 3))
    return out_commits


def outputs(kv: MemoryKV) -> tuple:
    with kv.read() as r:
        auto = Automation(config(), learner=learner(config()))
        return (
            [f.encode() for f in read_outbox(r)],
            read_exposures(r),
            [v["version"] for v in read_versions(r)],
            auto.learner(r).centroids.round(12).tolist(),
        )


def run_inline(commits) -> MemoryKV:
    kv = MemoryKV()
    cfg = config()
    auto = Automation(cfg, learner=learner(cfg), model_provider=lambda tx, base: INFO)
    auto._names_base = "m1"
    for applied, wm, muted in commits:
        with kv.transaction() as tx:
            if muted:
                with auto.muted():
                    auto.on_applied(tx, applied)
                    auto.on_watermark(tx, wm)
            else:
                auto.on_applied(tx, applied)
                auto.on_watermark(tx, wm)
    return kv


class Crash(RuntimeError):
    pass


class FlakyKV(MemoryKV):
    """A store whose commits fail at chosen transaction numbers (a kill before commit)."""

    def __init__(self, fail_at: set[int]) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.n = 0

    def transaction(self):
        self.n += 1
        if self.n in self.fail_at:
            return _failing(super().transaction())
        return super().transaction()


class _failing:
    def __init__(self, cm) -> None:
        self.cm = cm

    def __enter__(self):
        return self.cm.__enter__()

    def __exit__(self, *exc):
        self.cm.__exit__(Crash, Crash("killed"), None)  # discards the writes
        raise Crash("killed before commit")


def worker(kv, max_records: int) -> AutomationWorker:
    """A fresh worker (a new process: nothing in memory)."""
    cfg = config()
    auto = Automation(cfg, learner=learner(cfg), model_provider=stored_model_provider(), defer=True)
    auto._names_base = "m1"
    return AutomationWorker(kv, auto, max_records=max_records)


def test_record_round_trip_and_expand(commits):
    applied, wm, _ = commits[5]
    rec = Record.decode(record_from_applied(applied, learning=True).encode())
    ex = rec.expand()
    want_events = [tuple(e) for a in applied for e in a.events]
    assert list(rec.events) == want_events
    t_of = {
        a.customer_id: max((e.ts_us for e in a.events), default=a.event_time_us) for a in applied
    }
    assert ex.now == wm and ex.model == "m1"
    assert ex.changes == [
        (a.customer_id, t_of[a.customer_id], a.old_segment, a.new_segment)
        for a in applied
        if a.old_segment != a.new_segment
    ]
    with_x = [a for a in applied if a.new_vector is not None]
    assert ex.learn_ids == [a.customer_id for a in with_x]
    assert ex.learn_ts == [t_of[a.customer_id] for a in with_x]
    assert np.array_equal(ex.learn_x, np.stack([a.new_vector for a in with_x]))
    assert ex.models == ["m1"] and set(ex.learn_models) == {0}


@pytest.mark.parametrize("max_records", [1, 7, 1000])
def test_worker_equals_inline_whatever_its_transactions(commits, max_records):
    want = outputs(run_inline(commits))
    assert len(want[0]) > 100 and want[1] and len(want[2]) > 5
    kv = MemoryKV()
    inbox = InboxWriter(learning=True, model_info=lambda base: INFO.encode())
    w = worker(kv, max_records)
    rng = np.random.default_rng(max_records)
    for applied, wm, muted in commits:
        inbox.muted = lambda m=muted: m
        with kv.transaction() as tx:  # the service's commit
            inbox.on_applied(tx, applied)
            inbox.on_watermark(tx, wm)
        if rng.random() < 0.3:
            w.run_once()  # the worker catches up now and then
    w.drain()
    with kv.read() as r:
        assert progress(r) == (2 * len(commits), 2 * len(commits))
        assert list(r.scan(NS_INBOX)) == []  # consumed records are removed
    assert outputs(kv) == want


@pytest.mark.parametrize("seed", [0, 1])
def test_worker_killed_anywhere_resumes_exactly_once(commits, seed):
    want = outputs(run_inline(commits))
    rng = np.random.default_rng(seed)
    n_tx = 2 * len(commits)
    kv = FlakyKV(set(rng.choice(np.arange(2, n_tx), size=n_tx // 6, replace=False).tolist()))
    inbox = InboxWriter(learning=True, model_info=lambda base: INFO.encode())
    w = worker(kv, 5)
    pending = list(commits)
    kills = {"service": 0, "worker": 0}
    while pending:
        applied, wm, muted = pending[0]
        inbox.muted = lambda m=muted: m
        try:
            with kv.transaction() as tx:
                inbox.on_applied(tx, applied)
                inbox.on_watermark(tx, wm)
            pending.pop(0)
        except Crash:
            kills["service"] += 1
            continue  # the service re-sends the batch
        if rng.random() < 0.5:
            try:
                w.run_once()
            except Crash:
                kills["worker"] += 1
                w = worker(kv, int(rng.integers(1, 9)))  # killed: a new worker process
    while True:
        try:
            w.drain()
            break
        except Crash:
            w = worker(kv, 3)
    got = outputs(kv)
    assert kills["service"] >= 2 and kills["worker"] >= 2
    assert len(set(got[0])) == len(got[0])
    assert got == want


def test_buffered_tx_reads_like_a_transaction():
    rng = np.random.default_rng(3)
    kv, ref = MemoryKV(), MemoryKV()
    for store in (kv, ref):
        with store.transaction() as tx:
            for i in range(0, 60, 2):
                tx.put("ns", f"k{i:03d}", f"v{i}".encode())
    with kv.read() as view, ref.transaction() as rtx:
        btx = BufferedTx(view)
        for step in range(400):
            k = f"k{int(rng.integers(0, 70)):03d}"
            op = rng.random()
            if op < 0.35:
                v = f"w{step}".encode()
                btx.put("ns", k, v)
                rtx.put("ns", k, v)
            elif op < 0.55:
                assert btx.delete("ns", k) == rtx.delete("ns", k)
            elif op < 0.75:
                assert btx.get("ns", k) == rtx.get("ns", k)
                keys = [f"k{int(j):03d}" for j in rng.integers(0, 70, 5)]
                assert btx.get_many("ns", keys) == rtx.get_many("ns", keys)
            else:
                lo, hi = sorted(f"k{int(j):03d}" for j in rng.integers(0, 70, 2))
                lim = None if rng.random() < 0.5 else int(rng.integers(1, 10))
                assert list(btx.scan("ns", start=lo, stop=hi, limit=lim)) == list(
                    rtx.scan("ns", start=lo, stop=hi, limit=lim)
                )
                assert list(btx.scan("ns", prefix="k01")) == list(rtx.scan("ns", prefix="k01"))
    with kv.transaction() as tx:
        btx.apply(tx)
    assert kv.namespace("ns") == ref.namespace("ns")
