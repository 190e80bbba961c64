"""End to end on synthetic data with the real engine (events → features → k-means), via the CLI."""

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from archetype.pipeline.layout import PART, Layout
from archetype.pipeline.records import is_complete
from archetype.pipeline.registry import Registry

from .test_reliability import assert_no_partial_output

pytestmark = pytest.mark.slow
DAYS = ["2026-12-29", "2026-12-30", "2026-12-31"]


@pytest.fixture(scope="module")
def synth_events(tmp_path_factory):
    synth = pytest.importorskip("archetype.synth")
    out = tmp_path_factory.mktemp("synth")
    synth.generate(out, customers=2000, days=45, seed=11)
    return out / "events"


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "archetype", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


def _run(events, root, day, *extra, env=None):
    return _cli("run", "--events", str(events), "--out", str(root), "--k", "9", "--date", day,
                "--backend", "numba", "--no-report", "-q", *extra, env=env)


def test_three_nights_then_rerun_and_crash(synth_events, tmp_path):
    root = tmp_path / "root"
    for day in DAYS:
        r = _run(synth_events, root, day)
        assert r.returncode == 0, r.stderr
    reg = Registry(root)
    assert reg.versions() == DAYS and reg.current() == DAYS[-1]
    assert [reg.load(v).parent for v in DAYS] == [None, DAYS[0], DAYS[1]]
    lay = Layout(root)
    a = {d: pl.read_parquet(root / "assignments" / f"date={d}" / PART) for d in DAYS}
    # stable ids: most customers keep their id night to night, and ids are the same set
    for d0, d1 in zip(DAYS, DAYS[1:], strict=False):
        j = a[d0].join(a[d1], on="customer_id", suffix="_1")
        assert (j["segment_id"] == j["segment_id_1"]).mean() > 0.9
        tr = pl.read_parquet(root / "transitions" / f"date={d1}" / PART)
        assert tr.height == (j["segment_id"] != j["segment_id_1"]).sum()
    # id rules: a segment judged new gets an id never used before; retired ids never return
    models = [reg.load(v) for v in DAYS]
    for old, new in zip(models, models[1:], strict=False):
        born = set(new.segment_ids) - set(old.segment_ids)
        assert all(i >= old.next_segment_id for i in born)
        assert not set(new.segment_ids) & set(new.retired_ids)
        assert set(old.retired_ids) <= set(new.retired_ids)
        assert len(set(new.segment_ids)) == 9
    # idempotent re-run of the last night
    r = _run(synth_events, root, DAYS[-1])
    assert r.returncode == 0, r.stderr
    again = pl.read_parquet(root / "assignments" / f"date={DAYS[-1]}" / PART)
    assert again.equals(a[DAYS[-1]]) and again["customer_id"].is_unique().all()
    # kill -9 mid-run (after the fit), then re-run: complete and identical
    r = _run(synth_events, root, DAYS[-1], env={"ARCHETYPE_TEST_CRASH_AFTER": "fit"})
    assert r.returncode == -signal.SIGKILL
    assert not is_complete(lay, dt.date.fromisoformat(DAYS[-1]))
    assert_no_partial_output(root)
    r = _run(synth_events, root, DAYS[-1])
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(root / "assignments" / f"date={DAYS[-1]}" / PART).equals(a[DAYS[-1]])
    # kill -9 at random moments of `archetype run`, then re-run: same result
    rnd = random.Random(5)
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-m", "archetype", "run", "--events",
                              str(synth_events), "--out", str(root), "--k", "9", "--date",
                              DAYS[-1], "--backend", "numba", "--no-report", "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(1.0, 6.0))
        p.kill()
        p.wait()
        assert_no_partial_output(root)
    r = _run(synth_events, root, DAYS[-1])
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(root / "assignments" / f"date={DAYS[-1]}" / PART).equals(a[DAYS[-1]])
    # models list/show work on the real chain
    r = _cli("models", "show", "--root", str(root))
    assert r.returncode == 0 and f"parent: {DAYS[1]}" in r.stdout


def test_unchanged_data_keeps_99_5_percent(synth_events, tmp_path):
    root = tmp_path / "root"
    # same events, same as-of window: the second night sees unchanged data
    for day in ("2026-12-31", "2027-01-01"):
        r = _run(synth_events, root, day, "--window-days", "400")
        assert r.returncode == 0, r.stderr
    a = pl.read_parquet(root / "assignments" / "date=2026-12-31" / PART)
    b = pl.read_parquet(root / "assignments" / "date=2027-01-01" / PART)
    j = a.join(b, on="customer_id", suffix="_1")
    assert j.height == a.height
    assert (j["segment_id"] == j["segment_id_1"]).mean() >= 0.995


def test_assign_only_backfill_in_process_pool(synth_events, tmp_path):
    root = tmp_path / "root"
    r = _cli("backfill", "--events", str(synth_events), "--out", str(root), "--k", "9",
             "--start", DAYS[0], "--end", DAYS[1], "--backend", "numba", "--no-report", "-q")
    assert r.returncode == 0, r.stderr
    r = _cli("backfill", "--events", str(synth_events), "--out", str(root), "--start", DAYS[0],
             "--end", DAYS[2], "--assign-only", "--model", DAYS[0], "--jobs", "2",
             "--backend", "numba", "-q")
    assert r.returncode == 0, r.stderr
    assert "ran 3" in r.stdout
    for d in DAYS:
        assert (root / "assignments" / f"date={d}" / PART).is_file()
    assert not list((root / "assignments").glob(".tmp-*"))


@pytest.mark.ray
def test_two_nights_on_the_ray_engine(synth_events, tmp_path):
    """The same run through ``--engine ray`` (a private local Ray): same layout, warm start."""
    pytest.importorskip("ray")
    root = tmp_path / "root"
    for day in DAYS[:2]:
        r = _run(synth_events, root, day, "--engine", "ray")
        assert r.returncode == 0, r.stderr
    reg = Registry(root)
    assert reg.versions() == DAYS[:2] and reg.load(DAYS[1]).parent == DAYS[0]
    rec = json.loads((root / "runs" / f"{DAYS[1]}.json").read_text())
    assert rec["engine"] == "ray" and rec["warm_start"] and rec["status"] == "complete"
    a0 = pl.read_parquet(root / "assignments" / f"date={DAYS[0]}" / PART)
    a1 = pl.read_parquet(root / "assignments" / f"date={DAYS[1]}" / PART)
    j = a0.join(a1, on="customer_id", suffix="_1")
    assert (j["segment_id"] == j["segment_id_1"]).mean() > 0.9
