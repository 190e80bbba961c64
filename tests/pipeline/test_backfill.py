import datetime as dt

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.pipeline.history import backfill, backfill_assign, date_range
from archetype.pipeline.layout import PART, Layout
from archetype.pipeline.records import is_complete, read_record
from archetype.pipeline.registry import Registry

from .conftest import DATES, ToyEngine


def test_date_range():
    d = dt.date(2026, 1, 1)
    assert date_range(d, d + dt.timedelta(days=2)) == [d, d + dt.timedelta(1), d + dt.timedelta(2)]
    assert date_range(d, dt.date(2026, 1, 20), "week") == [
        d, dt.date(2026, 1, 8), dt.date(2026, 1, 15)]
    with pytest.raises(UserError, match="before --start"):
        date_range(d, dt.date(2025, 1, 1))
    with pytest.raises(UserError, match="--every='month'"):
        date_range(d, d, "month")


def test_backfill_runs_in_order_and_skips_complete(toy):
    cfg, engine, _ = toy
    res = backfill(cfg, DATES[0], DATES[2], engine=engine)
    assert res.ran == DATES and res.skipped == []
    reg = Registry(cfg.out)
    assert [reg.load(v).parent for v in reg.versions()] == [None, "2026-03-01", "2026-03-02"]
    res2 = backfill(cfg, DATES[0], DATES[2], engine=engine)
    assert res2.ran == [] and res2.skipped == DATES
    res3 = backfill(cfg, DATES[2], DATES[2], engine=engine, force=True)
    assert res3.ran == [DATES[2]]


def test_assign_only_uses_the_fixed_model(toy):
    cfg, engine, ev = toy
    backfill(cfg, DATES[0], DATES[2], engine=engine)
    lay = Layout(cfg.out)
    model = Registry(cfg.out).load("2026-03-01")
    res = backfill_assign(cfg, DATES[0], DATES[2], "2026-03-01", engine=ToyEngine())
    assert res.ran == DATES
    for d in DATES:
        a = pl.read_parquet(lay.assignments(d) / PART).sort("customer_id")
        # reference: nearest centroid of the fixed model on that date's embedding
        ids = pl.read_parquet(lay.features(d) / "ids.parquet")["customer_id"]
        emb = np.load(lay.features(d) / "embedding.npy").astype(np.float64)
        if d != DATES[0]:  # features of later dates were built with their own transform
            t = model.transform
            rows = ev.filter(pl.col("day") <= d).sort("day").group_by(
                "customer_id", maintain_order=True).last().sort("customer_id")
            x = rows.select([f"x{j}" for j in range(4)]).to_numpy()
            emb = (x - np.array(t["mean"])) / np.array(t["std"])
            ids = rows["customer_id"]
        d2 = ((emb[:, None, :] - model.centroids[None].astype(np.float64)) ** 2).sum(-1)
        want = pl.DataFrame({"customer_id": ids,
                             "segment_id": model.segment_id_array()[d2.argmin(1)]})
        assert a.select("customer_id", "segment_id").equals(want.sort("customer_id"))
        rec = read_record(lay, d)
        assert rec["mode"] == "assign-only" and rec["model_version"] == "2026-03-01"
        assert is_complete(lay, d, mode="assign-only")
    # transitions follow the re-assigned ids
    a1 = pl.read_parquet(lay.assignments(DATES[1]) / PART)
    assert a1["previous_segment_id"].to_list() == pl.read_parquet(
        lay.assignments(DATES[0]) / PART).join(a1.select("customer_id"), on="customer_id",
                                               how="right")["segment_id"].to_list()
    again = backfill_assign(cfg, DATES[0], DATES[2], "2026-03-01", engine=ToyEngine())
    assert again.skipped == DATES
    assert not list((cfg.out / "assignments").glob(".tmp-*"))
    with pytest.raises(UserError, match="no model version 'nope'"):
        backfill_assign(cfg, DATES[0], DATES[2], "nope", engine=ToyEngine())
