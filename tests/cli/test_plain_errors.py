"""Messages are plain text, and tampered inputs are one line (issue 11, defects 4, 7, 8).

Before the fix every message went through Rich markup: a ``[/]`` in a path, timestamp,
event type or id turned a user error into a ``MarkupError`` traceback (exit 1), and
bracketed text vanished.  Tampered model manifests, ``models show ../../x`` and similar
were tracebacks or read outside the root.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.pipeline.model import SegmentModel

runner = CliRunner()


def _one_line(r, code: int, *needles: str) -> str:
    out = r.output.strip()
    assert r.exit_code == code, out
    assert len(out.splitlines()) == 1, out
    assert "Traceback" not in out and "MarkupError" not in out
    for n in needles:
        assert n in out, out
    return out


def test_brackets_in_a_path_are_printed_as_is(tmp_path):
    weird = tmp_path / "ev[/]x[bold]"
    r = runner.invoke(
        app,
        ["features", "--events", str(weird), "--as-of", "2026-01-01", "--out", str(tmp_path / "o")],
    )
    _one_line(r, 2, "ev[/]x[bold]")


@pytest.mark.parametrize(
    ("rows", "flags", "needle"),
    [
        (
            {"customer_id": [1, 2], "ts": ["2026-01-01", "2026-01-[/]"]},
            ["--timestamp-format", "%Y-%m-%d"],
            "2026-01-[/]",
        ),
        ({"customer_id": [1], "ts": ["2026-01-01"]}, ["--event-type", "a=[red]x[/]"], "[red]x[/]"),
    ],
    ids=["timestamp value", "event type"],
)
def test_brackets_in_a_value_or_flag(tmp_path, rows, flags, needle):
    pl.DataFrame(rows).write_csv(tmp_path / "t.csv")
    r = runner.invoke(
        app,
        [
            "features",
            "--events",
            str(tmp_path / "t.csv"),
            "--as-of",
            "2026-02-01",
            "--out",
            str(tmp_path / "o"),
            *flags,
            "--no-progress",
        ],
    )
    _one_line(r, 2, needle)


def _model(path: Path, **manifest_changes):
    m = SegmentModel(
        np.eye(3, dtype=np.float32),
        ["a", "b", "c"],
        {"kind": "t"},
        segment_ids=[0, 1, 2],
        segment_names=["[b]VIP[/b]", "x[/]", "y"],
        version="2026-01-01",
        date="2026-01-01",
    )
    m.save(path)
    if manifest_changes:
        mf = path / "manifest.json"
        doc = json.loads(mf.read_text())
        doc.update(manifest_changes)
        mf.write_text(json.dumps(doc))
    return path


def _assign(mdir: Path, tmp_path: Path) -> list[str]:
    """``archetype assign`` args with the model ``mdir`` (the features need not exist)."""
    feats, out = str(tmp_path / "f"), str(tmp_path / "a.parquet")
    return ["assign", "--model", str(mdir), "--features", feats, "--out", out]


def test_brackets_in_segment_names_are_shown_verbatim(tmp_path):
    root = tmp_path / "root"
    _model(root / "models" / "2026-01-01")
    r = runner.invoke(app, ["models", "show", "2026-01-01", "--root", str(root)])
    assert r.exit_code == 0, r.output
    assert "[b]VIP[/b]" in r.output and "x[/]" in r.output


def test_brackets_in_an_id_of_the_forget_file(tmp_path):
    root = tmp_path / "root"
    (root / "assignments" / "date=2026-01-01").mkdir(parents=True)
    pl.DataFrame(
        {"customer_id": [1, 2], "segment_id": [0, 1], "distance": [0.1, 0.2], "margin": [1.0, 1.0]}
    ).write_parquet(root / "assignments" / "date=2026-01-01" / "part-0.parquet")
    ids = tmp_path / "ids.txt"
    ids.write_text("[/]abc\n")
    r = runner.invoke(app, ["forget", "--ids", str(ids), "--root", str(root), "-q"])
    _one_line(r, 2, "'[/]abc' is not a Int64 customer id")


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("list", None),
        ("empty object", {}),
        ("wrong types", {"feature_names": "abc"}),
        ("duplicate ids", {"segment_ids": [1, 1, 2]}),
        ("names", {"segment_names": [1, 2, 3]}),
        ("metric", {"metric": "manhattan"}),
        ("k", {"k": 7}),
    ],
)
def test_tampered_manifests_are_one_line(tmp_path, what, change):
    root = tmp_path / "root"
    mdir = _model(root / "models" / "2026-01-01")
    mf = mdir / "manifest.json"
    if change is None:
        mf.write_text("[1, 2, 3]")
    elif change == {}:
        mf.write_text("{}")
    else:
        doc = json.loads(mf.read_text())
        doc.update(change)
        mf.write_text(json.dumps(doc))
    for args in (["models", "show", "2026-01-01", "--root", str(root)], _assign(mdir, tmp_path)):
        _one_line(runner.invoke(app, args), 2, "manifest")
    r = runner.invoke(app, ["models", "list", "--root", str(root)])
    assert r.exit_code == 0 and "unreadable" in r.output


@pytest.mark.parametrize(
    "centroids", [np.arange(3.0), np.array([["a", "b"]]), np.array([[np.nan, 1.0]])]
)
def test_bad_centroids_are_one_line(tmp_path, centroids):
    mdir = _model(tmp_path / "m")
    np.save(mdir / "centroids.npy", centroids)
    r = runner.invoke(app, ["models", "show", "m", "--root", str(tmp_path)])
    assert r.exit_code == 2  # "m" is not under models/: named as unknown
    _one_line(runner.invoke(app, _assign(mdir, tmp_path)), 2, "centroids")


@pytest.mark.parametrize("version", ["../../x", "/etc", "..", ".hidden", "a/b"])
def test_models_show_never_reads_outside_the_registry(tmp_path, version):
    root = tmp_path / "a" / "b" / "root"
    (root / "models").mkdir(parents=True)
    _model(tmp_path / "a" / "x")  # what ../../x would reach
    r = runner.invoke(app, ["models", "show", version, "--root", str(root)])
    _one_line(r, 2, "not a model version name")
