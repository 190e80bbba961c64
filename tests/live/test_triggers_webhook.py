"""Webhook delivery: at-least-once with retries and back-off, idempotency keys, dead letters."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from archetype.live.automation import Automation, AutomationConfig
from archetype.live.memkv import MemoryKV
from archetype.live.triggers import LiveEvent
from archetype.live.triggers.codec import loads
from archetype.live.triggers.webhook import WebhookDelivery

H = 3_600_000_000
URL = "http://receiver.test/hook"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fire(kv, n=3, *, holdout=False, webhook=URL, replay=False):
    rule = {
        "name": "cart",
        "kind": "absence",
        "on": "add_to_cart",
        "absent": "purchase",
        "within": "1h",
    }
    d = {"triggers": {"lateness": "0s", "webhook": webhook, "rule": [rule]}}
    if holdout:
        rule["experiment"] = "e"
        d["experiments"] = {"e": {"holdout": 0.5, "variants": {"a": 1}}}
    auto = Automation(AutomationConfig.from_dict(d), replay=replay)
    with kv.transaction() as tx:
        auto.triggers.apply_events(
            tx,
            [LiveEvent(c, 0, "add_to_cart") for c in range(1, n + 1)]
            + [LiveEvent(999, 2 * H, "view")],
        )
        return auto.on_watermark(tx, 2 * H)


def test_delivers_each_firing_with_its_key():
    kv = MemoryKV()
    firings = fire(kv)
    seen = []

    def handler(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        seen.append((req.headers["Idempotency-Key"], body["idempotency_key"], body["rule"]))
        return httpx.Response(200)

    wd = WebhookDelivery(kv, client=httpx.Client(transport=httpx.MockTransport(handler)))
    rep = wd.deliver_pending()
    assert (rep.delivered, rep.retried, rep.dead) == (3, 0, 0)
    assert sorted(k for k, _, _ in seen) == sorted(f.key for f in firings)
    assert all(a == b and r == "cart" for a, b, r in seen)
    assert kv.namespace("trg.pending") == {} and len(kv.namespace("trg.done")) == 3
    assert wd.deliver_pending().delivered == 0  # nothing owed any more


def test_retries_with_backoff_then_delivers():
    kv = MemoryKV()
    fire(kv, n=1)
    clock = Clock()
    answers = iter([503, 500, httpx.ConnectError("refused"), 200])
    calls = []

    def handler(req):
        calls.append(clock.t)
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return httpx.Response(a)

    wd = WebhookDelivery(
        kv, client=httpx.Client(transport=httpx.MockTransport(handler)), base_delay=1.0, clock=clock
    )
    key = next(iter(kv.namespace("trg.outbox"))).split("|")[1]
    delays = [wd.delay(key, a) for a in (1, 2, 3)]
    assert all(0.8 * 2**i <= d <= 1.2 * 2**i for i, d in enumerate(delays))
    assert wd.deliver_pending().retried == 1
    assert wd.deliver_pending().waiting == 1  # not due yet: no request
    for d in delays:
        clock.t += d
        wd.deliver_pending()
    assert len(calls) == 4
    assert len(kv.namespace("trg.done")) == 1 and kv.namespace("trg.pending") == {}
    assert loads(kv.namespace("trg.done")[key])["attempts"] == 4


def test_permanent_error_and_max_attempts_go_to_dead_letters():
    kv = MemoryKV()
    fire(kv, n=2)
    clock = Clock()
    codes = {}

    def handler(req):
        k = req.headers["Idempotency-Key"]
        codes.setdefault(k, 400 if not codes else 500)
        return httpx.Response(codes[k])

    wd = WebhookDelivery(
        kv,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        max_attempts=3,
        base_delay=0.0,
        clock=clock,
    )
    for _ in range(5):
        wd.deliver_pending()
    dead = kv.namespace("trg.dead")
    assert len(dead) == 2 and kv.namespace("trg.pending") == {}
    assert sorted(loads(v)["attempts"] for v in dead.values()) == [1, 3]


def test_crash_after_post_resends_same_key():
    """At-least-once: a crash before the delivery commit sends again, with the same key."""
    kv = MemoryKV()
    fire(kv, n=1)
    keys = []

    class Boom(RuntimeError):
        pass

    def handler(req):
        keys.append(req.headers["Idempotency-Key"])
        return httpx.Response(204)

    wd = WebhookDelivery(kv, client=httpx.Client(transport=httpx.MockTransport(handler)))
    real = kv.transaction
    n = {"tx": 0}

    def flaky():
        n["tx"] += 1
        if n["tx"] == 1:  # the commit after the POST (reads go through read views)
            raise Boom()
        return real()

    kv.transaction = flaky
    with pytest.raises(Boom):
        wd.deliver_pending()
    kv.transaction = real
    assert wd.deliver_pending().delivered == 1
    assert len(keys) == 2 and keys[0] == keys[1]


def test_signature_header():
    kv = MemoryKV()
    fire(kv, n=1)
    got = {}

    def handler(req):
        got["sig"] = req.headers["X-Archetype-Signature"]
        got["body"] = req.content
        return httpx.Response(200)

    wd = WebhookDelivery(
        kv, client=httpx.Client(transport=httpx.MockTransport(handler)), secret=b"s3cret"
    )
    wd.deliver_pending()
    want = hmac.new(b"s3cret", got["body"], hashlib.sha256).hexdigest()
    assert got["sig"] == f"sha256={want}"


@pytest.mark.parametrize("case", ["replay", "holdout", "no_webhook"])
def test_never_delivered(case):
    kv = MemoryKV()
    firings = fire(
        kv,
        n=40,
        replay=case == "replay",
        holdout=case == "holdout",
        webhook=None if case == "no_webhook" else URL,
    )
    statuses = {f.status for f in firings}
    if case == "holdout":
        assert statuses == {"holdout", "pending"}
        owed = {f.key for f in firings if f.status == "pending"}
        assert {k.split("|")[1] for k in kv.namespace("trg.pending")} == owed
        return
    assert statuses == {"replay" if case == "replay" else "stored"}
    assert kv.namespace("trg.pending") == {}
    calls = []
    wd = WebhookDelivery(
        kv,
        client=httpx.Client(
            transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200))
        ),
    )
    assert wd.deliver_pending().delivered == 0 and calls == []
