"""Map a source's columns onto the canonical schema: one plan, used for files and frames.

:func:`plan_columns` looks only at the schema (and, for a text discount column, a sample
of its values) and returns the expressions that produce the canonical columns plus helper
columns for validation: ``__bad_<col>`` flags, ``__raw_<col>`` source values (to quote a bad
value), ``__type_raw`` (unknown event types) and ``__fp`` (a 64-bit fingerprint of every
source column, for the duplicate rules without an event id: rows count as identical when
their canonical values and this fingerprint are equal).

:func:`archetype.events.canonicalize_frame` applies a plan to an in-memory frame (the live
service's per-request path); :func:`archetype.events.read_events` applies the same plan to a
scan; :mod:`archetype.events.validate` turns what a plan flags into counts and errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from archetype.errors import UserError
from archetype.events import parse
from archetype.events.config import EventsConfig
from archetype.events.schema import (
    CANONICAL_COLUMNS,
    DEFAULTS,
    DTYPES,
    EVENT_TYPE_LOOKALIKES,
    EVENT_TYPES,
)

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


def _is_flag_column(
    column: str,
    dtype: pl.DataType,
    cfg: EventsConfig,
    sample: Callable[[str], pl.Series] | None,
    decided: bool | None,
) -> bool:
    """Whether a discount column holds flags / coupon codes rather than numbers."""
    if decided is not None:
        return decided
    if dtype == pl.Boolean:
        return True
    if dtype != pl.String or sample is None:
        return False
    return parse.looks_like_flags(sample(column), decimal_comma=cfg.decimal_comma)


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
        if canon == "discount" and _is_flag_column(user, dtype, cfg, sample, discount_as_flag):
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
