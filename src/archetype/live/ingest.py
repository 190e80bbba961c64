"""Turn incoming records into canonical :class:`LiveEvent` s, grouped by customer.

Whatever the source -- a JSON array or NDJSON body, a list of dicts from Python, a
followed Parquet/CSV/NDJSON file -- records become a Polars frame with the user's column
names, then go through :func:`archetype.events.frame.canonicalize_frame` (the batch
reader's column / event-type maps and validation), the nightly run's pseudonymization
(same HMAC key, same pseudonyms) and the model's customer-id type.  A bad record refuses
the whole batch with one message naming the record and field; nothing of it is applied.

Each event gets a 64-bit identity (:func:`archetype.live.records.event_key`: its
``event_id``, else all its fields) so re-sending a batch applies nothing twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import polars as pl

from archetype.errors import DataError
from archetype.events.frame import EVENT_ID, ROW, canonicalize_frame
from archetype.events.report import ValidationReport
from archetype.live.records import customer_key, event_keys
from archetype.live.state import (
    CATEGORY_TYPES,
    DISCOUNTED,
    PURCHASE,
    PURCHASE_NAN,
    RETURN,
    TYPE_KIND,
    US_PER_DAY,
    LiveEvent,
)
from archetype.pipeline.privacy import pseudonym

_new_event = functools.partial(tuple.__new__, LiveEvent)  # LiveEvent of a 9-tuple, in C
MAX_RECORDS = 100_000  # per batch; larger inputs are split by the caller (follower: chunks)


@dataclass
class Columns:
    """A batch's events as columns, grouped by customer (rows ``offsets[g]`` to
    ``offsets[g + 1]`` are the g-th customer's, in input order).

    ``kinds``: the state's row kind of each event (:meth:`CustomerState.apply`'s rule:
    purchase / return / NaN purchase, discount flag); ``amounts``: ``amount + 0.0``;
    ``categories``: the category where the event type counts one, else ``None``;
    ``keys``: the de-duplication keys (uint64, :func:`event_keys`), ``key_list`` the same
    as ints; ``days``: ``ts // US_PER_DAY``.
    """

    keys: np.ndarray
    key_list: list[int]
    days: list[int]
    ts: list[int]
    kinds: list[int]
    amounts: list[float]
    channels: list[str | None]
    categories: list[str | None]
    events: list[LiveEvent]
    offsets: np.ndarray
    day_arr: np.ndarray  # days as int64


class Group(Sequence):
    """One customer's events of a batch: rows ``a`` to ``b`` of ``cols``; a sequence of
    ``(event key, day, event)``."""

    __slots__ = ("cols", "a", "b")

    def __init__(self, cols: Columns, a: int, b: int) -> None:
        self.cols, self.a, self.b = cols, a, b

    def __len__(self) -> int:
        return self.b - self.a

    def __iter__(self) -> Iterator[tuple[int, int, LiveEvent]]:
        c, a, b = self.cols, self.a, self.b
        return zip(c.key_list[a:b], c.days[a:b], c.events[a:b], strict=True)

    def __getitem__(self, i: int) -> tuple[int, int, LiveEvent]:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        r = (self.a if i >= 0 else self.b) + i
        c = self.cols
        return c.key_list[r], c.days[r], c.events[r]


@dataclass
class Batch:
    """Canonical events of one ingest call, grouped by customer.

    Attributes
    ----------
    groups : dict[bytes, Sequence[tuple[int, int, LiveEvent]]]
        customer key -> ``(event key, day, event)`` in input order (insertion order of
        the dict = first appearance of the customer); a :class:`Group` of
        :attr:`columns` when built by :func:`prepare`.
    report : ValidationReport
        What canonicalization dropped (null ids, unknown event types) and counted.
    n_events : int
        Events kept (before duplicate removal).
    columns : Columns or None
        The same events as columns (what the writer's bulk path reads).
    """

    groups: dict[bytes, Sequence[tuple[int, int, LiveEvent]]] = field(default_factory=dict)
    report: ValidationReport = field(default_factory=ValidationReport)
    n_events: int = 0
    columns: Columns | None = None


def parse_json_body(body: bytes, *, ndjson: bool, source: str) -> tuple[list, Callable]:
    """Records of a JSON array (``ndjson=False``) or NDJSON body, and how to name record i.

    Raises :class:`DataError` naming the line of a JSON syntax error.
    """
    if not ndjson:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise DataError(
                f"not valid JSON ({e}); send an array of event objects "
                "or NDJSON (Content-Type: application/x-ndjson)",
                path=source,
            ) from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise DataError("the body must be a JSON array of event objects", path=source)
        return data, lambda i: f"item {i}"
    records, lines = [], []
    for n, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as e:
            raise DataError(f"line {n}: not valid JSON ({e})", path=source) from None
        lines.append(n)
    return records, lambda i: f"line {lines[i]}"


def records_frame(records: list, *, source: str, row_label: Callable[[int], str]) -> pl.DataFrame:
    """A frame of JSON-like records (dicts), column by column (mixed types widen to text)."""
    cols: dict[str, list] = {}
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise DataError(f"{row_label(i)}: not an object ({type(r).__name__})", path=source)
        for k in r:
            if k not in cols:
                cols[k] = [None] * i
        for k, vals in cols.items():
            vals.append(r.get(k))
    try:
        return pl.DataFrame([pl.Series(k, v, strict=False) for k, v in cols.items()])
    except (TypeError, ValueError, pl.exceptions.PolarsError) as e:
        raise DataError(f"records have values of unusable types ({e})", path=source) from None


def as_frame(records: Any, *, source: str) -> tuple[pl.DataFrame, Callable[[int], str]]:
    """A Polars frame from a DataFrame, a list of dicts, or an iterable of dicts."""
    if isinstance(records, pl.DataFrame):
        return records, lambda i: f"row {i + 1}"
    if not isinstance(records, list):
        records = list(records)
    label = lambda i: f"item {i}"  # noqa: E731
    return records_frame(records, source=source, row_label=label), label


def _cast_ids(
    ids: pl.Series, id_dtype: str, source: str, rows: pl.Series, row_label: Callable[[int], str]
) -> pl.Series:
    if id_dtype == "str":
        return ids.cast(pl.String)
    if ids.dtype.is_integer():
        return ids.cast(pl.Int64)
    conv = ids.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    bad = conv.is_null() & ids.is_not_null()
    if bad.any():
        i = int(bad.arg_max())
        raise DataError(
            f"{row_label(int(rows[i]))}: customer id {ids[i]!r} is not an integer, and this "
            "model's customer ids are integers",
            path=source,
            column="customer_id",
        )
    return conv


@functools.lru_cache(maxsize=1 << 16)
def _pseudo(key: bytes, raw: object) -> str:
    return pseudonym(key, raw)


def prepare(
    records: Any,
    *,
    events_config: Any,
    id_dtype: str,
    pseudonymize_key: bytes | None,
    source: str,
    row_label: Callable[[int], str] | None = None,
) -> Batch:
    """Validate, map, pseudonymize and group ``records``; see the module docstring."""
    if isinstance(records, pl.DataFrame) or row_label is None:
        df, label = as_frame(records, source=source)
        row_label = row_label or label
    else:
        df = records_frame(records, source=source, row_label=row_label)
    if df.height > MAX_RECORDS:
        raise DataError(
            f"{df.height:,} events in one batch; send at most {MAX_RECORDS:,}", path=source
        )
    if df.height == 0:
        return Batch()
    ev, report = canonicalize_frame(
        df, events_config, source=source, keep_row=True, row_label=row_label
    )
    batch = Batch(report=report, n_events=ev.height)
    if ev.height == 0:
        return batch
    ids = ev["customer_id"]
    if pseudonymize_key is not None:
        # the nightly run hashes str(id) of the ids as read: same pseudonyms here
        ids = pl.Series([_pseudo(pseudonymize_key, v) for v in ids.to_list()], dtype=pl.String)
    else:
        ids = _cast_ids(ids, id_dtype, source, ev[ROW] - 1, row_label)  # ROW is 1-based
    return _grouped(batch, ev, ids, str(getattr(events_config, "dedupe", "auto")))


def _grouped(batch: Batch, ev: pl.DataFrame, ids: pl.Series, dedupe: str) -> Batch:
    """Fill ``batch`` with the rows of ``ev`` grouped by customer (first appearance order,
    input order within a customer): one gather, then the columns as lists."""
    id_list = ids.to_list()
    gmap: dict = {}
    setd = gmap.setdefault
    gid = np.fromiter((setd(c, len(gmap)) for c in id_list), np.int64, len(id_list))
    perm = np.argsort(gid, kind="stable")
    off = np.zeros(len(gmap) + 1, np.int64)
    np.cumsum(np.bincount(gid, minlength=len(gmap)), out=off[1:])
    keys = np.asarray(event_keys(ev, dedupe), np.uint64)[perm]
    et = pl.col("event_type")
    g = ev.select(
        pl.col("ts").dt.epoch("us").alias("_ts"),
        et.replace_strict(TYPE_KIND, default=-1, return_dtype=pl.Int64).alias("_kind"),
        pl.col("amount").cast(pl.Float64),
        pl.col("discount").cast(pl.Float64),
        et,
        pl.col("quantity"),
        pl.col("channel"),
        pl.col("category"),
        pl.when(et.is_in(sorted(CATEGORY_TYPES))).then(pl.col("category")).alias("_counted"),
        pl.col(EVENT_ID),
    )[pl.Series(perm)]
    ts, codes, amt_raw, discount = (g.to_series(i).to_numpy() for i in range(4))
    types, qty, chans, cats, cat_counted, eids = (g.to_series(i).to_list() for i in range(4, 10))
    amount = amt_raw + 0.0  # + 0.0: -0.0 is 0.0
    codes = codes.copy()
    is_p = codes == PURCHASE
    codes[is_p & (amount < 0)] = RETURN
    codes[is_p & np.isnan(amount)] = PURCHASE_NAN
    codes[is_p & (amount >= 0) & (discount > 0)] = PURCHASE | DISCOUNTED
    id_sorted = [id_list[i] for i in perm.tolist()]
    ts_list = ts.tolist()
    day_arr = ts // US_PER_DAY
    amt_list = amt_raw.tolist()
    disc_list = discount.tolist()
    cols = Columns(
        keys=keys,
        key_list=keys.tolist(),
        days=day_arr.tolist(),
        ts=ts_list,
        kinds=codes.tolist(),
        amounts=amount.tolist(),
        channels=chans,
        categories=cat_counted,
        events=list(
            map(
                _new_event,
                zip(
                    id_sorted,
                    ts_list,
                    types,
                    amt_list,
                    qty,
                    disc_list,
                    chans,
                    cats,
                    eids,
                    strict=True,
                ),
            )
        ),
        offsets=off,
        day_arr=day_arr,
    )
    batch.columns = cols
    groups = batch.groups
    offs = off.tolist()
    for i, cid in enumerate(gmap):
        groups[customer_key(cid)] = Group(cols, offs[i], offs[i + 1])
    return batch
