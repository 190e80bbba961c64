"""Crash (SIGKILL mid-run), lock and resume tests: run in real subprocesses."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from archetype._atomic import DirLock
from archetype.errors import LockedError
from archetype.pipeline.history import backfill
from archetype.pipeline.layout import MIGRATION, PART, Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.records import is_complete, read_record
from archetype.pipeline.run import run_date
from archetype.pipeline.stages import CRASH_ENV

from .conftest import DATES, ToyEngine

CONFTEST = Path(__file__).with_name("conftest.py")
SCRIPT = """
import datetime as dt, importlib.util, sys
spec = importlib.util.spec_from_file_location("toyconf", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
from archetype.pipeline.config import RunConfig
cfg = RunConfig.load(None, {"events": sys.argv[2], "out": sys.argv[3], "k": 4,
                            "report": False})
dates = [dt.date.fromisoformat(d) for d in sys.argv[4].split(",")]
if len(dates) == 1:
    from archetype.pipeline.run import run_date
    run_date(cfg, dates[0], engine=mod.ToyEngine())
else:
    from archetype.pipeline.history import backfill
    backfill(cfg, dates[0], dates[-1], engine=mod.ToyEngine())
"""


def _spawn(cfg, dates, env=None):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(CONFTEST), str(cfg.events), str(cfg.out),
         ",".join(d.isoformat() for d in dates)],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def assert_no_partial_output(root: Path) -> None:
    """Every visible partition/model is whole (hidden .tmp-* siblings are allowed)."""
    lay = Layout(root)
    for d in lay.partition_dates("features"):
        names = {p.name for p in lay.features(d).iterdir()}
        assert {"features.parquet", "ids.parquet", "embedding.npy", "transform.json"} <= names
        assert pl.read_parquet(lay.features(d) / "ids.parquet").height > 0
    for d in lay.partition_dates("assignments"):
        assert pl.read_parquet(lay.assignments(d) / PART).height > 0
    for d in lay.partition_dates("transitions"):
        pl.read_parquet(lay.transitions(d) / PART)
        pl.read_parquet(lay.transitions(d) / MIGRATION)
    if lay.models.is_dir():
        for p in lay.models.iterdir():
            if p.is_dir() and not p.name.startswith(".tmp-"):
                SegmentModel.load(p)


@pytest.fixture
def baseline(toy, tmp_path_factory):
    """Assignments of DATES[1] from an uninterrupted run (separate root)."""
    import dataclasses

    cfg, engine, _ = toy
    ref = dataclasses.replace(cfg, out=tmp_path_factory.mktemp("ref") / "root")
    for d in DATES[:2]:
        run_date(ref, d, engine=ToyEngine())
    return pl.read_parquet(Layout(ref.out).assignments(DATES[1]) / PART)


@pytest.mark.parametrize("stage", ["features", "assign", "write_assignments", "registry"])
def test_sigkill_after_stage_then_rerun_completes(toy, baseline, stage):
    cfg, engine, _ = toy
    run_date(cfg, DATES[0], engine=engine)
    p = _spawn(cfg, [DATES[1]], {CRASH_ENV: stage})
    p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL
    lay = Layout(cfg.out)
    assert not is_complete(lay, DATES[1])
    assert read_record(lay, DATES[1])["status"] == "running"
    assert_no_partial_output(cfg.out)
    # the lock died with the process: the re-run gets it at once and completes
    run_date(cfg, DATES[1], engine=engine)
    assert is_complete(lay, DATES[1])
    assert pl.read_parquet(lay.assignments(DATES[1]) / PART).equals(baseline)
    assert not [p for p in cfg.out.rglob(".tmp-*")]


@pytest.mark.slow
def test_sigkill_at_random_times(toy, baseline):
    cfg, engine, _ = toy
    run_date(cfg, DATES[0], engine=engine)
    rnd = random.Random(7)
    for _ in range(4):
        p = _spawn(cfg, [DATES[1]])
        time.sleep(rnd.uniform(0.5, 2.5))
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=120)
        assert_no_partial_output(cfg.out)
    run_date(cfg, DATES[1], engine=engine)
    assert pl.read_parquet(Layout(cfg.out).assignments(DATES[1]) / PART).equals(baseline)


def test_second_concurrent_run_fails_at_once(toy):
    cfg, engine, _ = toy
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from archetype._atomic import DirLock\n"
         "with DirLock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)",
         str(cfg.out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        # non-blocking flock: raises instead of waiting for the holder (which sleeps 60 s)
        with pytest.raises(LockedError, match="another archetype process holds the lock"):
            run_date(cfg, DATES[0], engine=engine)
        assert not (cfg.out / "runs").exists() and not (cfg.out / "features").exists()
    finally:
        holder.kill()
        holder.wait()
    run_date(cfg, DATES[0], engine=engine)  # lock released by the kernel


class _FailOn(ToyEngine):
    def __init__(self, day):
        super().__init__()
        self.day = day

    def features(self, events_path, as_of, out_dir, **kw):
        if as_of == self.day:
            raise RuntimeError("disk full")
        return super().features(events_path, as_of, out_dir, **kw)


def test_interrupted_backfill_resumes(toy):
    cfg, _, _ = toy
    with pytest.raises(RuntimeError, match="disk full"):
        backfill(cfg, DATES[0], DATES[2], engine=_FailOn(DATES[1]))
    lay = Layout(cfg.out)
    assert [is_complete(lay, d) for d in DATES] == [True, False, False]
    assert read_record(lay, DATES[1])["status"] == "failed"
    engine = ToyEngine()
    res = backfill(cfg, DATES[0], DATES[2], engine=engine)
    assert res.skipped == [DATES[0]] and res.ran == DATES[1:]
    assert all(is_complete(lay, d) for d in DATES)
    # each date warm-started from the one before
    assert [c[2] for c in engine.calls if c[0] == "fit"] == [True, True]


def test_sigkilled_backfill_resumes(toy):
    cfg, _, _ = toy
    p = _spawn(cfg, DATES, {CRASH_ENV: "registry"})  # dies in the first date, model written
    p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL
    lay = Layout(cfg.out)
    assert not is_complete(lay, DATES[0])
    res = backfill(cfg, DATES[0], DATES[2], engine=ToyEngine())
    assert res.ran == DATES and all(is_complete(lay, d) for d in DATES)
    assert len(DirLock(cfg.out).path.read_text()) > 0
