"""Plug triggers, experiments and online centroids into a running :class:`LiveSegmenter`.

>>> seg = LiveSegmenter.open("seg-root")                                  # doctest: +SKIP
>>> auto = attach(seg, load_config("live.toml"))                          # doctest: +SKIP
>>> seg.ingest(records)          # firings commit with the state; webhooks after commit
>>> auto.close(); seg.close()

* The :class:`~archetype.live.automation.Automation` becomes a segmenter listener: every
  commit's events, segment moves and vectors reach it inside the commit's transaction, so
  trigger state, outbox rows, exposures and online-centroid sums commit atomically with
  the customer states and the ingest offset (a ``kill -9`` loses or repeats none of them:
  the re-ingested batch finds its events already applied).
* Webhooks are delivered by a background thread over the same store, woken after each
  commit that owes deliveries and every ``retry_poll_s`` for retries; undelivered rows of
  a previous run are delivered at start (at-least-once, idempotency keys).
* With ``[learning]``, each new centroid version is served after its commit: the model is
  swapped for the same model with the online centroids, named ``<model>+<n>``; customers
  move to it at their next event, day change or lookup (not all at once), with the
  configured hysteresis.  After a restart the stored centroids are served again.  When the
  nightly run promotes a model, the learner restarts from it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import numpy as np

from archetype.live.automation import Automation, AutomationConfig
from archetype.live.learning import LearningStep, OnlineCentroids
from archetype.live.triggers.webhook import WebhookDelivery

log = logging.getLogger(__name__)


class LiveAutomation:
    """The automation attached to one segmenter (see module docstring)."""

    def __init__(
        self,
        segmenter: Any,
        config: AutomationConfig,
        *,
        deliver: bool = True,
        client: Any = None,
        retry_poll_s: float = 1.0,
        secret: bytes | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.config = config
        m = segmenter.model
        names = dict(zip(m.model.segment_ids, m.model.segment_names or [], strict=False))
        lc = config.learning
        learner = None
        if lc is not None and lc.enabled:
            learner = OnlineCentroids(
                m.model.centroids,
                m.model.segment_ids,
                lc,
                model_version=m.base_version,
                metric=m.model.metric,
            )
        self.automation = Automation(
            config,
            segment_names=names,
            learner=learner,
            model_provider=lambda: self.segmenter.model,
        )
        self.automation._names_base = m.base_version
        self.automation.on_step = self._serve_step
        self.automation.on_owed = self._wake_delivery
        if learner is not None:
            hysteresis = lc.hysteresis
            segmenter.model_hook = lambda model: (
                model
                if model.hysteresis == hysteresis
                else dataclasses.replace(model, hysteresis=hysteresis)
            )
            segmenter.swap_model(segmenter.model)  # the hysteresis, and stored centroids
            self._bootstrap_learning()
            self._serve_stored()
        segmenter.add_listener(self.automation)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.delivery = None
        self._thread = None
        if deliver:
            self.delivery = WebhookDelivery(segmenter.store, client=client, secret=secret)
            self._poll = float(retry_poll_s)
            self._thread = threading.Thread(
                target=self._deliver_loop, name="live-webhooks", daemon=True
            )
            self._thread.start()
            self._wake.set()  # deliveries owed by a previous run

    # ----- online centroids ------------------------------------------------------------------
    def _bootstrap_learning(self, chunk: int = 50_000) -> None:
        """First start: the sums from every customer's stored vector (one transaction)."""
        from archetype.live.automation import NS_LEARN
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
        """The committed online centroids, decoded here (the writer thread owns its copy)."""
        from archetype.live.automation import NS_LEARN

        with self.segmenter.store.read() as r:
            raw = r.get(NS_LEARN, "state")
        return None if raw is None else OnlineCentroids.from_bytes(raw)

    def _serve_stored(self) -> None:
        L = self._committed_learner()
        if L is not None and L.n_version and L.model_version == self.segmenter.model.base_version:
            self._swap(L.centroids, L.version)

    def _serve_step(self, step: LearningStep) -> None:
        L = self._committed_learner()
        if L is None or L.version != step.version:
            return  # a newer step is committed already, or the model moved on
        self._swap(L.centroids, L.version)

    def _swap(self, centroids, version: str) -> None:
        m = self.segmenter.model
        if m.base_version != version.split("+", 1)[0] or m.version == version:
            return
        self.segmenter.swap_model(m.with_centroids(centroids.astype("float32"), version))

    # ----- webhooks ---------------------------------------------------------------------------
    def _wake_delivery(self) -> None:
        self._wake.set()

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while self.delivery.deliver_pending().delivered:
                    if self._stop.is_set():
                        return
            except Exception as e:  # keep the service up; retried at the next wake-up
                log.error("webhook delivery failed: %s", e)

    def close(self) -> None:
        """Stop the delivery thread (the segmenter is closed by its owner)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.delivery is not None:
            self.delivery.close()


def attach(segmenter: Any, config: AutomationConfig, **kwargs: Any) -> LiveAutomation:
    """Attach triggers/experiments/learning of ``config`` to ``segmenter``."""
    return LiveAutomation(segmenter, config, **kwargs)
