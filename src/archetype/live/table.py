"""The packed event table of a customer state: merging pending rows into it (Numba).

A table is five arrays (see :mod:`archetype.live.state`): ``ts`` int64, ``kind`` uint8,
``ch`` int32, ``cat`` int32, one row per event in canonical order (ascending
``(ts, kind, ch, cat, amount)``), and ``amt`` float64 with the amount of each
``PURCHASE`` row in row order.  :func:`merge_rows` is the only writer: it inserts the rows
applied since the last merge, drops the rows older than the window's floor and the
channel/category values no row uses any more, in one pass.  Kernels take clean arrays,
do no checks and return new arrays (the inputs are never modified, so a table can be a
read-only view of the bytes it was decoded from).
"""

from __future__ import annotations

import numpy as np
from numba import njit

EMPTY_I8 = np.empty(0, np.int64)
EMPTY_I4 = np.empty(0, np.int32)
EMPTY_U1 = np.empty(0, np.uint8)
EMPTY_F8 = np.empty(0, np.float64)
_PURCHASE, _KIND_MASK = 2, 0x0F  # archetype.live.state.PURCHASE, KIND_MASK


@njit(cache=True)
def _less(t1, k1, c1, g1, a1, t2, k2, c2, g2, a2):  # pragma: no cover - compiled
    """Canonical row order: time, kind, channel, category, amount."""
    if t1 != t2:
        return t1 < t2
    if k1 != k2:
        return k1 < k2
    if c1 != c2:
        return c1 < c2
    if g1 != g2:
        return g1 < g2
    return a1 < a2


@njit(cache=True)
def merge_rows(ts, kind, ch, cat, amt, pend, pamt, ch_map, cat_map, nch, ncat, floor):
    """Merge pending rows into a table; drop rows before ``floor`` and unused values.

    Parameters
    ----------
    ts, kind, ch, cat, amt : the table (input, canonical order).
    pend : (m, 4) int64, input
        Pending rows ``(ts, kind, ch, cat)`` in arrival order; ``ch``/``cat`` index the
        value lists before sorting.
    pamt : (p,) float64, input
        Amount of each pending ``PURCHASE`` row, in arrival order.
    ch_map, cat_map : int32, input
        ``map[old] = new`` (1-based indices, 0 stays 0) for the table and the pending
        rows, or empty: indices are kept.
    nch, ncat : int
        Number of channel / category values after the map.
    floor : int
        Rows with ``ts < floor`` are dropped.

    Returns
    -------
    ts, kind, ch, cat, amt : the new table.
    keep : (nch + ncat,) bool
        Channel then category values some row still uses (the new table's indices are
        renumbered to them); empty when every value is still used.
    nch_kept, ncat_kept : int
    """
    m = pend.shape[0]
    n = ts.shape[0]
    pts = np.empty(m, np.int64)
    pk = np.empty(m, np.uint8)
    pc = np.empty(m, np.int32)
    pg = np.empty(m, np.int32)
    pa = np.zeros(m, np.float64)
    remap_ch, remap_cat = ch_map.shape[0] > 0, cat_map.shape[0] > 0
    j = 0
    for r in range(m):
        pts[r] = pend[r, 0]
        k = pend[r, 1]
        pk[r] = k
        c = pend[r, 2]
        pc[r] = ch_map[c] if remap_ch else c
        g = pend[r, 3]
        pg[r] = cat_map[g] if remap_cat else g
        if k & _KIND_MASK == _PURCHASE:
            pa[r] = pamt[j]
            j += 1
    # pending order: by time (stable; few rows: as they came), then insertion sort on the
    # full key (after the time sort it moves rows only within runs of equal times)
    order = np.argsort(pts, kind="mergesort") if m > 16 else np.arange(m)
    for a in range(1, m):
        x = order[a]
        b = a - 1
        while b >= 0:
            y = order[b]
            if not _less(pts[x], pk[x], pc[x], pg[x], pa[x], pts[y], pk[y], pc[y], pg[y], pa[y]):
                break
            order[b + 1] = y
            b -= 1
        order[b + 1] = x

    o_ts = np.empty(n + m, np.int64)
    o_k = np.empty(n + m, np.uint8)
    o_c = np.empty(n + m, np.int32)
    o_g = np.empty(n + m, np.int32)
    o_a = np.empty(amt.shape[0] + pamt.shape[0], np.float64)
    i = 0
    ai = 0
    while i < n and ts[i] < floor:
        if kind[i] & _KIND_MASK == _PURCHASE:
            ai += 1
        i += 1
    q = 0
    while q < m and pts[order[q]] < floor:
        q += 1
    o = 0
    oa = 0
    t1, k1, c1, g1, a1, y = 0, np.uint8(0), 0, 0, 0.0, 0
    while i < n or q < m:
        if i < n:
            t1, k1 = ts[i], kind[i]
            c1 = ch_map[ch[i]] if remap_ch else ch[i]
            g1 = cat_map[cat[i]] if remap_cat else cat[i]
            a1 = amt[ai] if k1 & _KIND_MASK == _PURCHASE else 0.0
        if q < m:
            y = order[q]
        if i < n and (q >= m or not _less(pts[y], pk[y], pc[y], pg[y], pa[y], t1, k1, c1, g1, a1)):
            o_ts[o], o_k[o], o_c[o], o_g[o] = t1, k1, c1, g1
            if k1 & _KIND_MASK == _PURCHASE:
                o_a[oa] = a1
                oa += 1
                ai += 1
            i += 1
        else:
            o_ts[o], o_k[o], o_c[o], o_g[o] = pts[y], pk[y], pc[y], pg[y]
            if pk[y] & _KIND_MASK == _PURCHASE:
                o_a[oa] = pa[y]
                oa += 1
            q += 1
        o += 1

    ch_keep = np.zeros(nch + 1, np.bool_)
    cat_keep = np.zeros(ncat + 1, np.bool_)
    for r in range(o):
        ch_keep[o_c[r]] = True
        cat_keep[o_g[r]] = True
    nch_kept = _renumber(o_c, o, ch_keep)
    ncat_kept = _renumber(o_g, o, cat_keep)
    keep = np.empty(0, np.bool_)
    if nch_kept < nch or ncat_kept < ncat:
        keep = np.concatenate((ch_keep[1:], cat_keep[1:]))
    return o_ts[:o], o_k[:o], o_c[:o], o_g[:o], o_a[:oa], keep, nch_kept, ncat_kept


@njit(cache=True)
def _renumber(idx, o, keep):  # pragma: no cover - compiled
    """Renumber 1-based ``idx[:o]`` to the kept values (``keep[0]`` is the "none" slot)."""
    n = keep.shape[0] - 1
    kept = 0
    for v in range(1, n + 1):
        if keep[v]:
            kept += 1
    if kept < n:
        new = np.zeros(n + 1, np.int32)
        r = 0
        for v in range(1, n + 1):
            if keep[v]:
                r += 1
                new[v] = r
        for x in range(o):
            idx[x] = new[idx[x]]
    return kept
