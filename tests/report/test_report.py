"""Report structure: sections present, images inlined, nothing external."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.report.build import build_report, write_report
from archetype.segments.sweep import SweepResult


def _sweep():
    return SweepResult(
        ks=[2, 3, 4, 5], inertia=[9.0, 6.0, 3.0, 2.8], silhouette=[0.3, 0.4, 0.6, 0.5],
        davies_bouldin=[1.2, 1.0, 0.6, 0.8], calinski_harabasz=[50.0, 80.0, 120.0, 100.0],
        stability=[0.9, 0.95, 1.0, 0.7], recommended_k=4, reason="k=4 has the highest silhouette",
        n=240, n_sample=240, silhouette_sample=240, seeds=2, estimator="test",
    )  # fmt: skip


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"https?://", html)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs, "no images"
    assert all(s.startswith("data:image/png;base64,") for s in srcs)


def test_full_report_sections(segdata, tmp_path):
    feats, asg, emb = segdata
    rng = np.random.default_rng(0)
    prev_ids = asg["segment_id"].to_numpy().copy()
    moved = rng.choice(len(prev_ids), 30, replace=False)
    prev_ids[moved] = 10  # 30 customers came from segment 10
    prev = pl.DataFrame({"customer_id": asg["customer_id"], "segment_id": prev_ids})
    prev = pl.concat([prev, pl.DataFrame({"customer_id": [999_999], "segment_id": [11]})])
    inputs = build_report(feats, asg, embedding=emb, previous=prev, sweep=_sweep(),
                          facts={"date": "2026-12-31"}, sample=100)  # fmt: skip
    out = write_report(tmp_path / "r" / "report.html", inputs)
    html = out.read_text()
    for sec in ("summary", "sizes", "segments", "heatmap", "projection", "sweep", "migration"):
        assert f'<section id="{sec}">' in html, sec
    _assert_self_contained(html)
    assert len(re.findall(r"<img ", html)) == 5
    # cards: one per segment, with names, suggestions marked as such
    for sid in (10, 11, 12, 13):
        assert f'id="segment-{sid}"' in html
    assert "Deal hunters" in html and "Cart abandoners" in html
    assert html.count("suggested — review before use") == 4
    # migration counts: moved customers whose segment is not 10 now
    now = asg["segment_id"].to_numpy()
    n_moved = int((now[moved] != 10).sum())
    assert f"{n_moved:,} of {len(now):,} returning customers" in html


def test_minimal_report_omits_optional_sections(segdata, tmp_path):
    feats, asg, _ = segdata
    html = write_report(tmp_path / "r.html", build_report(feats, asg)).read_text()
    for sec in ("summary", "sizes", "segments", "heatmap"):
        assert f'<section id="{sec}">' in html
    for sec in ("projection", "sweep", "migration"):
        assert f'<section id="{sec}">' not in html
    _assert_self_contained(html)


def test_previous_segment_column_gives_migration(segdata):
    feats, asg, _ = segdata
    a = asg.with_columns(pl.col("segment_id").alias("previous_segment_id"))
    inputs = build_report(feats, a)
    mig = inputs.migration
    assert mig is not None
    # nobody moved: all counts on the diagonal
    assert (mig["from_segment_id"] == mig["to_segment_id"]).all()
    assert mig["customers"].sum() == asg.height


def test_text_is_escaped(segdata):
    feats, asg, _ = segdata
    inputs = build_report(feats, asg, overrides={10: "<b>VIP & co</b>"}, title="A <test>")
    from archetype.report.html import render_report

    html = render_report(inputs)
    assert "&lt;b&gt;VIP &amp; co&lt;/b&gt;" in html
    assert "<b>VIP" not in html and "A &lt;test&gt;" in html


def test_sticky_names_from_model_only_while_supported(segdata):
    from archetype.pipeline.model import SegmentModel

    feats, asg, _ = segdata
    fresh = build_report(feats, asg).names
    model = SegmentModel(
        centroids=np.zeros((4, 2)),
        feature_names=[],
        transform={},
        segment_ids=[10, 11, 12, 13],
        segment_names=[fresh[10], "B", fresh[12], "Deal hunters"],
    )
    inputs = build_report(feats, asg, model=model, overrides={11: "Bee"})
    # kept where the evidence still supports the old name; 13 is not a deal hunter
    assert inputs.names == {10: fresh[10], 11: "Bee", 12: fresh[12], 13: fresh[13]}
    assert inputs.profiles.naming[10].source == "sticky"
    assert inputs.profiles.naming[13].source == "rules"


def test_user_errors(segdata):
    feats, asg, emb = segdata
    with pytest.raises(UserError, match="segment_id"):
        build_report(feats, asg.drop("segment_id"))
    with pytest.raises(UserError, match="no customer"):
        build_report(feats, asg.with_columns(pl.col("customer_id") + 10_000))
    with pytest.raises(UserError, match="embedding"):
        build_report(feats, asg, embedding=emb[:5])
