"""``canonicalize_frame``: the batch reader's rules applied to an in-memory frame."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from archetype.events.canonical import TYPE_RAW, VALUE_COLUMNS, bad_col, plan_columns, raw_col
from archetype.events.config import EventsConfig
from archetype.events.report import ValidationReport
from archetype.events.schema import CANONICAL_COLUMNS
from archetype.events.validate import (
    as_text,
    check_counts,
    count_exprs,
    unknown_values,
    warn_bad_values,
)

ROW = "__row"  # with ``keep_row``: the input row (1-based) of each output row
EVENT_ID = "event_id"


def canonicalize_frame(
    df: pl.DataFrame,
    config: EventsConfig | None = None,
    *,
    source: str = "<frame>",
    keep_row: bool = False,
    row_label: Callable[[int], str] | None = None,
) -> tuple[pl.DataFrame, ValidationReport]:
    """Map, parse and validate an in-memory frame of events like the batch reader does.

    The same column / event-type maps, timestamp and zone rule, number parsing and
    bad-value policy as :func:`archetype.events.read_events`.  No as-of cut and no
    duplicate removal (the caller's: the batch builder per customer, the live service by
    event id across requests).

    Returns
    -------
    (pl.DataFrame, ValidationReport)
        The usable rows in input order, canonical columns (``customer_id``, ``ts``,
        ``event_type``, ``amount``, ``quantity``, ``discount``, ``channel``, ``category``,
        ``event_id``), String dtypes; and the counts (rows without an id or with an unknown
        type are dropped and counted; ``after_as_of``/``before_window`` are 0).  With
        ``keep_row`` a last column :data:`ROW` holds each row's input row (1-based), so a
        caller can name the record a later check refuses.  ``row_label`` (0-based row ->
        words, e.g. ``"line 3"`` of an NDJSON body) names a bad row in errors instead of
        ``row N``.

    Raises
    ------
    UserError
        A missing column, or a bad value (under ``on_bad_value = "error"``), naming
        ``source``, the column, the count, the first bad value and its row (1-based).
    """
    cfg = config or EventsConfig()
    plan = plan_columns(
        df.schema, cfg, where=source, sample=lambda c: df.get_column(c).head(10_000)
    )
    out = df.lazy().select(plan.exprs).with_row_index(ROW, offset=1).collect()
    counts = out.select(count_exprs(plan)).row(0, named=True)

    def locate(canon: str) -> tuple[str, int | None, str | None]:
        first = out.filter(pl.col(bad_col(canon))).row(0, named=True)
        row = first[ROW] if row_label is None else row_label(first[ROW] - 1)
        return source, row, as_text(first[raw_col(canon)])

    check_counts(plan, counts, source, locate)
    report = ValidationReport(
        rows_scanned=df.height,
        transaction_only=plan.transaction_only,
        discount_as_flag=plan.discount_as_flag,
        timezone=cfg.timezone,
        dedupe=plan.dedupe,
    )
    for w in plan.warnings:
        report.warn(w)
    report.bad_values = {c: counts[f"bad_{c}"] for c in VALUE_COLUMNS if counts[f"bad_{c}"]}
    dropped = plan.dropped()
    keep = ~dropped & pl.col("customer_id").is_not_null() & pl.col("event_type").is_not_null()
    stats = out.select(
        dropped.sum().alias("dropped"),
        (~dropped & pl.col("customer_id").is_null()).sum().alias("null_ids"),
        (~dropped & pl.col("customer_id").is_not_null() & pl.col("event_type").is_null())
        .sum()
        .alias("unknown"),
    ).row(0, named=True)
    if plan.policy == "null":
        report.values_nulled = sum(counts[f"bad_{c}"] for c in VALUE_COLUMNS if c != "ts")
    report.bad_rows_dropped = stats["dropped"]
    report.null_customer_ids = stats["null_ids"]
    report.unknown_event_types = stats["unknown"]
    warn_bad_values(report, plan.policy)
    if report.unknown_event_types:
        unknown = out.filter(
            ~dropped & pl.col("event_type").is_null() & pl.col(TYPE_RAW).is_not_null()
        )
        report.unknown_event_values = unknown_values(unknown.lazy()).collect()[TYPE_RAW].to_list()
    used = out.filter(keep).select(*CANONICAL_COLUMNS, *([ROW] if keep_row else []))
    report.rows_used = used.height
    report.returns = used.filter(
        (pl.col("event_type") == "purchase") & (pl.col("amount") < 0)
    ).height
    if used.height:
        report.first_day = used["ts"].min().date().isoformat()
        report.last_day = used["ts"].max().date().isoformat()
    return used, report
