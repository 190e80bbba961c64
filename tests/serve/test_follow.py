"""Follow mode: Parquet/CSV/NDJSON files of a folder, exactly once across restarts."""

from __future__ import annotations

import os

import orjson
import polars as pl
import pytest

from archetype.live.follow import Follower
from archetype.live.segmenter import LiveSegmenter
from archetype.pipeline.layout import Layout

from .conftest import END


def _write_mixed(log: pl.DataFrame, folder, parts: int = 9) -> None:
    """The log split over Parquet, CSV and NDJSON files (in nested folders)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = log.height
    for i in range(parts):
        part = log.slice(i * n // parts, (i + 1) * n // parts - i * n // parts)
        kind = ("parquet", "csv", "ndjson")[i % 3]
        sub = folder / f"day={i:02d}"
        sub.mkdir(exist_ok=True)
        path = sub / f"part.{kind}"
        if kind == "parquet":
            part.write_parquet(path)
        elif kind == "csv":
            part.write_csv(path)
        else:
            rows = [{**r, "ts": r["ts"].isoformat(sep=" ")} for r in part.iter_rows(named=True)]
            path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def _features(seg, ids):
    return {i: seg.features(i).features for i in ids}


def test_follow_equals_direct_ingest_and_batch(root_now, tmp_path):
    ev, root, log = root_now
    _write_mixed(log, tmp_path / "in")
    (tmp_path / "in" / ".hidden.parquet").write_bytes(b"not parquet")  # skipped
    (tmp_path / "in" / "_tmp").mkdir()
    (tmp_path / "in" / "_tmp" / "x.csv").write_text("garbage")  # skipped
    feats = pl.read_parquet(Layout(root).features(END) / "features.parquet")
    ids = feats["customer_id"].to_list()
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        f = Follower(seg, tmp_path / "in", chunk_rows=400)
        assert f.scan_once() == log.height
        assert f.failed == {}
        assert f.status()["files_done"] == 9
        assert f.scan_once() == 0  # nothing new
        follow_f = _features(seg, ids)
        applied = seg.meta.applied
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        assert Follower(seg, tmp_path / "in").scan_once() == 0  # offsets survive a restart
        assert seg.meta.applied == applied
    for cid, row in zip(ids, feats.iter_rows(named=True), strict=True):
        assert follow_f[cid] == pytest.approx(
            {k: v for k, v in row.items() if k != "customer_id"}, rel=1e-9, abs=1e-12
        )


def test_growing_files_and_partial_lines(root_now, tmp_path):
    ev, root, log = root_now
    rows = [{**r, "ts": r["ts"].isoformat(sep=" ")} for r in log.head(30).iter_rows(named=True)]
    lines = [orjson.dumps(r) + b"\n" for r in rows]
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "live.ndjson"
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        f = Follower(seg, folder)
        path.write_bytes(b"".join(lines[:10]) + lines[10][:15])  # a line being written
        assert f.scan_once() == 10
        with open(path, "ab") as fh:
            fh.write(lines[10][15:] + b"".join(lines[11:20]))
        assert f.scan_once() == 10
        csv = folder / "more.csv"
        log.slice(30, 20).write_csv(csv)
        assert f.scan_once() == 20
        with open(csv, "a") as fh:  # appended rows of a CSV are read too
            fh.write(log.slice(50, 5).write_csv(include_header=False))
        assert f.scan_once() == 5
        assert seg.meta.applied == pl.concat([log.head(20), log.slice(30, 25)]).unique().height


def test_bad_file_is_reported_and_skipped_until_it_changes(root_now, tmp_path):
    ev, root, log = root_now
    folder = tmp_path / "in"
    folder.mkdir()
    good = log.head(40)
    good.write_parquet(folder / "a.parquet")
    text = good.write_csv().splitlines(keepends=True)
    row8 = text[8].split(",")
    (folder / "b.csv").write_text(
        "".join([*text[:8], ",".join([row8[0], "not-a-time", *row8[2:]]), *text[9:]])
    )
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        f = Follower(seg, folder)
        assert f.scan_once() == 40
        (msg,) = f.failed.values()
        assert "b.csv" in msg and "row 8" in msg and "not-a-time" in msg
        assert f.status()["files_failed"]
        assert f.scan_once() == 0  # unchanged: not retried
        good.write_csv(folder / "b.csv")
        os.utime(folder / "b.csv", ns=(1, 1))
        assert f.scan_once() == 40  # re-read; every event a duplicate of a.parquet
        assert f.failed == {}
        assert seg.meta.applied == good.unique().height
