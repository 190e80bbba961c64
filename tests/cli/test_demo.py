"""``archetype demo``: files left, figures printed, recovery of the planted archetypes."""

from __future__ import annotations

import json

import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from archetype.cli.demo import EXPECTED_NAMES, name_matches
from archetype.cli.main import app
from archetype.synth import ARCHETYPES

runner = CliRunner()


def _run(out, customers, seed=1):
    return runner.invoke(
        app, ["demo", "--out", str(out), "--customers", str(customers), "--seed", str(seed), "-q"]
    )


def _check_outputs(out):
    for f in ("report.html", "assignments.parquet", "truth.parquet", "demo.json"):
        assert (out / f).is_file(), f
    assert (out / "model" / "manifest.json").is_file()
    asg = pl.read_parquet(out / "assignments.parquet")
    assert asg.columns == ["customer_id", "segment_id", "distance", "margin", "segment_name"]
    truth = pl.read_parquet(out / "truth.parquet")
    info = json.loads((out / "demo.json").read_text())
    # customers without events in the window get no row; every row is a planted customer
    assert asg["customer_id"].is_in(truth["customer_id"].implode()).all()
    assert asg["customer_id"].n_unique() == asg.height == info["segmented"]
    assert asg.height + info["without_events"] == truth.height
    assert info["without_events"] < 0.01 * truth.height
    assert asg["segment_id"].n_unique() == len(ARCHETYPES)
    # the ARI printed is scikit-learn's over the customers present
    j = asg.join(truth, on="customer_id", how="inner")
    assert info["ari"] == pytest.approx(
        adjusted_rand_score(j["archetype"].to_numpy(), j["segment_id"].to_numpy())
    )
    html = (out / "report.html").read_text()
    assert "adjusted Rand index vs truth" in html
    return info


@pytest.mark.slow
def test_demo_small(tmp_path):
    out = tmp_path / "demo"
    res = _run(out, 1500)
    assert res.exit_code == 0, res.output
    info = _check_outputs(out)
    assert "adjusted Rand index vs planted archetypes" in res.output
    assert str(out / "report.html") in res.output.replace("\n", "")
    assert 0.0 <= info["ari"] <= 1.0
    if info["without_events"]:
        assert "had no events in the window" in res.output.replace("\n", " ")
    # a second run replaces the previous demo
    assert _run(out, 1000).exit_code == 0
    assert pl.read_parquet(out / "truth.parquet").height == 1000


def test_refuses_foreign_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    res = _run(tmp_path, 1000)
    assert res.exit_code == 2
    assert "not an archetype demo directory" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_name_matching_table():
    assert set(EXPECTED_NAMES) == set(ARCHETYPES)
    assert name_matches("Deal hunters · high referrals", "deal_hunter")
    assert name_matches("Deal hunters #4", "deal_hunter")
    assert not name_matches("Deal hunters", "vip")
    assert name_matches("Lapsed deal hunters", "lapsed")
    assert not name_matches("Lapsed one-time buyers", "lapsed")
    assert not name_matches("Deal hunters", "lapsed")


@pytest.mark.slow
def test_demo_recovers_archetypes(tmp_path):
    """Full-size demo: ARI vs the planted archetypes, and names that match them."""
    out = tmp_path / "demo"
    res = _run(out, 30_000)
    assert res.exit_code == 0, res.output
    info = _check_outputs(out)
    matched = sum(r["name_matches"] for r in info["segments"])
    assert matched == 9, info["segments"]
    # Measured 0.960 (seed 1, 30k customers; 0.958 / 0.959 with seeds 2 / 3); issue 12's
    # floor is 0.95.
    assert info["ari"] >= 0.95
    # every segment's card carries its name's evidence
    html = (out / "report.html").read_text()
    assert html.count("<h4>Why this name</h4>") == 9
