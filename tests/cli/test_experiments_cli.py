"""``archetype triggers replay`` and ``archetype experiments report`` through the Typer app."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.pipeline import RunConfig, backfill
from archetype.synth import generate

runner = CliRunner()
END = dt.date(2026, 6, 30)

CONFIG = """
[triggers]
lateness = "10m"

[[triggers.rule]]
name = "cart"
kind = "absence"
on = "add_to_cart"
absent = "purchase"
within = "1h"
cooldown = "7d"
experiment = "reminder"

[[triggers.rule]]
name = "moved_to_{seg}"
kind = "transition"
entered = {seg}

[experiments.reminder]
holdout = 0.3
variants = {{ email = 1, push = 1 }}
conversion = {{ event = "purchase", within = "7d" }}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    generate(root / "synth", customers=400, days=60, seed=2, end_date=END)
    cfg = RunConfig.load(
        None,
        {
            "events": str(root / "synth" / "events"),
            "out": str(root / "seg"),
            "k": 4,
            "report": False,
        },
    )
    backfill(cfg, END - dt.timedelta(days=6), END)
    model = json.loads((root / "seg" / "models" / END.isoformat() / "manifest.json").read_text())
    seg = model["segment_ids"][0]
    (root / "live.toml").write_text(CONFIG.format(seg=seg))
    return root, seg


def _replay(root, config, out, *extra):
    """``archetype triggers replay`` over the world's events into ``out``."""
    return runner.invoke(
        app,
        [
            "triggers",
            "replay",
            "--events",
            str(root / "synth" / "events"),
            "--config",
            str(config),
            "--as-of",
            END.isoformat(),
            "--out",
            str(out),
            *extra,
        ],
    )


def _report(seg, experiments, html, *extra):
    """``archetype report`` of the world's last night with an experiments section."""
    return runner.invoke(
        app,
        [
            "report",
            "--features",
            str(seg / "features" / f"date={END}"),
            "--assignments",
            str(seg / "assignments" / f"date={END}" / "part-0.parquet"),
            "--experiments",
            str(experiments),
            "--out",
            str(html),
            *extra,
        ],
    )


def test_replay_then_report(world, tmp_path):
    root, seg = world
    out = tmp_path / "replay"
    res = _replay(root, root / "live.toml", out, "--root", str(root / "seg"), "--no-progress")
    assert res.exit_code == 0, res.output
    fr = pl.read_parquet(out / "firings.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["firings"] == fr.height > 0
    assert summary["per_rule"]["cart"] == fr.filter(pl.col("rule") == "cart").height
    assert set(fr["status"]) == {"replay"}
    assert fr["ts"].max() <= dt.datetime(2026, 7, 1)
    moved = fr.filter(pl.col("rule") == f"moved_to_{seg}")
    assert set(moved["segment_id"].to_list()) <= {seg}
    assert f"{fr.height:,} firings" in res.output.replace("\n", " ")
    ex = pl.read_parquet(out / "exposures.parquet")
    assert ex.height == fr.filter(pl.col("rule") == "cart").height
    res = runner.invoke(
        app,
        [
            "experiments",
            "report",
            "--exposures",
            str(out),
            "--by-segment",
            "--json",
            str(tmp_path / "u.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "holdout" in res.output and "email" in res.output
    rows = json.loads((tmp_path / "u.json").read_text())["rows"]
    assert sum(r["exposures"] for r in rows) == ex.height


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["experiments", "report", "--exposures", "nope.parquet"], "not found"),
        (["experiments", "report", "--exposures", "X", "--confidence", "2"], "--confidence"),
    ],
)
def test_report_errors(tmp_path, args, needle, world):
    root, _ = world
    args = [a.replace("X", str(root / "live.toml")) for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and needle in res.output


def test_replay_bad_config_is_one_line(world, tmp_path):
    root, _ = world
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[triggers.rule]]\nname = "x"\nkind = "absence"\non = "view"\n'
        'absent = "purchase"\nwithin = "soon"\n'
    )
    res = _replay(root, bad, tmp_path / "o")
    assert res.exit_code == 2
    assert "rule[0].within" in res.output and "soon" in res.output
    assert not (tmp_path / "o").exists()


def test_html_report_has_an_experiments_section(world, tmp_path):
    root, _ = world
    out = tmp_path / "replay"
    res = _replay(root, root / "live.toml", out, "--no-progress")
    assert res.exit_code == 0, res.output
    html = tmp_path / "r.html"
    seg = root / "seg"
    res = _report(seg, out, html, "--no-projection", "-q")
    assert res.exit_code == 0, res.output
    page = html.read_text()
    assert '<section id="experiments">' in page
    for v in ("holdout", "email", "push"):
        assert f"<td>{v}</td>" in page
    res = _report(seg, tmp_path / "none.parquet", tmp_path / "x.html")
    assert res.exit_code == 2 and "exposures file not found" in res.output
    assert not (tmp_path / "x.html").exists()


def test_replay_and_report_never_replace_what_they_did_not_write(world, tmp_path):
    """`--out` of replay and `--json` of the report follow the output rule: a folder or file
    of the user's is refused before any work and left as it was; an earlier output of the
    same command is replaced only with --overwrite."""
    root, _ = world
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"meow")
    res = _replay(root, root / "live.toml", photos, "--no-progress")
    assert res.exit_code == 2 and "not a triggers replay directory" in res.output
    assert sorted(p.name for p in photos.iterdir()) == ["cat.jpg"]
    out = tmp_path / "replay"
    assert _replay(root, root / "live.toml", out, "--no-progress").exit_code == 0
    res = _replay(root, root / "live.toml", out, "--no-progress")
    assert res.exit_code == 2 and "pass --overwrite" in res.output
    assert _replay(root, root / "live.toml", out, "--no-progress", "--overwrite").exit_code == 0
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    res = runner.invoke(
        app, ["experiments", "report", "--exposures", str(out), "--json", str(notes)]
    )
    assert res.exit_code == 2 and "not an uplift table" in res.output
    assert notes.read_text() == '{"mine": true}'
    up = tmp_path / "up.json"
    args = ["experiments", "report", "--exposures", str(out), "--json", str(up)]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, args).exit_code == 2
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert json.loads(up.read_text())["rows"]
