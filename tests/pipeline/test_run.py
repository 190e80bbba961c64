import dataclasses
import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.pipeline.layout import MIGRATION, PART, Layout
from archetype.pipeline.records import is_complete, read_record
from archetype.pipeline.registry import Registry
from archetype.pipeline.run import run_date

from .conftest import CENTERS, DATES, ToyEngine, make_events


def _assign(cfg, d):
    return pl.read_parquet(Layout(cfg.out).assignments(d) / PART)


def _truth(ev, d):
    """Planted center of each customer on day d (nearest planted center to its row)."""
    rows = ev.filter(pl.col("day") == d).sort("customer_id")
    x = rows.select([f"x{j}" for j in range(4)]).to_numpy()
    lab = ((x[:, None, :] - CENTERS[None]) ** 2).sum(-1).argmin(1)
    return pl.DataFrame({"customer_id": rows["customer_id"], "truth": lab})


def test_three_dates_chain_stable_ids_and_transitions(toy):
    cfg, engine, ev = toy
    for d in DATES:
        rec = run_date(cfg, d, engine=engine)
        assert rec["status"] == "complete" and is_complete(Layout(cfg.out), d, mode="run")
        assert rec["exit_code"] == 0
    reg = Registry(cfg.out)
    assert reg.versions() == [d.isoformat() for d in DATES]
    assert [reg.load(v).parent for v in reg.versions()] == [None, "2026-03-01", "2026-03-02"]
    assert reg.current() == "2026-03-03"
    # warm starts and transform reuse after the first date
    assert [c for c in engine.calls if c[0] == "fit"] == [("fit", 4, False), ("fit", 4, True),
                                                          ("fit", 4, True)]
    # stable ids: the planted center -> segment id map is one bijection across all dates
    maps = []
    for d in DATES:
        j = _assign(cfg, d).join(_truth(ev, d), on="customer_id")
        m = j.group_by("truth").agg(pl.col("segment_id").mode().first()).sort("truth")
        agree = j.join(m, on="truth", suffix="_m").filter(
            pl.col("segment_id") == pl.col("segment_id_m")).height / j.height
        assert agree > 0.99
        maps.append(m["segment_id"].to_list())
    assert maps[0] == maps[1] == maps[2] and sorted(maps[0]) == [0, 1, 2, 3]
    # transitions = customers whose id changed, recomputed independently by a join
    for prev_d, d in zip(DATES, DATES[1:], strict=False):
        a, b = _assign(cfg, prev_d), _assign(cfg, d)
        assert b["previous_segment_id"].to_list() == a.join(
            b.select("customer_id"), on="customer_id", how="right")["segment_id"].to_list()
        want = (a.join(b, on="customer_id", suffix="_b")
                .filter(pl.col("segment_id") != pl.col("segment_id_b"))
                .select("customer_id", from_segment_id="segment_id",
                        to_segment_id="segment_id_b").sort("customer_id"))
        got = pl.read_parquet(Layout(cfg.out).transitions(d) / PART).sort("customer_id")
        assert got.equals(want) and got.height > 0
        mig = pl.read_parquet(Layout(cfg.out).transitions(d) / MIGRATION)
        assert mig["customers"].sum() == b.height
        diag = mig.filter(pl.col("from_segment_id") == pl.col("to_segment_id"))["customers"].sum()
        assert diag == b.height - got.height
        rec = read_record(Layout(cfg.out), d)
        assert rec["counts"]["transitions"] == got.height
        assert rec["metrics"]["share_moved"] == pytest.approx(got.height / b.height)
    m = reg.load("2026-03-03")
    assert m.metrics["inertia"] == pytest.approx(float(_assign(cfg, DATES[2])["distance"].sum()),
                                                 rel=1e-5)
    assert sum(m.metrics["sizes"].values()) == 400
    assert set(read_record(Layout(cfg.out), DATES[2])["stages"]) >= {"features", "fit", "assign"}


@pytest.mark.parametrize("refit", [False, True])
def test_unchanged_data_keeps_ids(tmp_path, rng, refit):
    ev_path = tmp_path / "ev.parquet"
    make_events(ev_path, rng, dates=[dt.date(2026, 3, 1)], noise=1.5, n=600)
    from archetype.pipeline.config import RunConfig

    cfg = RunConfig.load(None, {"events": str(ev_path), "out": str(tmp_path / "r"), "k": 4,
                                "report": False})
    engine = ToyEngine()
    run_date(cfg, dt.date(2026, 3, 1), engine=engine)
    cfg2 = dataclasses.replace(cfg, refit=refit, seed=7 if refit else 0)
    run_date(cfg2, dt.date(2026, 3, 2), engine=engine)
    a, b = _assign(cfg, dt.date(2026, 3, 1)), _assign(cfg, dt.date(2026, 3, 2))
    same = (a["segment_id"] == b["segment_id"]).mean()
    assert same >= 0.995
    assert engine.calls[-1] == ("fit", 4, not refit)


def test_rerun_is_idempotent(toy):
    cfg, engine, _ = toy
    for d in DATES[:2]:
        run_date(cfg, d, engine=engine)
    lay = Layout(cfg.out)
    before = (_assign(cfg, DATES[1]), pl.read_parquet(lay.transitions(DATES[1]) / PART),
              np.load(lay.models / "2026-03-02" / "centroids.npy"))
    run_date(cfg, DATES[1], engine=engine)
    after = (_assign(cfg, DATES[1]), pl.read_parquet(lay.transitions(DATES[1]) / PART),
             np.load(lay.models / "2026-03-02" / "centroids.npy"))
    assert before[0].equals(after[0]) and before[1].equals(after[1])
    np.testing.assert_array_equal(before[2], after[2])
    assert after[0]["customer_id"].is_unique().all()
    assert sorted(p.name for p in (lay.root / "assignments").iterdir()) == [
        "date=2026-03-01", "date=2026-03-02"]
    assert len(Registry(cfg.out).versions()) == 2


def test_new_segments_get_fresh_ids_and_retired_ids_are_never_reused(toy):
    cfg, engine, _ = toy
    ks = [3, 4, 3, 4]
    days = [DATES[0], DATES[1], DATES[2], DATES[2] + dt.timedelta(days=1)]
    seen_retired: set[int] = set()
    for k, d in zip(ks, days, strict=True):
        run_date(dataclasses.replace(cfg, k=k), d, engine=engine)
        m = Registry(cfg.out).load(d.isoformat())
        assert not set(m.segment_ids) & seen_retired
        seen_retired |= set(m.retired_ids)
    models = [Registry(cfg.out).load(d.isoformat()) for d in days]
    assert models[0].segment_ids == [0, 1, 2]
    assert sorted(models[1].segment_ids) == [0, 1, 2, 3] and models[1].next_segment_id == 4
    assert len(models[2].retired_ids) == 1
    assert max(models[3].segment_ids) == 4 and models[3].next_segment_id == 5


class _Boom(ToyEngine):
    def fit(self, *a, **kw):
        raise RuntimeError("device lost")


def test_runtime_failure_leaves_a_record(toy):
    cfg, _, _ = toy
    with pytest.raises(RuntimeError, match="device lost"):
        run_date(cfg, DATES[0], engine=_Boom())
    rec = json.loads(Layout(cfg.out).run_record(DATES[0]).read_text())
    assert rec["status"] == "failed" and rec["error_kind"] == "runtime" and rec["exit_code"] == 1
    assert "device lost" in rec["error"]
    assert not is_complete(Layout(cfg.out), DATES[0])
    assert Registry(cfg.out).versions() == []


def test_user_error_before_anything_is_written(toy, tmp_path):
    cfg, engine, _ = toy
    bad = dataclasses.replace(cfg, events=tmp_path / "missing.parquet")
    with pytest.raises(UserError, match="events path not found"):
        run_date(bad, DATES[0], engine=engine)
    assert not cfg.out.exists()


def test_report_written_when_enabled(toy):
    cfg, engine, _ = toy
    cfg = dataclasses.replace(cfg, report=True)
    for d in DATES[:2]:
        rec = run_date(cfg, d, engine=engine)
    path = Layout(cfg.out).report(DATES[1])
    assert rec["report"] == str(path) and "report_error" not in rec
    html = path.read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "2026-03-02" in html
