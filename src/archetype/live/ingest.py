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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from archetype.errors import DataError
from archetype.events.frame import EVENT_ID, ROW, canonicalize_frame
from archetype.events.report import ValidationReport
from archetype.live.records import customer_key, event_keys
from archetype.live.state import US_PER_DAY, LiveEvent
from archetype.pipeline.privacy import pseudonym

MAX_RECORDS = 100_000  # per batch; larger inputs are split by the caller (follower: chunks)


@dataclass
class Batch:
    """Canonical events of one ingest call, grouped by customer.

    Attributes
    ----------
    groups : dict[bytes, list[tuple[int, int, LiveEvent]]]
        customer key -> ``(event key, day, event)`` in input order (insertion order of
        the dict = first appearance of the customer).
    report : ValidationReport
        What canonicalization dropped (null ids, unknown event types) and counted.
    n_events : int
        Events kept (before duplicate removal).
    """

    groups: dict[bytes, list[tuple[int, int, LiveEvent]]] = field(default_factory=dict)
    report: ValidationReport = field(default_factory=ValidationReport)
    n_events: int = 0


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
    ev, report = canonicalize_frame(df, events_config, source=source, row_label=row_label)
    batch = Batch(report=report, n_events=ev.height)
    if ev.height == 0:
        return batch
    ids = ev["customer_id"]
    if pseudonymize_key is not None:
        # the nightly run hashes str(id) of the ids as read: same pseudonyms here
        ids = pl.Series([_pseudo(pseudonymize_key, v) for v in ids.to_list()], dtype=pl.String)
    else:
        ids = _cast_ids(ids, id_dtype, source, ev[ROW], row_label)
    ts = ev["ts"].dt.epoch("us")
    cols = (
        ids.to_list(),
        ts.to_list(),
        ev["event_type"].to_list(),
        ev["amount"].to_list(),
        ev["quantity"].to_list(),
        ev["discount"].to_list(),
        ev["channel"].to_list(),
        ev["category"].to_list(),
        ev[EVENT_ID].to_list(),
    )
    days = (ts // US_PER_DAY).to_list()
    keys = event_keys(ev)
    groups = batch.groups
    ckeys: dict = {}
    for row, day, k in zip(zip(*cols, strict=True), days, keys, strict=True):
        cid = row[0]
        ck = ckeys.get(cid)
        if ck is None:
            ck = ckeys[cid] = customer_key(cid)
        item = (k, day, LiveEvent(*row))
        g = groups.get(ck)
        if g is None:
            groups[ck] = [item]
        else:
            g.append(item)
    return batch
