"""Live features and assignments equal ``archetype features`` + ``archetype assign``.

A synthetic log is replayed through the live path (stream order with jitter, 5% late
events, 5% duplicate deliveries with the same event id, states encoded and decoded between
phases; or a full shuffle), then every feature and every assignment of every customer is
compared with the batch at the same as-of and the same model: 0 mismatches.  The first
as-of is the model's own date (``features`` -> ``fit`` -> ``assign`` through the CLI); the
later ones slide the window and re-apply the model's transform, as the nightly run does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.live.conftest import mismatches
from tests.live.harness import arrivals, live_assign, replay_phases
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.features import compute_feature_dir
from archetype.live.definition import FeatureDefinition
from archetype.pipeline.model import SegmentModel
from archetype.synth import generate

runner = CliRunner()


def _cli(*args: str) -> None:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output


def _batch(events: Path, as_of: dt.date, out: Path, window, model: Path | None, k: int):
    """Feature dir + assignments at ``as_of``; fits ``model`` when it does not exist yet."""
    feat = out / f"feat-{as_of}"
    wflag = [] if window is None else ["--window-days", window]
    if model is None or not model.exists():
        _cli("features", "--events", events, "--as-of", as_of, "--out", feat, "--no-progress",
             *wflag)  # fmt: skip
        model = out / "model"
        _cli("fit", "--features", feat, "--k", k, "--out", model, "--seed", 1, "-q")
    else:  # the model's transform re-applied, as `archetype run` does between refits
        m = SegmentModel.load(model)
        compute_feature_dir(events, as_of, feat, window_days=window, transform=m.transform)
    asg = out / f"assign-{as_of}.parquet"
    _cli("assign", "--model", model, "--features", feat, "--out", asg, "-q")
    return pl.read_parquet(feat / "features.parquet"), pl.read_parquet(asg), model


def run_equality(tmp: Path, log: pl.DataFrame, as_ofs, window, *, shuffle="stream", k=6):
    """Replay ``log`` live and compare with the batch at each as-of; returns a report."""
    events = tmp / "events.parquet"
    log.write_parquet(events)
    phases = arrivals(log, as_ofs, np.random.default_rng(7), shuffle=shuffle)
    model_dir = None
    report = []
    r = None
    for j, as_of in enumerate(as_ofs):
        bf, ba, model_dir = _batch(events, as_of, tmp, window, model_dir, k)
        if r is None:
            fd = FeatureDefinition.from_feature_dir(tmp / f"feat-{as_of}")
            assert fd.window_days == window
            r, _ = replay_phases(fd, phases[:1], as_ofs[:1])
            live = r.features_frame(as_of)
        else:
            r.ingest(_events(phases[j]))
            r.states = {c: fd.decode(s.encode()) for c, s in r.states.items()}
            live = r.features_frame(as_of)
        bad = mismatches(bf, live, fd.feature_names)
        la = live_assign(fd, live, SegmentModel.load(model_dir))
        assert la["customer_id"].to_list() == ba["customer_id"].to_list()
        seg_bad = int((la["segment_id"] != ba["segment_id"]).sum())
        np.testing.assert_allclose(la["distance"], ba["distance"], rtol=1e-4, atol=1e-5)
        report.append((as_of, bf.height, bad, seg_bad))
    assert r.duplicates > 0
    return report


def _events(frame):
    from archetype.live.replay import events_from_frame

    return events_from_frame(frame)


def _synth(tmp: Path, customers: int, days: int, seed: int = 3) -> pl.DataFrame:
    generate(tmp / "synth", customers=customers, days=days, seed=seed)
    return pl.read_parquet(tmp / "synth" / "events" / "**" / "*.parquet")


END = dt.date(2026, 12, 31)  # synth's default end date


@pytest.mark.parametrize("window", [60, None])
def test_small_replay_equals_batch(tmp_path, window):
    log = _synth(tmp_path, 1500, 150)
    as_ofs = [END - dt.timedelta(days=40), END - dt.timedelta(days=12), END]
    report = run_equality(tmp_path, log, as_ofs, window)
    for as_of, n, bad, seg_bad in report:
        assert n > 1000, as_of
        assert bad == {} and seg_bad == 0, (as_of, bad, seg_bad)


def test_fully_shuffled_replay_equals_batch(tmp_path):
    log = _synth(tmp_path, 800, 120, seed=5)
    report = run_equality(tmp_path, log, [END - dt.timedelta(days=20), END], 30, shuffle="full")
    assert all(bad == {} and seg_bad == 0 for _, _, bad, seg_bad in report), report


@pytest.mark.slow
def test_50k_customers_replay_equals_batch(tmp_path):
    """>= 50k customers compared at each of two as-of days, a 60-day window sliding (all
    history: the small variants above)."""
    log = _synth(tmp_path, 62_000, 120, seed=11)
    assert log["customer_id"].n_unique() >= 50_000
    as_ofs = [END - dt.timedelta(days=20), END]
    report = run_equality(tmp_path, log, as_ofs, 60, k=12)
    print("as-of, customers compared, feature mismatches, segment mismatches:", report)
    for as_of, n, bad, seg_bad in report:
        assert n >= 50_000, (as_of, n)  # customers with events in the window
        assert bad == {} and seg_bad == 0, (as_of, bad, seg_bad)
