"""Validation of a mapped log: counts, the fatal checks and their one-line errors.

A :class:`~archetype.events.canonical.Plan` flags bad values row by row; here those flags
become counts (one aggregation, mergeable across partitions), errors that name the file,
column, count, first bad value and row, and the warnings of the report.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from archetype.errors import DataError
from archetype.events.canonical import CURRENCY, TYPE_RAW, VALUE_COLUMNS, Plan, bad_col, raw_col
from archetype.events.report import ValidationReport


def as_text(value: object) -> str | None:
    """A raw source value as quoted in an error (``None`` stays ``None``)."""
    return None if value is None else str(value)


def bad_value_error(
    canon: str, count: int, value: str | None, where: str, column: str, row: int | str | None
) -> DataError:
    """The one-line error for ``count`` bad values of ``canon`` (first at ``row``: a 1-based
    row number, or the caller's own words such as ``"line 3"``).

    The fix names both the command-line flag and the ``[events]`` key (the service reads
    only the config)."""
    at = "" if row is None else f" at row {row:,}" if isinstance(row, int) else f" at {row}"
    if canon == "ts":
        what = "unparseable timestamps"
        fix = (
            "set --timestamp-format (strftime) or --timestamp-unit s|ms|us|ns "
            "([events] timestamp_format / timestamp_unit)"
        )
    elif canon == "customer_id":
        what = "customer ids that are not integers"
        fix = "use --id-dtype str ([events] id_dtype)"
    else:
        fix = (
            "use --decimal-comma ([events] decimal_comma) for 1.234,56-style numbers"
            if canon != "quantity"
            else ""
        )
        what = f"{canon} values that are not finite numbers"
        if canon == "quantity":
            what = "quantities that are not whole numbers"
    if canon != "customer_id":
        fix = (
            f"{fix + ', or ' if fix else ''}pass --on-bad-value drop-row|null "
            "([events] on_bad_value) to skip them"
        )
    return DataError(
        f"{count:,} {what}, first bad value {value!r}{at}; {fix}", path=where, column=column
    )


def warn_bad_values(report: ValidationReport, policy: str) -> None:
    """The warning for bad values that were skipped (``drop-row`` / ``null``)."""
    if report.bad_values and policy != "error":
        counts = ", ".join(f"{k}: {v:,}" for k, v in report.bad_values.items())
        report.warn(
            f"{sum(report.bad_values.values()):,} values did not parse ({counts}); "
            f"{report.bad_rows_dropped:,} rows dropped, {report.values_nulled:,} values read "
            f"as missing (--on-bad-value {policy})"
        )


def unknown_values(rows: pl.LazyFrame, n: int = 5) -> pl.LazyFrame:
    """The ``n`` most frequent raw event types of ``rows`` (unknown-type rows)."""
    return (
        rows.group_by(TYPE_RAW)
        .len()
        .sort(["len", TYPE_RAW], descending=[True, False])
        .head(n)
        .select(pl.col(TYPE_RAW).cast(pl.String))
    )


def count_exprs(plan: Plan) -> list[pl.Expr]:
    """Validation counts that do not depend on the as-of day (see ``read.count_exprs``)."""
    out = [pl.len().alias("rows")]
    for canon in (*VALUE_COLUMNS, "customer_id"):
        b = pl.col(bad_col(canon))
        out += [
            b.sum().alias(f"bad_{canon}"),
            pl.col(raw_col(canon)).filter(b).first().cast(pl.String).alias(f"first_bad_{canon}"),
        ]
    if plan.currency:
        out.append(pl.col(CURRENCY).drop_nulls().unique().sort().implode().alias("currencies"))
    else:
        out.append(pl.lit([], dtype=pl.List(pl.String)).alias("currencies"))
    return out


def check_counts(
    plan: Plan,
    counts: dict,
    where: str,
    locate: Callable[[str], tuple[str, int | None, str | None]] | None = None,
) -> None:
    """Raise the one-line error for fatal bad values in merged ``counts``.

    ``locate(canon)`` -> ``(file, row, raw value)`` of the first bad value (1-based row).
    """
    fatal = ["customer_id"]
    fatal += list(VALUE_COLUMNS) if plan.policy == "error" else []
    for canon in fatal:
        n = counts.get(f"bad_{canon}", 0)
        if not n:
            continue
        column = plan.sources.get(canon, canon)
        file, row, value = where, None, counts.get(f"first_bad_{canon}")
        if locate is not None:
            file, row, value = locate(canon)
        raise bad_value_error(canon, n, value, file, column, row)
    cur = sorted(set(counts.get("currencies") or []))
    if len(cur) > 1:
        raise DataError(
            f"amounts in several currencies ({', '.join(cur)}); convert them to one currency first",
            path=where,
            column=plan.sources.get("amount"),
        )
