"""``read_events``: map, validate and cut an event log at the as-of day, lazily.

One streaming pass counts what validation needs (bad timestamps, null ids, unknown types,
returns, rows outside the window); everything else stays a lazy plan for the feature builder.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from archetype.errors import DataError, UserError
from archetype.events.config import EventsConfig
from archetype.events.readers import Source, resolve, schema_of, unreadable
from archetype.events.report import ValidationReport
from archetype.events.schema import DEFAULTS, DTYPES, EVENT_TYPES, OPTIONAL_COLUMNS

log = logging.getLogger(__name__)

_TS_BAD = "__ts_bad"
_TS_RAW = "__ts_raw"
_TYPE_RAW = "__type_raw"
HIVE_DATE = "date"


@dataclass
class EventsScan:
    """A validated event log.

    Attributes
    ----------
    lazy : pl.LazyFrame
        Canonical columns (see :mod:`archetype.events.schema`), cut at the as-of day and the
        window, invalid rows dropped, exact duplicates removed.
    report : ValidationReport
        Counts of what was dropped or recovered.
    lazy_with_duplicates : pl.LazyFrame
        Same as ``lazy`` before duplicate removal (the feature builder counts duplicates).
    source : Source
        The files read.
    as_of : date
        Last day included.
    window_days : int or None
        Lookback window (days ending at ``as_of``), ``None`` = all history.
    """

    lazy: pl.LazyFrame
    report: ValidationReport
    lazy_with_duplicates: pl.LazyFrame
    source: Source
    as_of: dt.date
    window_days: int | None

    @property
    def start(self) -> dt.date | None:
        """First day included, or ``None`` without a window."""
        return window_start(self.as_of, self.window_days)


def window_start(as_of: dt.date, window_days: int | None) -> dt.date | None:
    """First day of a ``window_days`` window ending at (and including) ``as_of``."""
    return None if window_days is None else as_of - dt.timedelta(days=window_days - 1)


def _column(schema: pl.Schema, cfg: EventsConfig, canon: str, source: Source) -> str | None:
    user = cfg.columns.get(canon, canon)
    if user in schema:
        return user
    if canon in cfg.columns or canon in ("customer_id", "ts"):
        hint = f" (mapped to {canon})" if canon in cfg.columns else ""
        have = ", ".join(list(schema)[:12])
        raise UserError(
            f"missing column {user!r}{hint}; the file has: {have}; "
            f"map it with --column {canon}=YOUR_COLUMN",
            path=source.files[0] if len(source.files) == 1 else source.path,
        )
    return None


def _ts_expr(dtype: pl.DataType, fmt: str | None, user: str, path: str) -> pl.Expr:
    c = pl.col(user)
    if dtype == pl.String:
        return c.str.strip_chars().str.to_datetime(fmt, time_unit="us", strict=False)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            c = c.dt.replace_time_zone(None)
        return c.dt.cast_time_unit("us")
    if dtype == pl.Date:
        return c.cast(pl.Datetime("us"))
    raise UserError(
        f"has dtype {dtype}; expected a datetime, date or timestamp string", path=path, column=user
    )


def _canonical(
    lf: pl.LazyFrame, schema: pl.Schema, cfg: EventsConfig, source: Source, *, compact: bool
):
    """Select and normalize canonical columns; keep helper columns for validation.

    ``compact`` stores ``event_type`` as an Enum of :data:`EVENT_TYPES` and ``channel`` /
    ``category`` as Categorical (same values, far less memory and faster comparisons).
    """
    cid = _column(schema, cfg, "customer_id", source)
    ts = _column(schema, cfg, "ts", source)
    cid_t = schema[cid]
    if cid_t.is_integer():
        cid_e = pl.col(cid).cast(pl.Int64)
    elif cid_t in (pl.String, pl.Categorical) or isinstance(cid_t, pl.Enum):
        cid_e = pl.col(cid).cast(pl.String)
    else:
        raise UserError(
            f"has dtype {cid_t}; customer ids must be integers or strings",
            path=source.path,
            column=cid,
        )
    exprs = [cid_e.alias("customer_id")]
    ts_e = _ts_expr(schema[ts], cfg.timestamp_format, ts, source.path)
    # The raw text is only needed to quote a bad value; only strings can be unparseable.
    raw_ts = pl.col(ts) if schema[ts] == pl.String else pl.lit(None, dtype=pl.String)
    exprs += [ts_e.alias("ts"), raw_ts.alias(_TS_RAW)]
    et_dtype = pl.Enum(EVENT_TYPES) if compact else pl.String()
    transaction_only = bool(cfg.transaction_only)
    for canon in OPTIONAL_COLUMNS:
        if canon == "event_type" and transaction_only:
            user = None
        else:
            user = _column(schema, cfg, canon, source)
        if canon == "event_type" and user is None:
            transaction_only = True
        if user is None:
            default = DEFAULTS[canon]
            if compact and canon == "event_type":
                default = default.cast(et_dtype)
            exprs.append(default.alias(canon))
            if canon == "event_type":
                exprs.append(pl.lit("purchase").alias(_TYPE_RAW))
            continue
        if canon == "event_type":
            raw = pl.col(user).cast(pl.String)
            mapping = {t: t for t in EVENT_TYPES} | dict(cfg.event_types)
            exprs.append(raw.alias(_TYPE_RAW))
            if compact and not cfg.event_types:
                mapped = raw.cast(et_dtype, strict=False)  # same as the map, ~4x cheaper
            else:
                mapped = raw.replace_strict(mapping, default=None, return_dtype=et_dtype)
            exprs.append(mapped.alias(canon))
            continue
        e = pl.col(user)
        if canon in ("amount", "discount"):
            e = e.cast(pl.Float64, strict=False).fill_null(0.0)
        elif canon == "quantity":
            e = e.cast(pl.Int32, strict=False).fill_null(1)
        else:
            e = e.cast(DTYPES[canon])
            if compact and canon in ("channel", "category"):
                e = e.cast(pl.Categorical)
        exprs.append(e.alias(canon))
    return lf.select(exprs), transaction_only


@dataclass
class CanonicalScan:
    """An event log mapped to canonical columns, not yet validated or cut.

    ``lazy`` still holds every row plus helper columns; :meth:`counts` and :meth:`keep`
    turn (a part of) it into validation counts and the used rows.  :func:`read_events`
    runs one counting pass over all of it; the feature builder instead counts each hash
    partition it materializes anyway (one pass fewer).
    """

    lazy: pl.LazyFrame
    source: Source
    transaction_only: bool
    as_of: dt.date
    window_days: int | None

    @property
    def end_ts(self) -> dt.datetime:
        return dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time())

    @property
    def start_ts(self) -> dt.datetime | None:
        start = window_start(self.as_of, self.window_days)
        return None if start is None else dt.datetime.combine(start, dt.time())

    def keep(self) -> pl.Expr:
        """Rows that go into features: in the window, with a customer id and a known type."""
        keep = _in_range(self.end_ts, self.start_ts) & pl.col("customer_id").is_not_null()
        return keep & pl.col("event_type").is_not_null()

    def count_exprs(self) -> list[pl.Expr]:
        """One-row aggregation of the validation counts (see :func:`merge_counts`)."""
        return _count_exprs(self.end_ts, self.start_ts)

    def report(self, counts: dict) -> ValidationReport:
        """Validate merged counts: raise on bad timestamps or nothing left; else the report."""
        if counts["bad_ts"]:
            first = counts["first_bad"]
            raise DataError(
                f"{counts['bad_ts']:,} unparseable timestamps, first bad value {first!r}; "
                "set [events] timestamp_format",
                path=self.source.path,
                column="ts",
            )
        report = ValidationReport(
            rows_scanned=counts["rows"],
            after_as_of=counts["after"],
            before_window=counts["before"],
            null_customer_ids=counts["null_ids"],
            unknown_event_types=counts["unknown"],
            returns=counts["returns"],
            rows_used=counts["used"],
            first_day=None if counts["first"] is None else counts["first"].date().isoformat(),
            last_day=None if counts["last"] is None else counts["last"].date().isoformat(),
        )
        report.transaction_only = self.transaction_only
        if report.unknown_event_types:
            report.unknown_event_values = _unknown_values(self.lazy, self.source)
        if report.rows_used == 0:
            window = "" if self.window_days is None else f", window {self.window_days} days"
            raise DataError(
                f"no events left after filtering (as-of {self.as_of.isoformat()}{window}): "
                f"{report.rows_scanned:,} rows scanned, {report.after_as_of:,} after as-of, "
                f"{report.before_window:,} before window, "
                f"{report.null_customer_ids:,} null ids, "
                f"{report.unknown_event_types:,} unknown event types",
                path=self.source.path,
            )
        return report

    def collect(self, lf: pl.LazyFrame) -> pl.DataFrame:
        """Collect (streaming) a query over this log; reader failures become DataErrors."""
        return _collect(lf, self.source)

    def collect_all(self, lfs: list[pl.LazyFrame]) -> list[pl.DataFrame]:
        """Collect several queries over this log in one streaming run (a shared scan)."""
        return _collect(lfs, self.source)


def open_events(
    path: str | Path,
    config: EventsConfig | None = None,
    *,
    as_of: dt.date,
    window_days: int | None = None,
    compact: bool = False,
) -> CanonicalScan:
    """Resolve, map and prune an event log (no data read beyond schemas).

    ``compact=True`` gives ``event_type`` an Enum and ``channel``/``category`` a
    Categorical dtype (the feature builder's choice); otherwise canonical String dtypes.
    """
    cfg = config or EventsConfig()
    if window_days is not None and window_days < 1:
        raise UserError(f"window_days={window_days} should be >= 1")
    source = resolve(path, cfg.format)
    schema = schema_of(source)
    lf = source.scan()
    start = window_start(as_of, window_days)
    if source.hive and HIVE_DATE in schema and HIVE_DATE not in cfg.columns.values():
        lf = _prune_partitions(lf, schema[HIVE_DATE], as_of, start)
    canon, transaction_only = _canonical(lf, schema, cfg, source, compact=compact)
    return CanonicalScan(canon, source, transaction_only, as_of, window_days)


def merge_counts(rows: list[dict]) -> dict:
    """Add up the counts of several partitions (first/last day: min/max)."""
    out = dict(rows[0])
    for r in rows[1:]:
        for k, v in r.items():
            if k in ("first", "last"):
                pick = min if k == "first" else max
                out[k] = v if out[k] is None else out[k] if v is None else pick(out[k], v)
            elif k == "first_bad":
                out[k] = out[k] if out[k] is not None else v
            else:
                out[k] += v
    return out


def read_events(
    path: str | Path,
    config: EventsConfig | None = None,
    *,
    as_of: dt.date,
    window_days: int | None = None,
) -> EventsScan:
    """Scan an event log lazily, mapped to canonical columns and cut at ``as_of``.

    Parameters
    ----------
    path : str or Path
        A Parquet or CSV file, a glob, or a (hive-partitioned) folder.
    config : EventsConfig, optional
        Column and event-type maps; defaults to canonical names.
    as_of : date
        Last day included (the whole day); later events are ignored.
    window_days : int, optional
        Keep only the ``window_days`` days ending at ``as_of``.

    Returns
    -------
    EventsScan

    Raises
    ------
    UserError
        Missing column (named, with the file), unparseable timestamps (count and first bad
        value), nothing left after filtering, unreadable or corrupt file.
    """
    cs = open_events(path, config, as_of=as_of, window_days=window_days)
    counts = cs.collect(cs.lazy.select(cs.count_exprs())).row(0, named=True)
    report = cs.report(counts)
    cols = ["customer_id", "ts", *OPTIONAL_COLUMNS]
    with_dups = cs.lazy.filter(cs.keep()).select(cols)
    log.info("events: %s", report.summary())
    return EventsScan(with_dups.unique(), report, with_dups, cs.source, as_of, window_days)


def _prune_partitions(lf, dtype, as_of: dt.date, start: dt.date | None) -> pl.LazyFrame:
    d = pl.col(HIVE_DATE)
    if dtype == pl.Date:
        hi, lo = pl.lit(as_of), None if start is None else pl.lit(start)
    elif dtype == pl.String:
        hi, lo = pl.lit(as_of.isoformat()), None if start is None else pl.lit(start.isoformat())
    else:
        return lf
    pred = d <= hi if lo is None else (d <= hi) & (d >= lo)
    return lf.filter(pred)


def _in_range(end_ts: dt.datetime, start_ts: dt.datetime | None) -> pl.Expr:
    e = pl.col("ts") < end_ts
    return e if start_ts is None else e & (pl.col("ts") >= start_ts)


def _collect(lf, source: Source):
    try:
        if isinstance(lf, list):
            return pl.collect_all(lf, engine="streaming")
        return lf.collect(engine="streaming")
    except UserError:
        raise
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OSError) as e:
        raise unreadable(source, e) from None
    except pl.exceptions.InvalidOperationError as e:
        msg = str(e).strip().splitlines()[0]
        raise DataError(f"cannot convert a column ({msg})", path=source.path) from None


def _count_exprs(end_ts: dt.datetime, start_ts: dt.datetime | None) -> list[pl.Expr]:
    bad = pl.col("ts").is_null()
    inr = ~bad & _in_range(end_ts, start_ts)
    idok = pl.col("customer_id").is_not_null()
    used = inr & idok & pl.col("event_type").is_not_null()
    return [
        pl.len().alias("rows"),
        bad.sum().alias("bad_ts"),
        pl.col(_TS_RAW).filter(bad).first().alias("first_bad"),
        (~bad & (pl.col("ts") >= end_ts)).sum().alias("after"),
        (~bad & ~inr & (pl.col("ts") < end_ts)).sum().alias("before"),
        (inr & ~idok).sum().alias("null_ids"),
        (inr & idok & pl.col("event_type").is_null()).sum().alias("unknown"),
        (used & (pl.col("event_type") == "purchase") & (pl.col("amount") < 0))
        .sum()
        .alias("returns"),
        used.sum().alias("used"),
        pl.col("ts").filter(used).min().alias("first"),
        pl.col("ts").filter(used).max().alias("last"),
    ]


def _unknown_values(canon: pl.LazyFrame, source: Source, n: int = 5) -> list[str]:
    df = _collect(
        canon.filter(pl.col("event_type").is_null() & pl.col(_TYPE_RAW).is_not_null())
        .group_by(_TYPE_RAW)
        .len()
        .sort(["len", _TYPE_RAW], descending=[True, False])
        .head(n),
        source,
    )
    return [str(v) for v in df[_TYPE_RAW].to_list()]
