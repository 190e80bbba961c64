"""The Python API end to end: live answers equal `archetype features` + `assign` at the same
as-of, through ingest in shuffled batches with duplicates, restarts, pseudonymization."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from archetype.cluster.assign import assign
from archetype.errors import DataError, UserError
from archetype.features import compute_feature_dir
from archetype.live.answers import CustomerNotFound
from archetype.live.segmenter import LiveSegmenter
from archetype.pipeline.layout import PART, Layout
from archetype.pipeline.privacy import pseudonym
from archetype.pipeline.registry import Registry

from .conftest import END, KEY_ENV, batches, shuffled_with_duplicates


def live_frames(seg: LiveSegmenter, ids: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(features, assignments) of ``ids`` through the public API."""
    rows, segs = [], []
    for cid in ids:
        f = seg.features(cid)
        assert f.in_window
        rows.append({"customer_id": cid, **f.features})
    for s in range(0, len(ids), 1000):
        segs.extend(seg.batch_get(ids[s : s + 1000]))
    a = pl.DataFrame(
        {
            "customer_id": [x.customer_id for x in segs],
            "segment_id": [x.segment_id for x in segs],
            "distance": [x.distance for x in segs],
        }
    )
    return pl.DataFrame(rows), a


def assert_features_equal(batch: pl.DataFrame, live: pl.DataFrame) -> None:
    assert batch["customer_id"].to_list() == live["customer_id"].to_list()
    bad = {}
    for n in batch.columns[1:]:
        x, y = batch[n].to_numpy(), live[n].to_numpy()
        k = int((~np.isclose(x, y, rtol=1e-9, atol=1e-12)).sum())
        if k:
            bad[n] = k
    assert bad == {}, f"features differing (customers per feature): {bad}"


def test_live_equals_nightly_batch_at_the_models_day(root_now, tmp_path):
    ev, root, log = root_now
    feats = pl.read_parquet(Layout(root).features(END) / "features.parquet")
    nightly = pl.read_parquet(Layout(root).assignments(END) / PART)
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        sent = shuffled_with_duplicates(log, seed=1)
        total = dup = old = 0
        for b in batches(sent, 700):
            r = seg.ingest(b)
            assert r.accepted + r.duplicates + r.too_old == b.height
            total, dup, old = total + r.accepted, dup + r.duplicates, old + r.too_old
        # exact duplicate rows collapse, as in batch; every re-sent event is a duplicate
        # or too old to change a feature
        assert total <= log.unique().height
        assert dup + old >= sent.height - log.unique().height
        assert seg.meta.watermark_day == (END - dt.date(1970, 1, 1)).days
        ids = feats["customer_id"].to_list()
        live_f, live_a = live_frames(seg, ids)
    assert_features_equal(feats, live_f)
    j = nightly.join(live_a, on="customer_id", suffix="_live")
    assert j.height == nightly.height
    assert (j["segment_id"] == j["segment_id_live"]).all()
    assert np.allclose(j["distance"], j["distance_live"], rtol=1e-4, atol=1e-5)


def test_live_equals_batch_features_plus_assign_after_the_models_day(root_earlier, tmp_path):
    """Model of 12-20, events to 12-31: live at 12-31 == features(as-of 12-31, the model's
    transform) + assign(model), i.e. `archetype features` + `archetype assign`."""
    ev, root, log = root_earlier
    model = Registry(root).load(Registry(root).current())
    fs = compute_feature_dir(ev, END, tmp_path / "feat", window_days=21, transform=model.transform)
    a = assign(np.asarray(fs.embedding), model.centroids, metric=model.metric)
    ref = pl.DataFrame({"customer_id": fs.ids, "segment_id": model.segment_id_array()[a.labels]})
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        assert seg.model.version == "2026-12-20"
        for b in batches(shuffled_with_duplicates(log, seed=2), 1500):
            seg.ingest(b)
        ids = fs.ids.to_list()
        live_f, live_a = live_frames(seg, ids)
        # also at an explicit as-of (the default is the watermark's day, 12-31 here)
        one = seg.get(ids[0], as_of="2026-12-31")
        assert one.segment_id == live_a["segment_id"][0]
        # a customer whose window is empty at as-of: known, not segmented
        assert all(x.found for x in seg.batch_get(ids[:5]))
    assert_features_equal(fs.features, live_f)
    assert (ref["segment_id"] == live_a["segment_id"]).all()


def test_restart_keeps_everything_and_reingest_is_idempotent(root_now, tmp_path):
    ev, root, log = root_now
    half = log.height // 2
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        seg.ingest(log.slice(0, half))
        before = seg.meta
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        assert seg.meta.seq == before.seq and seg.meta.applied == before.applied
        r = seg.ingest(log.slice(0, half))  # a retry of everything already acknowledged
        assert r.accepted == 0 and r.duplicates == half
        seg.ingest(log.slice(half))
        ids = log["customer_id"].unique().sort().to_list()[:50]
        after = [seg.features(i).features for i in ids]
    with LiveSegmenter.open(root, state_dir=tmp_path / "ref", background=False) as ref:
        ref.ingest(log)
        assert [ref.features(i).features for i in ids] == after


def test_pseudonymized_ids_match_the_nightly_run(root_private, tmp_path):
    ev, root, log = root_private
    key = b"test-secret-key"
    feats = pl.read_parquet(Layout(root).features(END) / "features.parquet")
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        assert seg.model.pseudonymize_key == key and seg.model.window_days is None
        for b in batches(log.sample(fraction=1.0, shuffle=True, seed=4), 2000):
            seg.ingest(b)
        raw = int(log["customer_id"][0])
        by_raw = seg.get(raw)
        by_str = seg.get(str(raw))
        by_pseudo = seg.get(pseudonym(key, raw), pseudonymized=True)
        assert by_raw.customer_id == pseudonym(key, raw) == by_pseudo.customer_id
        assert by_raw == by_str == by_pseudo
        # the stored ids are pseudonyms only: no raw id in the store
        with seg.store.read() as r:
            keys = [k for k, _ in r.scan("st")]
        assert all(k[1:].decode() in set(feats["customer_id"]) for k in keys)
        pseudos = feats["customer_id"].to_list()
        live_f = pl.DataFrame(
            [{"customer_id": p, **seg.features(p, pseudonymized=True).features} for p in pseudos]
        )
    assert_features_equal(feats, live_f)


def test_pseudonymized_root_needs_its_key(root_private, tmp_path, monkeypatch):
    ev, root, log = root_private
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(UserError, match=KEY_ENV):
        LiveSegmenter.open(root, state_dir=tmp_path / "st")


def test_bad_record_refuses_the_whole_batch(root_now, tmp_path):
    ev, root, log = root_now
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        good = {"customer_id": 1, "ts": "2026-12-30 10:00:00", "event_type": "view"}
        bad = {"customer_id": 2, "ts": "2026-12-32 10:00:00", "event_type": "view"}
        with pytest.raises(DataError, match=r"item 1.*ts.*2026-12-32|ts.*item 1"):
            seg.ingest([good, bad])
        assert seg.meta.seq == 0
        with pytest.raises(CustomerNotFound):
            seg.get(1)
        with pytest.raises(DataError, match="amount.*not a finite number"):
            seg.ingest([{**good, "event_type": "purchase", "amount": "12,50"}])
        with pytest.raises(DataError, match="not an integer"):
            seg.ingest([{**good, "customer_id": "abc"}])
        with pytest.raises(DataError, match="line 2"):
            seg.ingest_json(b'{"customer_id": 1, "ts": "2026-12-30"}\n{oops\n', ndjson=True)
        r = seg.ingest([good, {**good, "event_type": "teleport"}, {**good, "customer_id": None}])
        assert (r.accepted, r.ignored, r.report["unknown_event_values"]) == (1, 2, ["teleport"])
        assert seg.get(1).found


def test_transitions_stream_and_listener_hook(root_now, tmp_path):
    ev, root, log = root_now
    calls = []

    class Recorder:
        def on_applied(self, tx, applied):
            tx.put("rec", b"n", str(len(applied)).encode())
            calls.append(("applied", len(applied), applied[0].model_version))
            return [a.customer_id for a in applied if a.moved]

        def on_watermark(self, tx, us):
            calls.append(("wm", us))

        def deliver(self, outputs):
            calls.append(("deliver", len(outputs)))

    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        seg.add_listener(Recorder())
        sub = seg.transitions()
        r = seg.ingest(log.slice(0, 2000))
        got = sub.get(timeout=5)
        assert len(got) == r.moved > 0
        assert [t.seq for t in got] == list(range(1, r.moved + 1))
        assert all(t.cause == "event" and t.from_segment is None for t in got)
        assert seg.store.get("rec", b"n") == str(r.customers).encode()
        # resume from a seq: the kept moves after it, then live ones
        again = seg.transitions(after=got[2].seq)
        assert [t.seq for t in again.get(timeout=1)] == [t.seq for t in got[3:]]
        sub.close()
        again.close()
    kinds = [c[0] for c in calls]
    assert kinds[:2] == ["applied", "wm"]
    assert "deliver" in kinds


def test_reassign_when_the_day_moves_and_model_swap(root_now, tmp_path):
    ev, root, log = root_now
    early = log.filter(pl.col("ts") < dt.datetime(2026, 12, 25))
    late = log.filter(pl.col("ts") >= dt.datetime(2026, 12, 25))
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        seg.ingest(early)
        seg.ingest(late.slice(0, 10))  # the day moves on for everyone
        stale = seg.pending_reassign()
        assert stale > 0
        ids = early["customer_id"].unique().sort().to_list()[:100]
        live = [seg.get(i) for i in ids]  # computed lazily, not written
        assert seg.pending_reassign() == stale
        n = seg.reassign_now()
        assert n == stale and seg.pending_reassign() == 0
        assert [seg.get(i).segment_id for i in ids] == [a.segment_id for a in live]
        assert all(seg.get(i).computed == "stored" for i in ids)
        # a new model version (same space, renamed): swapped whole, re-assigned with it
        m = seg.model
        from dataclasses import replace

        seg.swap_model(replace(m, version="next"))
        assert seg.get(ids[0]).model_version == "next"
        assert seg.pending_reassign() == seg.meta.customers
        seg.reassign_now()
        assert seg.pending_reassign() == 0


def test_counts_and_health(root_now, tmp_path):
    ev, root, log = root_now
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        seg.ingest(log.slice(0, 500))
        h = seg.health()
        assert (
            h["events_applied"]
            == seg.meta.applied
            == 500 - (500 - log.slice(0, 500).unique().height)
        )
        assert h["store"]["kind"] == "lmdb" and h["commits"] == 1
        text = seg.metrics.render().decode()
        assert 'archetype_ingest_events_total{outcome="applied"}' in text
        assert 'archetype_model_info{version="2026-12-31"} 1.0' in text
        json.dumps(h)


def test_nightly_promotion_is_swapped_in(root_earlier, tmp_path):
    """The nightly run promotes a new model under the running service: it is swapped in
    (watcher on models/CURRENT), answers carry its version, stale ones are re-assigned."""
    import shutil
    import time

    from archetype.pipeline import RunConfig, run_date

    ev, root0, log = root_earlier
    root = tmp_path / "root"
    shutil.copytree(root0, root)
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", watch_s=0.1) as seg:
        seg.ingest(log)
        cid = log["customer_id"][0]
        assert seg.get(cid).model_version == "2026-12-20"
        cfg = RunConfig.load(
            None,
            {
                "events": str(ev),
                "out": str(root),
                "k": 5,
                "window_days": 21,
                "report": False,
                "backend": "numba",
                "max_iter": 20,
            },
        )
        run_date(cfg, END)
        deadline = time.monotonic() + 30
        while seg.model.version != "2026-12-31" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seg.model.version == "2026-12-31"
        assert seg.get(cid).model_version == "2026-12-31"
        deadline = time.monotonic() + 60
        while seg.pending_reassign() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seg.pending_reassign() == 0  # the background re-assign caught up
        nightly = pl.read_parquet(Layout(root).assignments(END) / PART)
        got = {a.customer_id: a.segment_id for a in seg.batch_get(nightly["customer_id"].to_list())}
        assert got == dict(zip(nightly["customer_id"], nightly["segment_id"], strict=True))


def test_redis_backend_gives_the_same_answers(root_now, tmp_path, redis_url):
    ev, root, log = root_now
    sample = log.sample(2500, seed=3)
    ids = sample["customer_id"].unique().sort().to_list()[:80]
    out = {}
    for name, spec in (("lmdb", "lmdb"), ("redis", f"{redis_url}?prefix=seg-test:")):
        with LiveSegmenter.open(root, spec, state_dir=tmp_path / "st", background=False) as seg:
            for b in batches(sample, 600):
                seg.ingest(b)
            seg.ingest(sample.head(50))  # a retry: all duplicates on both backends
            out[name] = (
                [seg.features(i).features for i in ids],
                [a.segment_id for a in seg.batch_get(ids)],
                seg.meta.applied,
            )
    assert out["lmdb"] == out["redis"]


def test_shards_split_customers_between_replicas(root_now, tmp_path):
    from archetype.live.segmenter import WrongShard

    ev, root, log = root_now
    sample = log.head(3000)
    seen = {}
    for i in range(3):
        with LiveSegmenter.open(
            root, state_dir=tmp_path / f"s{i}", background=False, shard=(i, 3)
        ) as seg:
            r = seg.ingest(sample)
            assert r.accepted + r.duplicates + r.too_old + r.other_shard == sample.height
            mine = [c for c in sample["customer_id"].unique().to_list() if _owns(seg, c)]
            seen[i] = set(mine)
            assert seg.meta.customers == len(mine)
            other = next(c for c in sample["customer_id"].to_list() if c not in seen[i])
            with pytest.raises(WrongShard, match="belongs to shard"):
                seg.get(other)
    assert set().union(*seen.values()) == set(sample["customer_id"].to_list())
    assert sum(len(s) for s in seen.values()) == sample["customer_id"].n_unique()


def _owns(seg, cid) -> bool:
    from archetype.live.records import customer_key, shard_of

    return shard_of(customer_key(cid), seg.shard[1]) == seg.shard[0]


def test_deferred_bulk_ingest_gives_the_same_answers(root_now, tmp_path):
    """Bootstrap mode stores states without per-batch re-assignment: lookups compute the
    answer meanwhile, and one background pass stores the same assignments."""
    ev, root, log = root_now
    ids = log["customer_id"].unique().sort().to_list()
    with LiveSegmenter.open(root, state_dir=tmp_path / "a", background=False) as seg:
        for b in batches(log, 1000):
            seg.ingest(b)
        ref = [(a.segment_id, a.previous_segment_id) for a in seg.batch_get(ids)]
    with LiveSegmenter.open(root, state_dir=tmp_path / "b", background=False) as seg:
        for b in batches(log, 1000):
            r = seg.ingest(b, defer_assign=True)
            assert r.moved == 0
        before = seg.batch_get(ids)
        assert all(a.computed == "live" for a in before if a.in_window)
        assert [a.segment_id for a in before] == [s for s, _ in ref]
        assert seg.pending_reassign() == len(ids)
        assert seg.reassign_now() == len(ids)
        after = seg.batch_get(ids)
        assert [a.segment_id for a in after] == [s for s, _ in ref]
        assert all(a.computed == "stored" for a in after)
        assert seg.recent_transitions()[0].cause == "event"  # moves of the bulk events


def test_transitions_log_is_bounded(root_now, tmp_path, monkeypatch):
    import archetype.live.apply as apply_mod

    monkeypatch.setattr(apply_mod, "PRUNE_EVERY", 100)
    ev, root, log = root_now
    with LiveSegmenter.open(
        root, state_dir=tmp_path / "st", background=False, keep_transitions=50
    ) as seg:
        for b in batches(log, 500):
            seg.ingest(b)
        n = seg.meta.transitions
        assert n > 300
        kept = seg.recent_transitions(after=0, limit=10**6)
        assert len(kept) < 50 + 100  # pruned each time the count passes a multiple of 100
        assert kept[-1].seq == n and [t.seq for t in kept] == list(range(kept[0].seq, n + 1))
