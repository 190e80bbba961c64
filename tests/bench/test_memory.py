"""Isolated measurements: peak RSS per child from wait4, timeouts, unavailable entries."""

from __future__ import annotations

from archetype.bench.harness import WORKER
from archetype.bench.memory import run_isolated

MiB = 1024**2


def _copy_spec(nbytes: int) -> dict:
    return {"stage": "bandwidth", "impl": "numpy-copy", "device": "cpu", "repeats": 1,
            "target": "archetype.bench.floors:bandwidth_copy", "bandwidth_bytes": nbytes}


def test_peak_rss_grows_by_what_the_child_allocated():
    small = run_isolated(WORKER, _copy_spec(8 * MiB), timeout=60)
    big = run_isolated(WORKER, _copy_spec(136 * MiB), timeout=60)
    assert small.status == big.status == "ok"
    assert small.payload["status"] == big.payload["status"] == "ok"
    # bandwidth_copy holds two arrays of the given size: 2 * 128 MiB more at peak.
    grown = big.peak_rss_bytes - small.peak_rss_bytes
    assert 0.8 * 256 * MiB < grown < 1.25 * 256 * MiB
    # a bare interpreter with numpy: far below the test process (which holds torch & co.)
    assert small.peak_rss_bytes < 120 * MiB
    assert big.payload["extra"]["bytes"] == 2 * (136 * MiB // 8) * 8


def test_peak_is_the_childs_own_not_the_parents():
    from archetype.bench.memory import peak_rss_self

    ballast = bytearray(200 * MiB)  # the parent is big; the child must not inherit that
    res = run_isolated(WORKER, _copy_spec(MiB), timeout=60)
    assert peak_rss_self() > 200 * MiB
    assert res.peak_rss_bytes < 120 * MiB
    del ballast


def test_timeout_kills_the_child():
    spec = {**_copy_spec(8 * MiB), "repeats": 10**9}
    res = run_isolated(WORKER, spec, timeout=1.0)
    assert res.status == "timeout"
    assert res.payload == {}


def test_missing_implementation_is_reported_unavailable():
    spec = {**_copy_spec(MiB), "target": "archetype.no_such_module:run"}
    res = run_isolated(WORKER, spec, timeout=60)
    assert res.status == "ok"
    assert res.payload["status"] == "unavailable"
    assert "no_such_module" in res.payload["note"]
