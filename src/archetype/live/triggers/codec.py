"""Keys and values of the engines' namespaces: sortable time keys, compact JSON values.

Event times are microseconds since the epoch (the events/ rule: naive, in the configured
zone).  In keys they are offset by :data:`OFFSET` and zero-padded to 20 digits, so that the
lexicographic key order of a namespace scan is the event-time order (dates before 1970 too).
Customer ids are ``int`` or ``str``; their key form keeps the two apart (``i42`` / ``s42``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

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


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def loads(b: bytes) -> Any:
    return json.loads(b)


def digest(*parts: Any, n: int = 32) -> str:
    """Hex SHA-256 of ``parts`` joined by ``|`` (first ``n`` hex digits)."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode())
    return h.hexdigest()[:n]


def event_tiebreak(ev: Any) -> str:
    """A total order between events of one customer at the same instant.

    The event id when there is one; otherwise a digest of the event's content (two events
    with the same content, time and no id are indistinguishable: one is kept).
    """
    eid = getattr(ev, "event_id", None)
    if eid is not None:
        return "e" + str(eid)
    return "h" + digest(
        ev.event_type,
        getattr(ev, "category", None),
        getattr(ev, "channel", None),
        getattr(ev, "amount", 0.0),
        getattr(ev, "quantity", 0),
        getattr(ev, "discount", 0.0),
        n=16,
    )
