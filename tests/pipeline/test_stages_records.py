import datetime as dt
import time

import numpy as np
import polars as pl

from archetype.pipeline.layout import PART, Layout
from archetype.pipeline.records import is_complete, new_record, read_record, write_record
from archetype.pipeline.run import run_date
from archetype.pipeline.stages import StageClock

from .conftest import DATES


def test_stage_clock_times_and_peak_memory():
    clock = StageClock(interval=0.005).start()
    with clock.stage("alloc"):
        a = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        time.sleep(0.05)
        del a
    with clock.stage("idle"):
        time.sleep(0.02)
    clock.stop()
    s = clock.stages
    assert s["alloc"]["peak_rss_mb"] - s["alloc"]["rss_start_mb"] >= 150
    assert s["idle"]["peak_rss_mb"] < s["alloc"]["peak_rss_mb"]
    assert s["idle"]["seconds"] >= 0.02 and s["alloc"]["seconds"] >= 0.05
    assert clock.total()["peak_rss_mb"] == s["alloc"]["peak_rss_mb"]


def test_partition_dates_ignore_temp_dirs(tmp_path):
    lay = Layout(tmp_path)
    for name in ("date=2026-01-02", "date=2026-01-01", ".tmp-date=2026-01-03.1.ab", "junk"):
        (tmp_path / "assignments" / name).mkdir(parents=True)
    assert lay.partition_dates("assignments") == [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    assert lay.partition_dates("features") == []


def test_is_complete_checks_outputs_not_just_status(toy):
    cfg, engine, _ = toy
    run_date(cfg, DATES[0], engine=engine)
    lay = Layout(cfg.out)
    assert is_complete(lay, DATES[0], mode="run")
    assert not is_complete(lay, DATES[0], mode="assign-only")
    part = lay.assignments(DATES[0]) / PART
    df = pl.read_parquet(part)
    df.head(10).write_parquet(part)  # a truncated output is not complete
    assert not is_complete(lay, DATES[0])
    df.write_parquet(part)
    assert is_complete(lay, DATES[0])
    rec = read_record(lay, DATES[0])
    write_record(lay, DATES[0], {**rec, "status": "running"})
    assert not is_complete(lay, DATES[0])
    assert new_record(DATES[1], "run")["status"] == "running"
    assert not is_complete(lay, DATES[1])
