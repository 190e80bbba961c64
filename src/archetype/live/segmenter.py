"""``LiveSegmenter``: the live segmentation service as a Python API (HTTP only wraps it).

>>> seg = LiveSegmenter.open("seg-root")                        # doctest: +SKIP
>>> seg.ingest([{"customer_id": 7, "ts": "2026-12-31 10:00:00", "event_type": "view"}])
>>> seg.get(7).segment_id, seg.get(7, as_of="2026-12-31")
>>> for t in seg.transitions(): ...                               # segment moves

Threads: callers prepare their batches (validate, map, pseudonymize) in their own
thread; ONE writer thread commits them -- concurrent batches are grouped into one durable
transaction (group commit) -- and acknowledges each only after the commit.  Lookups read
the store lock-free (a snapshot per call) and take the model reference once, so an answer
never mixes two models.  A background thread re-assigns customers whose stored assignment
became stale (the as-of day moved on, or a new model was swapped in), and a watcher
swaps in the model when the nightly run moves ``models/CURRENT``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from archetype.errors import UserError
from archetype.features.context import day_number
from archetype.live.answers import (
    CustomerAnswer,
    CustomerNotFound,
    FeaturesAnswer,
    compute_many,
    iso_day,
    not_found,
)
from archetype.live.apply import (
    SEG,
    ST,
    IngestJob,
    IngestResult,
    Job,
    ReassignJob,
    commit_group,
)
from archetype.live.ingest import parse_json_body, prepare
from archetype.live.meta import Meta, load_meta
from archetype.live.metrics import Metrics
from archetype.live.model import LiveModel, load_live_model
from archetype.live.records import CustomerRecord, SegRecord, customer_key, shard_of
from archetype.live.store import Store, open_store
from archetype.live.transitions import NS as TR_NS
from archetype.live.transitions import Subscription, Transition, TransitionHub, tr_key
from archetype.pipeline.privacy import pseudonym

log = logging.getLogger(__name__)

_STOP = object()


def _fresh(s: SegRecord, m: LiveModel, day: int, horizon: int) -> bool:
    return (
        s.model_version.split("+", 1)[0] == m.base_version
        and s.as_of_day == day
        and s.horizon == horizon
    )


class WrongShard(UserError):
    """The customer is owned by another replica (see ``shard``)."""


MAX_BATCH_GET = 1000


class LiveSegmenter:
    """Live segments of every customer, kept current per event (see module docstring).

    Parameters
    ----------
    store : Store
        Where states, assignments, offsets and listeners' data live.
    model : LiveModel
        The model to answer with (see :func:`archetype.live.model.load_live_model`).
    root : path, optional
        Pipeline root to watch for new models (``models/CURRENT``).
    watch_s : float or None
        How often to check ``models/CURRENT`` (``None``: never).
    max_group_events : int
        Events grouped into one commit at most.
    reassign_chunk : int
        Customers per background re-assign commit.
    keep_transitions : int
        Moves kept in the store for ``transitions(after=...)``.
    background : bool
        Run the background re-assign (off: stale answers are computed on each lookup).
    shard : (int, int), optional
        ``(i, n)``: this replica owns the customers whose key hashes to ``i`` of ``n``
        (:func:`archetype.live.records.shard_of`); events of other customers are skipped
        (counted) and lookups of them refused with the owning shard's number.
    """

    def __init__(
        self,
        store: Store,
        model: LiveModel,
        *,
        root: str | Path | None = None,
        watch_s: float | None = 2.0,
        max_group_events: int = 50_000,
        reassign_chunk: int = 2_000,
        keep_transitions: int = 100_000,
        background: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
            raise UserError(f"shard={shard[0]}/{shard[1]}: want i/n with 0 <= i < n")
        self.shard = None if shard is None or shard[1] == 1 else (int(shard[0]), int(shard[1]))
        self.store = store
        self.root = None if root is None else Path(root)
        self.metrics = Metrics()
        self.hub = TransitionHub()
        self.listeners: list[Any] = []
        #: called on every model swapped in (returns the model to serve), set by plug-ins
        self.model_hook: Any = None
        self.max_group_events = int(max_group_events)
        self.reassign_chunk = int(reassign_chunk)
        self.keep_transitions = int(keep_transitions)
        with store.read() as r:
            self._meta: Meta = load_meta(r)
        self._check_compatible(model)
        self._model = model
        self._seen_current = model.version
        self._remember_model_shape(model)
        self.metrics.set_model(model.version)
        self.metrics.customers.set(self._meta.customers)
        self._t_get = self.metrics.lookup_seconds.labels("get")
        self._t_batch = self.metrics.lookup_seconds.labels("batch_get")
        if self._meta.watermark_us is not None:
            self.metrics.watermark.set(self._meta.watermark_us / 1e6)
        self._queue: queue.Queue = queue.Queue()
        self._deliveries: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._bulk_depth = 0
        self._threads = [
            threading.Thread(target=self._write_loop, name="live-writer", daemon=True),
            threading.Thread(target=self._deliver_loop, name="live-deliver", daemon=True),
        ]
        if background:
            self._threads.append(
                threading.Thread(target=self._reassign_loop, name="live-reassign", daemon=True)
            )
        if self.root is not None and watch_s:
            self._watch_s = float(watch_s)
            self._threads.append(
                threading.Thread(target=self._watch_loop, name="live-models", daemon=True)
            )
        for t in self._threads:
            t.start()
        self._closed = False
        self._wake.set()  # a first pass: anything stale since the last run

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        root: str | Path,
        store: str | Store = "lmdb",
        *,
        state_dir: str | Path | None = None,
        version: str | None = None,
        assign_backend: str = "numpy",
        **kwargs: Any,
    ) -> LiveSegmenter:
        """Open the service state for pipeline ``root`` (its CURRENT model, or ``version``).

        ``store``: ``"lmdb"`` (default, in ``state_dir``, default ``ROOT/live/state``),
        ``"redis://host:port/db?prefix=..."`` or a :class:`Store`.
        """
        root = Path(root)
        model = load_live_model(root, version, assign_backend=assign_backend)
        st = open_store(store, path=state_dir or root / "live" / "state")
        try:
            return cls(st, model, root=root if version is None else None, **kwargs)
        except BaseException:
            st.close()
            raise

    def _check_compatible(self, model: LiveModel) -> None:
        shape = self._meta.extra.get("model_shape")
        if not shape:
            return
        where = self.store.location
        if shape["id_dtype"] != model.id_dtype or shape["pseudonymized"] != (
            model.pseudonymize_key is not None
        ):
            raise UserError(
                f"the live state in {where} was built for {shape['id_dtype']} ids "
                f"(pseudonymized={shape['pseudonymized']}); model {model.version} has "
                f"{model.id_dtype} ids (pseudonymized={model.pseudonymize_key is not None}); "
                "use a fresh state folder"
            )
        kept, need = shape.get("window_days"), model.window_days
        if kept is not None and (need is None or need > kept):
            raise UserError(
                f"the live state in {where} keeps {kept} days per customer; model "
                f"{model.version} needs {need or 'all history'}; use a fresh state folder "
                "(it is rebuilt from the event log)"
            )

    def _remember_model_shape(self, model: LiveModel) -> None:
        if self._meta.extra.get("model_shape"):
            return
        self._meta.extra["model_shape"] = {
            "id_dtype": model.id_dtype,
            "pseudonymized": model.pseudonymize_key is not None,
            "window_days": model.window_days,
        }

    # ------------------------------------------------------------------ properties
    @property
    def model(self) -> LiveModel:
        """The model answering now (one reference; swapped whole)."""
        return self._model

    @property
    def meta(self) -> Meta:
        """Watermark, counters, commit sequence as of the last commit."""
        return self._meta

    def add_listener(self, listener: Any) -> None:
        """Plug in a component called inside every commit (see :mod:`.listeners`)."""
        if not callable(getattr(listener, "on_applied", None)) or not callable(
            getattr(listener, "on_watermark", None)
        ):
            raise TypeError("a listener needs on_applied(tx, applied) and on_watermark(tx, us)")
        self.listeners.append(listener)

    # ------------------------------------------------------------------ ingest
    def ingest(
        self,
        records: Any,
        *,
        source: str = "api",
        offset: tuple[bytes, bytes] | None = None,
        row_label: Any = None,
        received_at: float | None = None,
        timeout: float | None = None,
        kind: str | None = None,
        defer_assign: bool = False,
    ) -> IngestResult:
        """Validate, map, pseudonymize, de-duplicate and apply events; durable on return.

        Parameters
        ----------
        records : pl.DataFrame, list of dict, or iterable of dict
            Events with the log's column names (the model's ``[events]`` maps apply).
        source : str
            Named in errors and metrics.
        offset : (bytes, bytes), optional
            A ``meta`` key and value committed in the same transaction (a follower's
            position in its input).
        received_at : float, optional
            ``time.perf_counter()`` when the events arrived (for the visibility metric).
        kind : str, optional
            Metrics label of the source (default ``source``).
        defer_assign : bool
            Bulk ingest (bootstrap, backlog): store the states but leave the re-assignment
            of the changed customers to the background pass (once per customer instead of
            once per batch); no ``on_applied`` for them and no moves until then.  Lookups
            in between compute the answer from the state.

        Raises
        ------
        DataError
            A bad record (named with its field); nothing of the batch is applied.
        """
        self._check_open()
        m = self._model
        try:
            batch = prepare(
                records,
                events_config=m.events_config,
                id_dtype=m.id_dtype,
                pseudonymize_key=m.pseudonymize_key,
                source=source,
                row_label=row_label,
            )
        except UserError:
            self.metrics.rejected.labels(kind or source).inc()
            raise
        other = 0
        if self.shard is not None:
            i, n = self.shard
            mine = {k: v for k, v in batch.groups.items() if shard_of(k, n) == i}
            other = sum(len(v) for k, v in batch.groups.items() if k not in mine)
            batch.groups = mine
            batch.n_events -= other
        job = IngestJob(batch, source, offset, kind=kind or source, defer_assign=defer_assign)
        job.result.other_shard = other
        if received_at is not None:
            job.received_at = received_at
        if batch.n_events == 0 and offset is None:
            self._count(job)
            return job.result
        self._queue.put(job)
        job.wait(timeout)
        self.metrics.visible_seconds.observe(time.perf_counter() - job.received_at)
        self._count(job)
        return job.result

    def ingest_json(
        self, body: bytes, *, ndjson: bool, source: str = "http", received_at: float | None = None
    ) -> IngestResult:
        """:meth:`ingest` of a JSON array or NDJSON body (errors name the item or line)."""
        records, label = parse_json_body(body, ndjson=ndjson, source=source)
        return self.ingest(records, source=source, row_label=label, received_at=received_at)

    def _count(self, job: IngestJob) -> None:
        r, ev = job.result, self.metrics.events
        ev.labels("applied").inc(r.accepted)
        ev.labels("duplicate").inc(r.duplicates)
        ev.labels("ignored").inc(r.ignored)

    # ------------------------------------------------------------------ lookups
    def _key(self, cid: Any, m: LiveModel, pseudonymized: bool) -> tuple[Any, bytes]:
        if m.pseudonymize_key is not None:
            v: Any = str(cid) if pseudonymized else pseudonym(m.pseudonymize_key, cid)
        elif m.id_dtype == "int":
            try:
                v = int(cid)
            except (TypeError, ValueError):
                raise UserError(
                    f"customer id {cid!r} is not an integer; this model's ids are integers"
                ) from None
        else:
            v = str(cid)
        key = customer_key(v)
        if self.shard is not None and shard_of(key, self.shard[1]) != self.shard[0]:
            raise WrongShard(
                f"customer {cid!r} belongs to shard {shard_of(key, self.shard[1])} of "
                f"{self.shard[1]}; this replica serves shard {self.shard[0]}"
            )
        return v, key

    def _day(self, as_of: Any) -> int:
        if as_of is None:
            d = self._meta.watermark_day
            if d is None:
                raise CustomerNotFound("no event ingested yet")
            return d
        if isinstance(as_of, int) and not isinstance(as_of, bool):
            return as_of
        if isinstance(as_of, dt.datetime):
            as_of = as_of.date()
        if isinstance(as_of, str):
            try:
                as_of = dt.date.fromisoformat(as_of)
            except ValueError:
                raise UserError(f"as_of={as_of!r} is not a date YYYY-MM-DD") from None
        if not isinstance(as_of, dt.date):
            raise UserError(f"as_of={as_of!r} is not a date YYYY-MM-DD")
        return day_number(as_of)

    def batch_get(
        self, customer_ids: Sequence[Any], as_of: Any = None, *, pseudonymized: bool = False
    ) -> list[CustomerAnswer]:
        """Answers for many customers from one consistent read (``found=False`` if unknown)."""
        t0 = time.perf_counter()
        if len(customer_ids) > MAX_BATCH_GET:
            raise UserError(f"{len(customer_ids)} ids in one batch_get; at most {MAX_BATCH_GET}")
        m, meta = self._model, self._meta
        if as_of is None and meta.watermark_day is None:
            return [not_found(c, m, None) for c in customer_ids]
        day = self._day(as_of)
        horizon = m.horizon(day, meta.first_day)
        pairs = [self._key(c, m, pseudonymized) for c in customer_ids]
        keys = [k for _, k in pairs]
        with self.store.read() as r:
            segs = [
                None if b is None else SegRecord.decode(b, vector=False)
                for b in r.get_many(SEG, keys)
            ]
            stale = [
                k
                for k, s in zip(keys, segs, strict=True)
                if s is not None and not _fresh(s, m, day, horizon)
            ]
            states = dict(zip(stale, r.get_many(ST, stale), strict=True)) if stale else {}
        out = compute_many(
            [c for c, _ in pairs],
            segs,
            [states.get(k) for k in keys],
            m,
            day,
            horizon,
            watermark_us=meta.watermark_us,
            default_as_of=as_of is None,
        )
        self._t_batch.observe(time.perf_counter() - t0)
        return out

    def get(
        self, customer_id: Any, as_of: Any = None, *, pseudonymized: bool = False
    ) -> CustomerAnswer:
        """The segment of one customer now (or at ``as_of``: a date or ``YYYY-MM-DD``).

        Raises :class:`CustomerNotFound` for a customer without events.
        """
        t0 = time.perf_counter()
        m, meta = self._model, self._meta
        cid, key = self._key(customer_id, m, pseudonymized)
        day = self._day(as_of)
        horizon = m.horizon(day, meta.first_day)
        with self.store.read() as r:
            blob = r.get(SEG, key)
            if blob is None:
                raise CustomerNotFound(f"customer {customer_id!r} has no events")
            seg = SegRecord.decode(blob, vector=False)
            st = None if _fresh(seg, m, day, horizon) else r.get(ST, key)
        ans = compute_many(
            [cid],
            [seg],
            [st],
            m,
            day,
            horizon,
            watermark_us=meta.watermark_us,
            default_as_of=as_of is None,
        )[0]
        self._t_get.observe(time.perf_counter() - t0)
        return ans

    def features(
        self, customer_id: Any, as_of: Any = None, *, pseudonymized: bool = False
    ) -> FeaturesAnswer:
        """Raw features (the ``features.parquet`` names) of one customer at ``as_of``."""
        t0 = time.perf_counter()
        m, meta = self._model, self._meta
        cid, key = self._key(customer_id, m, pseudonymized)
        day = self._day(as_of)
        horizon = m.horizon(day, meta.first_day)
        with self.store.read() as r:
            blob = r.get(ST, key)
        if blob is None:
            raise CustomerNotFound(f"customer {customer_id!r} has no events")
        st = m.definition.decode(CustomerRecord.decode(blob).state)
        from archetype.live.answers import _check_as_of

        _check_as_of([st], m, day)
        x = m.definition.features_many([st], day, horizon)[0]
        present = not any(v != v for v in x)
        feats = dict(zip(m.feature_names, (float(v) for v in x), strict=True)) if present else None
        self.metrics.lookup_seconds.labels("features").observe(time.perf_counter() - t0)
        return FeaturesAnswer(cid, present, feats, m.version, iso_day(day))

    # ------------------------------------------------------------------ transitions
    def transitions(self, after: int | None = None, *, maxsize: int = 10_000) -> Subscription:
        """A subscription to segment moves; with ``after``, the kept moves after that seq
        come first.  Iterate it (``for t in sub``) or ``async for``; close it when done."""
        sub = self.hub.subscribe(maxsize)
        if after is not None:
            with self.store.read() as r:
                stored = [Transition.decode(v) for _, v in r.scan(TR_NS, start=tr_key(after + 1))]
            sub._push(stored)
        return sub

    def recent_transitions(self, after: int = 0, limit: int = 1000) -> list[Transition]:
        """Kept moves with seq > ``after`` (oldest first)."""
        with self.store.read() as r:
            return [
                Transition.decode(v) for _, v in r.scan(TR_NS, start=tr_key(after + 1), limit=limit)
            ]

    # ------------------------------------------------------------------ models
    def swap_model(self, model: LiveModel) -> None:
        """Answer with ``model`` from now on (atomically); stale assignments re-assign in
        the background.  Refused (UserError) when the state cannot serve it."""
        if self.model_hook is not None:  # e.g. the online learner's hysteresis
            model = self.model_hook(model)
        self._check_compatible(model)
        old = self._model
        self._model = model
        self.metrics.set_model(model.version)
        self.metrics.model_swaps.inc()
        log.info("model %s -> %s", old.version, model.version)
        self._wake.set()

    def reload_model(self) -> bool:
        """Swap in ``models/CURRENT`` of the root if it moved since the last look (a model
        swapped in by hand is not undone until the nightly run promotes a new one)."""
        if self.root is None:
            return False
        from archetype.pipeline.registry import Registry

        v = Registry(self.root).current()
        if v is None or v == self._seen_current:
            return False
        new = load_live_model(self.root, v, assign_backend=self._model.assign_backend)
        self.swap_model(new)
        self._seen_current = v
        return True

    def _watch_loop(self) -> None:
        while not self._stop.wait(self._watch_s):
            try:
                self.reload_model()
            except Exception as e:  # keep serving the old model; say why
                self.metrics.model_errors.inc()
                log.error("cannot swap in the new model: %s", e)

    # ------------------------------------------------------------------ writer
    def _write_loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            group, size, stop = [job], job.size, False
            while size < self.max_group_events:
                try:
                    j = self._queue.get_nowait()
                except queue.Empty:
                    break
                if j is _STOP:
                    stop = True
                    break
                group.append(j)
                size += j.size
            try:
                self._commit(group)
            except BaseException as e:  # noqa: BLE001 - reported to the submitters
                if len(group) == 1:
                    group[0].finish(e)
                else:  # find the culprit: commit one by one
                    for j in group:
                        try:
                            self._commit([j])
                        except BaseException as e1:  # noqa: BLE001
                            j.finish(e1)
            if stop:
                return

    def _commit(self, group: list[Job]) -> None:
        m = self._model
        t0 = time.perf_counter()
        with self.store.transaction() as tx:
            out = commit_group(tx, group, m, self._meta, self.listeners, self.keep_transitions)
            t1 = time.perf_counter()
        out.stages["store"] = time.perf_counter() - t1
        old_day = self._meta.watermark_day
        self._meta = out.meta
        try:
            self._after_commit(group, out, old_day, time.perf_counter() - t0)
        except Exception as e:  # committed: never re-run; the submitters get their results
            log.error("after a commit: %s", e)
        for j in group:
            if not j._done.is_set():
                j.finish()

    def _after_commit(
        self, group: list[Job], out: Any, old_day: int | None, seconds: float
    ) -> None:
        self.metrics.commit_seconds.observe(seconds)
        for stage, sec in out.stages.items():
            self.metrics.stage_seconds.labels(stage).inc(sec)
        self.metrics.customers.set(out.meta.customers)
        if out.meta.watermark_us is not None:
            self.metrics.watermark.set(out.meta.watermark_us / 1e6)
        for t in out.transitions:
            self.metrics.transitions.labels(t.cause).inc()
        for j in group:
            if isinstance(j, IngestJob):
                self.metrics.batches.labels(j.kind).inc()
            j.finish()
        self.hub.publish(out.transitions)
        if out.outputs:
            self._deliveries.put(out.outputs)
        if out.meta.watermark_day != old_day:
            self._wake.set()

    def _deliver_loop(self) -> None:
        while True:
            item = self._deliveries.get()
            if item is _STOP:
                return
            for lst, outputs in item:
                fn = getattr(lst, "deliver", None)
                if fn is None:
                    continue
                try:
                    fn(outputs)
                except Exception as e:  # a listener's delivery must not stop the service
                    log.error("listener %s failed to deliver: %s", type(lst).__name__, e)

    # ------------------------------------------------------------------ re-assign
    def pending_reassign(self) -> int:
        """Customers whose stored assignment is stale now (a full scan; for tests/tools)."""
        return sum(1 for _ in self._stale_keys())

    def _stale_keys(self) -> Iterator[tuple[bytes, str]]:
        from archetype.live.records import SegRecord

        m, meta = self._model, self._meta
        day = meta.watermark_day
        if day is None:
            return
        horizon = m.horizon(day, meta.first_day)
        start = None
        while True:
            with self.store.read() as r:
                rows = list(r.scan(SEG, start=start, limit=self.reassign_chunk * 4))
            if not rows:
                return
            for k, v in rows:
                s = SegRecord.decode(v)
                base = s.model_version.split("+", 1)[0]  # "<model>+<n>": online versions
                if not (base == m.base_version and s.as_of_day == day and s.horizon == horizon):
                    cause = "event" if s.as_of_day == -1 else "time"  # -1: deferred bulk ingest
                    yield k, "model" if base not in (m.base_version, "") else cause
            start = rows[-1][0] + b"\x00"

    def reassign_now(self) -> int:
        """Re-assign every stale customer now (blocking); the number re-assigned."""
        n = 0
        keys: list[bytes] = []
        causes: list[str] = []
        for k, c in self._stale_keys():
            keys.append(k)
            causes.append(c)
            if len(keys) >= self.reassign_chunk:
                n += self._submit_reassign(keys, causes)
                keys, causes = [], []
        if keys:
            n += self._submit_reassign(keys, causes)
        return n

    def _submit_reassign(self, keys: list[bytes], causes: list[str]) -> int:
        job = ReassignJob(keys, causes)
        self._queue.put(job)
        job.wait()
        return job.reassigned

    @contextlib.contextmanager
    def bulk(self) -> Iterator[LiveSegmenter]:
        """Hold the background re-assign while a bulk ingest (``defer_assign=True``) runs,
        then run one pass: each customer is assigned once, not once per day of backlog."""
        self._bulk_depth += 1
        try:
            yield self
        finally:
            self._bulk_depth -= 1
            self._wake.set()

    def _reassign_loop(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(5.0):
                continue
            if self._stop.is_set():
                return
            if self._bulk_depth:
                time.sleep(0.2)  # a bulk ingest runs: one pass after it, not one per day
                continue
            self._wake.clear()
            try:
                n = self.reassign_now()
                if n:
                    log.info("re-assigned %d customers", n)
            except Exception as e:  # retried at the next wake-up
                if not self._stop.is_set():
                    log.error("background re-assign failed: %s", e)
            self.metrics.reassign_pending.set(0)

    # ------------------------------------------------------------------ lifecycle
    def health(self) -> dict[str, Any]:
        m, meta = self._model, self._meta
        out = {
            "status": "ok" if not self._closed else "closed",
            "model_version": m.version,
            "watermark": None
            if meta.watermark_us is None
            else (
                dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=meta.watermark_us)
            ).isoformat(),
            "customers": meta.customers,
            "events_applied": meta.applied,
            "duplicates": meta.duplicates,
            "commits": meta.seq,
            "shard": None if self.shard is None else f"{self.shard[0]}/{self.shard[1]}",
            "store": self.store.stats(),
        }
        for lst in self.listeners:  # plug-ins add their facts (e.g. "automation")
            fn = getattr(lst, "health", None)
            if callable(fn):
                out.update(fn())
        return out

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the segmenter is closed")

    def close(self) -> None:
        """Finish queued commits, stop the threads, close the store (idempotent)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._queue.put(_STOP)
        self._deliveries.put(_STOP)
        for t in self._threads:
            t.join(timeout=30)
        self.hub.close()
        with contextlib.suppress(Exception):
            self.store.close()

    def __enter__(self) -> LiveSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
