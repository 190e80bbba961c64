"""Stage timing, peak memory and the deterministic crash hook of a run.

:class:`StageClock` times each stage of a run and samples this process's resident set
size in a background thread (every 20 ms by default) so each stage reports its own peak,
not the process-wide high-water mark.

Crash testing: with ``ARCHETYPE_TEST_CRASH_AFTER=<stage>`` in the environment the process
kills itself with ``SIGKILL`` right after that stage finishes (``ARCHETYPE_TEST_CRASH_AFTER
=features`` etc.) — the deterministic half of the crash test.  Never set it in production.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

CRASH_ENV = "ARCHETYPE_TEST_CRASH_AFTER"


def _rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # pragma: no cover - psutil missing or unsupported
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def maybe_crash(stage: str) -> None:
    """SIGKILL this process if ``ARCHETYPE_TEST_CRASH_AFTER`` names ``stage``."""
    if os.environ.get(CRASH_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


class StageClock:
    """Wall time and peak RSS per stage.

    Use ``with clock.stage("fit"): ...``; :attr:`stages` then maps each stage name to
    ``{"seconds", "peak_rss_mb", "rss_start_mb"}``.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.stages: dict[str, dict[str, Any]] = {}
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = time.perf_counter()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _rss_bytes()
            with self._lock:
                self._peak = max(self._peak, rss)

    def start(self) -> StageClock:
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, daemon=True, name="rss-sampler")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start_rss = _rss_bytes()
        with self._lock:
            self._peak = start_rss
        t = time.perf_counter()
        try:
            yield
        finally:
            end_rss = _rss_bytes()
            with self._lock:
                peak = max(self._peak, end_rss)
            self.stages[name] = {
                "seconds": round(time.perf_counter() - t, 4),
                "peak_rss_mb": round(peak / 2**20, 1),
                "rss_start_mb": round(start_rss / 2**20, 1),
            }
        maybe_crash(name)

    def total(self) -> dict[str, Any]:
        peaks = [s["peak_rss_mb"] for s in self.stages.values()]
        return {
            "seconds": round(time.perf_counter() - self.t0, 4),
            "peak_rss_mb": max(peaks) if peaks else None,
        }
