"""Firings and the outbox: one durable row per firing, keyed by an idempotency key.

A firing's key is a digest of (rule name, customer, anchor event time, anchor tiebreak):
the same log replayed, or the same events re-applied after a restart, give the same key,
so a receiver that drops repeated keys sees every firing exactly once even though webhook
delivery is at-least-once.

Namespaces (written in the caller's store transaction, so a firing is committed atomically
with the state that produced it):

``trg.outbox``   ``<fire time>|<key>`` -> the firing (MessagePack; kept: the audit log)
``trg.pending``  ``<fire time>|<key>`` -> ``b""`` while a webhook delivery is owed
``trg.done``     ``<key>`` -> delivery record (attempts, HTTP status, time) once delivered
``trg.dead``     ``<key>`` -> last error, after ``max_attempts`` failed deliveries
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import polars as pl

from archetype.live.triggers.codec import dumps, loads, tkey

NS_OUTBOX = "trg.outbox"
NS_PENDING = "trg.pending"
NS_DONE = "trg.done"
NS_DEAD = "trg.dead"

#: Delivery status of a firing row.
#: ``pending`` a webhook delivery is owed; ``stored`` no webhook configured (outbox only);
#: ``replay`` computed during a replay/backfill (never delivered); ``holdout`` the customer
#: is in the experiment's holdout (recorded, never delivered).
STATUSES = ("pending", "stored", "replay", "holdout")


@dataclass(frozen=True)
class Firing:
    """One firing of a trigger rule for one customer at one event time."""

    key: str
    rule: str
    kind: str
    customer_id: int | str
    ts_us: int
    anchor_ts_us: int
    anchor_event: str | None = None
    category: str | None = None
    segment_id: int | None = None
    experiment: str | None = None
    variant: str | None = None
    webhook: str | None = None
    status: str = "stored"
    detail: dict[str, Any] = field(default_factory=dict)

    def row_key(self) -> str:
        return f"{tkey(self.ts_us)}|{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _FIELDS}

    def encode(self) -> bytes:
        """The outbox value (MessagePack)."""
        return dumps([getattr(self, f) for f in _FIELDS])

    @classmethod
    def decode(cls, b: bytes) -> Firing:
        return cls(*loads(b))

    def payload(self) -> dict[str, Any]:
        """The webhook body (JSON): everything but the delivery bookkeeping."""
        d = self.to_dict()
        d.pop("webhook")
        d.pop("status")
        d["idempotency_key"] = d.pop("key")
        return d


_FIELDS = tuple(f.name for f in fields(Firing))
_STATUS = _FIELDS.index("status")
_TS = _FIELDS.index("ts_us")
_KEY = _FIELDS.index("key")


def write_firing(tx: Any, firing: Firing) -> None:
    """Store ``firing`` in the outbox (and owe a delivery when its status is pending)."""
    rk = firing.row_key()
    tx.put(NS_OUTBOX, rk, firing.encode())
    if firing.status == "pending":
        tx.put(NS_PENDING, rk, b"")


def write_firing_values(tx: Any, values: tuple) -> Firing:
    """:func:`write_firing` of the firing with these field values (in field order),
    without the per-field cost of building a frozen dataclass first; returns it."""
    rk = f"{tkey(values[_TS])}|{values[_KEY]}"
    tx.put(NS_OUTBOX, rk, dumps(values))
    if values[_STATUS] == "pending":
        tx.put(NS_PENDING, rk, b"")
    f = object.__new__(Firing)
    object.__setattr__(f, "__dict__", dict(zip(_FIELDS, values, strict=True)))
    return f


def read_outbox(tx: Any, start_us: int | None = None, end_us: int | None = None) -> list[Firing]:
    """Firings with ``start_us <= ts < end_us`` in event-time (then key) order."""
    lo = None if start_us is None else tkey(start_us)
    hi = None if end_us is None else tkey(end_us)
    return [Firing.decode(v) for _, v in tx.scan(NS_OUTBOX, start=lo, stop=hi)]


FIRING_SCHEMA = {
    "key": pl.String,
    "rule": pl.String,
    "kind": pl.String,
    "customer_id": pl.String,
    "ts": pl.Datetime("us"),
    "anchor_ts": pl.Datetime("us"),
    "anchor_event": pl.String,
    "category": pl.String,
    "segment_id": pl.Int64,
    "experiment": pl.String,
    "variant": pl.String,
    "status": pl.String,
}


def firings_frame(firings: list[Firing]) -> pl.DataFrame:
    """Firings as a table (customer ids as strings, times as ``Datetime(us)``)."""
    cols: dict[str, list] = {k: [] for k in FIRING_SCHEMA}
    for f in firings:
        cols["key"].append(f.key)
        cols["rule"].append(f.rule)
        cols["kind"].append(f.kind)
        cols["customer_id"].append(str(f.customer_id))
        cols["ts"].append(f.ts_us)
        cols["anchor_ts"].append(f.anchor_ts_us)
        cols["anchor_event"].append(f.anchor_event)
        cols["category"].append(f.category)
        cols["segment_id"].append(f.segment_id)
        cols["experiment"].append(f.experiment)
        cols["variant"].append(f.variant)
        cols["status"].append(f.status)
    frame = {}
    for k, dtype in FIRING_SCHEMA.items():
        if dtype == pl.Datetime("us"):
            frame[k] = pl.Series(k, cols[k], dtype=pl.Int64).cast(dtype)
        else:
            frame[k] = pl.Series(k, cols[k], dtype=dtype)
    return pl.DataFrame(frame)
