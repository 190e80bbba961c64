"""Keys and values of the engines' namespaces: sortable time keys, compact JSON values.

Event times are microseconds since the epoch (the events/ rule: naive, in the configured
zone).  In keys they are offset by :data:`OFFSET` and zero-padded to 20 digits, so that the
lexicographic key order of a namespace scan is the event-time order (dates before 1970 too).
Customer ids are ``int`` or ``str``; their key form keeps the two apart (``i42`` / ``s42``).
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import msgpack

OFFSET = 10**18


def tkey(ts_us: int) -> str:
    """20-digit sortable key of an event time."""
    return f"{int(ts_us) + OFFSET:020d}"


def untkey(key: str) -> int:
    return int(key) - OFFSET


def ckey(customer_id: Any) -> str:
    """Key form of a customer id (``int``-like -> ``i<n>``, anything else -> ``s<str>``)."""
    if isinstance(customer_id, str):
        return "s" + customer_id
    if isinstance(customer_id, bool):
        raise TypeError("a customer id cannot be a bool")
    try:
        return "i" + str(int(customer_id))
    except (TypeError, ValueError):
        return "s" + str(customer_id)


def plain_id(customer_id: Any) -> int | str:
    """A JSON-able customer id (NumPy integers become ``int``)."""
    return customer_id if isinstance(customer_id, str) else int(customer_id)


_pack = msgpack.Packer(use_bin_type=True).pack


def dumps(obj: Any) -> bytes:
    """MessagePack bytes of ``obj`` (dicts, lists, str, int, float, None)."""
    return _pack(obj)


def loads(b: bytes) -> Any:
    return msgpack.unpackb(b, raw=False, strict_map_key=False)


def discarder(tx: Any) -> Any:
    """``tx.discard`` (a delete that reads nothing first) where the transaction has one,
    else ``tx.delete``."""
    return getattr(tx, "discard", None) or tx.delete


def digest(*parts: Any, n: int = 32) -> str:
    """Hex BLAKE2b-128 of ``parts`` joined by ``|`` (first ``n`` hex digits)."""
    h = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=16)
    return h.hexdigest()[:n]


def event_tiebreak(ev: Any) -> str:
    """A total order between events of one customer at the same instant.

    The event id when there is one; otherwise a digest of the event's content (two events
    with the same content, time and no id are indistinguishable: one is kept).
    """
    eid = getattr(ev, "event_id", None)
    if eid is not None:
        return "e" + str(eid)
    raw = (
        f"{ev.event_type}|{ev.category}|{ev.channel}|{ev.amount!r}|{ev.quantity}|{ev.discount!r}"
    ).encode()
    return f"h{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}"


def row_tiebreak(r: tuple) -> str:
    """:func:`event_tiebreak` of an event row (:mod:`archetype.live.triggers.rows`)."""
    eid = r[8]
    if eid is not None:
        return "e" + str(eid)
    raw = f"{r[2]}|{r[7]}|{r[6]}|{r[3]!r}|{r[4]}|{r[5]!r}".encode()
    return f"h{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}"
