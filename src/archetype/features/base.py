"""One ordered pass and one per-customer aggregation that feed every family.

Events are prepared once: integer day ``d``, flags, and a sort by
``(customer_id, ts, purchase-last)``.  On that order every "distinct" or "sequence" quantity
becomes a plain flag computed with shifts, cumulative sums and forward fills (no per-group
``n_unique``, no second sort, no self-join):

* ``_nd``  first event of a customer-day  -> distinct active days are a sum;
* ``_npd`` first purchase of a customer-day -> distinct purchase days (``frequency``);
* ``_gap`` days since the previous distinct purchase day (on ``_npd`` rows);
* ``_lead`` hours from the first view since the previous purchase, within the
  :data:`LEAD_LOOKBACK_DAYS` before this purchase, to this purchase (null: no such view).

A single ``group_by`` over a dense customer index then computes the intermediate sums
(columns prefixed ``_``) that the family modules turn into features.  Category counts
(content) need a second key and the median lead time (timing) only the purchase rows: each
gets its own small aggregation.
"""

from __future__ import annotations

import math

import polars as pl

from archetype.events.schema import CONTENT_COLUMNS, EVENT_TYPES
from archetype.features.context import FeatureContext, slug

ET = pl.col("event_type")
IS_PURCHASE = (ET == "purchase") & (pl.col("amount") >= 0)
IS_RETURN = (ET == "purchase") & (pl.col("amount") < 0)
US_PER_HOUR = 3_600_000_000.0
_NO_DAY = -(2**31)  # "no purchase day yet" (Int32 min)
_NO_TS = -(2**63)  # "no view yet in this purchase cycle" (Int64 min)
_NO_PUS = -(2**62)  # "no purchase ends this cycle" (minus the look-back cannot overflow)
COLUMNS = CONTENT_COLUMNS


US_PER_DAY = 86_400_000_000
RECENT_DAYS = 90  # recent_activity_share: active days in the last RECENT_DAYS days
LEAD_LOOKBACK_DAYS = 14  # views older than this before a purchase do not start its lead time
_KEY_LIMIT = 2**62  # ranges below this make the packed Int128 sort key exact


def _compact(events: pl.LazyFrame) -> pl.LazyFrame:
    """Enum event types, Categorical channel/category; ``d``, ``_p``, ``_r`` columns."""
    return events.with_columns(
        pl.col("event_type").cast(pl.Enum(EVENT_TYPES), strict=False),
        pl.col("channel").cast(pl.Categorical),
        pl.col("category").cast(pl.Categorical),
    ).with_columns(
        (pl.col("ts").dt.epoch("us") // US_PER_DAY).cast(pl.Int32).alias("d"),  # floor
        IS_PURCHASE.alias("_p"),
        IS_RETURN.alias("_r"),
    )


def sort_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """Compact dtypes, add ``d``/``_p``/``_r`` and sort by customer, time, purchase-last.

    Purchases sort after other events at the same instant, so a view and a purchase
    logged at the same time count the view as preceding the purchase.
    """
    return _compact(events).sort("customer_id", "ts", "_p")


def sort_frame(events: pl.DataFrame) -> pl.DataFrame:
    """:func:`sort_events` on an in-memory frame, faster for integer customer ids.

    The three sort keys are packed into one Int128 (customer offset, microsecond offset,
    purchase bit) when their ranges allow it exactly; otherwise a three-key sort.
    """
    df = _compact(events.lazy()).collect()
    cid = df["customer_id"]
    if df.height == 0 or not cid.dtype.is_integer():
        return df.sort("customer_id", "ts", "_p")
    us = df["ts"].dt.epoch("us")
    c_lo, c_hi, t_lo, t_hi = int(cid.min()), int(cid.max()), int(us.min()), int(us.max())
    if c_hi - c_lo >= _KEY_LIMIT or t_hi - t_lo >= _KEY_LIMIT:
        return df.sort("customer_id", "ts", "_p")
    key = (
        (pl.col("customer_id").cast(pl.Int128) - c_lo) * (2 * (t_hi - t_lo + 1))
        + (pl.col("ts").dt.epoch("us").cast(pl.Int128) - t_lo) * 2
        + pl.col("_p").cast(pl.Int128)
    )
    return df.sort(key)


FINGERPRINT = ("__fp",)  # archetype.events.canonical.FINGERPRINT


def drop_duplicates(sorted_events: pl.DataFrame, rule: str = "exact") -> pl.DataFrame:
    """Apply a duplicate rule to a frame sorted by :func:`sort_events` (stable sort).

    ``rule`` (``CanonicalScan.dedupe``):

    * ``"event_id"``: drop a row whose ``(customer_id, event_id)`` occurred earlier in the
      sorted order, i.e. keep the first by time, then file order; rows without an event id
      are all kept.
    * ``"exact"``: drop rows identical to an earlier one: same canonical columns and, when
      present, the same 64-bit fingerprint of the whole source row (``__fp``), so rows that
      differ only in an unmapped column are distinct.
    * ``"none"``: keep every row; add ``_ident`` (row identical to an earlier one, as for
      ``"exact"``) so the builder can count them.

    Identical rows share ``(customer_id, ts)``, so they sit in runs of equal keys; only rows
    in such runs are compared (the order of the rest is kept).  The helper columns
    (``event_id``, fingerprint) are dropped from the result.
    """
    helpers = [c for c in ("event_id", *FINGERPRINT) if c in sorted_events.columns]
    dup = (
        _repeated_event_ids(sorted_events)
        if rule == "event_id"
        else _identical_rows(sorted_events)
    )
    if rule == "event_id":
        if dup is None:
            return sorted_events.drop(helpers)
        keep = ~pl.int_range(pl.len(), dtype=dup.dtype).is_in(dup.implode())
        return sorted_events.filter(keep).drop(helpers)
    if rule == "none":
        if dup is None:
            flag = pl.repeat(False, sorted_events.height, dtype=pl.Boolean, eager=True)
        else:
            flag = pl.int_range(sorted_events.height, dtype=dup.dtype, eager=True).is_in(
                dup.implode()
            )
        return sorted_events.with_columns(flag.alias("_ident")).drop(helpers)
    if rule != "exact":
        raise ValueError(f"rule={rule!r} should be event_id, exact or none")
    if dup is None:
        return sorted_events.drop(helpers)
    keep = ~pl.int_range(pl.len(), dtype=dup.dtype).is_in(dup.implode())
    return sorted_events.filter(keep).drop(helpers)


def _repeated_event_ids(sorted_events: pl.DataFrame) -> pl.Series | None:
    """Row positions whose ``(customer_id, event_id)`` occurred earlier (``None``: none).

    A 64-bit hash of ``(customer_id, event_id)`` is sorted (a radix sort, far cheaper than a
    hash table of every row): equal neighbours are the only possible duplicates.  Rows with
    those hashes are then compared on the ids themselves, in frame order, so a hash
    collision never drops an event and the first row (by time, then file order) is kept.
    """
    if sorted_events.height == 0:
        return None
    key = sorted_events.select(pl.struct("customer_id", "event_id").hash(0x5EED)).to_series()
    srt = key.sort()
    repeated = srt.filter(srt == srt.shift(1))
    if repeated.len() == 0:
        return None
    idx = "__row"
    cand = (
        sorted_events.select("customer_id", "event_id")
        .with_row_index(idx)
        .filter(key.is_in(repeated.unique().implode()))
    )
    first = pl.struct("customer_id", "event_id").is_first_distinct()
    dup = cand.filter(~first & pl.col("event_id").is_not_null())[idx]
    return dup if dup.len() else None


def _identical_rows(sorted_events: pl.DataFrame) -> pl.Series | None:
    """Row positions identical to an earlier row (``None`` if there are none)."""
    cid, ts = pl.col("customer_id"), pl.col("ts")
    run = ((cid == cid.shift(1)) & (ts == ts.shift(1))) | (
        (cid == cid.shift(-1)) & (ts == ts.shift(-1))
    )
    idx = "__row"
    cand = sorted_events.with_row_index(idx).filter(run.fill_null(False))
    if cand.height == 0:
        return None
    cols = [c for c in (*COLUMNS, *FINGERPRINT) if c in sorted_events.columns]
    dup = cand.filter(~pl.struct(cols).is_first_distinct())[idx]
    return dup if dup.len() else None


def sequence_columns(sorted_events: pl.LazyFrame) -> pl.LazyFrame:
    """Add the customer index ``_ci`` and the order-derived flags (see module doc).

    Built in stages so every shared piece (``_first``, ``_us``, ...) is computed once.
    """
    cid, d, p = pl.col("customer_id"), pl.col("d"), pl.col("_p")
    first, view, us = pl.col("_first"), pl.col("_view"), pl.col("_us")
    no_ts = pl.lit(_NO_TS, pl.Int64)
    stage1 = sorted_events.with_columns(
        (cid != cid.shift(1)).fill_null(True).alias("_first"),
        (cid != cid.shift(-1)).fill_null(True).alias("_last"),
        (ET == "view").alias("_view"),
        pl.col("ts").dt.epoch("us").alias("_us"),
    )
    # Last purchase day up to this row (same customer), or _NO_DAY; a purchase cycle
    # starts at a customer's first row or right after a purchase.  ``_pus``: the ts of the
    # purchase that ends this row's cycle (_NO_PUS: the customer buys no more).
    no_day = pl.lit(_NO_DAY, pl.Int32)
    stage2 = stage1.with_columns(
        pl.when(p).then(d).when(first).then(no_day).otherwise(None).forward_fill().alias("_lpd"),
        (first | p.shift(1).fill_null(False)).alias("_start"),
        pl.when(p)
        .then(us)
        .when(pl.col("_last"))
        .then(pl.lit(_NO_PUS, pl.Int64))
        .otherwise(None)
        .backward_fill()
        .alias("_pus"),
    )
    # A view counts for its cycle's lead time when it is within the look-back of that
    # cycle's purchase; those views are a suffix (in time) of the cycle's views.
    pus = pl.col("_pus")
    stage2b = stage2.with_columns(
        (view & (pus != _NO_PUS) & (us >= pus - LEAD_LOOKBACK_DAYS * US_PER_DAY)).alias("_q")
    ).with_columns(pl.col("_q").cast(pl.Int32).cum_sum().alias("_qn"))
    q, qn, start = pl.col("_q"), pl.col("_qn"), pl.col("_start")
    stage3 = stage2b.with_columns(
        pl.when(first).then(no_day).otherwise(pl.col("_lpd").shift(1)).alias("_ppd"),
        # counted views before this row within its cycle == 0 and this row is one
        (
            q
            & (qn - pl.when(start).then(qn - q.cast(pl.Int32)).otherwise(None).forward_fill() == 1)
        ).alias("_fv"),
    )
    prev_pd = pl.col("_ppd")
    new_pd = p & (d != prev_pd)
    cycle_view = (
        pl.when(pl.col("_fv"))
        .then(us)
        .when(start)
        .then(no_ts)
        .otherwise(None)
        .forward_fill()
    )
    return stage3.with_columns(
        (first.cast(pl.UInt32).cum_sum() - 1).alias("_ci"),
        month_day(d).alias("_md"),
        *hour_angle_columns(((us - d.cast(pl.Int64) * US_PER_DAY) // 1_000_000).cast(pl.Int32)),
        ((d % 7 + 3) % 7 + 1).cast(pl.Int8).alias("_wd"),
        (first | (d != d.shift(1))).alias("_nd"),
        new_pd.alias("_npd"),
        pl.when(new_pd & (prev_pd != _NO_DAY)).then((d - prev_pd).cast(pl.Float64)).alias("_gap"),
        pl.when(p).then(cycle_view).alias("_cv"),
    ).with_columns(
        pl.when(pl.col("_cv") != _NO_TS)
        .then((us - pl.col("_cv")).cast(pl.Float64) / US_PER_HOUR)
        .alias("_lead"),
    )


def month_day(d: pl.Expr) -> pl.Expr:
    """``month * 100 + day`` of a day number (days since 1970-01-01).

    Calendar parts are computed once per distinct day of the range (a small table), then
    gathered per row.
    """
    lo = d.min().fill_null(0)  # empty input: an empty table, nothing gathered
    days = pl.int_range(lo, d.max().fill_null(0) + 1, dtype=pl.Int32).cast(pl.Date)
    table = days.dt.month().cast(pl.Int32) * 100 + days.dt.day().cast(pl.Int32)
    return table.gather((d - lo).cast(pl.UInt32))


def hour_angle_columns(sod: pl.Expr) -> list[pl.Expr]:
    """``_hs``, ``_hc``: sin/cos of 2*pi*h/24, h = hour + minute/60 + second/3600.

    ``sod`` is whole seconds since midnight; the 86,400 possible values are computed once
    (a table, the same float operations as per row) and gathered.
    """
    s = pl.int_range(0, 86_400, dtype=pl.Int32)
    hours = (
        (s // 3600).cast(pl.Float64)
        + ((s % 3600) // 60).cast(pl.Float64) / 60.0
        + (s % 60).cast(pl.Float64) / 3600.0
    )
    angle = hours * (2.0 * math.pi / 24.0)
    idx = sod.cast(pl.UInt32)
    return [angle.sin().gather(idx).alias("_hs"), angle.cos().gather(idx).alias("_hc")]


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.sum().cast(pl.Float64)


def _in_window(lo: int, hi: int) -> pl.Expr:
    md = pl.col("_md")
    return (md >= lo) & (md <= hi) if lo <= hi else (md >= lo) | (md <= hi)


def aggregations(ctx: FeatureContext) -> list[pl.Expr]:
    """Intermediate per-customer aggregations over :func:`sequence_columns` output."""
    p = pl.col("_p")
    d = pl.col("d")
    nd = pl.col("_nd")
    a = ctx.as_of_day
    out = [
        pl.col("customer_id").first(),
        pl.len().cast(pl.Float64).alias("_events"),
        d.first().alias("_first_day"),
        d.last().alias("_last_day"),
        _count(nd).alias("_active_days"),
        _count(nd & (d > a - RECENT_DAYS)).alias("_active_recent"),
        _count(nd & (d > a - 30)).alias("_active_30"),
        _count(nd & (d <= a - 30) & (d > a - 120)).alias("_active_prior90"),
        _count(pl.col("_npd")).alias("_purchase_days"),
        d.filter(p).last().alias("_last_pday"),
        _count(p).alias("_purchases"),
        pl.col("amount").filter(p).sum().alias("_spend"),
        _count(pl.col("_r")).alias("_returns"),
        _count(p & (pl.col("discount") > 0)).alias("_disc_purchases"),
        _count(p & (pl.col("_wd") >= 6)).alias("_weekend_purchases"),
        _count(ET == "view").alias("_views"),
        _count(ET == "add_to_cart").alias("_carts"),
        _count(ET == "session_start").alias("_sessions"),
        _count(ET == "email_open").alias("_email_opens"),
        _count(ET == "email_click").alias("_email_clicks"),
        _count(ET == "ad_click").alias("_ad_clicks"),
        _count(ET == "referral").alias("_referrals"),
        pl.col("_hs").sum().alias("_hour_sin"),
        pl.col("_hc").sum().alias("_hour_cos"),
        _count(pl.col("channel").is_not_null()).alias("_channel_events"),
        pl.col("_gap").mean().alias("_gap_mean"),
        pl.col("_gap").std(ddof=0).alias("_gap_std"),
    ]
    for name, (lo, hi) in ctx.occasions.items():
        out.append(_count(p & _in_window(lo, hi)).alias(f"_occ_{name}"))
    for c in ctx.channels:
        out.append(_count(pl.col("channel") == c).alias(f"_ch_{slug(c)}"))
    return out


def safe_div(num: pl.Expr, den: pl.Expr, default: float = 0.0) -> pl.Expr:
    """``num / den``, or ``default`` where ``den`` is 0 or null."""
    return pl.when(den > 0).then(num / den).otherwise(pl.lit(default, dtype=pl.Float64))


def weeks() -> pl.Expr:
    """Weeks a customer was observable: max(tenure_days + 1, 7) / 7 (needs ``tenure_days``)."""
    return pl.max_horizontal(pl.col("tenure_days") + 1.0, pl.lit(7.0)) / 7.0
