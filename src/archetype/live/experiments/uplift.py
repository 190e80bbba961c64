"""Uplift of each variant over the holdout, overall and per segment, with confidence intervals.

Unit of analysis: the **matured exposure** (its conversion window has closed), each
attributed on its own (``archetype.live.experiments.runner``).  For a variant with
``c_v`` conversions out of ``n_v`` matured exposures and the holdout's ``c_h / n_h``:

* rate ``p = c / n``;
* absolute uplift ``p_v - p_h`` with the Wald interval
  ``± z * sqrt(p_v (1 - p_v) / n_v + p_h (1 - p_h) / n_h)``;
* relative uplift ``p_v / p_h - 1`` with the log (Katz) interval
  ``exp(log(p_v / p_h) ± z * sqrt(1/c_v - 1/n_v + 1/c_h - 1/n_h)) - 1`` (undefined when a
  side has no conversion);
* ``p_value`` of the two-sided pooled two-proportion z-test (= Pearson's chi-square
  without continuity correction on the 2x2 table).

``z`` is the standard normal quantile ``1 - (1 - confidence) / 2``.  Exposures of one
customer are not independent when a rule fires for them repeatedly: give the rule a
cooldown of at least the conversion window when that matters.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import polars as pl

from archetype.errors import UserError
from archetype.live.experiments.config import HOLDOUT

EXPOSURE_SCHEMA = {
    "experiment": pl.String,
    "variant": pl.String,
    "customer_id": pl.String,
    "ts": pl.Datetime("us"),
    "key": pl.String,
    "rule": pl.String,
    "segment_id": pl.Int64,
    "status": pl.String,
    "matured": pl.Boolean,
    "conversion_ts": pl.Datetime("us"),
    "value": pl.Float64,
}


def exposures_frame(rows: list[dict]) -> pl.DataFrame:
    """Exposure rows (``read_exposures``) as a typed table."""
    cols: dict[str, list] = {k: [] for k in EXPOSURE_SCHEMA}
    for r in rows:
        for k in EXPOSURE_SCHEMA:
            src = {"ts": "ts_us", "conversion_ts": "conversion_ts_us"}.get(k, k)
            v = r.get(src)
            cols[k].append(str(v) if k == "customer_id" and v is not None else v)
    out = {}
    for k, dtype in EXPOSURE_SCHEMA.items():
        if isinstance(dtype, pl.Datetime):
            out[k] = pl.Series(k, cols[k], dtype=pl.Int64).cast(dtype)
        else:
            out[k] = pl.Series(k, cols[k], dtype=dtype)
    return pl.DataFrame(out)


def _row(c_v: int, n_v: int, c_h: int, n_h: int, z: float) -> dict:
    out = dict.fromkeys(
        ("uplift", "ci_low", "ci_high", "rel_uplift", "rel_ci_low", "rel_ci_high", "p_value")
    )
    if n_v == 0 or n_h == 0:
        return out
    p_v, p_h = c_v / n_v, c_h / n_h
    d = p_v - p_h
    se = math.sqrt(p_v * (1 - p_v) / n_v + p_h * (1 - p_h) / n_h)
    out.update(uplift=d, ci_low=d - z * se, ci_high=d + z * se)
    if c_v > 0 and c_h > 0:
        lr = math.log(p_v / p_h)
        se_l = math.sqrt(1 / c_v - 1 / n_v + 1 / c_h - 1 / n_h)
        out.update(
            rel_uplift=p_v / p_h - 1,
            rel_ci_low=math.exp(lr - z * se_l) - 1,
            rel_ci_high=math.exp(lr + z * se_l) - 1,
        )
    pool = (c_v + c_h) / (n_v + n_h)
    se0 = math.sqrt(pool * (1 - pool) * (1 / n_v + 1 / n_h))
    if se0 > 0:
        out["p_value"] = 2 * (1 - NormalDist().cdf(abs(d) / se0))
    return out


def uplift_table(
    exposures: pl.DataFrame, *, by_segment: bool = False, confidence: float = 0.95
) -> pl.DataFrame:
    """Per experiment (and segment) and variant: counts, rate, uplift vs holdout with CIs.

    Parameters
    ----------
    exposures : DataFrame
        :func:`exposures_frame` rows (``experiment, variant, segment_id, status, matured,
        value``).
    by_segment : bool, default False
        One block per segment id at exposure time (null = no segment known).
    confidence : float, default 0.95

    Returns
    -------
    DataFrame with ``experiment, [segment_id,] variant, exposures, matured, conversions,
    rate, value, uplift, ci_low, ci_high, rel_uplift, rel_ci_low, rel_ci_high, p_value``;
    the holdout row has null uplift columns.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} should be in (0, 1)")
    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    keys = ["experiment", "segment_id"] if by_segment else ["experiment"]
    conv = (pl.col("status") == "converted") & pl.col("matured")
    agg = (
        exposures.group_by([*keys, "variant"])
        .agg(
            exposures=pl.len(),
            matured=pl.col("matured").sum(),
            conversions=conv.sum(),
            value=pl.col("value").filter(conv).sum(),
        )
        .sort([*keys, "variant"], nulls_last=True)
    )
    rows = []
    for _block_key, block in agg.group_by(keys, maintain_order=True):
        recs = block.to_dicts()
        hold = next((r for r in recs if r["variant"] == HOLDOUT), None)
        c_h, n_h = (hold["conversions"], hold["matured"]) if hold else (0, 0)
        for r in sorted(recs, key=lambda r: (r["variant"] != HOLDOUT, r["variant"])):
            n = r["matured"]
            r["rate"] = r["conversions"] / n if n else None
            stats = (
                dict.fromkeys(_row(0, 0, 0, 0, z))
                if r["variant"] == HOLDOUT
                else _row(r["conversions"], n, c_h, n_h, z)
            )
            rows.append({**r, **stats})
    schema = {
        "experiment": pl.String,
        **({"segment_id": pl.Int64} if by_segment else {}),
        "variant": pl.String,
        "exposures": pl.Int64,
        "matured": pl.Int64,
        "conversions": pl.Int64,
        "rate": pl.Float64,
        "value": pl.Float64,
        "uplift": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "rel_uplift": pl.Float64,
        "rel_ci_low": pl.Float64,
        "rel_ci_high": pl.Float64,
        "p_value": pl.Float64,
    }
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def read_exposures_file(path: str | Path, experiment: str | None = None) -> pl.DataFrame:
    """Exposure rows from ``exposures.parquet`` (or the folder holding it); bad file or
    unknown experiment -> one-line :class:`UserError`."""
    p = Path(path)
    p = p / "exposures.parquet" if p.is_dir() else p
    if not p.is_file():
        raise UserError("exposures file not found", path=p)
    try:
        df = pl.read_parquet(p)
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file is the user's to fix
        raise UserError(f"not a readable Parquet file: {e}", path=p) from None
    missing = [c for c in ("experiment", "variant", "status", "matured") if c not in df.columns]
    if missing:
        raise UserError(f"not an exposures file: no column {missing[0]!r}", path=p)
    if experiment is not None:
        df = df.filter(pl.col("experiment") == experiment)
        if df.height == 0:
            raise UserError(f"no exposure of experiment {experiment!r}", path=p)
    return df.with_columns(
        [pl.col(c).cast(t) for c, t in EXPOSURE_SCHEMA.items() if c in df.columns]
    )


def read_uplift(
    path: str | Path,
    *,
    by_segment: bool = False,
    confidence: float = 0.95,
    experiment: str | None = None,
) -> pl.DataFrame:
    """:func:`uplift_table` of an exposures file."""
    df = read_exposures_file(path, experiment)
    if by_segment and "segment_id" not in df.columns:
        raise UserError("no segment_id column for a per-segment table", path=path)
    return uplift_table(df, by_segment=by_segment, confidence=confidence)
