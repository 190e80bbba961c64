"""Map a source's columns onto the canonical schema: one plan, used for files and frames.

:func:`plan_columns` looks only at the schema (and, for a text discount column, a sample
of its values) and returns the expressions that produce the canonical columns plus helper
columns for validation: ``__bad_<col>`` flags, ``__raw_<col>`` source values (to quote a bad
value), ``__type_raw`` (unknown event types) and ``__fp`` (a 64-bit fingerprint of every
source column, for the duplicate rules without an event id: rows count as identical when
their canonical values and this fingerprint are equal).

:func:`canonicalize_frame` applies a plan to an in-memory frame (the live service's
per-request path); :func:`archetype.events.read_events` applies the same plan to a scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from archetype.errors import DataError, UserError
from archetype.events import parse
from archetype.events.config import EventsConfig
from archetype.events.report import ValidationReport
from archetype.events.schema import (
    CANONICAL_COLUMNS,
    DEFAULTS,
    DTYPES,
    EVENT_TYPE_LOOKALIKES,
    EVENT_TYPES,
)

log = logging.getLogger(__name__)

TYPE_RAW = "__type_raw"
CURRENCY = "__currency"
FINGERPRINT = ("__fp",)
VALUE_COLUMNS = ("ts", "amount", "quantity", "discount")  # columns whose values can be bad
_FP_SEEDS = (0x5EED_0001,)
_EVENT_ID_SEP = "\x1f"


def bad_col(canon: str) -> str:
    return f"__bad_{canon}"


def raw_col(canon: str) -> str:
    return f"__raw_{canon}"


@dataclass(frozen=True)
class Plan:
    """How a source's columns become canonical ones (see module doc).

    Attributes
    ----------
    exprs : list[pl.Expr]
        Canonical columns, then helper columns.
    transaction_only : bool
        No event type: every row is a purchase.
    dedupe : str
        The resolved duplicate rule: ``event_id``, ``exact`` or ``none``.
    sources : dict[str, str]
        Canonical value column -> the user's column it is read from (for messages).
    policy : str
        ``on_bad_value`` of the config.
    discount_as_flag : bool
        The discount column is read as "discount used".
    currency : bool
        A ``__currency`` helper (currency written in a text amount) exists.
    warnings : list[str]
        Warnings found from the schema alone.
    """

    exprs: list[pl.Expr]
    transaction_only: bool
    dedupe: str
    sources: dict[str, str]
    policy: str
    discount_as_flag: bool = False
    currency: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def builder_columns(self) -> list[str]:
        """Canonical columns plus what the duplicate rule needs (the feature builder's)."""
        cols = [c for c in CANONICAL_COLUMNS if c != "event_id"]
        if self.dedupe == "event_id":
            return [*cols, "event_id"]
        return [*cols, *FINGERPRINT]

    def bad_any(self) -> pl.Expr:
        """Rows with any bad value."""
        return pl.any_horizontal([pl.col(bad_col(c)) for c in VALUE_COLUMNS])

    def dropped(self) -> pl.Expr:
        """Rows dropped for bad values: a bad timestamp always, other bad values under
        ``drop-row``."""
        if self.policy == "drop-row":
            return self.bad_any()
        return pl.col(bad_col("ts"))


def _no_bad_values(canon: str) -> list[pl.Expr]:
    return [pl.lit(False).alias(bad_col(canon)), pl.lit(None, pl.String).alias(raw_col(canon))]


def _find(schema: pl.Schema, cfg: EventsConfig, canon: str, where: str) -> list[str] | None:
    """The user's column(s) for ``canon``; ``None`` if optional and absent."""
    user = cfg.user_column(canon)
    names = [user] if isinstance(user, str) else list(user)
    missing = [n for n in names if n not in schema]
    if not missing:
        return names
    if canon in cfg.columns or canon in ("customer_id", "ts"):
        hint = f" (mapped to {canon})" if canon in cfg.columns else ""
        have = ", ".join(list(schema)[:12]) + (", ..." if len(schema) > 12 else "")
        raise UserError(
            f"missing column {missing[0]!r}{hint}; the file has: {have}; "
            f"map it with --column {canon}=YOUR_COLUMN",
            path=where,
        )
    return None


def _dedupe_rule(cfg: EventsConfig, has_event_id: bool, where: str) -> str:
    mode = str(cfg.dedupe)
    if mode == "auto":
        return "event_id" if has_event_id else "none"
    if mode == "event-id":
        if not has_event_id:
            raise UserError(
                "dedupe = event-id needs an event id column; map one with "
                "--column event_id=YOUR_COLUMN (or [events.columns] event_id)",
                path=where,
            )
        return "event_id"
    return mode  # exact | none


def plan_columns(
    schema: pl.Schema,
    cfg: EventsConfig,
    *,
    where: str,
    compact: bool = False,
    sample: Callable[[str], pl.Series] | None = None,
    discount_as_flag: bool | None = None,
    fingerprint: list[str] | None = None,
) -> Plan:
    """The canonical + helper expressions for a source with ``schema``.

    Parameters
    ----------
    where : str
        File or folder named in errors.
    compact : bool
        ``event_type`` as an Enum of :data:`EVENT_TYPES`, ``channel``/``category`` as
        Categorical (the feature builder's dtypes).
    sample : callable, optional
        ``sample(column)`` -> up to 10,000 values, to tell a coupon column from numbers.
    discount_as_flag : bool, optional
        Decide that instead (a plan for one file of a source already decided).
    fingerprint : list of str, optional
        Source columns the fingerprint covers (default: every column of ``schema``;
        ``[]``: no fingerprint).
    """
    warnings: list[str] = []
    cid = _find(schema, cfg, "customer_id", where)[0]
    ts = _find(schema, cfg, "ts", where)[0]
    id_value, id_bad = parse.customer_id(cid, schema[cid], id_dtype=str(cfg.id_dtype), where=where)
    exprs = [id_value.alias("customer_id")]
    ts_e = parse.timestamp(
        ts,
        schema[ts],
        timezone=cfg.timezone,
        fmt=cfg.timestamp_format,
        unit=None if cfg.timestamp_unit is None else str(cfg.timestamp_unit),
        where=where,
    )
    exprs.append(ts_e.alias("ts"))
    helpers = [
        ts_e.is_null().alias(bad_col("ts")),
        pl.col(ts).alias(raw_col("ts")),
        id_bad.alias("__bad_customer_id"),
        pl.col(cid).alias("__raw_customer_id"),
    ]
    sources = {"ts": ts, "customer_id": cid}
    policy = str(cfg.on_bad_value)
    transaction_only = bool(cfg.transaction_only)
    et_dtype = pl.Enum(EVENT_TYPES) if compact else pl.String()
    et = None if transaction_only else _find(schema, cfg, "event_type", where)
    if et is None:
        if cfg.transaction_only is None:
            look = [c for c in schema if c.lower() in EVENT_TYPE_LOOKALIKES]
            if look:
                warnings.append(
                    f"{where}: no event type column is mapped, so every row is read as a "
                    f"purchase, but column {look[0]!r} looks like one: map it with "
                    f"--column event_type={look[0]} (or set [events] transaction_only = true)"
                )
        transaction_only = True
        exprs.append(DEFAULTS["event_type"].cast(et_dtype).alias("event_type"))
        helpers.append(pl.lit("purchase").alias(TYPE_RAW))
    else:
        raw = pl.col(et[0]).cast(pl.String)
        helpers.append(raw.alias(TYPE_RAW))
        mapping = {t: t for t in EVENT_TYPES} | dict(cfg.event_types)
        if compact and not cfg.event_types:
            mapped = raw.cast(et_dtype, strict=False)  # same as the map, ~4x cheaper
        else:
            mapped = raw.replace_strict(mapping, default=None, return_dtype=et_dtype)
        exprs.append(mapped.alias("event_type"))
    flag = False
    currency = False
    for canon in ("amount", "quantity", "discount"):
        found = _find(schema, cfg, canon, where)
        if found is None:
            exprs.append(DEFAULTS[canon].alias(canon))
            helpers += _no_bad_values(canon)
            continue
        user = found[0]
        dtype = schema[user]
        sources[canon] = user
        if canon == "discount" and (
            discount_as_flag
            if discount_as_flag is not None
            else dtype == pl.Boolean
            or (
                dtype == pl.String
                and sample is not None
                and parse.looks_like_flags(sample(user), decimal_comma=cfg.decimal_comma)
            )
        ):
            flag = True
            exprs.append(parse.discount_flag(user, dtype).alias(canon))
            helpers += _no_bad_values(canon)
            continue
        value, bad = parse.number(
            user, dtype, kind=canon, decimal_comma=cfg.decimal_comma, where=where
        )
        default = DEFAULTS[canon]
        exprs.append(value.fill_null(default).cast(DTYPES[canon]).alias(canon))
        helpers += [bad.alias(bad_col(canon)), pl.col(user).alias(raw_col(canon))]
        if canon == "amount":
            cur = parse.currency_of(user, dtype)
            if cur is not None:
                currency = True
                helpers.append(cur.alias(CURRENCY))
    for canon in ("channel", "category"):
        found = _find(schema, cfg, canon, where)
        e = DEFAULTS[canon] if found is None else pl.col(found[0]).cast(pl.String)
        if compact:
            e = e.cast(pl.Categorical)
        exprs.append(e.alias(canon))
    eid = _find(schema, cfg, "event_id", where)
    if eid is None:
        exprs.append(DEFAULTS["event_id"].alias("event_id"))
    elif len(eid) == 1:
        exprs.append(pl.col(eid[0]).cast(pl.String).alias("event_id"))
    else:
        parts = [pl.col(c).cast(pl.String) for c in eid]
        exprs.append(pl.concat_str(parts, separator=_EVENT_ID_SEP).alias("event_id"))
    dedupe = _dedupe_rule(cfg, eid is not None, where)
    if dedupe != "event_id" and fingerprint != []:
        cols = list(schema) if fingerprint is None else fingerprint
        row = pl.struct([pl.col(c) for c in cols])
        helpers += [row.hash(s).alias(n) for s, n in zip(_FP_SEEDS, FINGERPRINT, strict=True)]
    return Plan(
        exprs + helpers,
        transaction_only,
        dedupe,
        sources,
        policy,
        discount_as_flag=flag,
        currency=currency,
        warnings=warnings,
    )


def as_text(value: object) -> str | None:
    """A raw source value as quoted in an error (``None`` stays ``None``)."""
    return None if value is None else str(value)


def bad_value_error(
    canon: str, count: int, value: str | None, where: str, column: str, row: int | None
) -> DataError:
    """The one-line error for ``count`` bad values of ``canon`` (first at ``row``)."""
    at = "" if row is None else f" at row {row:,}"
    if canon == "ts":
        what = "unparseable timestamps"
        fix = "set --timestamp-format (strftime) or --timestamp-unit s|ms|us|ns"
    elif canon == "customer_id":
        what = "customer ids that are not integers"
        fix = "use --id-dtype str ([events] id_dtype)"
    else:
        fix = "use --decimal-comma for 1.234,56-style numbers" if canon != "quantity" else ""
        what = f"{canon} values that are not finite numbers"
        if canon == "quantity":
            what = "quantities that are not whole numbers"
    if canon != "customer_id":
        fix = f"{fix + ', or ' if fix else ''}pass --on-bad-value drop-row|null to skip them"
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


def canonicalize_frame(
    df: pl.DataFrame, config: EventsConfig | None = None, *, source: str = "<frame>"
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
        type are dropped and counted; ``after_as_of``/``before_window`` are 0).

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
    out = df.lazy().select(plan.exprs).with_row_index("__row", offset=1).collect()
    counts = out.select(count_exprs(plan)).row(0, named=True)

    def locate(canon: str) -> tuple[str, int | None, str | None]:
        first = out.filter(pl.col(bad_col(canon))).row(0, named=True)
        return source, first["__row"], as_text(first[raw_col(canon)])

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
    used = out.filter(keep).select(CANONICAL_COLUMNS)
    report.rows_used = used.height
    report.returns = used.filter(
        (pl.col("event_type") == "purchase") & (pl.col("amount") < 0)
    ).height
    if used.height:
        report.first_day = used["ts"].min().date().isoformat()
        report.last_day = used["ts"].max().date().isoformat()
    return used, report
