"""Polars expressions that read one source column into a canonical value, honestly.

Each builder returns ``(value, bad)``: ``value`` is the canonical value (null where the
source is missing *or* unparseable) and ``bad`` is true exactly where the source holds
something that does not parse (never for a missing value).  The caller decides what a bad
value does (``EventsConfig.on_bad_value``); nothing here changes a value silently.

Timestamps (the zone rule, ``docs/features.md``): every timestamp becomes a naive
wall-clock time in the configured ``timezone``.  Zone-aware values (a zoned Datetime column,
ISO-8601 text with ``Z``/``+HH:MM``, ``%z`` formats, epoch numbers) are converted to the
zone; naive values are taken as already in it.  The same instant gives the same day
whatever the file.
"""

from __future__ import annotations

import polars as pl

from archetype.errors import UserError

# ISO-8601: date, optional time (seconds and fraction optional), optional Z / offset.
ISO_RE = (
    r"^(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_LOCAL_FMT = "%Y-%m-%dT%H:%M:%S%.f"
_US_PER = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}  # ns: divide by 1000
# Thousands grouping: 1,234,567.89 (decimal point) / 1.234.567,89 or 1 234 567,89 (comma).
_GROUPED_DOT = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
_GROUPED_COMMA = r"^[+-]?\d{1,3}([. '\x{a0}\x{202f}’]\d{3})+(,\d*)?$"
_CURRENCY_SYMBOL = r"\p{Sc}"
_CODE_BEFORE = r"^([A-Z]{3})\s*([+-]?[\d.,]+)$"
_CODE_AFTER = r"^([+-]?[\d.,]+)\s*([A-Z]{3})$"
# Text a coupon / "discount used" column uses for "no".
FALSY = ("", "0", "no", "n", "false", "f", "none", "null", "-", "nan")


def _output_dtype(expr: pl.Expr, column: str, dtype: pl.DataType) -> pl.DataType:
    """The dtype ``expr`` gives on a ``dtype`` column named ``column`` (no data read)."""
    return pl.LazyFrame(schema={column: dtype}).select(expr.alias("x")).collect_schema()["x"]


def to_zone(aware: pl.Expr, timezone: str) -> pl.Expr:
    """A zone-aware Datetime -> naive wall-clock time in ``timezone`` (microseconds)."""
    return aware.dt.convert_time_zone(timezone).dt.replace_time_zone(None).dt.cast_time_unit("us")


def iso_timestamp(text: pl.Expr, timezone: str) -> pl.Expr:
    """ISO-8601 text (offsets may differ row to row) -> naive time in ``timezone``."""
    g = text.str.strip_chars().str.extract_groups(ISO_RE)
    f = g.struct.field
    local = pl.concat_str(
        f("1"),
        pl.lit("T"),
        f("2").fill_null("00"),
        pl.lit(":"),
        f("3").fill_null("00"),
        pl.lit(":"),
        f("4").fill_null("00"),
        pl.lit("."),
        f("5").fill_null("0"),
    ).str.to_datetime(_LOCAL_FMT, strict=False, time_unit="us")
    off = f("6")
    digits = off.str.replace_all(r"[^0-9]", "")
    hours = digits.str.slice(0, 2).cast(pl.Int64, strict=False).fill_null(0)
    mins = digits.str.slice(2, 2).cast(pl.Int64, strict=False).fill_null(0)
    sign = pl.when(off.str.starts_with("-")).then(-1).otherwise(1)
    offset_min = sign * (hours * 60 + mins)
    utc = (local - pl.duration(minutes=offset_min)).dt.replace_time_zone("UTC")
    return pl.when(off.is_null()).then(local).otherwise(to_zone(utc, timezone))


def _epoch_us_from_text(text: pl.Expr, unit: str) -> pl.Expr:
    s = text.str.strip_chars()
    as_int = _int_to_us(s.cast(pl.Int64, strict=False), unit)
    as_float = _float_to_us(s.cast(pl.Float64, strict=False), unit)
    return pl.coalesce(as_int, as_float)


def _int_to_us(i: pl.Expr, unit: str) -> pl.Expr:
    per = _US_PER[unit]
    return i.floordiv(1000) if per is None else i * per


def _float_to_us(x: pl.Expr, unit: str) -> pl.Expr:
    per = _US_PER[unit]
    scaled = x / 1000.0 if per is None else x * float(per)
    ok = scaled.is_finite() & (scaled.abs() < 9.2e18)
    return pl.when(ok).then(scaled.round(0)).cast(pl.Int64)


def _from_epoch_us(us: pl.Expr, timezone: str) -> pl.Expr:
    return to_zone(pl.from_epoch(us, time_unit="us").dt.replace_time_zone("UTC"), timezone)


def timestamp(
    column: str,
    dtype: pl.DataType,
    *,
    timezone: str,
    fmt: str | None,
    unit: str | None,
    where: str,
) -> pl.Expr:
    """The canonical ``ts`` of source column ``column`` (null = missing or unparseable).

    Raises
    ------
    UserError
        A column type that cannot hold times, or integers without a unit/format.
    """
    c = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return to_zone(c, timezone)
        return c.dt.cast_time_unit("us")
    if dtype == pl.Date:
        return c.cast(pl.Datetime("us"))
    if dtype.is_integer():
        if unit is not None:
            return _from_epoch_us(_int_to_us(c.cast(pl.Int64), unit), timezone)
        if fmt is not None:
            return _text_with_format(c.cast(pl.String), fmt, timezone, column, dtype)
        raise UserError(
            f"has integer timestamps (dtype {dtype}); pass --timestamp-unit s|ms|us|ns for "
            "epoch numbers or --timestamp-format (e.g. %Y%m%d) for dates written as numbers",
            path=where,
            column=column,
        )
    if dtype.is_float():
        if unit is not None:
            return _from_epoch_us(_float_to_us(c, unit), timezone)
        raise UserError(
            f"has numeric timestamps (dtype {dtype}); pass --timestamp-unit s|ms|us|ns",
            path=where,
            column=column,
        )
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        text = c.cast(pl.String)
        if unit is not None:
            return _from_epoch_us(_epoch_us_from_text(text, unit), timezone)
        if fmt is not None:
            return _text_with_format(text, fmt, timezone, column, dtype)
        return iso_timestamp(text, timezone)
    raise UserError(
        f"has dtype {dtype}; expected datetimes, dates, ISO-8601 text or epoch numbers",
        path=where,
        column=column,
    )


def _text_with_format(
    text: pl.Expr, fmt: str, timezone: str, column: str, source_dtype: pl.DataType
) -> pl.Expr:
    parsed = text.str.strip_chars().str.to_datetime(fmt, strict=False, time_unit="us")
    dtype = _output_dtype(parsed, column, source_dtype)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return to_zone(parsed, timezone)
    return parsed


def _number_text(text: pl.Expr, *, decimal_comma: bool, currency: bool, percent: bool) -> pl.Expr:
    """Text -> Float64 (null where it is not a number; inf/NaN parse, flagged later)."""
    s = text.str.strip_chars()
    if currency:
        s = s.str.replace_all(_CURRENCY_SYMBOL, "").str.strip_chars()
        s = s.str.replace(_CODE_BEFORE, "$2").str.replace(_CODE_AFTER, "$1")
    scale = None
    if percent:
        scale = pl.when(s.str.ends_with("%")).then(0.01).otherwise(1.0)
        s = s.str.strip_suffix("%").str.strip_chars()
    if decimal_comma:
        grouped = s.str.contains(_GROUPED_COMMA)
        s = pl.when(grouped).then(s.str.replace_all(r"[. '\x{a0}\x{202f}’]", "")).otherwise(s)
        s = pl.when(s.str.contains(r"\.")).then(None).otherwise(s.str.replace(",", "."))
    else:
        s = pl.when(s.str.contains(_GROUPED_DOT)).then(s.str.replace_all(",", "")).otherwise(s)
    x = s.cast(pl.Float64, strict=False)
    return x if scale is None else x * scale


def is_missing(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Null, or (for text) empty after stripping whitespace."""
    if dtype == pl.String:
        return raw.is_null() | (raw.str.strip_chars() == "")
    return raw.is_null()


def currency_of(column: str, dtype: pl.DataType) -> pl.Expr | None:
    """The currency symbol / ISO code written in a text amount (null when none)."""
    if dtype != pl.String:
        return None
    s = pl.col(column).str.strip_chars()
    sym = s.str.extract(r"(\p{Sc})")
    code = pl.coalesce(s.str.extract(_CODE_BEFORE, 1), s.str.extract(_CODE_AFTER, 2))
    return pl.coalesce(sym, code)


def number(
    column: str,
    dtype: pl.DataType,
    *,
    kind: str,
    decimal_comma: bool,
    where: str,
) -> tuple[pl.Expr, pl.Expr]:
    """``(value, bad)`` of an ``amount`` / ``quantity`` / ``discount`` source column.

    ``value`` is Float64 (Int32 for integer quantities), null where missing or bad.  A value
    is bad when it is present but not a finite number (``inf``, ``-inf`` and ``NaN`` alike),
    or, for quantity, not a whole number in the Int32 range.  Text may carry a currency
    symbol or ISO code (amount), a trailing ``%`` (discount: 20% = 0.2) and thousands
    grouping; ``decimal_comma`` reads ``1.234,56``.
    """
    c = pl.col(column)
    if dtype == pl.Boolean or not (dtype.is_numeric() or dtype == pl.String):
        raise UserError(
            f"has dtype {dtype}; expected numbers for {kind}", path=where, column=column
        )
    if dtype.is_integer():  # always finite and whole: only the Int32 range can fail
        if kind != "quantity":
            return c.cast(pl.Float64), pl.lit(False)
        if dtype in (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16):
            return c.cast(pl.Int32), pl.lit(False)
        fits = (c >= -(2**31) + 1) & (c <= 2**31 - 1)
        return pl.when(fits).then(c).cast(pl.Int32), c.is_not_null() & ~fits
    if dtype == pl.String:
        x = _number_text(
            c, decimal_comma=decimal_comma, currency=kind == "amount", percent=kind == "discount"
        )
    else:
        x = c.cast(pl.Float64)
    ok = x.is_finite()
    if kind == "quantity":
        ok = ok & (x == x.round(0)) & (x.abs() <= 2**31 - 1)
    present = ~is_missing(c, dtype)
    bad = present & ~ok.fill_null(False)
    return pl.when(ok).then(x), bad


def discount_flag(column: str, dtype: pl.DataType) -> pl.Expr:
    """A coupon / "discount used" column -> 1.0 where used, 0.0 where not (never bad)."""
    c = pl.col(column)
    if dtype == pl.Boolean:
        return c.cast(pl.Float64).fill_null(0.0)
    s = c.cast(pl.String).str.strip_chars().str.to_lowercase()
    return pl.when(s.is_null() | s.is_in(FALSY)).then(0.0).otherwise(1.0)


def looks_like_flags(sample: pl.Series, *, decimal_comma: bool) -> bool:
    """Whether a text discount column is a coupon / flag column: some non-empty value of
    ``sample`` is not a number."""
    if sample.dtype == pl.Boolean:
        return True
    if sample.dtype != pl.String:
        return False
    df = sample.rename("x").to_frame()
    _, bad = number("x", pl.String, kind="discount", decimal_comma=decimal_comma, where="")
    return bool(df.select(bad.any()).item())


def customer_id(column: str, dtype: pl.DataType, *, id_dtype: str, where: str):
    """``(value, bad)`` of the customer id: Int64 or String (empty text = missing).

    ``id_dtype`` ``auto`` keeps integer columns integer and text (CSV) as text, so leading
    zeros survive; ``str`` makes every id text; ``int`` reads text ids as integers (a
    non-integer id is then bad).
    """
    c = pl.col(column)
    textual = dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    if not (dtype.is_integer() or textual):
        raise UserError(
            f"has dtype {dtype}; customer ids must be integers or text",
            path=where,
            column=column,
        )
    no = pl.lit(False)
    if dtype.is_integer():
        if id_dtype == "str":
            return c.cast(pl.String), no
        return c.cast(pl.Int64), no
    text = c.cast(pl.String)
    text = pl.when(text.str.strip_chars() == "").then(None).otherwise(text)
    if id_dtype == "int":
        value = text.str.strip_chars().cast(pl.Int64, strict=False)
        return value, text.is_not_null() & value.is_null()
    return text, no
