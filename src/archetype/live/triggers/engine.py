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
import dataclasses
import heapq
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from archetype.errors import UserError
from archetype.live.triggers.codec import (
    ckey,
    digest,
    dumps,
    event_tiebreak,
    loads,
    plain_id,
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
from archetype.live.triggers.outbox import Firing, write_firing
from archetype.live.triggers.rules import (
    EventMatcher,
    _first,
    _order,
    _pkey,
    resolve_segment,
)

log = logging.getLogger(__name__)

NS_CUST = "trg.cust"
NS_TIMER = "trg.timer"
NS_META = "trg.meta"

#: Timer kinds, in their order at one instant.
CONVERSION, CLOSE, DECIDE = "a", "b", "c"


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
    """

    def __init__(
        self,
        config: TriggersConfig,
        *,
        segment_names: Mapping[int, str] | None = None,
        experiments: Any = None,
        replay: bool = False,
    ) -> None:
        self.config = config
        self.lateness = int(config.lateness)
        self.replay = replay
        self.experiments = experiments
        self.stats: Counter = Counter()
        self.muted = False  # see Automation.muted
        self._tx: Any = None
        self._tx_cache: dict[str, dict] = {}
        names = dict(segment_names or {})
        self.rules = {r.name: r for r in config.rules}
        self._seg_in: dict[str, frozenset[int] | None] = {}
        self._seg_out: dict[str, frozenset[int]] = {}
        self._transition: dict[str, tuple[int | None, int | None]] = {}
        self._where: dict[str, EventMatcher] = {}
        self._absent_where: dict[str, EventMatcher] = {}
        self._on: dict[str, list[AbsenceRule | RepeatRule]] = {}
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
            self._on.setdefault(r.on, []).append(r)
            if isinstance(r, AbsenceRule):
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
        self.history_types = frozenset(hist)
        self.horizon = horizon
        self.conversion_types = frozenset(experiments.conversion_types if experiments else ())
        self._touch = self.history_types | self.conversion_types | frozenset(self._on)

    # ----- state helpers --------------------------------------------------------------------
    @staticmethod
    def watermark(tx: Any) -> int | None:
        """The processed watermark (every decision due at or before it has run), or None."""
        v = tx.get(NS_META, "wm")
        return None if v is None else int(v)

    def _cache(self, tx: Any) -> dict[str, dict]:
        """Decoded customer records of transaction ``tx`` (shared by apply and advance)."""
        if self._tx is not tx:
            self._tx, self._tx_cache = tx, {}
        return self._tx_cache

    def _load(self, tx: Any, cache: dict, ck: str, cid: Any) -> dict:
        blob = cache.get(ck)
        if blob is None:
            raw = tx.get(NS_CUST, ck)
            if raw is None:
                blob = {"id": plain_id(cid), "h": {}, "s": [], "f": {}, "x": [], "p": [], "n": None}
            else:
                blob = loads(raw)
            cache[ck] = blob
        return blob

    @staticmethod
    def _save(tx: Any, cache: dict) -> None:
        """Write the records and keep ``trg.timer`` at one key per customer (its earliest)."""
        for ck, blob in cache.items():
            p = blob["p"]
            due = p[0][0] if p else None
            if due != blob["n"]:
                if blob["n"] is not None:
                    tx.delete(NS_TIMER, f"{tkey(blob['n'])}|{ck}")
                if due is not None:
                    tx.put(NS_TIMER, f"{tkey(due)}|{ck}", b"")
                blob["n"] = due
            if blob["h"] or blob["s"] or blob["f"] or blob["x"] or p:
                tx.put(NS_CUST, ck, dumps(blob))
            else:
                tx.delete(NS_CUST, ck)

    def _prune(self, blob: dict, now: int | None) -> None:
        if now is None:
            return
        h = blob["h"]
        for et, rows in list(h.items()):
            cut = now - self._keep.get(et, 0)
            if rows[0][0] < cut:
                keep = rows[bisect.bisect_left(rows, cut, key=_first) :]
                if keep:
                    h[et] = keep
                else:
                    del h[et]
        cut = now - self.horizon
        s = blob["s"]
        if len(s) > 1 and s[1][0] <= cut:  # keep the last change at or before the cut
            i = bisect.bisect_right([e[0] for e in s], cut) - 1
            blob["s"] = s[i:]

    def _pend(
        self, blob: dict, due: int, kind: str, rule: str, anchor: int, tb: str, payload: list
    ) -> None:
        """Add a pending decision (the same decision twice is kept once)."""
        p = blob["p"]
        item = [due, kind, rule, anchor, tb, payload]
        i = bisect.bisect_left(p, (due, kind, rule, anchor, tb), key=_pkey)
        if i == len(p) or _pkey(p[i]) != (due, kind, rule, anchor, tb):
            p.insert(i, item)
            absent = self._absent_of.get(rule) if kind == DECIDE else None
            if absent is not None:
                q = blob.setdefault("q", {})
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

        The caller has deduplicated events by event id (the service does); an event with
        the same time, content and no id as one already held is dropped here too.
        ``changes`` are segment moves ``(customer, ts_us, old, new)``
        (:meth:`apply_segment_change`).
        """
        touched, late = self._apply(tx, events, changes)
        self._save(tx, touched)
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
        touched, late = self._apply(tx, events, changes)
        return late, self._advance(tx, now_us, False, touched)

    def _apply(self, tx: Any, events: Iterable[Any], changes: Iterable) -> tuple[dict, int]:
        wm = self.watermark(tx)
        cache = self._cache(tx)
        touched: dict[str, dict] = {}
        for cid, ts_us, old, new in changes:  # segment moves first (the same records)
            if old != new:
                ck = ckey(cid)
                blob = touched.get(ck)
                if blob is None:
                    blob = touched[ck] = self._load(tx, cache, ck, cid)
                self._segment_change(blob, int(ts_us), old, new, wm)
        late = 0
        touch, hist, conv, on = self._touch, self.history_types, self.conversion_types, self._on
        where, pend = self._where, self._pend
        for ev in events:
            et = ev.event_type
            if et not in touch:
                continue
            ts = int(ev.ts_us)
            if wm is not None and ts <= wm:
                late += 1
                continue
            cid = ev.customer_id
            ck = ckey(cid)
            blob = touched.get(ck)
            if blob is None:
                blob = touched[ck] = self._load(tx, cache, ck, cid)
            tb = event_tiebreak(ev)
            cat = ev.category
            amount = float(ev.amount or 0.0)
            if et in hist:
                h = blob["h"].setdefault(et, [])
                i = bisect.bisect_left(h, (ts, tb), key=_order)
                if i < len(h) and h[i][0] == ts and h[i][3] == tb:
                    continue  # the same event again (no id, same content and time)
                h.insert(i, [ts, cat, amount, tb])
                if et in self._cancels and blob.get("q", {}).get(et):
                    # pending absences this event may settle (the counts only skip work:
                    # a decision not cancelled here is checked again when it is due)
                    self._cancel(blob, et, ts, cat, amount)
            payload = None
            for rule in on.get(et, ()):
                if not where[rule.name].event(ev):
                    continue
                if rule.kind == "absence":
                    due = ts + rule.within
                    if self._absent_seen(blob, rule, ts, due, cat):
                        continue  # already cancelled: more events cannot undo that
                else:
                    due = ts
                    if self._count(blob, rule, ts, tb, cat) > rule.count:
                        continue  # already past the count: more events cannot lower it
                payload = payload or [et, cat, amount]
                pend(blob, due, DECIDE, rule.name, ts, tb, payload)
            if et in conv:
                pend(blob, ts, CONVERSION, "", ts, tb, payload or [et, cat, amount])
        for blob in touched.values():
            self._prune(blob, wm)
        self.stats["late"] += late
        return touched, late

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
        """Events ``on`` (matching) in the rule's window ending at the anchor (inclusive)."""
        flt = self._where[rule.name]
        rows = blob["h"].get(rule.on, ())
        lo = anchor - int(rule.within) + 1 if rule.within is not None else anchor - anchor % DAY_US
        n = 0
        for ts, c, amt, etb in rows[bisect.bisect_left(rows, lo, key=_first) :]:
            if ts > anchor or (ts == anchor and etb > tb):
                break
            if flt.row(c, amt) and (not rule.per_category or c == cat):
                n += 1
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
        self, blob: dict, ts: int, old: int | None, new: int | None, wm: int | None
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
            self._pend(blob, due, DECIDE, name, ts, tb, [old, new])

    # ----- phase 2: decide (event-time order) -------------------------------------------------
    def advance(self, tx: Any, now_us: int, *, flush: bool = False) -> list[Firing]:
        """Run every decision due at or before ``now_us - lateness`` (``now_us`` with
        ``flush``).  Returns the firings, already written to the outbox in ``tx``."""
        return self._advance(tx, now_us, flush, {})

    def _advance(self, tx: Any, now_us: int, flush: bool, touched: dict) -> list[Firing]:
        """Decide up to the target; ``touched`` records (applied, not yet written) too."""
        target = int(now_us) if flush else int(now_us) - self.lateness
        wm = self.watermark(tx)
        if wm is not None and target <= wm:
            self._save(tx, touched)
            return []
        queued = set()
        for k, _ in tx.scan(NS_TIMER, stop=tkey(target + 1)):
            due_s, ck = k.decode().split("|", 1)
            queued.add((untkey(due_s), ck))
        for ck, blob in touched.items():  # pending decisions not in the index yet
            if blob["p"] and blob["p"][0][0] <= target:
                queued.add((blob["p"][0][0], ck))
        heap = list(queued)
        heapq.heapify(heap)
        cache = self._cache(tx)
        done: dict[str, dict] = dict(touched)
        firings: list[Firing] = []
        while heap:
            due, ck = heapq.heappop(heap)
            blob = done.get(ck)
            if blob is None:
                blob = done[ck] = self._load(tx, cache, ck, None)
                self._prune(blob, due)
            p = blob["p"]

            def schedule(
                d: int, kind: str, rule: str, anchor: int, tb: str, pay: list, blob: dict = blob
            ) -> None:
                self._pend(blob, d, kind, rule, anchor, tb, pay)

            while p and p[0][0] == due:
                _, kind, rule, anchor, tb, pay = p.pop(0)
                if kind == DECIDE:
                    self._settled(blob, rule)
                if kind == CONVERSION:
                    self.experiments.convert(tx, blob, due, pay, schedule)
                elif kind == CLOSE:
                    self.experiments.close(tx, blob, due, pay)
                else:
                    f = self._decide(tx, blob, ck, rule, due, anchor, tb, pay, schedule)
                    if f is not None:
                        firings.append(f)
                p = blob["p"]
            if p and p[0][0] <= target and (p[0][0], ck) not in queued:
                queued.add((p[0][0], ck))
                heapq.heappush(heap, (p[0][0], ck))
        tx.put(NS_META, "wm", str(target).encode())
        if self.experiments is not None:
            self.experiments.flush(tx)
        for blob in done.values():
            self._prune(blob, target)
        self._save(tx, done)
        self.stats["fired"] += len(firings)
        return firings

    def _decide(self, tx, blob, ck, name, due, anchor, tb, pay, schedule) -> Firing | None:
        if self.muted:
            self.stats["muted"] += 1
            return None
        rule = self.rules.get(name)
        if rule is None:  # rule removed from the config since the timer was set
            self.stats["orphan_timer"] += 1
            return None
        if isinstance(rule, AbsenceRule):
            if self._absent_seen(blob, rule, anchor, due, pay[1]):
                self.stats[(name, "cancelled")] += 1
                return None
        elif (
            isinstance(rule, RepeatRule)
            and self._count(blob, rule, anchor, tb, pay[1]) != rule.count
        ):
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
        transition = isinstance(rule, TransitionRule)
        detail = {"from": pay[0], "to": pay[1]} if transition else {}
        f = Firing(
            key=digest(name, ck, anchor, tb),
            rule=name,
            kind=rule.kind,
            customer_id=blob["id"],
            ts_us=due,
            anchor_ts_us=anchor,
            anchor_event=None if transition else pay[0],
            category=None if transition else pay[1],
            segment_id=seg,
            experiment=rule.experiment,
            webhook=webhook,
            status=status,
            detail=detail,
        )
        if rule.experiment is not None:
            variant = self.experiments.expose(tx, blob, f, schedule)
            holdout = variant == self.experiments.HOLDOUT
            f = dataclasses.replace(
                f, variant=variant, status="holdout" if holdout and not self.replay else f.status
            )
        write_firing(tx, f)
        return f

    @staticmethod
    def _segment_at(blob: dict, ts: int) -> int | None:
        s = blob["s"]
        seg = None
        for t, g in s:
            if t > ts:
                break
            seg = g
        return seg
