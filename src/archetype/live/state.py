"""Per-customer incremental feature state: what the batch features need, kept per event.

A :class:`CustomerState` holds, for one customer, the bounded material that every feature
of ``archetype features`` is computed from (see docs/live-features.md):

* one bucket per active day (integer day = ``ts_us // 86_400_000_000``): counts per event
  type, returns, discounted purchases, events with a channel, the purchase amounts, the
  second-of-day of each event (hour-of-day features), counts per channel and per category
  (by index into the customer's own list of channel / category values);
* the distinct purchase instants and view instants (microseconds; lead time and
  inter-purchase gaps need the order of purchases and views);
* the first and last event time seen.

:meth:`CustomerState.apply` is commutative: applying the same events in any order gives
the same state, and the same :meth:`~CustomerState.encode` bytes.  It is not idempotent:
the caller de-duplicates by event id first.  With a window of ``W`` days, material older
than the customer's last event day minus ``W - 1`` can never count again (as-of days are
>= the customer's last event) and is dropped, so the state stays bounded by the window.

:class:`FeatureDefinition` (in :mod:`archetype.live.definition`, re-exported here) turns a
state into the feature vector at an as-of day.
"""

from __future__ import annotations

from bisect import insort
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


def _insert(values: list, x) -> None:
    """Append ``x``, keeping ``values`` sorted (events mostly arrive in order)."""
    if values and x < values[-1]:
        insort(values, x)
    else:
        values.append(x)


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

    __slots__ = (
        "first_ts_us",
        "last_ts_us",
        "days",
        "buys",
        "views",
        "window_days",
        "channels",
        "categories",
        "_ch_index",
        "_cat_index",
        "_ordered",
        "_unsorted",
        "_max_day",
    )

    def __init__(self, window_days: int | None = None) -> None:
        self.first_ts_us: int | None = None
        self.last_ts_us: int | None = None
        self.days: dict[int, list] = {}
        self.buys: set[int] = set()
        self.views: set[int] = set()
        self.window_days = window_days
        # Channel / category values this customer used; buckets count by index.
        self.channels: list[str] = []
        self.categories: list[str] = []
        self._ch_index: dict[str, int] = {}
        self._cat_index: dict[str, int] = {}
        # Canonical order (what makes equal states encode to equal bytes) is kept as events
        # arrive where it is cheap (sorted lists) and restored at encode where it is not:
        # _ordered is False after a day or a vocabulary value arrived out of order;
        # _unsorted holds days whose channel/category counts got a key out of order.
        self._ordered = True
        self._unsorted: set[int] = set()
        self._max_day: int | None = None

    def channel_index(self, value: str) -> int | None:
        """Index of a channel value in :attr:`channels` (None: never seen)."""
        return self._ch_index.get(value)

    def _set_vocab(self, channels: list[str], categories: list[str]) -> None:
        self.channels, self.categories = channels, categories
        self._ch_index = {c: i for i, c in enumerate(channels)}
        self._cat_index = {c: i for i, c in enumerate(categories)}

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
            m = self._max_day
            if m is None or d > m:
                self._max_day = d
            else:
                self._ordered = False
            b = self.days[d] = _new_bucket()
        if slot is not None:
            b[slot] += 1
            if slot == VIEW:
                self.views.add(ts)
        else:
            a = ev.amount
            if a >= 0:
                b[PURCHASE] += 1
                _insert(b[AMOUNTS], float(a) + 0.0)  # + 0.0: -0.0 is 0.0
                if ev.discount > 0:
                    b[DISCOUNTED] += 1
                self.buys.add(ts)
            elif a < 0:
                b[RETURN] += 1
            else:  # NaN: neither a purchase nor a return (as the batch's comparisons)
                b[PURCHASE_NAN] += 1
        _insert(b[SECONDS], (ts - d * US_PER_DAY) // US_PER_SECOND)
        ch = ev.channel
        if ch is not None:
            b[WITH_CHANNEL] += 1
            k = self._ch_index.get(ch)
            if k is None:
                k = self._new_value(self.channels, self._ch_index, ch)
            self._count(b[CHANNELS], k, d)
        cat = ev.category
        if cat is not None and et in CATEGORY_TYPES:
            k = self._cat_index.get(cat)
            if k is None:
                k = self._new_value(self.categories, self._cat_index, cat)
            self._count(b[CATEGORIES], k, d)

    def _new_value(self, vocab: list[str], index: dict[str, int], value: str) -> int:
        if vocab and value < vocab[-1]:
            self._ordered = False
        k = index[value] = len(vocab)
        vocab.append(value)
        return k

    def _count(self, counts: dict[int, int], k: int, d: int) -> None:
        n = counts.get(k)
        if n is None:
            if counts and k < next(reversed(counts)):
                self._unsorted.add(d)
            counts[k] = 1
        else:
            counts[k] = n + 1

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
        if old:
            self._drop_unused_values()
        lo = floor * US_PER_DAY
        if self.buys and min(self.buys) < lo:
            self.buys = {t for t in self.buys if t >= lo}
        if self.views and min(self.views) < lo:
            self.views = {t for t in self.views if t >= lo}

    def _drop_unused_values(self) -> None:
        """Forget channel/category values no bucket counts any more (after pruning)."""
        for vocab, slot in ((self.channels, CHANNELS), (self.categories, CATEGORIES)):
            used = {k for b in self.days.values() for k in b[slot]}
            if len(used) < len(vocab):
                self._remap(slot, [v for k, v in enumerate(vocab) if k in used])

    def _remap(self, slot: int, new_vocab: list[str]) -> None:
        """Renumber the counts of ``slot`` for a new vocabulary (same values, or fewer)."""
        old = self.channels if slot == CHANNELS else self.categories
        pos = {v: j for j, v in enumerate(new_vocab)}
        remap = [pos.get(v, -1) for v in old]
        for b in self.days.values():
            b[slot] = dict(sorted((remap[k], n) for k, n in b[slot].items()))
        if slot == CHANNELS:
            self._set_vocab(new_vocab, self.categories)
        else:
            self._set_vocab(self.channels, new_vocab)
        self._ordered = False

    def _make_canonical(self) -> None:
        """Sorted days, vocabularies and count keys (lists are kept sorted on insert)."""
        if not self._ordered:
            for vocab, slot in ((self.channels, CHANNELS), (self.categories, CATEGORIES)):
                if vocab != sorted(vocab):
                    self._remap(slot, sorted(vocab))
            self.days = dict(sorted(self.days.items()))
            for b in self.days.values():
                b[CHANNELS] = dict(sorted(b[CHANNELS].items()))
                b[CATEGORIES] = dict(sorted(b[CATEGORIES].items()))
            self._ordered = True
            self._max_day = next(reversed(self.days)) if self.days else None
        elif self._unsorted:
            for d in self._unsorted:
                b = self.days.get(d)
                if b is not None:
                    b[CHANNELS] = dict(sorted(b[CHANNELS].items()))
                    b[CATEGORIES] = dict(sorted(b[CATEGORIES].items()))
        self._unsorted.clear()

    # ------------------------------------------------------------------ queries
    @property
    def n_events(self) -> int:
        """Events held (after pruning older than the window)."""
        return sum(len(b[SECONDS]) for b in self.days.values())

    @property
    def last_day(self) -> int | None:
        return None if self.last_ts_us is None else self.last_ts_us // US_PER_DAY

    def encode(self) -> bytes:
        """Compact bytes (see :mod:`archetype.live.codec`), pruned and in canonical order
        first: equal states (the same events, any arrival order) give equal bytes."""
        from archetype.live.codec import encode_state

        self.prune()
        self._make_canonical()
        return encode_state(self)

    def canonical(self) -> tuple:
        """The state's content independent of arrival order (for comparisons and tests):
        sorted days, amounts, seconds and instants; channels and categories by value."""
        from archetype.live.codec import canonical_state

        self.prune()
        return canonical_state(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerState):
            return NotImplemented
        return self.canonical() == other.canonical()

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
