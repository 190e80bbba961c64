"""Plug triggers, experiments and online centroids into a running :class:`LiveSegmenter`.

>>> seg = LiveSegmenter.open("seg-root")                                  # doctest: +SKIP
>>> auto = attach(seg, load_config("live.toml"))                          # doctest: +SKIP
>>> seg.ingest(records)          # the commit appends an inbox record; a worker acts on it
>>> auto.sync()                  # (tests, tools) wait until the worker caught up
>>> auto.close(); seg.close()

Three modes (``mode=``):

* ``"process"`` (default, what ``archetype serve`` runs): the service's commits append a
  compact record to an inbox in the same transaction (:mod:`archetype.live.inbox`); a
  worker process (:mod:`archetype.live.worker`), on another core, runs the triggers,
  experiments and learning over the records in its own transactions, committing its
  progress with its outputs, and delivers the webhooks.  The ingest path pays only for
  the record.  Firings are those of inline (same records, same order; with learning,
  transition rules also depend on when a centroid version reaches the service) and
  exactly-once across a ``kill -9`` of either process; they land after the worker's lag
  (milliseconds while it keeps up; :meth:`LiveAutomation.lag`).  The worker dies with the
  service and is restarted if it fails.
* ``"thread"``: the same worker as a thread of the service (one core: no gain in CPU,
  but the ingest commits stay short); webhooks from a thread of the service.
* ``"inline"``: everything inside the ingest commit (the original path; records left in
  the inbox by an earlier worker are consumed first).

Either way the trigger state, outbox rows, exposures and online-centroid sums commit
atomically with what produced them.  With ``[learning]``, each new centroid version is
served after its commit: the model is swapped for the same model with the online
centroids, named ``<model>+<n>``; customers move to it at their next event, day change or
lookup (not all at once), with the configured hysteresis.  After a restart the stored
centroids are served again.  When the nightly run promotes a model, the learner restarts
from it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from archetype.errors import UserError
from archetype.live.automation import NS_LEARN, Automation, AutomationConfig, ModelInfo
from archetype.live.inbox import InboxWriter
from archetype.live.learning import LearningStep, OnlineCentroids
from archetype.live.triggers.webhook import WebhookDelivery
from archetype.live.worker import (
    READY,
    AutomationWorker,
    WorkerSpec,
    build_automation,
    committed_learner,
    delivery_loop,
    learner_version,
    progress,
    worker_stats,
)
from archetype.vocab import AutomationMode

log = logging.getLogger(__name__)

MODES = tuple(m.value for m in AutomationMode)


class LiveAutomation:
    """The automation attached to one segmenter (see module docstring)."""

    def __init__(
        self,
        segmenter: Any,
        config: AutomationConfig,
        *,
        mode: str = "process",
        deliver: bool = True,
        client: Any = None,
        retry_poll_s: float = 1.0,
        secret: bytes | None = None,
        poll_s: float = 0.01,
        worker_start_s: float = 120.0,
    ) -> None:
        if mode not in MODES:
            raise UserError(f"automation mode {mode!r} should be one of {', '.join(MODES)}")
        if mode == "process" and client is not None:
            raise ValueError("client= is for mode='thread' or 'inline' (webhooks in-process)")
        if mode == "process" and segmenter.store.kind not in ("lmdb", "redis"):
            kind = segmenter.store.kind
            raise ValueError(f"mode='process' needs an lmdb or redis store, not {kind}")
        self.segmenter = segmenter
        self.config = config
        self.mode = AutomationMode(mode)
        self._deliver = deliver
        self._secret = secret
        self._retry_poll = float(retry_poll_s)
        self._poll = float(poll_s)
        self._worker_start_s = float(worker_start_s)
        m = segmenter.model
        self._names = dict(zip(m.model.segment_ids, m.model.segment_names or [], strict=False))
        lc = config.learning
        self._learner0 = None
        if lc is not None and lc.enabled:
            self._learner0 = OnlineCentroids(
                m.model.centroids,
                m.model.segment_ids,
                lc,
                model_version=m.base_version,
                metric=m.model.metric,
            )
        #: the service-side Automation: the inline listener, or (worker modes) the one that
        #: bootstraps the learner, holds the muted flag and reads committed state
        self.automation = Automation(
            config,
            segment_names=self._names,
            learner=self._learner0,
            model_provider=self._served_model,
        )
        self.automation._names_base = m.base_version
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.delivery = None
        self.worker: AutomationWorker | None = None
        self._proc: subprocess.Popen | None = None
        self._served_version: str | None = None
        if self._learner0 is not None:
            hysteresis = lc.hysteresis
            segmenter.model_hook = lambda model: (
                model
                if model.hysteresis == hysteresis
                else dataclasses.replace(model, hysteresis=hysteresis)
            )
            segmenter.swap_model(segmenter.model)  # the hysteresis, and stored centroids
            self._bootstrap_learning()
            self._serve_stored()
        if mode == "inline":
            self._start_inline(client)
        else:
            self.inbox = InboxWriter(
                learning=self._learner0 is not None,
                model_info=self._model_info,
                muted=lambda: self.automation.triggers.muted,
            )
            self.inbox.health = self.health
            segmenter.add_listener(self.inbox)
            if mode == "thread":
                self._start_thread(client)
            else:
                self._start_process()
            if self._learner0 is not None:
                self._spawn_thread(self._watch_versions, "live-learning")

    # ----- modes ------------------------------------------------------------------------------
    def _worker_automation(self) -> Automation:
        return build_automation(self._spec())

    def _start_inline(self, client: Any) -> None:
        n = AutomationWorker(self.segmenter.store, self._worker_automation()).drain()
        if n:
            log.info("consumed %d inbox records left by an automation worker", n)
        self.automation.on_step = self._serve_step
        self.automation.on_owed = self._wake_delivery
        self.segmenter.add_listener(self.automation)
        self._start_delivery(client)

    def _start_thread(self, client: Any) -> None:
        self._wake_worker = threading.Event()
        self.inbox.on_commit = self._wake_worker.set
        self.worker = AutomationWorker(
            self.segmenter.store, self._worker_automation(), after_commit=self._after_worker
        )
        self._spawn_thread(
            lambda: self.worker.run(self._stop, self._wake_worker, self._poll), "live-automation"
        )
        self._start_delivery(client)

    def _start_delivery(self, client: Any) -> None:
        if not self._deliver:
            return
        self._wake = threading.Event()
        self.delivery = WebhookDelivery(self.segmenter.store, client=client, secret=self._secret)
        self._wake.set()  # deliveries owed by a previous run
        self._spawn_thread(
            lambda: delivery_loop(self.delivery, self._stop, self._wake, self._retry_poll),
            "live-webhooks",
        )

    def _spawn_thread(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _spec(self) -> WorkerSpec:
        store = self.segmenter.store
        where = str(getattr(store, "path", "")) if store.kind == "lmdb" else ""
        if store.kind == "redis":
            where = store.url
        return WorkerSpec(
            store_kind=store.kind,
            store_location=where,
            config=self.config,
            segment_names=self._names,
            names_base=self.segmenter.model.base_version,
            learner=None if self._learner0 is None else self._learner0.to_bytes(),
            deliver=self._deliver,
            retry_poll_s=self._retry_poll,
            secret=self._secret,
            poll_s=self._poll,
            log_level=logging.getLogger().getEffectiveLevel(),
        )

    def _start_process(self) -> None:
        self._proc = self._spawn_process()
        self._spawn_thread(self._supervise, "live-automation-supervisor")

    def _spawn_process(self) -> subprocess.Popen:
        import archetype

        env = dict(os.environ)
        src = str(Path(archetype.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "archetype.live.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            proc.stdin.write(pickle.dumps(self._spec()))
            proc.stdin.flush()
            deadline = time.monotonic() + self._worker_start_s
            line = b""
            while not line.startswith(READY.encode()):
                left = deadline - time.monotonic()
                if left <= 0 or proc.poll() is not None:
                    raise RuntimeError(
                        "the automation worker process did not start "
                        f"(exit code {proc.poll()}); see its messages above"
                    )
                ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
                if ready:
                    line = proc.stdout.readline()
                    if not line and proc.wait(5) is not None:
                        continue
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return proc

    def _supervise(self) -> None:
        delay = 1.0
        while not self._stop.wait(0.5):
            proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            log.error("automation worker exited with code %s; restarting it", proc.returncode)
            if self._stop.wait(delay):
                return
            try:
                self._proc = self._spawn_process()
                delay = 1.0
            except Exception as e:  # keep trying: the records wait in the inbox
                log.error("cannot restart the automation worker: %s", e)
                delay = min(30.0, delay * 2)

    # ----- state ------------------------------------------------------------------------------
    def health(self) -> dict:
        """``{"automation": {...}}`` for the service's /healthz: mode, records waiting for
        the worker, whether it runs, and what it did (events, transactions, CPU seconds)."""
        with self.segmenter.store.read() as r:
            done, head = progress(r)
            stats = worker_stats(r)
        return {
            "automation": {
                "mode": self.mode,
                "inbox_lag_records": max(0, head - done),
                "worker_alive": self._worker_alive(),
                "worker": stats,
            }
        }

    def lag(self) -> int:
        """Inbox records the worker has not consumed yet (0 inline)."""
        with self.segmenter.store.read() as r:
            done, head = progress(r)
        return max(0, head - done)

    def sync(self, timeout: float = 60.0) -> bool:
        """Wait until the worker consumed every record committed before this call (and
        the newest centroids are served); ``False`` on timeout or if the worker is gone."""
        if self.mode == "inline":
            return True
        with self.segmenter.store.read() as r:
            head = progress(r)[1]
        deadline = time.monotonic() + timeout
        while True:
            with self.segmenter.store.read() as r:
                done = progress(r)[0]
                version = learner_version(r)
            if done >= head:
                if version is not None:
                    self._serve_version(version)
                return True
            if time.monotonic() > deadline or not self._worker_alive():
                return False
            if self.mode == "thread":
                self._wake_worker.set()
            time.sleep(0.005)

    def _worker_alive(self) -> bool:
        if self.mode == "process":
            proc = self._proc
            return proc is not None and proc.poll() is None
        return self.mode == "thread" and not self._stop.is_set()

    @contextmanager
    def muted(self):
        """Ingest history meanwhile (a bootstrap from the log): fires nothing, exposes no
        one, sets no cooldown."""
        with self.automation.muted():
            yield

    # ----- online centroids ------------------------------------------------------------------
    def _served_model(self, tx: Any, base: str) -> ModelInfo | None:
        m = self.segmenter.model
        return ModelInfo.of(m) if m.base_version == base else None

    def _model_info(self, base: str) -> bytes | None:
        info = self._served_model(None, base)
        return None if info is None else info.encode()

    def _bootstrap_learning(self) -> None:
        """First start: the sums from every customer's stored vector (one transaction)."""
        from archetype.live.records import SegRecord, customer_id

        store = self.segmenter.store
        with store.read() as r:
            if r.get(NS_LEARN, "state") is not None:
                return
        base = self.segmenter.model.base_version
        ids, vecs = [], []
        with store.read() as r:
            for k, v in r.scan("seg"):
                rec = SegRecord.decode(v)
                if rec.vector is not None and rec.model_version.split("+", 1)[0] == base:
                    ids.append(customer_id(k))
                    vecs.append(rec.vector)
        t = self.segmenter.meta.watermark_us or 0
        with store.transaction() as tx:
            if vecs:
                self.automation.bootstrap_learning(tx, ids, np.stack(vecs), None, t)
            else:
                self.automation._store_learner(tx, self.automation.learner(tx))
        log.info("online centroids bootstrapped from %d customers", len(ids))

    def _committed_learner(self) -> OnlineCentroids | None:
        """The committed online centroids, decoded here (the writer owns its copy)."""
        with self.segmenter.store.read() as r:
            return committed_learner(r)

    def _serve_stored(self) -> None:
        L = self._committed_learner()
        if L is not None and L.n_version and L.model_version == self.segmenter.model.base_version:
            self._swap(L.centroids, L.version)

    def _serve_step(self, step: LearningStep) -> None:
        self._serve_version(step.version)

    def _serve_version(self, version: str) -> None:
        if version == self._served_version:
            return
        L = self._committed_learner()
        if L is None or L.version != version:
            return  # a newer step is committed already, or the model moved on
        self._swap(L.centroids, L.version)
        self._served_version = version

    def _watch_versions(self) -> None:
        """Worker modes: serve each centroid version the worker commits."""
        while not self._stop.wait(max(self._poll, 0.05)):
            try:
                with self.segmenter.store.read() as r:
                    version = learner_version(r)
                if version is not None:
                    self._serve_version(version)
            except Exception as e:  # keep serving the current centroids; say why
                log.error("cannot serve the online centroids: %s", e)

    def _swap(self, centroids, version: str) -> None:
        m = self.segmenter.model
        if m.base_version != version.split("+", 1)[0] or m.version == version:
            return
        self.segmenter.swap_model(m.with_centroids(centroids.astype("float32"), version))

    # ----- webhooks ---------------------------------------------------------------------------
    def _after_worker(self, outputs: list) -> None:
        if any(getattr(o, "status", None) == "pending" for o in outputs):
            self._wake_delivery()

    def _wake_delivery(self) -> None:
        if self.delivery is not None:
            self._wake.set()

    def close(self, drain_s: float = 60.0) -> None:
        """Stop the worker and the delivery (the segmenter is closed by its owner).

        Call it once ingest has stopped: the worker first consumes what is waiting (up to
        ``drain_s`` seconds; the rest is consumed at the next start, nothing is lost)."""
        draining = self.mode != "inline" and drain_s > 0 and not self._stop.is_set()
        if draining and not self.sync(timeout=drain_s):
            log.warning("automation: %d inbox records left for the next start", self.lag())
        self._stop.set()
        if self.delivery is not None:
            self._wake.set()
        if self.mode == "thread":
            self._wake_worker.set()
        for t in self._threads:
            t.join(timeout=60)
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()  # EOF: the worker finishes its transaction and exits
                proc.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.delivery is not None:
            self.delivery.close()


def attach(segmenter: Any, config: AutomationConfig, **kwargs: Any) -> LiveAutomation:
    """Attach triggers/experiments/learning of ``config`` to ``segmenter`` (see
    :class:`LiveAutomation` for ``mode=``, ``deliver=``, ``client=``, ``secret=``)."""
    return LiveAutomation(segmenter, config, **kwargs)
