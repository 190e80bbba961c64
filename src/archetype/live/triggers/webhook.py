"""Webhook delivery of outbox firings: at-least-once, retries with exponential back-off.

A firing is owed a delivery while its row is in ``trg.pending`` (written in the same
transaction as the firing).  :meth:`WebhookDelivery.deliver_pending` POSTs each owed firing
whose retry time has come, then, in a new transaction (one per chunk of firings), removes
it from ``trg.pending`` and records the delivery in ``trg.done``.  A crash between the
POST and that commit sends the firing again after restart: at-least-once; the
``Idempotency-Key`` header (= the firing's key, identical across replays and restarts)
lets the receiver drop the repeat.

* 2xx: delivered.  408, 429, 5xx, timeouts and connection errors: retried after
  ``min(max_delay, base_delay * 2 ** (attempt - 1))`` seconds, +-20% deterministic jitter.
* other 4xx, or ``max_attempts`` failures: moved to ``trg.dead`` with the last error.
* firings computed during a replay (status ``replay``) and holdout firings are never owed.
* with ``secret``, each request carries ``X-Archetype-Signature: sha256=<HMAC of body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from archetype.live.triggers.codec import discarder, dumps, loads
from archetype.live.triggers.outbox import NS_DEAD, NS_DONE, NS_OUTBOX, NS_PENDING, Firing

log = logging.getLogger(__name__)

NS_RETRY = "trg.retry"
RETRYABLE = frozenset({408, 425, 429})


@dataclass
class DeliveryReport:
    """What one :meth:`WebhookDelivery.deliver_pending` pass did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    waiting: int = 0


class WebhookDelivery:
    """Delivers pending firings of a store (anything with ``transaction()``).

    Parameters
    ----------
    store : object with ``transaction()``
        The store holding the outbox (the service store, or a :class:`MemoryKV`).
    client : httpx.Client, optional
        Default: a client with ``timeout`` seconds (tests pass one with a MockTransport).
    max_attempts : int, default 8
    base_delay, max_delay : float, default 0.5 s and 300 s
    secret : bytes, optional
        HMAC-SHA256 key for the ``X-Archetype-Signature`` header.
    clock : callable, default time.time
    """

    def __init__(
        self,
        store: Any,
        *,
        client: httpx.Client | None = None,
        max_attempts: int = 8,
        base_delay: float = 0.5,
        max_delay: float = 300.0,
        timeout: float = 5.0,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts={max_attempts} should be >= 1")
        self.store = store
        self.client = client or httpx.Client(timeout=timeout)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.secret = secret
        self.clock = clock

    def delay(self, key: str, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        d = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        jitter = int(hashlib.sha256(f"{key}|{attempt}".encode()).hexdigest()[:8], 16) / 16**8
        return d * (0.8 + 0.4 * jitter)

    def _request(self, f: Firing) -> tuple[int | None, str]:
        body = json.dumps(f.payload(), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f.key,
            "User-Agent": "archetype-triggers",
        }
        if self.secret is not None:
            sig = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers["X-Archetype-Signature"] = f"sha256={sig}"
        try:
            r = self.client.post(f.webhook, content=body, headers=headers)
        except httpx.HTTPError as e:
            return None, f"{type(e).__name__}: {e}"
        return r.status_code, r.reason_phrase or ""

    def deliver_pending(self, limit: int = 1000, chunk: int = 100) -> DeliveryReport:
        """One pass over owed deliveries (oldest event time first).

        Owed rows are read from a read view and POSTed ``chunk`` at a time; the outcomes
        of a chunk commit in one transaction (a store commit per firing would hold the
        write lock, and its fsync, that the service's ingest needs).  A crash before that
        commit sends the chunk again, with the same keys: at-least-once.
        """
        rep = DeliveryReport()
        with self.store.read() as r:
            owed = [k.decode() for k, _ in r.scan(NS_PENDING, limit=limit)]
        now = self.clock()
        for lo in range(0, len(owed), chunk):
            part = owed[lo : lo + chunk]
            with self.store.read() as r:
                raws = r.get_many(NS_OUTBOX, part)
                retries = r.get_many(NS_RETRY, part)
            outcomes: list[tuple[str, str, str | None, dict | None]] = []
            for rk, raw, retry in zip(part, raws, retries, strict=True):
                state = loads(retry) if retry is not None else {"attempts": 0, "next": 0.0}
                if state["next"] > now:
                    rep.waiting += 1
                    continue
                if raw is None:  # outbox row gone (never expected): nothing to send
                    outcomes.append(("gone", rk, None, None))
                    continue
                f = Firing.decode(raw)
                status, reason = self._request(f)
                attempts = state["attempts"] + 1
                record = {
                    "attempts": attempts,
                    "status": status,
                    "reason": reason,
                    "at": self.clock(),
                }
                if status is not None and 200 <= status < 300:
                    outcomes.append(("done", rk, f.key, record))
                    rep.delivered += 1
                elif (
                    status is not None and 400 <= status < 500 and status not in RETRYABLE
                ) or attempts >= self.max_attempts:
                    outcomes.append(("dead", rk, f.key, record))
                    log.warning(
                        "webhook for firing %s dead after %d attempts: %s %s",
                        f.key,
                        attempts,
                        status,
                        reason,
                    )
                    rep.dead += 1
                else:
                    retry_state = {
                        "attempts": attempts,
                        "next": now + self.delay(f.key, attempts),
                        "last": record,
                    }
                    outcomes.append(("retry", rk, f.key, retry_state))
                    rep.retried += 1
            if not outcomes:
                continue
            with self.store.transaction() as tx:
                rm = discarder(tx)
                for what, rk, key, value in outcomes:
                    if what == "retry":
                        tx.put(NS_RETRY, rk, dumps(value))
                        continue
                    rm(NS_PENDING, rk)
                    if what == "gone":
                        continue
                    rm(NS_RETRY, rk)
                    tx.put(NS_DONE if what == "done" else NS_DEAD, key, dumps(value))
        return rep

    def close(self) -> None:
        self.client.close()
