"""Duplicate and too-old screening of a whole ingest batch in one kernel call (Numba).

The writer's rule (:func:`archetype.live.apply._apply_each`), event by event in arrival
order, per customer: an event whose key (non-zero) is among the customer's applied keys,
or an earlier accepted event's of the batch, is a *duplicate*; else an event whose day is
at or before the customer's running last event day minus the window is *too old* (it
only moves the first-seen time); else it is *accepted* (its key is remembered, its day
may advance the last event day).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ACCEPTED, DUPLICATE, TOO_OLD = 0, 1, 2
_SCAN = 512  # stored keys x events of a customer up to which a scan beats a set


def screen(
    keys: np.ndarray,
    days: np.ndarray,
    spans: list[tuple[int, int]],
    stored: list[np.ndarray],
    last_days: list[int | None],
    window: int | None,
) -> tuple[np.ndarray, list[int], list[int]]:
    """``(status, n_dup, n_old)`` of the rows of the customers of one batch.

    Parameters
    ----------
    keys, days : (n,) uint64, int64
        Event keys (0: never a duplicate) and days of the batch's rows.
    spans : list of (a, b)
        Each customer's rows ``a:b`` (in arrival order).
    stored : list of uint64 arrays
        Each customer's applied event keys.
    last_days : list of int or None
        Each customer's last event day before the batch (``None``: no event yet).
    window : int or None
        The feature window in days (``None``: all history, nothing is too old).

    Returns
    -------
    status : (n,) int8
        :data:`ACCEPTED`, :data:`DUPLICATE` or :data:`TOO_OLD` of each row of a span.
    n_dup, n_old : list of int
        Duplicates and too-old events per customer.
    """
    n = len(spans)
    a = np.fromiter((s[0] for s in spans), np.int64, n)
    b = np.fromiter((s[1] for s in spans), np.int64, n)
    soff = np.zeros(n + 1, np.int64)
    np.cumsum(np.fromiter((len(s) for s in stored), np.int64, n), out=soff[1:])
    sk = np.concatenate(stored).astype(np.uint64, copy=False) if n else np.empty(0, np.uint64)
    has = np.fromiter((x is not None for x in last_days), np.bool_, n)
    last = np.fromiter((0 if x is None else x for x in last_days), np.int64, n)
    status = np.zeros(len(keys), np.int8)
    n_dup = np.zeros(n, np.int64)
    n_old = np.zeros(n, np.int64)
    _screen(
        np.ascontiguousarray(keys, np.uint64), np.ascontiguousarray(days, np.int64),
        a, b, sk, soff, last, has, -1 if window is None else int(window), status, n_dup, n_old,
    )  # fmt: skip
    return status, n_dup.tolist(), n_old.tolist()


@njit(cache=True)
def _screen(keys, days, a, b, sk, soff, last, has, window, status, n_dup, n_old):
    """See :func:`screen`; ``window`` -1: none."""  # pragma: no cover - compiled
    for i in range(a.shape[0]):
        r0, r1, s0, s1 = a[i], b[i], soff[i], soff[i + 1]
        # a set of the stored and accepted keys, or scans of both when they are few
        use_set = (s1 - s0) * (r1 - r0) > _SCAN or r1 - r0 > 16
        have = {np.uint64(0)}  # typed set; 0 is never looked up
        if use_set:
            for x in range(s0, s1):
                have.add(sk[x])
        seen = np.empty(r1 - r0, np.uint64)  # accepted keys of the batch (scans)
        ns = 0
        h, ld = has[i], last[i]
        for r in range(r0, r1):
            k = keys[r]
            if k != 0:
                dup = False
                if use_set:
                    dup = k in have
                else:
                    for x in range(s0, s1):
                        if sk[x] == k:
                            dup = True
                            break
                    for x in range(ns):
                        if seen[x] == k:
                            dup = True
                            break
                if dup:
                    status[r] = DUPLICATE
                    n_dup[i] += 1
                    continue
            d = days[r]
            if window >= 0 and h and d <= ld - window:
                status[r] = TOO_OLD
                n_old[i] += 1
                continue
            status[r] = ACCEPTED
            if k != 0:
                if use_set:
                    have.add(k)
                else:
                    seen[ns] = k
                    ns += 1
            if not h or d > ld:
                ld = d
                h = True
