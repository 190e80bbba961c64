"""The trigger engine: rules evaluated in event time, so a replay fires exactly the same.

Two phases, both inside the caller's store transaction:

* :meth:`TriggerEngine.apply_events` (any arrival order): each event is added to its
  customer's bounded history (only the event types some rule looks at) and, when it is the
  anchor of a rule, a *pending decision* is added to the customer's record: due at
  ``ts + within`` for an absence rule, at ``ts`` for a repeat rule; a segment change
  (:meth:`apply_segment_change`) adds the transition rules it matches.  Nothing is decided.
* :meth:`TriggerEngine.advance` moves the event-time watermark to ``now - lateness`` and
  runs every decision due at or before it, in one total order
  ``(due time, customer, kind, rule, anchor time, anchor tiebreak)``.  By the lateness
  bound every event at or before the watermark has arrived, so each decision reads a
  complete history; decisions that change state (cooldowns, experiment exposures and
  conversions, bandit posteriors) happen in the same order whatever the arrival order or
  the batch boundaries.  Hence: the same log, replayed twice or shuffled within the
  lateness bound, gives exactly the same firings, at the same event times, with the same
  idempotency keys.

An event at or before the last processed watermark is *late*: it is counted
(``stats["late"]``) and ignored by the triggers (it cannot change a decision already
taken).  Ties at one instant: events before decisions (an ``absent`` event exactly at
``on + within`` cancels the firing); for one customer, conversions, then exposure closes,
then rule decisions.

Within one store transaction the engine keeps a *session*: the customer records it has
decoded (each read once, with one ``get_many`` per batch), a heap of their next due times
and the part of the timer index already scanned.  Records are written back at the end of
each public call, or only by :meth:`flush` with ``defer=True`` (the automation worker,
which runs many service commits in one transaction: each record is written once).

State (namespaces of the store transaction; values are MessagePack):

``trg.cust``   customer -> history ``h`` {type: [[ts, category, amount, tiebreak]...]},
               segment history ``s`` [[ts, segment]...], last firing per rule ``f``,
               open experiment exposures ``x``, pending decisions ``p``
               [[due, kind, rule, anchor ts, tiebreak, payload]...] (sorted), and ``n`` the
               due time under which the customer is indexed in ``trg.timer``
``trg.timer``  ``<due>|<customer>`` -> ``b""``: one key per customer with pending decisions
               (its earliest), so applying a batch touches one index key per customer
``trg.meta``   ``wm`` the processed watermark
plus the outbox namespaces of :mod:`archetype.live.triggers.outbox`.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from archetype.errors import UserError
from archetype.live.triggers.codec import (
    ckey,
    digest,
    discarder,
    dumps,
    loads,
    plain_id,
    row_tiebreak,
    tkey,
    untkey,
)
from archetype.live.triggers.config import (
    DAY_US,
    AbsenceRule,
    RepeatRule,
    TransitionRule,
    TriggersConfig,
)
from archetype.live.triggers.outbox import Firing, write_firing_values
from archetype.live.triggers.rows import event_rows
from archetype.live.triggers.rules import (
    EventMatcher,
    _first,
    _order,
    resolve_segment,
    touched_types,
)

log = logging.getLogger(__name__)

NS_CUST = "trg.cust"
NS_TIMER = "trg.timer"
NS_META = "trg.meta"

#: Timer kinds, in their order at one instant.
CONVERSION, CLOSE, DECIDE = "a", "b", "c"
_UNREAD = object()


class _Session:
    """What the engine holds for one store transaction (see the module docstring)."""

    __slots__ = ("tx", "blobs", "dirty", "heap", "queued", "scanned", "wm")

    def __init__(self, tx: Any, wm: int | None) -> None:
        self.tx = tx
        self.blobs: dict[str, dict] = {}
        self.dirty: set[str] = set()
        self.heap: list[tuple[int, str]] = []  # (due, customer key): next due per blob
        self.queued: set[tuple[int, str]] = set()
        self.scanned: int | None = None  # timer index read up to this due (inclusive)
        self.wm = wm

    def push(self, due: int, ck: str) -> None:
        item = (due, ck)
        if item not in self.queued:
            self.queued.add(item)
            heapq.heappush(self.heap, item)


class TriggerEngine:
    """Evaluates :class:`TriggersConfig` rules in event time over a store transaction.

    Parameters
    ----------
    config : TriggersConfig
    segment_names : mapping of segment id -> name, optional
        Resolves segment names in ``segments``/``exclude_segments``/``entered``/``left``.
    experiments : ExperimentRunner, optional
        Receives the firings of rules with ``experiment = ...`` (exposures, conversions).
    replay : bool, default False
        Firings are recorded with status ``replay`` and never delivered (backfills).
    defer : bool, default False
        Keep decoded customer records in memory for the whole transaction and write them
        only in :meth:`flush` (which the caller must then call before committing).
    """

    def __init__(
        self,
        config: TriggersConfig,
        *,
        segment_names: Mapping[int, str] | None = None,
        experiments: Any = None,
        replay: bool = False,
        defer: bool = False,
    ) -> None:
        self.config = config
        self.lateness = int(config.lateness)
        self.replay = replay
        self.defer = defer
        self.experiments = experiments
        self.stats: Counter = Counter()
        self.muted = False  # see Automation.muted
        self._s: _Session | None = None
        names = dict(segment_names or {})
        self.rules = {r.name: r for r in config.rules}
        self._seg_in: dict[str, frozenset[int] | None] = {}
        self._seg_out: dict[str, frozenset[int]] = {}
        self._transition: dict[str, tuple[int | None, int | None]] = {}
        self._where: dict[str, EventMatcher] = {}
        self._absent_where: dict[str, EventMatcher] = {}
        # anchor type -> [(rule, its filter, is absence)]
        self._on: dict[str, list[tuple[Any, EventMatcher, bool]]] = {}
        hist: set[str] = set()
        horizon = 0
        self._keep: dict[str, int] = {}  # history kept per event type (its longest lookback)
        self._cancels: dict[str, dict[str, AbsenceRule]] = {}  # absent type -> its rules
        self._absent_of: dict[str, str] = {}  # absence rule -> its absent type
        for r in self.rules.values():
            self._seg_in[r.name] = (
                None
                if r.segments is None
                else frozenset(resolve_segment(s, names, r.name) for s in r.segments)
            )
            self._seg_out[r.name] = frozenset(
                resolve_segment(s, names, r.name) for s in r.exclude_segments
            )
            if r.experiment is not None and (
                experiments is None or not experiments.has(r.experiment)
            ):
                raise UserError(
                    f"[triggers] rule {r.name!r}: experiment {r.experiment!r} "
                    "is not defined in [experiments]"
                )
            if isinstance(r, TransitionRule):
                self._transition[r.name] = (
                    None if r.entered is None else resolve_segment(r.entered, names, r.name),
                    None if r.left is None else resolve_segment(r.left, names, r.name),
                )
                continue
            self._where[r.name] = EventMatcher(r.where)
            is_absence = isinstance(r, AbsenceRule)
            self._on.setdefault(r.on, []).append((r, self._where[r.name], is_absence))
            if is_absence:
                self._absent_where[r.name] = EventMatcher(r.absent_where)
                self._cancels.setdefault(r.absent, {})[r.name] = r
                self._absent_of[r.name] = r.absent
                hist.add(r.absent)
                horizon = max(horizon, int(r.within))
                self._keep[r.absent] = max(self._keep.get(r.absent, 0), int(r.within))
            else:
                hist.add(r.on)
                self._keep[r.on] = max(self._keep.get(r.on, 0), r.lookback)
                horizon = max(horizon, r.lookback)
        self._cand: dict[tuple[str, Any], list] = {}  # (type, category) -> candidate rules
        self.history_types = frozenset(hist)
        self.horizon = horizon
        self.conversion_types = frozenset(experiments.conversion_types if experiments else ())
        self._touch = self.history_types | self.conversion_types | frozenset(self._on)
        assert self._touch == touched_types(config, experiments)

    @property
    def touch_types(self) -> frozenset[str]:
        """The event types the engine reads (others are skipped at once)."""
        return self._touch

    # ----- state helpers --------------------------------------------------------------------
    @staticmethod
    def watermark(tx: Any) -> int | None:
        """The processed watermark (every decision due at or before it has run), or None."""
        v = tx.get(NS_META, "wm")
        return None if v is None else int(v)

    def _session(self, tx: Any) -> _Session:
        s = self._s
        if s is None or s.tx is not tx:  # a new transaction: nothing held over
            s = self._s = _Session(tx, self.watermark(tx))
        return s

    def _load(self, s: _Session, ck: str, cid: Any, raw: Any = _UNREAD) -> dict:
        """The record of customer ``ck`` in session ``s`` (decoded once per session)."""
        blob = s.blobs.get(ck)
        if blob is None:
            if raw is _UNREAD:
                raw = s.tx.get(NS_CUST, ck)
            if raw is None:
                blob = {"id": plain_id(cid), "h": {}, "s": [], "f": {}, "x": [], "p": [], "n": None}
            else:
                blob = loads(raw)
                if blob["p"]:
                    s.push(blob["p"][0][0], ck)
            s.blobs[ck] = blob
        return blob

    def _prefetch(self, s: _Session, ck_of: dict[Any, str]) -> None:
        """Read the records of customers not in the session with one ``get_many``."""
        blobs = s.blobs
        want = [(cid, ck) for cid, ck in ck_of.items() if ck not in blobs]
        if want:
            raws = s.tx.get_many(NS_CUST, [ck for _, ck in want])
            for (cid, ck), raw in zip(want, raws, strict=True):
                self._load(s, ck, cid, raw)

    def flush(self, tx: Any) -> None:
        """Write the records changed in ``tx`` (``defer=True``: call once before commit)."""
        s = self._s
        if s is None or s.tx is not tx or not s.dirty:
            return
        blobs = s.blobs
        rm = discarder(tx)
        for ck in sorted(s.dirty):
            blob = blobs[ck]
            self._prune(blob, s.wm)
            p = blob["p"]
            due = p[0][0] if p else None
            if due != blob["n"]:
                if blob["n"] is not None:
                    rm(NS_TIMER, f"{tkey(blob['n'])}|{ck}")
                if due is not None:
                    tx.put(NS_TIMER, f"{tkey(due)}|{ck}", b"")
                blob["n"] = due
            if blob["h"] or blob["s"] or blob["f"] or blob["x"] or p:
                tx.put(NS_CUST, ck, dumps(blob))
            else:
                rm(NS_CUST, ck)
        s.dirty = set()

    def _done(self, tx: Any) -> None:
        if not self.defer:
            self.flush(tx)

    def _prune(self, blob: dict, now: int | None) -> None:
        """Drop history no pending or future decision can read (events at or before the
        processed watermark are late, so every window starts after ``now - lookback``)."""
        if now is None:
            return
        h = blob["h"]
        if h:
            keep = self._keep
            for et, rows in list(h.items()):
                cut = now - keep.get(et, 0)
                if rows[0][0] < cut:
                    rest = rows[bisect.bisect_left(rows, cut, key=_first) :]
                    if rest:
                        h[et] = rest
                    else:
                        del h[et]
        s = blob["s"]
        if len(s) > 1:
            cut = now - self.horizon
            if s[1][0] <= cut:  # keep the last change at or before the cut
                i = bisect.bisect_right([e[0] for e in s], cut) - 1
                blob["s"] = s[i:]

    def _pend(
        self,
        s: _Session,
        blob: dict,
        ck: str,
        due: int,
        kind: str,
        rule: str,
        anchor: int,
        tb: str,
        payload: list,
    ) -> None:
        """Add a pending decision (the same decision twice is kept once)."""
        p = blob["p"]
        item = [due, kind, rule, anchor, tb, payload]
        if not p or p[-1] < item:  # lists compare field by field: (due, kind, rule, ...)
            i = len(p)
            p.append(item)
        else:
            i = bisect.bisect_left(p, item)
            if i < len(p) and p[i][:5] == item[:5]:
                return
            p.insert(i, item)
        if i == 0:
            s.push(due, ck)
        if kind == DECIDE:
            absent = self._absent_of.get(rule)
            if absent is not None:
                q = blob.get("q")
                if q is None:
                    q = blob["q"] = {}
                q[absent] = q.get(absent, 0) + 1

    def _settled(self, blob: dict, rule: str) -> None:
        """A pending absence decision left (decided or cancelled): count it out."""
        absent = self._absent_of.get(rule)
        q = blob.get("q")
        if absent is not None and q and q.get(absent, 0) > 0:
            q[absent] -= 1

    # ----- phase 1: apply (any order) ---------------------------------------------------------
    def apply_events(
        self,
        tx: Any,
        events: Iterable[Any],
        changes: Iterable[tuple[Any, int, int | None, int | None]] = (),
    ) -> int:
        """Add events to the customers' histories and pending decisions; returns late count.

        ``events`` are :class:`~archetype.live.state.LiveEvent` s or rows in its field
        order (:mod:`archetype.live.triggers.rows`).  The caller has deduplicated events
        by event id (the service does); an event with the same time, content and no id as
        one already held is dropped here too.  ``changes`` are segment moves
        ``(customer, ts_us, old, new)`` (:meth:`apply_segment_change`).
        """
        late = self._apply(tx, event_rows(events), changes)
        self._done(tx)
        return late

    def apply_and_advance(
        self,
        tx: Any,
        events: Iterable[Any],
        changes: Iterable[tuple[Any, int, int | None, int | None]],
        now_us: int,
    ) -> tuple[int, list[Firing]]:
        """:meth:`apply_events` then :meth:`advance` in one pass (each record written once):
        the service's path.  Returns (late events, firings)."""
        late = self._apply(tx, event_rows(events), changes)
        out = self._advance(tx, now_us, False)
        self._done(tx)
        return late, out

    def _apply(self, tx: Any, rows: list[tuple], changes: Iterable) -> int:
        s = self._session(tx)
        wm = s.wm
        touch = self._touch
        ck_of: dict[Any, str] = {}
        last_cid = _UNREAD
        for r in rows:
            cid = r[0]
            if cid != last_cid and r[2] in touch and (wm is None or r[1] > wm):
                last_cid = cid
                if cid not in ck_of:
                    ck_of[cid] = ckey(cid)
        changes = [c for c in changes if c[2] != c[3]]
        for c in changes:
            if c[0] not in ck_of:
                ck_of[c[0]] = ckey(c[0])
        self._prefetch(s, ck_of)
        blobs, dirty = s.blobs, s.dirty
        for cid, ts_us, old, new in changes:  # segment moves first (the same records)
            ck = ck_of[cid]
            blob = blobs.get(ck) or self._load(s, ck, cid)
            dirty.add(ck)
            self._segment_change(s, blob, ck, int(ts_us), old, new, wm)
        late = 0
        hist, conv, cands = self.history_types, self.conversion_types, self._cand
        cancels, pend = self._cancels, self._pend
        last_cid, ck, blob = _UNREAD, "", None
        for r in rows:
            et = r[2]
            if et not in touch:
                continue
            ts = r[1]
            if wm is not None and ts <= wm:
                late += 1
                continue
            cid = r[0]
            if cid != last_cid:  # rows of one customer come together: look up once
                last_cid = cid
                ck = ck_of[cid]
                blob = blobs.get(ck)
                if blob is None:
                    blob = self._load(s, ck, cid)
                dirty.add(ck)
            eid = r[8]
            tb = row_tiebreak(r) if eid is None else "e" + str(eid)
            cat = r[7]
            amount = float(r[3] or 0.0)
            if et in hist:
                hh = blob["h"]
                h = hh.get(et)
                if h is None:
                    h = hh[et] = []
                last = h[-1] if h else None
                if last is None or last[0] < ts or (last[0] == ts and last[3] < tb):
                    inserted = len(h)
                    h.append([ts, cat, amount, tb])  # the usual case: in time order
                else:
                    inserted = bisect.bisect_left(h, (ts, tb), key=_order)
                    if inserted < len(h) and h[inserted][0] == ts and h[inserted][3] == tb:
                        continue  # the same event again (no id, same content and time)
                    h.insert(inserted, [ts, cat, amount, tb])
                if et in cancels:
                    q = blob.get("q")
                    if q and q.get(et):
                        # pending absences this event may settle (the counts only skip
                        # work: a decision not cancelled here is checked again when due)
                        self._cancel(blob, et, ts, cat, amount)
            payload = None
            cand = cands.get((et, cat))
            if cand is None:
                cand = self._candidates(et, cat)
            for rule, where, is_absence in cand:
                if not where.match(cat, r[6], amount):
                    continue
                if is_absence:
                    due = ts + rule.within
                    if self._absent_seen(blob, rule, ts, due, cat):
                        continue  # already cancelled: more events cannot undo that
                    payload = payload or [et, cat, amount]
                    pend(s, blob, ck, due, DECIDE, rule.name, ts, tb, payload)
                    continue
                n = self._count(blob, rule, ts, tb, cat)
                if n == rule.count or (n < rule.count and where.chans is not None):
                    payload = payload or [et, cat, amount]
                    pend(s, blob, ck, ts, DECIDE, rule.name, ts, tb, payload)
                if inserted < len(blob["h"][et]) - 1 and where.chans is None:
                    self._recount(s, blob, ck, rule, inserted, cat)
            if et in conv:
                pend(s, blob, ck, ts, CONVERSION, "", ts, tb, payload or [et, cat, amount])
        self.stats["late"] += late
        return late

    def _candidates(self, et: str, cat: str | None) -> list:
        """Rules anchored on ``et`` whose category filter admits ``cat`` (cached)."""
        got = self._cand[(et, cat)] = [
            c for c in self._on.get(et, ()) if c[1].cats is None or cat in c[1].cats
        ]
        return got

    def _recount(self, s: _Session, blob: dict, ck: str, rule: RepeatRule, i: int, cat) -> None:
        """An event inserted at row ``i`` of its history, before later events: each later
        event it counts for is decided when its count reaches ``rule.count`` (counts only
        grow as events arrive, so checking for equality at each arrival misses none)."""
        rows = blob["h"][rule.on]
        t0 = rows[i][0]
        reach = t0 - t0 % DAY_US + DAY_US if rule.within is None else t0 + int(rule.within)
        flt = self._where[rule.name]
        for ts, c, amt, tb in rows[i + 1 :]:
            if ts >= reach:
                break
            if not flt.row(c, amt) or (rule.per_category and c != cat):
                continue
            if self._count(blob, rule, ts, tb, c) == rule.count:
                self._pend(s, blob, ck, ts, DECIDE, rule.name, ts, tb, [rule.on, c, amt])

    def _cancel(self, blob: dict, et: str, ts: int, cat: str | None, amount: float) -> None:
        """Drop pending absence decisions that this ``absent`` event settles (no firing)."""
        rules = self._cancels[et]
        p = blob["p"]
        drop = None
        for i, item in enumerate(p):
            r = rules.get(item[2])
            if (
                r is not None
                and item[1] == DECIDE
                and item[3] <= ts <= item[0]
                and self._absent_where[r.name].row(cat, amount)
                and (not r.same_category or item[5][1] == cat)
            ):
                self.stats[(r.name, "cancelled")] += 1
                self._settled(blob, r.name)
                (drop := drop or []).append(i)
        if drop:
            gone = set(drop)
            blob["p"] = [it for i, it in enumerate(p) if i not in gone]

    def _count(self, blob: dict, rule: RepeatRule, anchor: int, tb: str, cat: str | None) -> int:
        """Events ``on`` (matching) in the rule's window ending at the anchor (inclusive);
        counting stops past ``rule.count`` (callers compare with it)."""
        rows = blob["h"].get(rule.on)
        if not rows:
            return 0
        w = self._where[rule.name]
        cats, least = w.cats, w.min_amount
        lo = anchor - anchor % DAY_US if rule.within is None else anchor - int(rule.within) + 1
        per_category, most = rule.per_category, rule.count
        i = len(rows) - 1
        while i >= 0:  # rows after the anchor (sorted by time, tiebreak): usually none
            row = rows[i]
            if row[0] < anchor or (row[0] == anchor and row[3] <= tb):
                break
            i -= 1
        n = 0
        while i >= 0:
            ts, c, amt, _ = rows[i]
            if ts < lo:
                break
            if (
                (cats is None or c in cats)
                and (least is None or amt >= least)
                and (not per_category or c == cat)
            ):
                n += 1
                if n > most:
                    break
            i -= 1
        return n

    def _absent_seen(
        self, blob: dict, rule: AbsenceRule, anchor: int, due: int, cat: str | None
    ) -> bool:
        """An ``absent`` event (matching the rule) in ``[anchor, due]`` is in the history."""
        rows = blob["h"].get(rule.absent)
        if not rows:
            return False
        flt = self._absent_where[rule.name]
        for ts, c, amt, _ in rows[bisect.bisect_left(rows, anchor, key=_first) :]:
            if ts > due:
                return False
            if flt.row(c, amt) and (not rule.same_category or c == cat):
                return True
        return False

    def apply_segment_change(
        self, tx: Any, customer_id: Any, ts_us: int, old: int | None, new: int | None
    ) -> None:
        """Record that the customer moved ``old -> new`` at event time ``ts_us``.

        ``old = None`` is the customer's first assignment: it is recorded for segment
        filters but fires no transition rule (a bootstrap is not a storm of "entered").
        A change at or before the processed watermark is decided just after it.
        (:meth:`apply_events` takes many changes with the events of a batch.)
        """
        self.apply_events(tx, (), [(customer_id, ts_us, old, new)])

    def _segment_change(
        self,
        s: _Session,
        blob: dict,
        ck: str,
        ts: int,
        old: int | None,
        new: int | None,
        wm: int | None,
    ) -> None:
        bisect.insort(blob["s"], [ts, new], key=_first)
        if old is None:
            return
        due = ts if wm is None or ts > wm else wm + 1
        tb = f"s{old}>{new}"
        for name, (entered, left) in self._transition.items():
            if entered is not None and (new != entered or old == entered):
                continue
            if left is not None and (old != left or new == left):
                continue
            self._pend(s, blob, ck, due, DECIDE, name, ts, tb, [old, new])

    # ----- phase 2: decide (event-time order) -------------------------------------------------
    def advance(self, tx: Any, now_us: int, *, flush: bool = False) -> list[Firing]:
        """Run every decision due at or before ``now_us - lateness`` (``now_us`` with
        ``flush``).  Returns the firings, already written to the outbox in ``tx``."""
        out = self._advance(tx, now_us, flush)
        self._done(tx)
        return out

    def _advance(self, tx: Any, now_us: int, flush: bool) -> list[Firing]:
        """Decide up to the target, in (due, customer) order over the session's heap and
        the timer index of the records not in the session."""
        target = int(now_us) if flush else int(now_us) - self.lateness
        s = self._session(tx)
        if s.wm is not None and target <= s.wm:
            return []
        self._scan_timers(s, target)
        heap, queued, blobs, dirty = s.heap, s.queued, s.blobs, s.dirty
        firings: list[Firing] = []
        experiments = self.experiments
        while heap and heap[0][0] <= target:
            item = heapq.heappop(heap)
            queued.discard(item)
            due, ck = item
            blob = blobs.get(ck)
            if blob is None:
                blob = self._load(s, ck, None)
            p = blob["p"]
            if p and p[0][0] == due:
                dirty.add(ck)
                while p and p[0][0] == due:
                    _, kind, rule, anchor, tb, pay = p.pop(0)
                    if kind == CONVERSION:
                        experiments.convert(tx, blob, due, pay)
                    elif kind == CLOSE:
                        experiments.close(tx, blob, due, pay)
                    else:
                        self._settled(blob, rule)
                        f = self._decide(s, blob, ck, rule, due, anchor, tb, pay)
                        if f is not None:
                            firings.append(f)
                    p = blob["p"]
            if p:
                s.push(p[0][0], ck)
        s.wm = target
        tx.put(NS_META, "wm", str(target).encode())
        if experiments is not None:
            experiments.flush(tx)
        self.stats["fired"] += len(firings)
        return firings

    def scan_timers(self, tx: Any, now_us: int) -> None:
        """Read the timer index up to ``now_us - lateness`` into the session now (the
        worker, before many advances in one transaction: one scan instead of one per
        advance, which on Redis reads the whole index each time)."""
        self._scan_timers(self._session(tx), int(now_us) - self.lateness)

    def _scan_timers(self, s: _Session, target: int) -> None:
        if s.scanned is not None and target <= s.scanned:
            return
        start = None if s.scanned is None else tkey(s.scanned + 1)
        for k, _ in s.tx.scan(NS_TIMER, start=start, stop=tkey(target + 1)):
            due_s, ck = k.decode().split("|", 1)
            s.push(untkey(due_s), ck)
        s.scanned = target

    def _decide(self, s: _Session, blob, ck, name, due, anchor, tb, pay) -> Firing | None:
        if self.muted:
            self.stats["muted"] += 1
            return None
        rule = self.rules.get(name)
        if rule is None:  # rule removed from the config since the timer was set
            self.stats["orphan_timer"] += 1
            return None
        kind = rule.kind
        if kind == "absence":
            if self._absent_seen(blob, rule, anchor, due, pay[1]):
                self.stats[(name, "cancelled")] += 1
                return None
        elif kind == "repeat" and self._count(blob, rule, anchor, tb, pay[1]) != rule.count:
            return None
        seg = self._segment_at(blob, due)
        allow = self._seg_in[name]
        if (allow is not None and seg not in allow) or seg in self._seg_out[name]:
            self.stats[(name, "filtered")] += 1
            return None
        last = blob["f"].get(name)
        if last is not None and rule.cooldown and due - last < rule.cooldown:
            self.stats[(name, "cooldown")] += 1
            return None
        blob["f"][name] = due
        webhook = rule.webhook or self.config.webhook
        status = "replay" if self.replay else ("pending" if webhook else "stored")
        transition = kind == "transition"
        key = digest(name, ck, anchor, tb)
        variant = None
        tx = s.tx
        if rule.experiment is not None:

            def schedule(d: int, kind: str, rule: str, anchor: int, tb: str, pay: list) -> None:
                self._pend(s, blob, ck, d, kind, rule, anchor, tb, pay)

            variant = self.experiments.expose(
                tx, blob, rule.experiment, blob["id"], key, due, name, seg, schedule
            )
            if variant == self.experiments.HOLDOUT and not self.replay:
                status = "holdout"
        return write_firing_values(
            tx,
            (
                key,
                name,
                kind,
                blob["id"],
                due,
                anchor,
                None if transition else pay[0],
                None if transition else pay[1],
                seg,
                rule.experiment,
                variant,
                webhook,
                status,
                {"from": pay[0], "to": pay[1]} if transition else {},
            ),
        )

    @staticmethod
    def _segment_at(blob: dict, ts: int) -> int | None:
        s = blob["s"]
        seg = None
        for t, g in s:
            if t > ts:
                break
            seg = g
        return seg
