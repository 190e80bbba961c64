"""The trigger engine: rules evaluated in event time, so a replay fires exactly the same.

Two phases, both inside the caller's store transaction:

* :meth:`TriggerEngine.apply_events` (any arrival order): each event is added to its
  customer's bounded history (only the event types some rule looks at) and, when it is the
  anchor of a rule, a *decision timer* is scheduled: at ``ts + within`` for an absence rule,
  at ``ts`` for a repeat rule; a segment change (:meth:`apply_segment_change`) schedules
  the transition rules it matches.  Nothing is decided yet.
* :meth:`TriggerEngine.advance` moves the event-time watermark to ``now - lateness`` and
  runs every timer due at or before it, in one total order
  ``(due time, kind, customer, rule, anchor time, anchor tiebreak)``.  By the lateness
  bound every event at or before the watermark has arrived, so each decision reads a
  complete history; decisions that change state (cooldowns, experiment exposures and
  conversions, bandit posteriors) happen in the same order whatever the arrival order or
  the batch boundaries.  Hence: the same log, replayed twice or shuffled within the
  lateness bound, gives exactly the same firings, at the same event times, with the same
  idempotency keys.

An event at or before the last processed watermark is *late*: it is counted
(``stats["late"]``) and ignored by the triggers (it cannot change a decision already
taken).  Ties at one instant: events before timers (an ``absent`` event exactly at
``on + within`` cancels the firing); conversions, then exposure closes, then rule decisions.

State (namespaces of the store transaction; values are compact JSON):

``trg.cust``   customer -> history ``h`` [[ts, type, category, amount, tiebreak]...],
               segment history ``s`` [[ts, segment]...], last firing per rule ``f``,
               open experiment exposures ``x``
``trg.timer``  ``<due>|<kind>|<customer>|<rule>|<anchor ts>|<tiebreak>`` -> timer payload
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
    EventFilter,
    RepeatRule,
    TransitionRule,
    TriggersConfig,
)
from archetype.live.triggers.outbox import Firing, write_firing

log = logging.getLogger(__name__)

NS_CUST = "trg.cust"
NS_TIMER = "trg.timer"
NS_META = "trg.meta"

#: Timer kinds, in their order at one instant.
CONVERSION, CLOSE, DECIDE = "a", "b", "c"


def _order(e: list) -> tuple:
    return (e[0], e[4])


class EventMatcher:
    """A compiled :class:`EventFilter` (plain sets, for the hot path)."""

    __slots__ = ("cats", "chans", "min_amount")

    def __init__(self, f: EventFilter) -> None:
        self.cats = f.categories()
        self.chans = f.channels()
        self.min_amount = f.min_amount

    def event(self, ev: Any) -> bool:
        if self.cats is not None and ev.category not in self.cats:
            return False
        if self.chans is not None and ev.channel not in self.chans:
            return False
        return self.min_amount is None or (ev.amount or 0.0) >= self.min_amount

    def row(self, cat: str | None, amount: float) -> bool:  # a history row has no channel
        if self.cats is not None and cat not in self.cats:
            return False
        return self.min_amount is None or amount >= self.min_amount


def resolve_segment(ref: int | str, names: Mapping[int, str], rule: str) -> int:
    """A segment id from an id or a name (names from the model); unknown -> UserError."""
    if isinstance(ref, int):
        return ref
    if ref.lstrip("-").isdigit():
        return int(ref)
    hits = [i for i, n in names.items() if n == ref]
    if len(hits) != 1:
        known = ", ".join(repr(n) for n in sorted(set(names.values()))) or "none"
        what = "no" if not hits else "more than one"
        raise UserError(
            f"[triggers] rule {rule!r}: {what} segment is named {ref!r} (known: {known}); "
            "use a segment id or one of the names"
        )
    return hits[0]


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
        self.stats: Counter[str] = Counter()
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
                hist.add(r.absent)
                horizon = max(horizon, int(r.within))
            else:
                hist.add(r.on)
                horizon = max(horizon, r.lookback)
        self.history_types = frozenset(hist)
        self.horizon = horizon
        self.conversion_types = frozenset(experiments.conversion_types if experiments else ())
        self._touch = self.history_types | self.conversion_types | frozenset(self._on)

    # ----- state helpers --------------------------------------------------------------------
    @staticmethod
    def watermark(tx: Any) -> int | None:
        """The processed watermark (every timer due at or before it has run), or None."""
        v = tx.get(NS_META, "wm")
        return None if v is None else int(v)

    def _load(self, tx: Any, cache: dict, ck: str, cid: Any) -> dict:
        blob = cache.get(ck)
        if blob is None:
            raw = tx.get(NS_CUST, ck)
            blob = (
                loads(raw)
                if raw is not None
                else {"id": plain_id(cid), "h": [], "s": [], "f": {}, "x": []}
            )
            cache[ck] = blob
        return blob

    @staticmethod
    def _save(tx: Any, cache: dict) -> None:
        for ck, blob in cache.items():
            if blob["h"] or blob["s"] or blob["f"] or blob["x"]:
                tx.put(NS_CUST, ck, dumps(blob))
            else:
                tx.delete(NS_CUST, ck)

    def _prune(self, blob: dict, now: int | None) -> None:
        if now is None:
            return
        cut = now - self.horizon
        h = blob["h"]
        if h and h[0][0] < cut:
            blob["h"] = [e for e in h if e[0] >= cut]
        s = blob["s"]
        if len(s) > 1 and s[1][0] <= cut:  # keep the last change at or before the cut
            i = bisect.bisect_right([e[0] for e in s], cut) - 1
            blob["s"] = s[i:]

    @staticmethod
    def _timer_key(due: int, kind: str, ck: str, rule: str, anchor: int, tb: str) -> str:
        return f"{tkey(due)}|{kind}|{ck}|{rule}|{tkey(anchor)}|{tb}"

    # ----- phase 1: apply (any order) ---------------------------------------------------------
    def apply_events(self, tx: Any, events: Iterable[Any]) -> int:
        """Add events to the customers' histories and schedule decisions; returns late count.

        The caller has deduplicated events by event id (the service does); an event with
        the same time, content and no id as one already held is dropped here too.
        """
        wm = self.watermark(tx)
        cache: dict[str, dict] = {}
        late = 0
        touch, hist, conv, on = self._touch, self.history_types, self.conversion_types, self._on
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
            tb = event_tiebreak(ev)
            cat = ev.category
            amount = float(ev.amount or 0.0)
            if et in hist:
                blob = self._load(tx, cache, ck, cid)
                h = blob["h"]
                i = bisect.bisect_left(h, (ts, tb), key=_order)
                if i == len(h) or h[i][0] != ts or h[i][4] != tb:
                    h.insert(i, [ts, et, cat, amount, tb])
            payload = None
            for rule in on.get(et, ()):
                if not self._where[rule.name].event(ev):
                    continue
                due = ts + int(rule.within) if isinstance(rule, AbsenceRule) else ts
                payload = payload or dumps({"c": plain_id(cid), "t": et, "g": cat, "m": amount})
                tx.put(NS_TIMER, self._timer_key(due, DECIDE, ck, rule.name, ts, tb), payload)
            if et in conv:
                payload = payload or dumps({"c": plain_id(cid), "t": et, "g": cat, "m": amount})
                tx.put(NS_TIMER, self._timer_key(ts, CONVERSION, ck, "", ts, tb), payload)
        for blob in cache.values():
            self._prune(blob, wm)
        self._save(tx, cache)
        self.stats["late"] += late
        return late

    def apply_segment_change(
        self, tx: Any, customer_id: Any, ts_us: int, old: int | None, new: int | None
    ) -> None:
        """Record that the customer moved ``old -> new`` at event time ``ts_us``.

        ``old = None`` is the customer's first assignment: it is recorded for segment
        filters but fires no transition rule (a bootstrap is not a storm of "entered").
        """
        if old == new:
            return
        ck = ckey(customer_id)
        cache: dict[str, dict] = {}
        blob = self._load(tx, cache, ck, customer_id)
        ts = int(ts_us)
        s = blob["s"]
        bisect.insort(s, [ts, new], key=lambda e: e[0])
        wm = self.watermark(tx)
        due = ts if wm is None or ts > wm else wm + 1
        tb = f"s{old}>{new}"
        for name, (entered, left) in self._transition.items():
            if old is None:
                continue
            if entered is not None and (new != entered or old == entered):
                continue
            if left is not None and (old != left or new == left):
                continue
            payload = dumps({"c": plain_id(customer_id), "o": old, "n": new})
            tx.put(NS_TIMER, self._timer_key(due, DECIDE, ck, name, ts, tb), payload)
        self._prune(blob, wm)
        self._save(tx, cache)

    # ----- phase 2: decide (event-time order) -------------------------------------------------
    def advance(self, tx: Any, now_us: int, *, flush: bool = False) -> list[Firing]:
        """Run every timer due at or before ``now_us - lateness`` (``now_us`` with ``flush``).

        Returns the firings, already written to the outbox in ``tx``.
        """
        target = int(now_us) if flush else int(now_us) - self.lateness
        wm = self.watermark(tx)
        if wm is not None and target <= wm:
            return []
        heap = [(k.decode(), v) for k, v in tx.scan(NS_TIMER, stop=tkey(target + 1))]
        heapq.heapify(heap)
        for k, _ in heap:
            tx.delete(NS_TIMER, k)
        cache: dict[str, dict] = {}
        firings: list[Firing] = []

        def schedule(
            due: int, kind: str, ck: str, rule: str, anchor: int, tb: str, payload: bytes
        ) -> None:
            key = self._timer_key(due, kind, ck, rule, anchor, tb)
            if due <= target:
                heapq.heappush(heap, (key, payload))
            else:
                tx.put(NS_TIMER, key, payload)

        while heap:
            key, raw = heapq.heappop(heap)
            due_s, kind, ck, rule, anchor_s, tb = key.split("|", 5)
            due, anchor = untkey(due_s), untkey(anchor_s)
            p = loads(raw)
            blob = self._load(tx, cache, ck, p["c"])
            self._prune(blob, due)
            if kind == CONVERSION:
                self.experiments.convert(tx, blob, due, p, schedule)
            elif kind == CLOSE:
                self.experiments.close(tx, blob, due, p)
            else:
                f = self._decide(tx, blob, ck, rule, due, anchor, tb, p, schedule)
                if f is not None:
                    firings.append(f)
        tx.put(NS_META, "wm", str(target).encode())
        self._save(tx, cache)
        self.stats["fired"] += len(firings)
        return firings

    def _decide(self, tx, blob, ck, name, due, anchor, tb, p, schedule) -> Firing | None:
        rule = self.rules.get(name)
        if rule is None:  # rule removed from the config since the timer was set
            self.stats["orphan_timer"] += 1
            return None
        if isinstance(rule, AbsenceRule):
            flt = self._absent_where[name]
            cat = p["g"]
            for ts, et, c, amt, _ in blob["h"]:
                if ts > due:
                    break
                if (
                    et == rule.absent
                    and ts >= anchor
                    and flt.row(c, amt)
                    and (not rule.same_category or c == cat)
                ):
                    self.stats[f"{name}:cancelled"] += 1
                    return None
        elif isinstance(rule, RepeatRule):
            flt = self._where[name]
            cat = p["g"]
            lo = anchor - int(rule.within) if rule.within is not None else None
            day = anchor // DAY_US
            n = 0
            for ts, et, c, amt, etb in blob["h"]:
                if (ts, etb) > (anchor, tb):
                    break
                if et != rule.on or not flt.row(c, amt):
                    continue
                if rule.per_category and c != cat:
                    continue
                if (ts > lo) if lo is not None else (ts // DAY_US == day):
                    n += 1
            if n != rule.count:
                return None
        seg = self._segment_at(blob, due)
        allow = self._seg_in[name]
        if (allow is not None and seg not in allow) or seg in self._seg_out[name]:
            self.stats[f"{name}:filtered"] += 1
            return None
        last = blob["f"].get(name)
        if last is not None and rule.cooldown and due - last < rule.cooldown:
            self.stats[f"{name}:cooldown"] += 1
            return None
        blob["f"][name] = due
        webhook = rule.webhook or self.config.webhook
        status = "replay" if self.replay else ("pending" if webhook else "stored")
        detail = {"from": p["o"], "to": p["n"]} if isinstance(rule, TransitionRule) else {}
        f = Firing(
            key=digest(name, ck, anchor, tb),
            rule=name,
            kind=rule.kind,
            customer_id=blob["id"],
            ts_us=due,
            anchor_ts_us=anchor,
            anchor_event=p.get("t"),
            category=p.get("g"),
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
