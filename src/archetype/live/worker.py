"""The automation worker: consumes the inbox (:mod:`archetype.live.inbox`) off the ingest path.

:class:`AutomationWorker` reads the records ``done + 1 .. head`` the service committed,
runs them through an :class:`~archetype.live.automation.Automation` (in order, exactly as
the service would have inline) and commits, in one transaction, the outputs (trigger
state, outbox rows, exposures, centroid sums and versions), the consumed records'
removal and its progress ``auto.done``.  A ``kill -9`` at any moment leaves either all of
it or none, and the next worker starts again from ``auto.done``: no firing lost or
written twice.

The work is done over a read view with the writes kept in memory
(:class:`BufferedTx`); only applying them takes the store's write lock, for a few
milliseconds, so the service's commits are not held up while the worker computes.  The
worker is the only writer of its namespaces (two workers are refused by a lock), so what
it reads of them cannot change before it commits.

It runs as a thread of the service (``mode="thread"``) or as its own process
(``mode="process"``, ``python -m archetype.live.worker``, started and watched by
:mod:`archetype.live.hooks`), which on a machine of two cores or more takes the
automation off the service's core.  The process reads its settings (a pickled
:class:`WorkerSpec`) from stdin and exits when stdin closes (its service is gone).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from archetype.live.automation import (
    NS_LEARN,
    Automation,
    AutomationConfig,
    ModelInfo,
)
from archetype.live.inbox import NS_DONE, NS_HEAD, NS_INBOX, NS_MODELS, Record, seq_key
from archetype.live.learning import LearningStep, OnlineCentroids
from archetype.live.triggers.codec import discarder, dumps, loads

log = logging.getLogger(__name__)

_DELETED = object()
READY = "archetype-worker ready"
GC_GEN0 = 50_000


class BufferedTx:
    """A transaction whose writes stay in memory over a read view (reads see them);
    :meth:`apply` replays them into a real transaction."""

    def __init__(self, view: Any) -> None:
        self._view = view
        self.writes: dict[str, dict[bytes, Any]] = {}

    @staticmethod
    def _k(key: bytes | str) -> bytes:
        return key.encode() if isinstance(key, str) else bytes(key)

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        w = self.writes.get(ns)
        if w is not None:
            v = w.get(self._k(key), None)
            if v is not None:
                return None if v is _DELETED else v
        return self._view.get(ns, key)

    def get_many(self, ns: str, keys: Sequence[bytes | str]) -> list[bytes | None]:
        w = self.writes.get(ns)
        if not w:
            return list(self._view.get_many(ns, keys))
        ks = [self._k(k) for k in keys]
        miss = [k for k in ks if k not in w]
        found = dict(zip(miss, self._view.get_many(ns, miss), strict=True)) if miss else {}
        out = []
        for k in ks:
            v = w.get(k, None)
            out.append(found[k] if v is None else (None if v is _DELETED else v))
        return out

    def put(self, ns: str, key: bytes | str, value: bytes) -> None:
        self.writes.setdefault(ns, {})[self._k(key)] = bytes(value)

    def delete(self, ns: str, key: bytes | str) -> bool:
        existed = self.get(ns, key) is not None
        self.writes.setdefault(ns, {})[self._k(key)] = _DELETED
        return existed

    def discard(self, ns: str, key: bytes | str) -> None:
        self.writes.setdefault(ns, {})[self._k(key)] = _DELETED

    def scan(self, ns, *, start=None, stop=None, prefix=None, limit=None):
        w = self.writes.get(ns)
        if not w:
            yield from self._view.scan(ns, start=start, stop=stop, prefix=prefix, limit=limit)
            return
        lo = None if start is None else self._k(start)
        hi = None if stop is None else self._k(stop)
        pre = None if prefix is None else self._k(prefix)
        mine = sorted(
            (k, v)
            for k, v in w.items()
            if (lo is None or k >= lo)
            and (hi is None or k < hi)
            and (pre is None or k.startswith(pre))
        )
        n = 0
        base = self._view.scan(ns, start=start, stop=stop, prefix=prefix)
        for k, v in _merge(base, mine):
            if v is _DELETED:
                continue
            yield k, v
            n += 1
            if limit is not None and n >= limit:
                return

    def apply(self, tx: Any) -> int:
        """Replay the writes into ``tx``; returns their number."""
        n = 0
        rm = discarder(tx)
        for ns, w in self.writes.items():
            for k, v in w.items():
                if v is _DELETED:
                    rm(ns, k)
                else:
                    tx.put(ns, k, v)
                n += 1
        return n


def _merge(base: Iterator, mine: list) -> Iterator:
    """Key-ordered union of a scan and sorted overlay pairs (the overlay wins)."""
    i, n = 0, len(mine)
    for k, v in base:
        while i < n and mine[i][0] < k:
            yield mine[i]
            i += 1
        if i < n and mine[i][0] == k:
            yield mine[i]
            i += 1
        else:
            yield k, v
    yield from mine[i:]


def progress(view: Any) -> tuple[int, int]:
    """``(done, head)``: records consumed by the worker and written by the service."""
    done = view.get(NS_DONE, "seq")
    head = view.get(NS_HEAD, "seq")
    return (0 if done is None else int(done)), (0 if head is None else int(head))


class AutomationWorker:
    """Consumes the inbox of ``store`` with ``automation`` (built with ``defer=True``).

    Parameters
    ----------
    store : Store
        The service's store (a worker process opens its own handle on it).
    automation : Automation
    max_records, max_events : int
        At most this many records / events per transaction (bounds latency and memory).
    after_commit : callable(outputs), optional
        Called with the firings and learning steps of each committed transaction.
    """

    def __init__(
        self,
        store: Any,
        automation: Automation,
        *,
        max_records: int = 512,
        max_events: int = 50_000,
        after_commit: Callable[[list], None] | None = None,
    ) -> None:
        if not automation.defer:
            raise ValueError("the worker needs Automation(..., defer=True)")
        self.store = store
        self.automation = automation
        self.max_records = int(max_records)
        self.max_events = int(max_events)
        self.after_commit = after_commit
        #: process CPU time at start (a worker process: its CPU after start-up is reported)
        self.process_cpu0: float | None = None
        self.stats = {
            "records": 0,
            "events": 0,
            "transactions": 0,
            "seconds": 0.0,
            "cpu_seconds": 0.0,
        }

    def run_once(self) -> int:
        """Consume what is waiting (up to the limits) in one transaction; returns the
        number of records consumed (0: nothing to do)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        with self.store.read() as view:
            done, head = progress(view)
            if head <= done:
                return 0
            btx = BufferedTx(view)
            outputs, last, events = self._consume(btx, done, head)
        st = dict(self.stats)
        st["records"] += last - done
        st["events"] += events
        st["transactions"] += 1
        st["seconds"] += time.perf_counter() - t0
        st["cpu_seconds"] += time.thread_time() - c0
        if self.process_cpu0 is not None:
            st["process_cpu_seconds"] = time.process_time() - self.process_cpu0
        btx.put(NS_DONE, "stats", dumps(st))
        with self.store.transaction() as tx:
            if progress(tx)[0] != done:
                raise RuntimeError("the inbox was consumed by someone else (two workers?)")
            btx.apply(tx)
        self.stats = st
        if self.after_commit is not None and outputs:
            self.after_commit(outputs)
        return last - done

    def _consume(self, tx: Any, done: int, head: int) -> tuple[list, int, int]:
        auto = self.automation
        outputs: list = []
        events = 0
        last = done
        keys = [seq_key(i) for i in range(done + 1, min(head, done + self.max_records) + 1)]
        recs = []
        for key, raw in zip(keys, tx.get_many(NS_INBOX, keys), strict=True):
            if raw is None:
                raise RuntimeError(f"inbox record {key} is missing (head {head})")
            recs.append(Record.decode(raw))
            events += len(recs[-1].events)
            if events >= self.max_events:
                break
        auto.prepare(tx, recs)
        for key, rec in zip(keys, recs, strict=False):
            outputs.extend(auto.apply_record(tx, rec))
            tx.discard(NS_INBOX, key)
            last += 1
        auto.flush(tx)
        tx.put(NS_DONE, "seq", str(last).encode())
        steps = [o for o in outputs if isinstance(o, LearningStep)]
        if steps:
            tx.put(NS_DONE, "learn", steps[-1].version.encode())
        return outputs, last, events

    def drain(self) -> int:
        """Consume everything waiting now; returns the records consumed."""
        n = 0
        while True:
            k = self.run_once()
            if k == 0:
                return n
            n += k

    def run(
        self,
        stop: threading.Event,
        wake: threading.Event | None = None,
        poll_s: float = 0.01,
        interval_s: float = 0.05,
    ) -> None:
        """Consume until ``stop`` is set.  Between passes wait for ``wake`` (or ``poll_s``)
        when idle, and at least ``interval_s`` after a commit: each commit holds the
        store's write lock through its fsync, so commits at most every ``interval_s``
        keep the service's own commits from waiting on the worker's (and make each
        worker transaction cover several service commits)."""
        failures = 0
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                n = self.run_once()
                failures = 0
            except Exception as e:  # keep going: the records wait in the inbox
                failures += 1
                log.error("automation worker: %s", e, exc_info=failures == 1)
                n = 0
                stop.wait(min(5.0, 0.1 * 2**failures))
            if n == 0:
                if wake is not None:
                    wake.wait(poll_s)
                    wake.clear()
                else:
                    stop.wait(poll_s)
            else:
                rest = interval_s - (time.monotonic() - t0)
                if rest > 0:
                    stop.wait(rest)


def stored_model_provider() -> Callable[[Any, str], ModelInfo | None]:
    """``provider(tx, base)`` reading the models the service announced (``auto.models``)."""
    cache: dict[str, ModelInfo] = {}

    def provider(tx: Any, base: str) -> ModelInfo | None:
        got = cache.get(base)
        if got is None:
            raw = tx.get(NS_MODELS, base)
            if raw is None:
                return None
            got = cache[base] = ModelInfo.decode(raw)
        return got

    return provider


@dataclass
class WorkerSpec:
    """Everything a worker process needs (sent pickled on its stdin)."""

    store_kind: str  # "lmdb" or "redis"
    store_location: str  # the LMDB folder or the Redis URL (may hold a password)
    config: AutomationConfig
    segment_names: dict[int, str]
    names_base: str | None
    learner: bytes | None  # OnlineCentroids.to_bytes() of the initial learner
    deliver: bool = False
    retry_poll_s: float = 1.0
    secret: bytes | None = None
    poll_s: float = 0.01
    interval_s: float = 0.05
    nice: int = 10
    max_records: int = 512
    max_events: int = 50_000
    log_level: int = logging.WARNING


def build_automation(spec: WorkerSpec) -> Automation:
    auto = Automation(
        spec.config,
        segment_names=spec.segment_names,
        learner=None if spec.learner is None else OnlineCentroids.from_bytes(spec.learner),
        model_provider=stored_model_provider(),
        defer=True,
    )
    auto._names_base = spec.names_base
    return auto


def open_worker_store(spec: WorkerSpec, wait_s: float = 30.0) -> Any:
    """The service's store, opened as the automation worker (its own writer lock; the
    worker of a service killed a moment ago may take a little while to exit)."""
    if spec.store_kind == "lmdb":
        from archetype.errors import LockedError
        from archetype.live.store.lmdb_store import LmdbStore

        deadline = time.monotonic() + wait_s
        while True:
            try:
                return LmdbStore(spec.store_location, lock_name="worker.lock")
            except LockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    if spec.store_kind == "redis":
        from archetype.live.store.redis_store import RedisStore

        return RedisStore(spec.store_location, owner="__worker")
    raise ValueError(f"a worker process cannot open a {spec.store_kind!r} store")


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (belt and braces with stdin EOF)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main() -> None:
    """``python -m archetype.live.worker``: the worker process (see the module docstring)."""
    _die_with_parent()
    spec: WorkerSpec = pickle.load(sys.stdin.buffer)
    logging.basicConfig(level=spec.log_level, format="%(asctime)s worker %(levelname)s %(message)s")
    stop = threading.Event()

    def watch_parent() -> None:
        with contextlib.suppress(Exception):
            sys.stdin.buffer.read()  # returns at EOF: the service closed us or died
        stop.set()

    threading.Thread(target=watch_parent, name="parent", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store = open_worker_store(spec)
    delivery = None
    wake_delivery = threading.Event()
    threads = []
    try:
        auto = build_automation(spec)
        if spec.deliver:
            from archetype.live.triggers.webhook import WebhookDelivery

            delivery = WebhookDelivery(store, secret=spec.secret)
            threads.append(
                threading.Thread(
                    target=delivery_loop,
                    args=(delivery, stop, wake_delivery, spec.retry_poll_s),
                    name="webhooks",
                    daemon=True,
                )
            )
            wake_delivery.set()  # deliveries owed by a previous run

        def after(outputs: list) -> None:
            if any(getattr(o, "status", None) == "pending" for o in outputs):
                wake_delivery.set()

        worker = AutomationWorker(
            store,
            auto,
            max_records=spec.max_records,
            max_events=spec.max_events,
            after_commit=after,
        )
        for t in threads:
            t.start()
        if spec.nice:
            # the automation is asynchronous: ingest and lookups of the service come first
            with contextlib.suppress(OSError):
                os.nice(spec.nice)
        gc.collect()
        gc.freeze()  # start-up objects: out of the collector's passes
        # A transaction's records and rows are freed by reference counting when it ends;
        # collecting young objects every 700 allocations (the default) re-scans them
        # over and over while the transaction runs (measured: ~20% of the worker's CPU).
        gc.set_threshold(GC_GEN0, 20, 20)
        worker.process_cpu0 = time.process_time()
        print(READY, flush=True)
        worker.run(stop, poll_s=spec.poll_s, interval_s=spec.interval_s)
    finally:
        stop.set()
        wake_delivery.set()
        for t in threads:
            t.join(timeout=30)
        if delivery is not None:
            delivery.close()
        store.close()


def delivery_loop(delivery: Any, stop: threading.Event, wake: threading.Event, poll: float):
    """Deliver owed webhooks when woken and every ``poll`` seconds (retries)."""
    while not stop.is_set():
        wake.wait(poll)
        wake.clear()
        if stop.is_set():
            return
        try:
            while delivery.deliver_pending().delivered:
                if stop.is_set():
                    return
        except Exception as e:  # keep going; retried at the next wake-up
            log.error("webhook delivery failed: %s", e)


def worker_stats(view: Any) -> dict:
    """What the worker did so far (records, events, transactions, seconds, CPU seconds
    of its consuming thread and, for a worker process, of the whole process since it
    started up), as committed with its progress."""
    raw = view.get(NS_DONE, "stats")
    return {} if raw is None else loads(raw)


def learner_version(view: Any) -> str | None:
    """The newest centroid version the worker committed (``auto.done`` ``learn``)."""
    raw = view.get(NS_DONE, "learn")
    return None if raw is None else raw.decode()


def committed_learner(view: Any) -> OnlineCentroids | None:
    raw = view.get(NS_LEARN, "state")
    return None if raw is None else OnlineCentroids.from_bytes(raw)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
