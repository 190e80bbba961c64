"""Per-customer incremental feature state: what the batch features need, kept per event.

A :class:`CustomerState` holds, for one customer, the bounded material that every feature
of ``archetype features`` is computed from (see docs/live-features.md):

* one bucket per active day (integer day = ``ts_us // 86_400_000_000``): counts per event
  type, returns, discounted purchases, events with a channel, the purchase amounts, the
  second-of-day of each event (hour-of-day features), counts per channel and per category;
* the distinct purchase instants and view instants (microseconds; lead time and
  inter-purchase gaps need the order of purchases and views);
* the first and last event time seen.

:meth:`CustomerState.apply` is commutative: applying the same events in any order gives
the same state (and the same :meth:`~CustomerState.encode` bytes).  It is not idempotent:
the caller de-duplicates by event id first.  With a window of ``W`` days, material older
than the customer's last event day minus ``W - 1`` can never count again (as-of days are
>= the customer's last event) and is dropped, so the state stays bounded by the window.

:class:`FeatureDefinition` (in :mod:`archetype.live.definition`, re-exported here) turns a
state into the feature vector at an as-of day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archetype.events.schema import EVENT_TYPES

if TYPE_CHECKING:
    from archetype.live.definition import FeatureDefinition

US_PER_DAY = 86_400_000_000
US_PER_SECOND = 1_000_000

# Integer slots of a day bucket.
VIEW, CART, PURCHASE, RETURN, PURCHASE_NAN = 0, 1, 2, 3, 4
EMAIL_OPEN, EMAIL_CLICK, AD_CLICK, REFERRAL, SESSION = 5, 6, 7, 8, 9
DISCOUNTED, WITH_CHANNEL = 10, 11
N_COUNTS = 12
# Container slots of a day bucket.
AMOUNTS, SECONDS, CHANNELS, CATEGORIES = 12, 13, 14, 15

TYPE_SLOT: dict[str, int] = {
    "view": VIEW,
    "add_to_cart": CART,
    "email_open": EMAIL_OPEN,
    "email_click": EMAIL_CLICK,
    "ad_click": AD_CLICK,
    "referral": REFERRAL,
    "session_start": SESSION,
}
# Event types whose category counts for the content features.
CATEGORY_TYPES = frozenset({"view", "add_to_cart", "purchase"})
assert set(TYPE_SLOT) | {"purchase"} == set(EVENT_TYPES)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One canonical, validated, mapped event (the rules of :mod:`archetype.events`).

    ``ts_us`` is microseconds since the epoch of the naive wall-clock timestamp (the
    same value as ``ts.dt.epoch("us")`` of the batch reader); ``event_type`` is one of
    :data:`archetype.events.schema.EVENT_TYPES`.  A ``purchase`` with a negative amount is
    a return.
    """

    customer_id: str | int
    ts_us: int
    event_type: str
    amount: float = 0.0
    quantity: int = 0
    discount: float = 0.0
    channel: str | None = None
    category: str | None = None
    event_id: str | None = None


def _new_bucket() -> list:
    return [0] * N_COUNTS + [[], [], {}, {}]


class CustomerState:
    """Incremental feature state of one customer (see the module docstring).

    Make one with :meth:`FeatureDefinition.new_state` or :meth:`FeatureDefinition.decode`.

    Attributes
    ----------
    first_ts_us, last_ts_us : int or None
        Earliest and latest event time applied (microseconds), ``None`` before any.
    days : dict[int, list]
        Day number -> bucket (integer slots, then amounts, seconds-of-day, channel and
        category counts).
    buys, views : set[int]
        Distinct instants of purchases (amount >= 0) and of views.
    window_days : int or None
        Retention: the feature window of the definition (``None``: all history).
    """

    __slots__ = ("first_ts_us", "last_ts_us", "days", "buys", "views", "window_days")

    def __init__(self, window_days: int | None = None) -> None:
        self.first_ts_us: int | None = None
        self.last_ts_us: int | None = None
        self.days: dict[int, list] = {}
        self.buys: set[int] = set()
        self.views: set[int] = set()
        self.window_days = window_days

    # ------------------------------------------------------------------ updates
    def apply(self, ev: LiveEvent) -> None:
        """Add one event (order-independent; the caller has de-duplicated by event id).

        Raises ``ValueError`` for an event type outside :data:`EVENT_TYPES`.
        """
        ts = ev.ts_us
        et = ev.event_type
        slot = TYPE_SLOT.get(et)
        if slot is None and et != "purchase":
            raise ValueError(
                f"event_type={et!r} is not a canonical event type ({', '.join(EVENT_TYPES)})"
            )
        first, last = self.first_ts_us, self.last_ts_us
        if first is None or ts < first:
            self.first_ts_us = first = ts
        if last is None or ts > last:
            self.last_ts_us = last = ts
        d = ts // US_PER_DAY
        w = self.window_days
        if w is not None and d <= last // US_PER_DAY - w:
            return  # older than any window ending at or after the last event
        b = self.days.get(d)
        if b is None:
            b = self.days[d] = _new_bucket()
        if slot is not None:
            b[slot] += 1
            if slot == VIEW:
                self.views.add(ts)
        else:
            a = ev.amount
            if a >= 0:
                b[PURCHASE] += 1
                b[AMOUNTS].append(float(a))
                if ev.discount > 0:
                    b[DISCOUNTED] += 1
                self.buys.add(ts)
            elif a < 0:
                b[RETURN] += 1
            else:  # NaN: neither a purchase nor a return (as the batch's comparisons)
                b[PURCHASE_NAN] += 1
        b[SECONDS].append((ts - d * US_PER_DAY) // US_PER_SECOND)
        ch = ev.channel
        if ch is not None:
            b[WITH_CHANNEL] += 1
            chans = b[CHANNELS]
            chans[ch] = chans.get(ch, 0) + 1
        cat = ev.category
        if cat is not None and et in CATEGORY_TYPES:
            cats = b[CATEGORIES]
            cats[cat] = cats.get(cat, 0) + 1

    def apply_many(self, events) -> None:
        """:meth:`apply` each event of an iterable."""
        for ev in events:
            self.apply(ev)

    def prune(self) -> None:
        """Drop what no window ending at or after the last event can count (windowed only)."""
        w, last = self.window_days, self.last_ts_us
        if w is None or last is None:
            return
        floor = last // US_PER_DAY - w + 1  # first day any admissible window can include
        old = [d for d in self.days if d < floor]
        for d in old:
            del self.days[d]
        lo = floor * US_PER_DAY
        if self.buys and min(self.buys) < lo:
            self.buys = {t for t in self.buys if t >= lo}
        if self.views and min(self.views) < lo:
            self.views = {t for t in self.views if t >= lo}

    # ------------------------------------------------------------------ queries
    @property
    def n_events(self) -> int:
        """Events held (after pruning older than the window)."""
        return sum(len(b[SECONDS]) for b in self.days.values())

    @property
    def last_day(self) -> int | None:
        return None if self.last_ts_us is None else self.last_ts_us // US_PER_DAY

    def encode(self) -> bytes:
        """Compact canonical bytes (equal states give equal bytes); see :mod:`.codec`."""
        from archetype.live.codec import encode_state

        self.prune()
        return encode_state(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerState):
            return NotImplemented
        return self.window_days == other.window_days and self.encode() == other.encode()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return (
            f"CustomerState(days={len(self.days)}, events={self.n_events}, "
            f"first_ts_us={self.first_ts_us}, last_ts_us={self.last_ts_us})"
        )


def __getattr__(name: str):
    if name == "FeatureDefinition":
        from archetype.live.definition import FeatureDefinition

        return FeatureDefinition
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CustomerState", "FeatureDefinition", "LiveEvent"]
