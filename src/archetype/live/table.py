"""The packed event table of a customer state, kept as the bytes it is stored as (Numba).

A table is one row per event in canonical order (ascending ``(ts, kind, ch, cat,
amount)``, see :mod:`archetype.live.state`), held as one ``uint8`` *body*, the same bytes
as in the stored state (:mod:`archetype.live.codec`)::

    ts    int64 x n            (little-endian)
    amt   float64 x p          the amount of each PURCHASE row, in row order
    kind  uint8 x n
    ch    x n, width wc bytes  (0: absent, all 0; 1, 2 or 4)
    cat   x n, width wg bytes

so that decoding a state is a copy of its bytes and encoding one a ``tobytes``: the
kernels read the columns out of the body (:func:`unpack`, into aligned scratch arrays,
whatever the body's alignment) and :func:`merge_rows` writes a new body.  Kernels take
clean arrays and do no checks; they never modify their inputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EMPTY_I8 = np.empty(0, np.int64)
EMPTY_I4 = np.empty(0, np.int32)
EMPTY_U1 = np.empty(0, np.uint8)
EMPTY_F8 = np.empty(0, np.float64)
_PURCHASE, _KIND_MASK = 2, 0x0F  # archetype.live.state.PURCHASE, KIND_MASK
#: Bytes of an index column entry by its width code (the codec's flags).
WIDTH_BYTES = (0, 1, 2, 4)


@njit(cache=True)
def width_code(n_values):  # pragma: no cover - compiled
    """Width code of an index column over ``n_values`` values (1-based, 0: none)."""
    if n_values == 0:
        return 0
    if n_values < 256:
        return 1
    if n_values < 65536:
        return 2
    return 3


@njit(cache=True)
def body_size(n, p, wc, wg):  # pragma: no cover - compiled
    """Bytes of a body of ``n`` rows, ``p`` amounts, index columns of width codes wc, wg."""
    return (9 + WIDTH_BYTES[wc] + WIDTH_BYTES[wg]) * n + 8 * p


@njit(cache=True)
def unpack(body, n, p, wc, wg, ts, amt, kind, ch, cat):  # pragma: no cover - compiled
    """Columns of a body into ``ts[:n]``, ``amt[:p]``, ``kind[:n]``, ``ch[:n]``, ``cat[:n]``
    (outputs: int64, float64, uint8, int32, int32, at least that long)."""
    o = 8 * n
    ts[:n].view(np.uint8)[:] = body[0:o]
    amt[:p].view(np.uint8)[:] = body[o : o + 8 * p]
    o += 8 * p
    kind[:n] = body[o : o + n]
    o += n
    o = _unpack_index(body, o, n, wc, ch)
    _unpack_index(body, o, n, wg, cat)


@njit(cache=True)
def _unpack_index(body, o, n, code, out):  # pragma: no cover - compiled
    if code == 0:
        out[:n] = 0
        return o
    if code == 1:
        for r in range(n):
            out[r] = body[o + r]
        return o + n
    if code == 2:
        for r in range(n):
            out[r] = np.int32(body[o + 2 * r]) | (np.int32(body[o + 2 * r + 1]) << 8)
        return o + 2 * n
    for r in range(n):
        x = o + 4 * r
        out[r] = (
            np.int32(body[x])
            | (np.int32(body[x + 1]) << 8)
            | (np.int32(body[x + 2]) << 16)
            | (np.int32(body[x + 3]) << 24)
        )
    return o + 4 * n


@njit(cache=True)
def pack(ts, amt, kind, ch, cat, n, p, wc, wg):  # pragma: no cover - compiled
    """The body of ``n`` rows and ``p`` amounts (inverse of :func:`unpack`)."""
    body = np.empty(body_size(n, p, wc, wg), np.uint8)
    o = 8 * n
    body[0:o] = ts[:n].view(np.uint8)
    body[o : o + 8 * p] = amt[:p].view(np.uint8)
    o += 8 * p
    body[o : o + n] = kind[:n]
    o += n
    o = _pack_index(body, o, n, wc, ch)
    _pack_index(body, o, n, wg, cat)
    return body


@njit(cache=True)
def _pack_index(body, o, n, code, idx):  # pragma: no cover - compiled
    w = WIDTH_BYTES[code]
    for r in range(n):
        v = idx[r]
        for b in range(w):
            body[o + w * r + b] = (v >> (8 * b)) & 0xFF
    return o + w * n


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
def merge_rows(body, n, p, wc, wg, pend, pamt, ch_map, cat_map, nch, ncat, floor):
    """Merge pending rows into a table; drop rows before ``floor`` and unused values.

    Parameters
    ----------
    body, n, p, wc, wg : the table (input; canonical order).
    pend : (4 m,) int64, input
        Pending rows ``(ts, kind, ch, cat)`` one after the other, in arrival order;
        ``ch``/``cat`` index the value lists before sorting.
    pamt : (q,) float64, input
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
    body, n, p, wc, wg : the new table.
    keep : (nch + ncat,) bool
        Channel then category values some row still uses (the new table's indices are
        renumbered to them); empty when every value is still used.
    nch_kept, ncat_kept : int
    """
    ts = np.empty(n, np.int64)
    amt = np.empty(p, np.float64)
    kind = np.empty(n, np.uint8)
    ch = np.empty(n, np.int32)
    cat = np.empty(n, np.int32)
    unpack(body, n, p, wc, wg, ts, amt, kind, ch, cat)
    m = pend.shape[0] // 4
    pts = np.empty(m, np.int64)
    pk = np.empty(m, np.uint8)
    pc = np.empty(m, np.int32)
    pg = np.empty(m, np.int32)
    pa = np.zeros(m, np.float64)
    remap_ch, remap_cat = ch_map.shape[0] > 0, cat_map.shape[0] > 0
    j = 0
    for r in range(m):
        pts[r] = pend[4 * r]
        k = pend[4 * r + 1]
        pk[r] = k
        c = pend[4 * r + 2]
        pc[r] = ch_map[c] if remap_ch else c
        g = pend[4 * r + 3]
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
    o_a = np.empty(p + pamt.shape[0], np.float64)
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
    wc2, wg2 = width_code(nch_kept), width_code(ncat_kept)
    out = pack(o_ts, o_a, o_k, o_c, o_g, o, oa, wc2, wg2)
    return out, o, oa, wc2, wg2, keep, nch_kept, ncat_kept


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
