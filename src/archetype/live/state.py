"""Per-customer incremental feature state: what the batch features need, kept per event.

A :class:`CustomerState` holds, for one customer, the events that can still count in a
window (see docs/live-features.md) as a small **packed table**, one row per event, in
canonical order (by time, then kind, channel, category, amount):

* ``ts``   event time, microseconds since the epoch (naive wall clock);
* ``kind`` what the event counts as (:data:`VIEW` ... :data:`SESSION`; a purchase with
  amount >= 0 is :data:`PURCHASE`, negative :data:`RETURN`, NaN :data:`PURCHASE_NAN`),
  plus the flag :data:`DISCOUNTED` on purchases with a discount;
* ``ch``   1 + index of the channel in the customer's sorted channel values (0: none);
* ``cat``  1 + index of the category in its sorted category values (0: none, or an event
  type whose category does not count);
* ``amt``  the amount of each :data:`PURCHASE` row, in row order.

The table is held as the bytes it is stored as (:mod:`archetype.live.table`,
:mod:`archetype.live.codec`): decoding is one copy, encoding a ``tobytes``, and Numba
kernels read the columns out of it (:mod:`archetype.live.incremental`).
:meth:`CustomerState.apply` appends to a pending list (a few Python operations per
event); the pending rows are merged into the table, in canonical order and pruned to the
window, by one kernel call when the table is next read (encode, features, comparisons).

:meth:`CustomerState.apply` is commutative: applying the same events in any order gives
the same table, and the same :meth:`~CustomerState.encode` bytes.  It is not idempotent:
the caller de-duplicates by event id first.  With a window of ``W`` days, an event older
than the customer's last event day minus ``W - 1`` can never count again (as-of days are
>= the customer's last event) and is dropped, so the state stays bounded by the window.

:class:`FeatureDefinition` (in :mod:`archetype.live.definition`, re-exported here) turns a
state into the feature vector at an as-of day.
"""

from __future__ import annotations

from array import array
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from archetype.events.schema import EVENT_TYPES
from archetype.live.table import _KIND_MASK as _table_mask
from archetype.live.table import _PURCHASE as _table_purchase
from archetype.live.table import EMPTY_F8, EMPTY_I4, EMPTY_I8, EMPTY_U1, merge_rows, unpack

if TYPE_CHECKING:
    from archetype.live.definition import FeatureDefinition

US_PER_DAY = 86_400_000_000
US_PER_SECOND = 1_000_000

# Row kinds (the low 4 bits of ``kind``) and the discount flag.
VIEW, CART, PURCHASE, RETURN, PURCHASE_NAN = 0, 1, 2, 3, 4
EMAIL_OPEN, EMAIL_CLICK, AD_CLICK, REFERRAL, SESSION = 5, 6, 7, 8, 9
N_KINDS = 10
KIND_MASK = 0x0F
DISCOUNTED = 0x10

TYPE_KIND: dict[str, int] = {
    "view": VIEW,
    "add_to_cart": CART,
    "purchase": PURCHASE,
    "email_open": EMAIL_OPEN,
    "email_click": EMAIL_CLICK,
    "ad_click": AD_CLICK,
    "referral": REFERRAL,
    "session_start": SESSION,
}
# Event types whose category counts for the content features.
CATEGORY_TYPES = frozenset({"view", "add_to_cart", "purchase"})
assert set(TYPE_KIND) == set(EVENT_TYPES)
assert (_table_purchase, _table_mask) == (PURCHASE, KIND_MASK)  # the kernels' copies
_NO_FLOOR = -(2**63)
_SCAN_BELOW = 16  # value lists shorter than this are scanned, longer ones indexed


class LiveEvent(NamedTuple):
    """One canonical, validated, mapped event (the rules of :mod:`archetype.events`).

    ``ts_us`` is microseconds since the epoch of the naive wall-clock timestamp (the
    same value as ``ts.dt.epoch("us")`` of the batch reader); ``event_type`` is one of
    :data:`archetype.events.schema.EVENT_TYPES`.  A ``purchase`` with a negative amount is
    a return.  A named tuple: cheap to build per event, and it packs as is (MessagePack
    array) into the automation inbox (:mod:`archetype.live.inbox`).
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


class CustomerState:
    """Incremental feature state of one customer (see the module docstring).

    Make one with :meth:`FeatureDefinition.new_state` or :meth:`FeatureDefinition.decode`.

    Attributes
    ----------
    first_ts_us, last_ts_us : int or None
        Earliest and latest event time applied (microseconds), ``None`` before any.
    window_days : int or None
        Retention: the feature window of the definition (``None``: all history).
    channels, categories : list[str]
        The values the table's ``ch`` / ``cat`` columns index (sorted once merged).
    """

    __slots__ = (
        "first_ts_us",
        "last_ts_us",
        "window_days",
        "channels",
        "categories",
        "_body",
        "_n",
        "_p",
        "_wc",
        "_wg",
        "_nch",
        "_ncat",
        "_ch_index",
        "_cat_index",
        "_pend",
        "_pamt",
        "_blob",
        "_vb",
        "_pruned",
    )

    def __init__(self, window_days: int | None = None) -> None:
        self.first_ts_us: int | None = None
        self.last_ts_us: int | None = None
        self.window_days = window_days
        self.channels: list[str] = []
        self.categories: list[str] = []
        # the table (archetype.live.table): its bytes, rows, amounts, index widths
        self._body = EMPTY_U1
        self._n = self._p = self._wc = self._wg = 0
        # channels[:_nch] / categories[:_ncat] are sorted and indexed by the table; values
        # after them arrived since (pending rows index the list as it is, unsorted).
        self._nch = self._ncat = 0
        self._ch_index: dict[str, int] | None = None
        self._cat_index: dict[str, int] | None = None
        # pending rows: (ts, kind, ch, cat) flat, and the amount of each PURCHASE row in
        # order (arrays: no objects for the garbage collector to scan; None: none yet)
        self._pend: array | None = None
        self._pamt: array | None = None
        self._blob: bytes | None = None  # the encoding of the state while it is unchanged
        self._vb: bytes | None = b""  # the encoding of the value lists (None: to redo)
        self._pruned = _NO_FLOOR  # the table has no row before this time

    # ------------------------------------------------------------------ updates
    def apply(self, ev: LiveEvent) -> None:
        """Add one event (order-independent; the caller has de-duplicated by event id).

        Raises ``ValueError`` for an event type outside :data:`EVENT_TYPES`.
        """
        ts = ev.ts_us
        et = ev.event_type
        k = TYPE_KIND.get(et)
        if k is None:
            raise ValueError(
                f"event_type={et!r} is not a canonical event type ({', '.join(EVENT_TYPES)})"
            )
        self._blob = None
        first, last = self.first_ts_us, self.last_ts_us
        if first is None or ts < first:
            self.first_ts_us = ts
        if last is None or ts > last:
            self.last_ts_us = last = ts
        w = self.window_days
        if w is not None and ts // US_PER_DAY <= last // US_PER_DAY - w:
            return  # older than any window ending at or after the last event
        if k == PURCHASE:
            a = ev.amount
            if a >= 0:
                if self._pamt is None:
                    self._pamt = array("d")
                self._pamt.append(float(a) + 0.0)  # + 0.0: -0.0 is 0.0
                if ev.discount > 0:
                    k = PURCHASE | DISCOUNTED
            elif a < 0:
                k = RETURN
            else:  # NaN: neither a purchase nor a return (as the batch's comparisons)
                k = PURCHASE_NAN
        c = ev.channel
        if c is None:
            c = 0
        else:
            vals, idx = self.channels, self._ch_index
            if idx is not None:
                j = idx.get(c)
            elif len(vals) < _SCAN_BELOW:  # a short list: a scan, no index to build
                j = vals.index(c) if c in vals else None
            else:
                idx = self._ch_index = {v: i for i, v in enumerate(vals)}
                j = idx.get(c)
            if j is None:
                j = len(vals)
                vals.append(c)
                if idx is not None:
                    idx[c] = j
                self._vb = None
            c = j + 1
        g = ev.category
        if g is None or et not in CATEGORY_TYPES:
            g = 0
        else:
            vals, idx = self.categories, self._cat_index
            if idx is not None:
                j = idx.get(g)
            elif len(vals) < _SCAN_BELOW:
                j = vals.index(g) if g in vals else None
            else:
                idx = self._cat_index = {v: i for i, v in enumerate(vals)}
                j = idx.get(g)
            if j is None:
                j = len(vals)
                vals.append(g)
                if idx is not None:
                    idx[g] = j
                self._vb = None
            g = j + 1
        p = self._pend
        if p is None:
            p = self._pend = array("q")
        p.extend((ts, k, c, g))

    def apply_many(self, events) -> None:
        """:meth:`apply` each event of an iterable."""
        for ev in events:
            self.apply(ev)

    def apply_rows(
        self,
        ts: list[int],
        kinds: list[int],
        amounts: list[float],
        channels: list[str | None],
        categories: list[str | None],
    ) -> None:
        """:meth:`apply` of events given as columns, in one call (the same state after).

        ``kinds``: each event's row kind as :meth:`apply` derives it (with the
        :data:`DISCOUNTED` flag; -1: not a canonical type, ``ValueError``); ``amounts``:
        the amounts (+ 0.0); ``categories``: ``None`` where the event type counts no
        category (:data:`CATEGORY_TYPES`).
        """
        if not ts:
            return
        if min(kinds) < 0:
            raise ValueError(f"an event type outside {', '.join(EVENT_TYPES)}")
        self._blob = None
        lo, hi = min(ts), max(ts)
        first, last = self.first_ts_us, self.last_ts_us
        if first is None or lo < first:
            self.first_ts_us = lo
        top = hi if last is None or hi > last else last
        w = self.window_days
        if w is not None and lo // US_PER_DAY <= top // US_PER_DAY - w:
            # some event may be older than any window ending at the running last event
            # (apply's rule, event by event): keep the others
            keep = []
            for r, t in enumerate(ts):
                if last is None or t > last:
                    last = t
                if t // US_PER_DAY > last // US_PER_DAY - w:
                    keep.append(r)
            if len(keep) < len(ts):
                ts = [ts[r] for r in keep]
                kinds = [kinds[r] for r in keep]
                amounts = [amounts[r] for r in keep]
                channels = [channels[r] for r in keep]
                categories = [categories[r] for r in keep]
        self.last_ts_us = top
        if not ts:
            return
        chs = self._codes(channels, True)
        cats = self._codes(categories, False)
        p = self._pend
        if p is None:
            p = self._pend = array("q")
        p.extend(chain.from_iterable(zip(ts, kinds, chs, cats, strict=True)))
        if PURCHASE in kinds or (PURCHASE | DISCOUNTED) in kinds:
            if self._pamt is None:
                self._pamt = array("d")
            self._pamt.extend(
                [a for a, k in zip(amounts, kinds, strict=True) if k & KIND_MASK == PURCHASE]
            )

    def _codes(self, values: list[str | None], channel: bool) -> list[int]:
        """1 + index of each value in the channel / category list (0: ``None``); new
        values are appended (as :meth:`apply`)."""
        vals = self.channels if channel else self.categories
        idx = self._ch_index if channel else self._cat_index
        if idx is None:
            idx = {v: i for i, v in enumerate(vals)}
            if len(vals) >= _SCAN_BELOW:  # kept (apply's rule); a short list's is rebuilt
                if channel:
                    self._ch_index = idx
                else:
                    self._cat_index = idx
        try:
            return [0 if v is None else idx[v] + 1 for v in values]
        except KeyError:
            pass
        out = []
        for v in values:
            if v is None:
                out.append(0)
                continue
            j = idx.get(v)
            if j is None:
                j = idx[v] = len(vals)
                vals.append(v)
                self._vb = None
            out.append(j + 1)
        return out

    def prune(self) -> None:
        """Merge pending rows and drop what no window ending at or after the last event can
        count (windowed only), with the channel/category values only those rows used."""
        self._merge(force=True)

    def _merge(self, force: bool) -> None:
        w, last = self.window_days, self.last_ts_us
        if last is None or (not force and not self._pend):
            return
        floor = _NO_FLOOR if w is None else (last // US_PER_DAY - w + 1) * US_PER_DAY
        if not self._pend and (floor <= self._pruned or self._n == 0 or self._ts0() >= floor):
            return  # nothing pending, nothing old
        ch_map = cat_map = EMPTY_I4
        if len(self.channels) != self._nch:  # new values: sorted in
            ch_map, self.channels = _sorted_vocab(self.channels, self._nch)
        if len(self.categories) != self._ncat:
            cat_map, self.categories = _sorted_vocab(self.categories, self._ncat)
        p, a = self._pend, self._pamt
        pend = np.frombuffer(p, np.int64) if p else EMPTY_I8
        pamt = np.frombuffer(a, np.float64) if a else EMPTY_F8
        n_ch = len(self.channels)
        body, n, np_, wc, wg, keep, nch, ncat = merge_rows(
            self._body, self._n, self._p, self._wc, self._wg, pend, pamt,
            ch_map, cat_map, n_ch, len(self.categories), floor,
        )  # fmt: skip
        if len(keep):  # values only pruned rows used
            keep = keep.tolist()
            self.channels = [v for v, k in zip(self.channels, keep[:n_ch], strict=True) if k]
            self.categories = [v for v, k in zip(self.categories, keep[n_ch:], strict=True) if k]
            self._vb = None
        self._body, self._n, self._p, self._wc, self._wg = body, n, np_, wc, wg
        self._nch, self._ncat = nch, ncat
        if len(ch_map) or len(cat_map) or len(keep):  # indices changed
            self._ch_index = self._cat_index = None
        del pend, pamt  # views of the pending arrays: release them before dropping those
        self._pend = self._pamt = None
        self._blob = None
        self._pruned = floor

    # ------------------------------------------------------------------ queries
    def packed(self) -> tuple[np.ndarray, int, int, int, int]:
        """``(body, rows, amounts, ch width code, cat width code)``: the merged table as the
        kernels read it (:mod:`archetype.live.table`; read only, do not modify)."""
        if self._pend:
            self._merge(force=False)
        return self._body, self._n, self._p, self._wc, self._wg

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(ts, kind, ch, cat, amt)``: the rows as arrays (int64, uint8, int32, int32,
        float64 of the purchase rows); a copy, for inspection."""
        body, n, p, wc, wg = self.packed()
        ts, amt, kind = np.empty(n, np.int64), np.empty(p), np.empty(n, np.uint8)
        ch, cat = np.empty(n, np.int32), np.empty(n, np.int32)
        unpack(body, n, p, wc, wg, ts, amt, kind, ch, cat)
        return ts, kind, ch, cat, amt

    def _ts0(self) -> int:
        return int(np.frombuffer(self._body, np.int64, 1)[0])

    @property
    def n_events(self) -> int:
        """Events held (after pruning older than the window)."""
        return self.packed()[1]

    @property
    def days(self) -> list[int]:
        """Active days held, ascending (day = ``ts_us // 86_400_000_000``)."""
        return np.unique(self.table()[0] // US_PER_DAY).tolist()

    @property
    def last_day(self) -> int | None:
        return None if self.last_ts_us is None else self.last_ts_us // US_PER_DAY

    def encode(self) -> bytes:
        """Compact bytes (see :mod:`archetype.live.codec`), pruned and in canonical order
        first: equal states (the same events, any arrival order) give equal bytes."""
        from archetype.live.codec import encode_state

        self._merge(force=True)
        if self._blob is None:
            self._blob = encode_state(self)
        return self._blob

    def canonical(self) -> tuple:
        """The state's content independent of arrival order (for comparisons and tests):
        window, first/last times, and the rows with channel and category values."""
        self._merge(force=True)
        ts, kind, chs, cats, amts = (x.tolist() for x in self.table())
        ch, cat = [None, *self.channels], [None, *self.categories]
        amt = iter(amts)
        rows = tuple(
            (t, k, ch[c], cat[g], next(amt) if k & KIND_MASK == PURCHASE else None)
            for t, k, c, g in zip(ts, kind, chs, cats, strict=True)
        )
        return (self.window_days, self.first_ts_us, self.last_ts_us, rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerState):
            return NotImplemented
        return self.canonical() == other.canonical()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return (
            f"CustomerState(events={self.n_events}, first_ts_us={self.first_ts_us}, "
            f"last_ts_us={self.last_ts_us})"
        )


def _sorted_vocab(values: list[str], n_sorted: int) -> tuple[np.ndarray, list[str]]:
    """``(map, sorted values)``: ``map[1 + old index] = 1 + new index`` (``map[0] = 0``);
    an empty map when the list is already sorted (the table indexes it as it is)."""
    n = len(values)
    if n == n_sorted:
        return EMPTY_I4, values
    if all(values[i] < values[i + 1] for i in range(max(n_sorted - 1, 0), n - 1)):
        return EMPTY_I4, values  # the new values sort after the old ones, in order
    new = sorted(values)
    pos = {v: i + 1 for i, v in enumerate(new)}
    return np.array([0, *(pos[v] for v in values)], np.int32), new


def __getattr__(name: str):
    if name == "FeatureDefinition":
        from archetype.live.definition import FeatureDefinition

        return FeatureDefinition
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CustomerState", "FeatureDefinition", "LiveEvent"]
