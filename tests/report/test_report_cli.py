"""``archetype report`` and ``archetype profile`` through the CLI."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from archetype.cli.main import app

runner = CliRunner()


def test_report_cli(feature_dir, tmp_path):
    names = tmp_path / "names.toml"
    names.write_text('[segments.names]\n2 = "My segment"\n')
    prev = tmp_path / "prev.parquet"
    a = pl.read_parquet(feature_dir / "assignments.parquet")
    a.with_columns(pl.lit(1).alias("segment_id")).write_parquet(prev)
    out = tmp_path / "r.html"
    res = runner.invoke(app, [
        "report", "--features", str(feature_dir / "features"), "--assignments",
        str(feature_dir / "assignments.parquet"), "--out", str(out), "--names", str(names),
        "--previous", str(prev), "-q",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "My segment" in html
    assert '<section id="migration">' in html and '<section id="projection">' in html


def test_report_cli_user_errors(feature_dir, tmp_path):
    base = ["report", "--features", str(feature_dir / "features"), "-q"]
    res = runner.invoke(app, [*base, "--assignments", str(tmp_path / "nope.parquet"),
                              "--out", str(tmp_path / "r.html")])  # fmt: skip
    assert res.exit_code == 2 and "assignments not found" in res.output
    res = runner.invoke(app, [*base, "--assignments", str(feature_dir / "assignments.parquet"),
                              "--out", str(tmp_path / "r.txt")])  # fmt: skip
    assert res.exit_code == 2 and ".html" in res.output
    assert not list(tmp_path.iterdir())


def test_profile_cli(feature_dir, tmp_path):
    out = tmp_path / "p.json"
    res = runner.invoke(app, ["profile", "--features", str(feature_dir / "features"),
                              "--assignments", str(feature_dir / "assignments.parquet"),
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    a = pl.read_parquet(feature_dir / "assignments.parquet")
    sizes = dict(a.group_by("segment_id").len().iter_rows())
    assert {s["segment_id"]: s["size"] for s in d["segments"]} == sizes
    assert all(d["triggers_suggested"].values())
