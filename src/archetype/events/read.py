"""``read_events``: map, validate and cut an event log at the as-of day, lazily.

One streaming pass counts what validation needs (bad values, null ids, unknown types,
returns, rows outside the window); everything else stays a lazy plan for the feature
builder.  The column mapping and parsing is :func:`archetype.events.canonical.plan_columns`,
the same plan :func:`~archetype.events.canonical.canonicalize_frame` applies to frames.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from archetype.errors import DataError, UserError
from archetype.events import canonical as C
from archetype.events import validate as V
from archetype.events.config import EventsConfig
from archetype.events.readers import Source, resolve, schema_of, unreadable
from archetype.events.report import ValidationReport
from archetype.events.schema import CANONICAL_COLUMNS
from archetype.vocab import IdDtype

log = logging.getLogger(__name__)

HIVE_DATE = "date"
_HIVE_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_SAMPLE_ROWS = 10_000


@dataclass
class EventsScan:
    """A validated event log.

    Attributes
    ----------
    lazy : pl.LazyFrame
        Canonical columns (see :mod:`archetype.events.schema`), cut at the as-of day and the
        window, invalid rows dropped, duplicates removed by the log's rule
        (``report.dedupe``).
    report : ValidationReport
        Counts of what was dropped or recovered (duplicates are counted by the feature
        builder, not here).
    lazy_with_duplicates : pl.LazyFrame
        Same as ``lazy`` before duplicate removal.
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


@dataclass
class CanonicalScan:
    """An event log mapped to canonical columns, not yet validated or cut.

    ``lazy`` still holds every row plus helper columns; :meth:`count_exprs` and
    :meth:`keep` turn (a part of) it into validation counts and the used rows.
    :func:`read_events` runs one counting pass over all of it; the feature builder instead
    counts while it materializes the rows anyway (one pass fewer).
    """

    lazy: pl.LazyFrame
    source: Source
    plan: C.Plan
    config: EventsConfig
    as_of: dt.date
    window_days: int | None
    prune_margin_days: int = 0

    @property
    def transaction_only(self) -> bool:
        return self.plan.transaction_only

    @property
    def dedupe(self) -> str:
        """The duplicate rule: ``event_id``, ``exact`` or ``none``."""
        return self.plan.dedupe

    @property
    def end_ts(self) -> dt.datetime:
        return dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time())

    @property
    def start_ts(self) -> dt.datetime | None:
        start = window_start(self.as_of, self.window_days)
        return None if start is None else dt.datetime.combine(start, dt.time())

    def partition_bounds(self) -> tuple[dt.date, dt.date | None]:
        """``(last, first)`` hive ``date=`` folder that can hold used rows (first ``None``:
        no lower bound).  Widened by a day when timestamps are converted between zones,
        since a folder's day need not be the configured zone's day."""
        m = dt.timedelta(days=self.prune_margin_days)
        start = window_start(self.as_of, self.window_days)
        return self.as_of + m, None if start is None else start - m

    def keep(self) -> pl.Expr:
        """Rows that go into features: no dropped bad value, in the window, with a customer
        id and a known type."""
        keep = ~self.plan.dropped() & _in_range(self.end_ts, self.start_ts)
        return keep & pl.col("customer_id").is_not_null() & pl.col("event_type").is_not_null()

    def kept(self) -> pl.LazyFrame:
        """The used rows: canonical columns plus what the duplicate rule needs."""
        return self.lazy.filter(self.keep()).select(self.plan.builder_columns)

    def count_exprs(self) -> list[pl.Expr]:
        """One-row aggregation of the validation counts (see :func:`merge_counts`)."""
        return V.count_exprs(self.plan) + _window_counts(self.plan, self.end_ts, self.start_ts)

    def has_errors(self, counts: dict) -> bool:
        """Whether :meth:`report` will raise for bad values in ``counts``."""
        try:
            V.check_counts(self.plan, counts, self.source.path)
        except UserError:
            return True
        return False

    def report(self, counts: dict) -> ValidationReport:
        """Validate merged counts: raise on fatal bad values or nothing left; else the report."""
        V.check_counts(self.plan, counts, self.source.path, self._locate)
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
            transaction_only=self.plan.transaction_only,
            bad_values={c: counts[f"bad_{c}"] for c in C.VALUE_COLUMNS if counts[f"bad_{c}"]},
            bad_rows_dropped=counts["dropped"],
            values_nulled=counts["nulled"],
            dedupe=self.plan.dedupe,
            discount_as_flag=self.plan.discount_as_flag,
            timezone=self.config.timezone,
        )
        for w in self.plan.warnings:
            report.warn(w)
        V.warn_bad_values(report, self.plan.policy)
        if report.unknown_event_types:
            report.unknown_event_values = _unknown_values(self.lazy, self.source)
        if report.rows_used == 0:
            window = "" if self.window_days is None else f", window {self.window_days} days"
            raise DataError(
                f"no events left after filtering (as-of {self.as_of.isoformat()}{window}): "
                f"{report.rows_scanned:,} rows scanned, {report.after_as_of:,} after as-of, "
                f"{report.before_window:,} before window, "
                f"{report.null_customer_ids:,} null ids, "
                f"{report.unknown_event_types:,} unknown event types"
                + (f", {report.bad_rows_dropped:,} bad rows" if report.bad_rows_dropped else "")
                + self._folder_range(),
                path=self.source.path,
            )
        return report

    def _folder_range(self) -> str:
        """When the as-of/window pruned every ``date=`` folder: the folders' date range."""
        if not self.source.hive:
            return ""
        days = [d for d in map(_hive_day, self.source.files) if d is not None]
        if not days:
            return ""
        last, first = self.partition_bounds()
        if any(d <= last and (first is None or d >= first) for d in days):
            return ""
        return (
            f"; no date= folder is in range: they run from {min(days).isoformat()} "
            f"to {max(days).isoformat()} (pick an as-of in that range)"
        )

    def collect(self, lf: pl.LazyFrame) -> pl.DataFrame:
        """Collect (streaming) a query over this log; reader failures become DataErrors."""
        return _collect(lf, self.source)

    def collect_all(self, lfs: list[pl.LazyFrame]) -> list[pl.DataFrame]:
        """Collect several queries over this log in one streaming run (a shared scan)."""
        return _collect(lfs, self.source)

    def _locate(self, canon: str) -> tuple[str, int | None, str | None]:
        """``(file, 1-based row, raw value)`` of the first bad ``canon`` value, file by file."""
        last, first = self.partition_bounds()
        for f in self.source.files:
            day = _hive_day(f)
            if (
                self.source.hive
                and day is not None
                and (day > last or (first is not None and day < first))
            ):
                continue
            try:
                lf = self.source.scan_file(f)
                plan = C.plan_columns(
                    lf.collect_schema(),
                    self.config,
                    where=f,
                    discount_as_flag=self.plan.discount_as_flag,
                    fingerprint=[],
                )
                hit = (
                    lf.with_row_index("__row", offset=1)
                    .select(pl.col("__row"), *plan.exprs)
                    .filter(pl.col(C.bad_col(canon)))
                    .head(1)
                    .collect()
                )
            except Exception:  # noqa: BLE001 - locating is best effort; the count stands
                continue
            if hit.height:
                return f, int(hit["__row"][0]), V.as_text(hit[C.raw_col(canon)][0])
        return self.source.path, None, None


def _hive_day(file: str) -> dt.date | None:
    for part in reversed(Path(file).parent.parts):
        m = _HIVE_DATE_DIR.match(part)
        if m:
            try:
                return dt.date.fromisoformat(m.group(1))
            except ValueError:
                return None
    return None


def open_events(
    path: str | Path,
    config: EventsConfig | None = None,
    *,
    as_of: dt.date,
    window_days: int | None = None,
    compact: bool = False,
) -> CanonicalScan:
    """Resolve, map and prune an event log (no data read beyond schemas and a sample).

    ``compact=True`` gives ``event_type`` an Enum and ``channel``/``category`` a
    Categorical dtype (the feature builder's choice); otherwise canonical String dtypes.
    """
    cfg = config or EventsConfig()
    if window_days is not None and window_days < 1:
        raise UserError(f"window_days={window_days} should be >= 1")
    source = resolve(path, cfg.format, cfg.csv_separator)
    if cfg.id_dtype == IdDtype.STR and source.format == "parquet" and len(source.files) > 1:
        source = dataclasses.replace(source, text_columns=_id_columns(cfg))
    schema = schema_of(source)
    lf = source.scan()
    where = source.files[0] if len(source.files) == 1 else source.path

    def sample(column: str) -> pl.Series:
        return _collect(lf.select(pl.col(column)).head(_SAMPLE_ROWS), source).to_series()

    plan = C.plan_columns(
        schema,
        cfg,
        where=where,
        compact=compact,
        sample=sample,
        fingerprint=source.file_columns() if source.hive else None,
    )
    ts_user = plan.sources["ts"]
    ts_dtype = schema[ts_user]
    naive = (isinstance(ts_dtype, pl.Datetime) and ts_dtype.time_zone is None) or (
        ts_dtype == pl.Date
    )
    cs = CanonicalScan(
        lf, source, plan, cfg, as_of, window_days, prune_margin_days=0 if naive else 1
    )
    if source.hive and HIVE_DATE in schema and HIVE_DATE not in _mapped(cfg):
        lf = _prune_partitions(lf, schema[HIVE_DATE], *cs.partition_bounds())
    cs.lazy = lf.select(plan.exprs)
    return cs


def _id_columns(cfg: EventsConfig) -> tuple[str, ...]:
    """The source columns of the customer id and the event id (read as text when the ids
    are text: ``id_dtype = "str"``)."""
    out = [cfg.columns.get("customer_id", "customer_id")]
    eid = cfg.columns.get("event_id", "event_id")
    out.extend([eid] if isinstance(eid, str) else eid)
    return tuple(dict.fromkeys(out))


def _mapped(cfg: EventsConfig) -> set[str]:
    out: set[str] = set()
    for v in cfg.columns.values():
        out.update([v] if isinstance(v, str) else v)
    return out


def merge_counts(rows: list[dict]) -> dict:
    """Add up the counts of several partitions (first/last day: min/max; first bad value:
    the first partition's; currencies: the union)."""
    out = dict(rows[0])
    for r in rows[1:]:
        for k, v in r.items():
            if k in ("first", "last"):
                pick = min if k == "first" else max
                out[k] = v if out[k] is None else out[k] if v is None else pick(out[k], v)
            elif k.startswith("first_bad"):
                out[k] = out[k] if out[k] is not None else v
            elif k == "currencies":
                out[k] = sorted(set(out[k] or []) | set(v or []))
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
        Column and event-type maps, timestamp/zone rule, bad-value policy, duplicate rule.
    as_of : date
        Last day included (the whole day, in ``config.timezone``); later events are ignored.
    window_days : int, optional
        Keep only the ``window_days`` days ending at ``as_of``.

    Returns
    -------
    EventsScan

    Raises
    ------
    UserError
        Missing column (named, with the file), bad values (file, column, count, first bad
        value, row), nothing left after filtering, unreadable or corrupt file, mixed file
        kinds.
    """
    cs = open_events(path, config, as_of=as_of, window_days=window_days)
    counts = cs.collect(cs.lazy.select(cs.count_exprs())).row(0, named=True)
    report = cs.report(counts)
    with_dups = cs.lazy.filter(cs.keep()).select(CANONICAL_COLUMNS)
    log.info("events: %s", report.summary())
    return EventsScan(_deduplicated(cs), report, with_dups, cs.source, as_of, window_days)


def _deduplicated(cs: CanonicalScan) -> pl.LazyFrame:
    """The used rows with the duplicate rule applied (lazily)."""
    rows = cs.lazy.filter(cs.keep())
    cid, eid = pl.col("customer_id"), pl.col("event_id")
    if cs.dedupe == "event_id":
        first = pl.struct(cid, eid).is_first_distinct() | eid.is_null()
        rows = rows.sort("customer_id", "ts", maintain_order=True).filter(first)
    elif cs.dedupe == "exact":
        cols = [*CANONICAL_COLUMNS, *C.FINGERPRINT]
        rows = rows.filter(pl.struct(cols).is_first_distinct())
    return rows.select(CANONICAL_COLUMNS)


def _prune_partitions(lf, dtype, last: dt.date, first: dt.date | None) -> pl.LazyFrame:
    d = pl.col(HIVE_DATE)
    if dtype == pl.Date:
        hi, lo = pl.lit(last), None if first is None else pl.lit(first)
    elif dtype == pl.String:
        hi, lo = pl.lit(last.isoformat()), None if first is None else pl.lit(first.isoformat())
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


def _window_counts(
    plan: C.Plan, end_ts: dt.datetime, start_ts: dt.datetime | None
) -> list[pl.Expr]:
    dropped = plan.dropped()
    ok = ~dropped
    inr = ok & _in_range(end_ts, start_ts)
    idok = pl.col("customer_id").is_not_null()
    used = inr & idok & pl.col("event_type").is_not_null()
    if plan.policy == "null":
        bads = [pl.col(C.bad_col(c)).cast(pl.Int64) for c in ("amount", "quantity", "discount")]
        nulled = pl.sum_horizontal(bads).filter(ok).sum()
    else:
        nulled = pl.lit(0, pl.Int64)
    return [
        dropped.sum().alias("dropped"),
        nulled.alias("nulled"),
        (ok & (pl.col("ts") >= end_ts)).sum().alias("after"),
        (ok & ~inr & (pl.col("ts") < end_ts)).sum().alias("before"),
        (inr & ~idok).sum().alias("null_ids"),
        (inr & idok & pl.col("event_type").is_null()).sum().alias("unknown"),
        (used & (pl.col("event_type") == "purchase") & (pl.col("amount") < 0))
        .sum()
        .alias("returns"),
        used.sum().alias("used"),
        pl.col("ts").filter(used).min().alias("first"),
        pl.col("ts").filter(used).max().alias("last"),
    ]


def _unknown_values(canon: pl.LazyFrame, source: Source) -> list[str]:
    rows = canon.filter(pl.col("event_type").is_null() & pl.col(C.TYPE_RAW).is_not_null())
    return [str(v) for v in _collect(V.unknown_values(rows), source)[C.TYPE_RAW].to_list()]
