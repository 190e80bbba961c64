"""One durable commit: a group of ingest batches and/or re-assign chunks in ONE transaction.

Called only by the segmenter's writer thread (the single writer).  Inside the transaction:

1. load the records of every customer touched, de-duplicate each event by its key against
   the event keys the customer has applied, apply the new ones to the feature state;
2. advance the event-time watermark and the first event day;
3. re-assign every changed customer (and every customer of a re-assign chunk whose stored
   assignment is stale) at the watermark's day with the current model
   (features -> transform -> ``cluster.assign``), record moves (previous segment,
   moved-at) and append them to the transitions log;
4. let the listeners write their own keyspaces (``on_applied``, ``on_watermark``);
5. write the ingest offsets of the batches and the service meta.

Nothing is visible before the commit and everything is after it; the caller acknowledges
the batches only then.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archetype.live.ingest import Batch, Columns, Group
from archetype.live.listeners import Applied
from archetype.live.meta import KEY as META_KEY
from archetype.live.meta import NS as META_NS
from archetype.live.meta import Meta
from archetype.live.model import LiveModel
from archetype.live.records import CustomerRecord, SegRecord, customer_id, seg_bytes
from archetype.live.screen import ACCEPTED, DUPLICATE, screen
from archetype.live.state import US_PER_DAY
from archetype.live.transitions import NS as TR_NS
from archetype.live.transitions import Transition, tr_key

ST, SEG = "st", "seg"
_EMPTY_U8 = np.empty(0, "<u8")
_EMPTY_I4 = np.empty(0, "<i4")
PRUNE_PER_COMMIT = 10_000
PRUNE_EVERY = 1_000


@dataclass
class IngestResult:
    """What one ingest call did (returned after the durable commit)."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    too_old: int = 0
    ignored: int = 0
    other_shard: int = 0
    customers: int = 0
    moved: int = 0
    watermark: str | None = None
    seq: int = 0
    model_version: str | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Job:
    """A unit of work for the writer thread; the submitter waits on :meth:`wait`."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.error: BaseException | None = None
        self.received_at = time.perf_counter()

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self._done.set()

    def wait(self, timeout: float | None = None) -> None:
        if not self._done.wait(timeout):
            raise TimeoutError("the writer did not commit in time")
        if self.error is not None:
            raise self.error


class IngestJob(Job):
    def __init__(
        self,
        batch: Batch,
        source: str,
        offset: tuple[bytes, bytes] | None,
        kind: str = "api",
        defer_assign: bool = False,
    ) -> None:
        super().__init__()
        self.batch = batch
        self.source = source
        self.kind = kind
        self.offset = offset
        self.defer_assign = defer_assign
        self.result = IngestResult(
            received=batch.report.rows_scanned,
            ignored=batch.report.null_customer_ids + batch.report.unknown_event_types,
            report=batch.report.to_dict(),
        )

    @property
    def size(self) -> int:
        return self.batch.n_events


class ReassignJob(Job):
    """Re-assign these customers if their stored assignment is stale; ``causes``: why each
    is stale ("time", "model", or "event" for a deferred bulk ingest), or one for all."""

    def __init__(self, keys: list[bytes], causes: str | list[str]) -> None:
        super().__init__()
        self.keys = keys
        self.causes = [causes] * len(keys) if isinstance(causes, str) else list(causes)
        self.reassigned = 0

    @property
    def size(self) -> int:
        return len(self.keys)


class _Entry:
    __slots__ = (
        "rec",
        "state",
        "new_keys",
        "new_days",
        "events",
        "is_new",
        "job",
        "cause",
        "touched",
        "assign_now",
    )

    def __init__(self, rec: CustomerRecord, is_new: bool) -> None:
        self.rec = rec
        self.state: Any = None
        self.new_keys: list[int] = []
        self.new_days: list[int] = []
        self.events: list = []
        self.is_new = is_new
        self.job: Job | None = None
        self.cause = "event"
        self.touched = False  # the state changed (possibly only its first-seen time)
        self.assign_now = False  # new events from a batch that is not deferring assignment


def is_fresh(seg: SegRecord | None, model: LiveModel, as_of_day: int, horizon: int) -> bool:
    return (
        seg is not None
        and seg.model_version.split("+", 1)[0] == model.base_version
        and seg.as_of_day == as_of_day
        and seg.horizon == horizon
    )


@dataclass
class CommitOutcome:
    """What a commit did; ``stages``: seconds spent per step (load, apply = decode + dedupe +
    apply, encode, assign = features + transform + nearest centroid, listeners, meta)."""

    meta: Meta
    transitions: list[Transition]
    outputs: list[tuple[Any, list]]  # (listener, what its hooks returned)
    customers_changed: int
    stages: dict[str, float] = field(default_factory=dict)


class _Clock:
    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.t
        self.t = now


def commit_group(
    tx: Any,
    jobs: list[Job],
    model: LiveModel,
    meta0: Meta,
    listeners: list[Any],
    keep_transitions: int,
) -> CommitOutcome:
    """Apply ``jobs`` inside ``tx``; see the module docstring.  Returns the new meta etc."""
    meta = meta0.copy()
    defn = model.definition
    window = model.window_days
    ingest = [j for j in jobs if isinstance(j, IngestJob)]
    reassign = [j for j in jobs if isinstance(j, ReassignJob)]

    clock = _Clock()
    # 1. load the touched customers once
    keys: list[bytes] = []
    seen_keys: set[bytes] = set()
    for j in ingest:
        for k in j.batch.groups:
            if k not in seen_keys:
                seen_keys.add(k)
                keys.append(k)
    for j in reassign:
        for k in j.keys:
            if k not in seen_keys:
                seen_keys.add(k)
                keys.append(k)
    work: dict[bytes, _Entry] = {}
    for k, blob in zip(keys, tx.get_many(ST, keys), strict=True):
        if blob is None:
            work[k] = _Entry(CustomerRecord(_EMPTY_U8, _EMPTY_I4, b""), True)
        else:
            work[k] = _Entry(CustomerRecord.decode(blob), False)

    clock.lap("load")
    # 2. de-duplicate and apply, batch after batch, in arrival order
    wm, first = meta.watermark_us, meta.first_day
    for j in ingest:
        cols = j.batch.columns
        items = list(j.batch.groups.items())
        for k, _ in items:
            e = work[k]
            if e.state is None:
                e.state = defn.new_state() if e.is_new else defn.decode(e.rec.state)
        if cols is not None and all(isinstance(g, Group) and g.cols is cols for _, g in items):
            wm, first = _apply_columns(j, items, work, cols, window, wm, first)
        else:
            for k, evs in items:
                wm, first = _apply_each(j, work[k], evs, window, wm, first)
    meta.watermark_us, meta.first_day = wm, first
    clock.lap("apply")
    changed = [k for k, e in work.items() if e.new_keys]
    for k in (k for k, e in work.items() if e.touched):
        e = work[k]
        rec = e.rec
        if e.new_keys:
            nk = np.array(e.new_keys, "<u8")
            nd = np.array(e.new_days, "<i4")
            if 0 in e.new_keys:  # events without a key are not remembered
                keyed = nk != 0
                nk, nd = nk[keyed], nd[keyed]
            rec.event_keys = np.concatenate((rec.event_keys, nk))
            rec.event_days = np.concatenate((rec.event_days, nd))
        if window is not None and e.state.last_day is not None:
            # older events can no longer count: a duplicate of one applies to nothing
            rec.prune(e.state.last_day - window + 1)
        rec.state = e.state.encode()
        tx.put(ST, k, rec.encode())
        if e.is_new:
            meta.customers += 1
        if e.job is not None and e.new_keys:
            e.job.result.customers += 1

    clock.lap("encode")
    # 3. re-assign at the watermark's day
    transitions: list[Transition] = []
    applied: list[Applied] = []
    if wm is not None:
        as_of_day = wm // US_PER_DAY
        horizon = model.horizon(as_of_day, first)
        cand = changed + [k for j in reassign for k in j.keys if not work[k].new_keys]
        cand = list(dict.fromkeys(cand))
        olds = {
            k: (None if b is None else SegRecord.decode(b))
            for k, b in zip(cand, tx.get_many(SEG, cand), strict=True)
        }
        deferred = [k for k in changed if not work[k].assign_now]
        if deferred:  # bulk ingest: mark stale; the background re-assign does them once
            for k in deferred:
                old = olds[k]
                tx.put(
                    SEG,
                    k,
                    (
                        old
                        if old is not None
                        else SegRecord(None, None, None, None, None, -1, 0, "", None)
                    )
                    .stale()
                    .encode(),
                )
            skip = set(deferred)
            cand = [k for k in cand if k not in skip]
        todo = [
            k
            for k in cand
            if work[k].assign_now
            or (not work[k].is_new and not is_fresh(olds[k], model, as_of_day, horizon))
        ]
        cause_of = {k: c for j in reassign for k, c in zip(j.keys, j.causes, strict=True)}
        for k in todo:
            e = work[k]
            if e.state is None:
                e.state = defn.decode(e.rec.state)
            if not e.new_keys:
                e.cause = cause_of[k]
        transitions, applied = _reassign(
            tx, todo, work, olds, model, meta, as_of_day, horizon, bool(listeners)
        )
        done = set(todo)
        for j in reassign:
            j.reassigned = sum(1 for k in j.keys if k in done)
    meta.applied += sum(j.result.accepted for j in ingest)
    meta.duplicates += sum(j.result.duplicates for j in ingest)
    meta.too_old += sum(j.result.too_old for j in ingest)
    meta.ignored += sum(j.result.ignored for j in ingest)

    clock.lap("assign")
    # 4. transitions log (bounded), listeners
    for t in transitions:
        tx.put(TR_NS, tr_key(t.seq), t.encode())
    crossed = meta.transitions // PRUNE_EVERY != meta0.transitions // PRUNE_EVERY
    if crossed and meta.transitions > keep_transitions:
        # every PRUNE_EVERY moves (a scan is O(namespace) on Redis): drop the oldest
        stop = tr_key(meta.transitions - keep_transitions + 1)
        old = [k for k, _ in tx.scan(TR_NS, stop=stop, limit=PRUNE_PER_COMMIT)]
        for k in old:
            tx.delete(TR_NS, k)
    outputs: list[tuple[Any, list]] = []
    for lst in listeners:
        out: list = []
        if applied:
            r = lst.on_applied(tx, applied)
            if r:
                out.extend(r)
        if wm is not None and (meta0.watermark_us is None or wm > meta0.watermark_us):
            r = lst.on_watermark(tx, wm)
            if r:
                out.extend(r)
        if out:
            outputs.append((lst, out))

    clock.lap("listeners")
    # 5. offsets and meta
    for j in ingest:
        if j.offset is not None:
            tx.put(META_NS, j.offset[0], j.offset[1])
    meta.seq += 1
    meta.model_version = model.version
    tx.put(META_NS, META_KEY, meta.encode())
    wm_iso = None if wm is None else Transition(0, 0, None, None, wm, "", "").at
    for j in ingest:
        j.result.seq = meta.seq
        j.result.watermark = wm_iso
        j.result.model_version = model.version
    clock.lap("meta")
    return CommitOutcome(meta, transitions, outputs, len(changed), clock.laps)


def _apply_each(
    j: IngestJob, e: _Entry, evs: Any, window: int | None, wm: int | None, first: int | None
) -> tuple[int | None, int | None]:
    """De-duplicate and apply one customer's events of a batch, event by event (the rule
    :mod:`archetype.live.screen` vectorizes).  Returns the new ``(watermark, first day)``."""
    res = j.result
    have = set(e.rec.event_keys.tolist()) if len(e.rec.event_keys) else set()
    have.update(e.new_keys)
    st = e.state
    for ek, day, ev in evs:
        if ek and ek in have:  # key 0: never a duplicate (no event id)
            res.duplicates += 1
            continue
        if (
            window is not None
            and st.last_ts_us is not None
            and (day <= st.last_ts_us // US_PER_DAY - window)
        ):
            # older than any window this customer can be asked about: it changes
            # no feature (its id need not be kept; a re-send is as harmless)
            st.apply(ev)
            e.touched = True
            res.too_old += 1
            continue
        if ek:
            have.add(ek)
        st.apply(ev)
        e.touched = True
        e.new_keys.append(ek)
        e.new_days.append(day)
        e.events.append(ev)
        res.accepted += 1
        t = ev.ts_us
        if wm is None or t > wm:
            wm = t
        if first is None or day < first:
            first = day
    if evs and e.events:
        e.job = j
        if e.new_keys and not j.defer_assign:
            e.assign_now = True
    return wm, first


def _apply_columns(
    j: IngestJob,
    items: list[tuple[bytes, Any]],
    work: dict[bytes, _Entry],
    cols: Columns,
    window: int | None,
    wm: int | None,
    first: int | None,
) -> tuple[int | None, int | None]:
    """:func:`_apply_each` of every customer of a batch: duplicates screened for the whole
    batch at once, each customer's accepted events applied in one call."""
    res = j.result
    stored = []
    for k, _ in items:
        e = work[k]
        ks = e.rec.event_keys
        if e.new_keys:  # an earlier batch of this commit: its keys count too
            nk = np.asarray(e.new_keys, "<u8")
            ks = np.concatenate([ks, nk[nk != 0]])
        stored.append(ks)
    status, n_dup, n_old = screen(
        cols.keys,
        cols.day_arr,
        [(g.a, g.b) for _, g in items],
        stored,
        [work[k].state.last_day for k, _ in items],
        window,
    )
    st_l = status.tolist() if any(n_dup) or any(n_old) else None
    key_l, day_l, ts_l, events = cols.key_list, cols.days, cols.ts, cols.events
    kinds, amounts, chans, cats = cols.kinds, cols.amounts, cols.channels, cols.categories
    accepted = 0
    for (k, g), nd, no in zip(items, n_dup, n_old, strict=True):
        e = work[k]
        a, b = g.a, g.b
        if nd == 0 and no == 0:
            ts = ts_l[a:b]
            e.state.apply_rows(ts, kinds[a:b], amounts[a:b], chans[a:b], cats[a:b])
            e.new_keys.extend(key_l[a:b])
            e.new_days.extend(day_l[a:b])
            e.events.extend(events[a:b])
            n = b - a
        else:
            # too-old events are applied too (they may move the first-seen time)
            rows = [r for r in range(a, b) if st_l[r] != DUPLICATE]
            e.state.apply_rows(
                [ts_l[r] for r in rows],
                [kinds[r] for r in rows],
                [amounts[r] for r in rows],
                [chans[r] for r in rows],
                [cats[r] for r in rows],
            )
            acc = [r for r in rows if st_l[r] == ACCEPTED] if no else rows
            ts = [ts_l[r] for r in acc]
            e.new_keys.extend([key_l[r] for r in acc])
            e.new_days.extend([day_l[r] for r in acc])
            e.events.extend([events[r] for r in acc])
            n = len(acc)
            res.duplicates += nd
            res.too_old += no
            if rows:
                e.touched = True
        if n:
            accepted += n
            e.touched = True
            t = max(ts)
            if wm is None or t > wm:
                wm = t
            d = min(ts) // US_PER_DAY
            if first is None or d < first:
                first = d
        if e.events:  # this batch's, or an earlier batch's of this commit
            e.job = j
            if not j.defer_assign:
                e.assign_now = True
    res.accepted += accepted
    return wm, first


def _reassign(
    tx,
    keys,
    work,
    olds,
    model: LiveModel,
    meta: Meta,
    as_of_day: int,
    horizon: int,
    with_applied: bool = True,
) -> tuple[list[Transition], list[Applied]]:
    """Assign ``keys`` at ``as_of_day``; returns the moves and (``with_applied``: for the
    listeners) what each customer's commit did."""
    if not keys:
        return [], []
    defn = model.definition
    x = defn.features_many([work[k].state for k in keys], as_of_day, horizon)
    present = ~np.isnan(x).any(axis=1) if x.shape[1] else np.zeros(len(keys), bool)
    emb = model.embed(x[present]) if present.any() else np.empty((0, 0), np.float32)
    cur = None
    if model.hysteresis > 0 and present.any():  # stay unless clearly closer (learning)
        cur = [
            -1 if olds[k] is None or olds[k].segment_id is None else olds[k].segment_id
            for k, p in zip(keys, present, strict=True)
            if p
        ]
    seg, dist, margin = model.nearest(emb, cur) if present.any() else (None, None, None)
    row = (np.cumsum(present) - 1).tolist()
    present_l = present.tolist()
    if present.any():  # plain Python values, and the vectors' bytes in one piece
        seg_l, dist_l, margin_l = seg.tolist(), dist.tolist(), margin.tolist()
        width = 4 * emb.shape[1]
        emb_b = np.ascontiguousarray(emb, "<f4").tobytes()
    transitions, applied = [], []
    wm = meta.watermark_us
    version = model.version
    version_b = version.encode()
    isfinite = math.isfinite
    for i, k in enumerate(keys):
        e, old = work[k], olds[k]
        if present_l[i]:
            r = row[i]
            new_seg, vec = int(seg_l[r]), emb[r]
            d, m = float(dist_l[r]), float(margin_l[r])
            vec_b = emb_b[r * width : (r + 1) * width]
        else:
            new_seg, vec, d, m, vec_b = None, None, None, None, b""
        old_seg = None if old is None else old.segment_id
        prev = None if old is None else old.previous_segment_id
        moved_at = None if old is None else old.moved_at_us
        cid = customer_id(k)
        if new_seg != old_seg:
            prev, moved_at = old_seg, wm
            meta.transitions += 1
            transitions.append(
                Transition(meta.transitions, cid, old_seg, new_seg, wm, version, e.cause)
            )
            if e.job is not None:
                e.job.result.moved += 1
        m = None if m is None or not isfinite(m) else m
        tx.put(
            SEG,
            k,
            seg_bytes(new_seg, prev, d, m, moved_at, as_of_day, horizon, version_b, vec_b),
        )
        if with_applied:
            applied.append(
                Applied(
                    cid,
                    tuple(e.events),
                    old_seg,
                    new_seg,
                    None if old is None else old.vector,
                    vec,
                    version,
                    as_of_day,
                    wm,
                    e.cause,
                )
            )
    return transitions, applied
