import dataclasses
import hashlib
import hmac

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.pipeline.erasure import forget, read_ids
from archetype.pipeline.layout import MIGRATION, PART, Layout
from archetype.pipeline.records import is_complete, read_record
from archetype.pipeline.run import run_date

from .conftest import DATES, ToyEngine

KEY = "s3cret-key-for-tests"


def _hmac(v) -> str:
    return hmac.new(KEY.encode(), str(v).encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def private(toy, monkeypatch):
    cfg, engine, ev = toy
    monkeypatch.setenv("TEST_ID_KEY", KEY)
    return dataclasses.replace(cfg, pseudonymize=True, key_env="TEST_ID_KEY"), engine, ev


@pytest.mark.parametrize("direct", [False, True])
def test_pseudonymized_ids_everywhere_and_key_never_stored(private, direct):
    cfg, _, ev = private
    engine = ToyEngine(supports_id_map=direct)
    for d in DATES[:2]:
        run_date(cfg, d, engine=engine)
    lay = Layout(cfg.out)
    raw = sorted(ev["customer_id"].unique().to_list())
    want = sorted(_hmac(v) for v in raw)
    for path in (lay.assignments(DATES[1]) / PART, lay.features(DATES[1]) / "ids.parquet",
                 lay.features(DATES[1]) / "features.parquet"):
        assert sorted(pl.read_parquet(path)["customer_id"].to_list()) == want
    # transitions still work across nights: same key -> same pseudonym
    a = pl.read_parquet(lay.assignments(DATES[1]) / PART)
    assert a["previous_segment_id"].null_count() == 0
    # embedding rows stay aligned with the pseudonymized ids (same order as raw ids)
    ids = pl.read_parquet(lay.features(DATES[1]) / "ids.parquet")["customer_id"].to_list()
    assert ids == [_hmac(v) for v in raw]
    for f in cfg.out.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            assert KEY.encode() not in blob, f
    assert read_record(lay, DATES[1])["config"]["key_env"] == "TEST_ID_KEY"


def test_missing_key_is_a_user_error_and_writes_nothing(private, monkeypatch):
    cfg, engine, _ = private
    monkeypatch.delenv("TEST_ID_KEY")
    with pytest.raises(UserError, match="TEST_ID_KEY"):
        run_date(cfg, DATES[0], engine=engine)
    assert not cfg.out.exists()


def _snapshot(lay, d):
    ids = pl.read_parquet(lay.features(d) / "ids.parquet")["customer_id"]
    emb = np.load(lay.features(d) / "embedding.npy")
    return dict(zip(ids.to_list(), emb, strict=True))


@pytest.mark.parametrize("pseudo", [False, True])
def test_forget_removes_customers_everywhere(toy, private, tmp_path, pseudo):
    cfg, engine, _ = private if pseudo else toy
    for d in DATES:
        run_date(cfg, d, engine=engine)
    lay = Layout(cfg.out)
    before = {d: pl.read_parquet(lay.assignments(d) / PART) for d in DATES}
    emb_before = _snapshot(lay, DATES[2])
    # forget three customers, including one that moved (appears in transitions)
    moved = pl.read_parquet(lay.transitions(DATES[1]) / PART)["customer_id"][0]
    raw_moved = next(v for v in range(1, 401) if (_hmac(v) if pseudo else v) == moved)
    gone_raw = [1, 2, raw_moved]
    ids_file = tmp_path / "gone.txt"
    ids_file.write_text("customer_id\n" + "\n".join(map(str, gone_raw)) + "\n")
    gone = {(_hmac(v) if pseudo else v) for v in gone_raw}
    n_tr = {d: pl.read_parquet(lay.transitions(d) / PART)["customer_id"].is_in(list(gone)).sum()
            for d in DATES}

    rep = forget(cfg.out, ids_file, key=KEY.encode() if pseudo else None)
    n_gone = len(gone)
    for d in DATES:
        iso = d.isoformat()
        assert rep.removed[f"features/date={iso}"] == n_gone
        assert rep.removed[f"assignments/date={iso}"] == n_gone
        assert rep.removed[f"transitions/date={iso}"] == n_tr[d]
        a = pl.read_parquet(lay.assignments(d) / PART)
        assert not a["customer_id"].is_in(list(gone)).any()
        assert a.height == before[d].height - n_gone
        assert a.equals(before[d].filter(~pl.col("customer_id").is_in(list(gone))))
        f = pl.read_parquet(lay.features(d) / "features.parquet")
        assert not f["customer_id"].is_in(list(gone)).any()
        mig = pl.read_parquet(lay.transitions(d) / MIGRATION)
        assert mig["customers"].filter(mig["to_segment_id"].is_not_null()).sum() == a.height
        assert is_complete(lay, d)  # record counts updated
        assert read_record(lay, d)["forgotten"] == n_gone
    emb_after = _snapshot(lay, DATES[2])
    assert set(emb_after) == set(emb_before) - gone
    for cid, row in emb_after.items():
        np.testing.assert_array_equal(row, emb_before[cid])
    assert rep.removed[f"transitions/date={DATES[1].isoformat()}"] >= 1
    # forgetting again is a no-op
    assert forget(cfg.out, ids_file, key=KEY.encode() if pseudo else None).total == 0


def test_read_ids_formats_and_errors(tmp_path):
    (tmp_path / "a.csv").write_text("customer_id,x\n5,a\n6,b\n")
    assert read_ids(tmp_path / "a.csv") == ["5", "6"]
    pl.DataFrame({"customer_id": [7, 8]}).write_parquet(tmp_path / "a.parquet")
    assert read_ids(tmp_path / "a.parquet") == ["7", "8"]
    (tmp_path / "b.csv").write_text("user\n5\n")
    with pytest.raises(UserError, match="customer_id"):
        read_ids(tmp_path / "b.csv")
    with pytest.raises(UserError, match="ids file not found"):
        read_ids(tmp_path / "nope.txt")


def test_forget_non_numeric_id_for_int_ids_is_user_error(toy, tmp_path):
    cfg, engine, _ = toy
    run_date(cfg, DATES[0], engine=engine)
    (tmp_path / "x.txt").write_text("abc\n")
    with pytest.raises(UserError, match="'abc' is not a Int64 customer id"):
        forget(cfg.out, tmp_path / "x.txt")


def test_switching_pseudonymization_on_does_not_join_old_ids(toy, private):
    cfg_raw, engine, _ = toy
    cfg_ps, _, _ = private
    run_date(cfg_raw, DATES[0], engine=engine)
    rec = run_date(cfg_ps, DATES[1], engine=engine)
    assert rec["status"] == "complete" and "customer_id type changed" in rec["previous_ignored"]
    assert rec["config_changed"] is True
    a = pl.read_parquet(Layout(cfg_ps.out).assignments(DATES[1]) / PART)
    assert a["previous_segment_id"].null_count() == a.height


@pytest.mark.parametrize("direct", [False, True])
def test_assign_only_keeps_pseudonyms(private, direct):
    from archetype.pipeline.history import backfill_assign

    cfg, _, _ = private
    for d in DATES[:2]:
        run_date(cfg, d, engine=ToyEngine())
    lay = Layout(cfg.out)
    before = pl.read_parquet(lay.assignments(DATES[1]) / PART)["customer_id"].sort()
    # DATES[1]'s features were built with another transform: recomputed with id mapping
    backfill_assign(cfg, DATES[0], DATES[1], "2026-03-01", engine=ToyEngine(direct))
    after = pl.read_parquet(lay.assignments(DATES[1]) / PART)
    assert after["customer_id"].sort().equals(before)
    assert after["previous_segment_id"].null_count() == 0
