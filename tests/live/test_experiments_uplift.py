"""The uplift report against an independent computation (NumPy counts + scipy.stats)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats
from scipy.stats.contingency import relative_risk

from archetype.live.experiments import HOLDOUT, exposures_frame, uplift_table


def _row(i: int, variant: str, **fields) -> dict:
    """Exposure ``i`` of experiment "e" by rule "r" (``i`` is its customer, time and key)."""
    return {
        "experiment": "e",
        "variant": variant,
        "customer_id": i,
        "ts_us": i,
        "key": str(i),
        "rule": "r",
        **fields,
    }


@pytest.fixture
def exposures() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    n = 30_000
    variant = rng.choice([HOLDOUT, "a", "b"], n, p=[0.2, 0.4, 0.4])
    segment = rng.integers(0, 3, n)
    base = np.array([0.05, 0.08, 0.12])[segment]
    p = base * np.where(variant == "a", 1.3, np.where(variant == "b", 0.9, 1.0))
    matured = rng.random(n) < 0.9
    conv = rng.random(n) < p
    status = np.where(conv, "converted", np.where(matured, "not_converted", "open"))
    rows = [
        _row(
            i,
            v,
            segment_id=int(s),
            status=st,
            matured=bool(m),
            conversion_ts_us=i + 1 if c else None,
            value=10.0 if c else None,
        )
        for i, (v, s, st, m, c) in enumerate(
            zip(variant, segment, status, matured, conv, strict=True)
        )
    ]
    return exposures_frame(rows)


def reference(df: pl.DataFrame, confidence: float) -> dict:
    """Counts with NumPy, intervals by hand from scipy quantiles and scipy's relative risk."""
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    v = df["variant"].to_numpy()
    m = df["matured"].to_numpy()
    c = (df["status"].to_numpy() == "converted") & m
    out = {}
    n_h, c_h = int(m[v == HOLDOUT].sum()), int(c[v == HOLDOUT].sum())
    for name in ("a", "b"):
        n_v, c_v = int(m[v == name].sum()), int(c[v == name].sum())
        p_v, p_h = c_v / n_v, c_h / n_h
        se = math.sqrt(p_v * (1 - p_v) / n_v + p_h * (1 - p_h) / n_h)
        rr = relative_risk(c_v, n_v, c_h, n_h)
        ci = rr.confidence_interval(confidence)
        chi2 = stats.chi2_contingency([[c_v, n_v - c_v], [c_h, n_h - c_h]], correction=False)
        out[name] = {
            "exposures": int((v == name).sum()),
            "matured": n_v,
            "conversions": c_v,
            "rate": p_v,
            "uplift": p_v - p_h,
            "ci_low": p_v - p_h - z * se,
            "ci_high": p_v - p_h + z * se,
            "rel_uplift": rr.relative_risk - 1,
            "rel_ci_low": ci.low - 1,
            "rel_ci_high": ci.high - 1,
            "p_value": chi2.pvalue,
        }
    return out


def test_uplift_matches_independent_computation(exposures):
    table = uplift_table(exposures)
    assert table["variant"].to_list() == [HOLDOUT, "a", "b"]
    hold = table.row(0, named=True)
    assert hold["uplift"] is None and hold["rate"] == pytest.approx(
        exposures.filter(
            (pl.col("variant") == HOLDOUT) & pl.col("matured") & (pl.col("status") == "converted")
        ).height
        / exposures.filter((pl.col("variant") == HOLDOUT) & pl.col("matured")).height
    )
    ref = reference(exposures, 0.95)
    for row in table.iter_rows(named=True):
        if row["variant"] == HOLDOUT:
            continue
        for k, want in ref[row["variant"]].items():
            assert row[k] == pytest.approx(want, rel=1e-9, abs=1e-12), (row["variant"], k)
    a = table.filter(pl.col("variant") == "a").row(0, named=True)
    assert a["ci_low"] > 0  # the planted +30% is detected
    assert a["value"] == 10.0 * a["conversions"]


def test_uplift_per_segment(exposures):
    table = uplift_table(exposures, by_segment=True, confidence=0.9)
    assert table.height == 9
    for seg in range(3):
        ref = reference(exposures.filter(pl.col("segment_id") == seg), 0.9)
        part = table.filter(pl.col("segment_id") == seg)
        for row in part.filter(pl.col("variant") != HOLDOUT).iter_rows(named=True):
            for k in ("uplift", "ci_low", "ci_high", "rel_ci_low", "rel_ci_high", "p_value"):
                assert row[k] == pytest.approx(ref[row["variant"]][k], rel=1e-9), (seg, k)


def test_uplift_edge_cases():
    rows = [
        _row(i, v, segment_id=None, status="not_converted", matured=True)
        for i, v in enumerate(["a", "a", HOLDOUT])
    ]
    t = uplift_table(exposures_frame(rows))
    a = t.filter(pl.col("variant") == "a").row(0, named=True)
    assert a["uplift"] == 0.0 and a["rel_uplift"] is None and a["p_value"] is None
    no_holdout = uplift_table(exposures_frame(rows[:2]))
    assert no_holdout.row(0, named=True)["uplift"] is None
    with pytest.raises(ValueError, match="confidence"):
        uplift_table(exposures_frame(rows), confidence=1.5)
