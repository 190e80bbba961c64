"""Features of customers from their packed tables: one Numba call for one or many.

:func:`evaluate_many` takes the table bodies of ``n`` customers concatenated (with
offsets) and writes an ``(n, d)`` float64 matrix; :func:`evaluate_one` does one customer
without the concatenation.  Per customer: its columns out of the body into scratch arrays
(:func:`~archetype.live.table.unpack`), the window's rows (two binary searches, the table is in
time order), :func:`.base.aggregate`, the families' own intermediates, then every family's
``values`` into its block of a row, scattered to the definition's feature order.  A
customer without a row in the window gets a NaN row.

The kernels are cached on disk (``cache=True``).  Numba checks only the defining file of
a cached function for changes; these drivers compile the family kernels of other files
into themselves, so every kernel's cache is keyed on all the files they depend on
(:func:`_key_on_sources`): editing a family module recompiles them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numba import njit

from archetype.live.incremental import (
    content,
    engagement,
    loyalty,
    occasions,
    purchase,
    rfm,
    timing,
    usage,
)
from archetype.live.incremental.base import CX_HI_US, CX_LO_US, CX_NCH, CX_NOCC, N_FIXED, aggregate
from archetype.live.incremental.fsum import N_PARTIALS
from archetype.live.state import KIND_MASK, PURCHASE
from archetype.live.table import unpack


@njit(cache=True)
def _customer(
    ts,
    kind,
    ch,
    cat,
    amt,
    chmap,
    ncat,
    cx,
    occ_lo,
    occ_hi,
    sin_t,
    cos_t,
    blocks,
    perm,
    out,
    i,
    row,
    buf,
    leads,
    counts,
    p,
):
    r0 = np.searchsorted(ts, cx[CX_LO_US])
    r1 = np.searchsorted(ts, cx[CX_HI_US])
    if r0 >= r1:
        out[:] = np.nan
        return False
    pa0 = 0
    for r in range(r0):
        if kind[r] & KIND_MASK == PURCHASE:
            pa0 += 1
    aggregate(ts, kind, ch, amt, r0, r1, pa0, chmap, cx, occ_lo, occ_hi, sin_t, cos_t, i, buf, p)
    timing.intermediates(ts, kind, cx, i, leads)
    content.intermediates(cat, r0, r1, ncat, i, counts, buf[0], p)
    # the blocks of LIVE_MODULES, in its order
    rfm.values(i, cx, row[blocks[0] : blocks[1]])
    usage.values(i, cx, row[blocks[1] : blocks[2]])
    purchase.values(i, cx, row[blocks[2] : blocks[3]])
    timing.values(i, cx, row[blocks[3] : blocks[4]])
    occasions.values(i, cx, row[blocks[4] : blocks[5]])
    loyalty.values(i, cx, row[blocks[5] : blocks[6]])
    engagement.values(i, cx, row[blocks[6] : blocks[7]])
    content.values(i, cx, row[blocks[7] : blocks[8]])
    for j in range(perm.shape[0]):
        out[perm[j]] = row[j]
    return True


@njit(cache=True)
def evaluate_many(
    bodies, offsets, rows, amts, wcs, wgs, chmap, chmaps, ncat, cx, occ_lo, occ_hi, sin_t,
    cos_t, blocks, perm, out,
):  # fmt: skip
    """Features of ``n`` customers into ``out`` (n, d).

    bodies : uint8, input: the customers' table bodies, concatenated, and offsets (n + 1,)
        int64 (:mod:`archetype.live.table`); rows, amts, wcs, wgs : (n,) int64, each
        table's rows, purchase amounts and index width codes.
    chmap, chmaps : the model channel (or -1) of each customer channel value, concatenated,
        and (n + 1,) offsets (input).  ncat : (n,) int64: category values per customer.
    cx, occ_lo, occ_hi : context vector, occasion bounds.  sin_t, cos_t : hour tables.
    blocks : (9,) int64 offsets of each live module's block in a row; perm : (row,)
        int64, the feature index of each row entry.  out : (n, d) float64, output.
    """
    n = out.shape[0]
    max_rows, max_amts, max_cat = 1, 1, 0
    for c in range(n):
        max_rows = max(max_rows, rows[c])
        max_amts = max(max_amts, amts[c])
        max_cat = max(max_cat, ncat[c])
    ts = np.empty(max_rows, np.int64)
    amt = np.empty(max_amts, np.float64)
    kind = np.empty(max_rows, np.uint8)
    ch = np.empty(max_rows, np.int32)
    cat = np.empty(max_rows, np.int32)
    i = np.empty(N_FIXED + cx[CX_NOCC] + cx[CX_NCH])
    row = np.full(perm.shape[0], np.nan)
    buf = np.empty((2, max_rows))
    leads = np.empty(max_rows)
    counts = np.empty(max_cat + 1, np.int64)
    p = np.empty(N_PARTIALS)
    for c in range(n):
        m, q = rows[c], amts[c]
        unpack(bodies[offsets[c] : offsets[c + 1]], m, q, wcs[c], wgs[c], ts, amt, kind, ch, cat)
        _customer(
            ts[:m], kind[:m], ch[:m], cat[:m], amt[:q], chmap[chmaps[c] : chmaps[c + 1]],
            ncat[c], cx, occ_lo, occ_hi, sin_t, cos_t, blocks, perm, out[c], i, row, buf,
            leads, counts, p,
        )  # fmt: skip


@njit(cache=True)
def evaluate_one(
    body, n, q, wc, wg, chmap, ncat, cx, occ_lo, occ_hi, sin_t, cos_t, blocks, perm, out
):
    """:func:`evaluate_many` of one customer's table into ``out`` (d,); False (and a NaN
    row) when the customer has no row in the window."""
    m = max(1, n)
    ts, amt, kind = np.empty(m, np.int64), np.empty(max(1, q)), np.empty(m, np.uint8)
    ch, cat = np.empty(m, np.int32), np.empty(m, np.int32)
    unpack(body, n, q, wc, wg, ts, amt, kind, ch, cat)
    i = np.empty(N_FIXED + cx[CX_NOCC] + cx[CX_NCH])
    row = np.full(perm.shape[0], np.nan)
    return _customer(
        ts[:n], kind[:n], ch[:n], cat[:n], amt[:q], chmap, ncat, cx, occ_lo, occ_hi, sin_t,
        cos_t, blocks, perm, out, i, row, np.empty((2, m)), np.empty(m),
        np.empty(ncat + 1, np.int64), np.empty(N_PARTIALS),
    )  # fmt: skip


def _key_on_sources() -> None:
    """Make the on-disk cache of every kernel here stale when any kernel source changes.

    Numba keys a cached function on its own file's time stamp, but a kernel compiles the
    kernels it calls from other files into itself.  So every kernel of this package is
    keyed on the stamps of all its files plus the ones whose constants the kernels read:
    editing any of them recompiles all.  Where Numba's cache internals differ from what
    this expects, caching is turned off for the kernel (correct, slower to start).
    """
    from numba.core.registry import CPUDispatcher

    from archetype.live.incremental import base, fsum

    here = Path(__file__).resolve().parent
    root = here.parent.parent
    files = sorted(here.glob("*.py")) + [
        root / "live" / "state.py",
        root / "live" / "table.py",
        root / "features" / "base.py",
        root / "features" / "timing.py",
    ]
    stamp = []
    for f in files:
        try:
            st = f.stat()
        except OSError:  # pragma: no cover - a source-less install: Numba cannot cache
            continue
        stamp.append((f.name, st.st_mtime_ns, st.st_size))
    stamp = tuple(stamp)
    modules = (base, fsum, rfm, usage, purchase, timing, occasions, loyalty, engagement, content)
    kernels = [v for m in (*modules, sys.modules[__name__]) for v in vars(m).values()]
    for d in {id(k): k for k in kernels if isinstance(k, CPUDispatcher)}.values():
        try:
            cache_file = d._cache._cache_file
            cache_file._source_stamp = (cache_file._source_stamp, stamp)
        except AttributeError:  # pragma: no cover - another Numba
            from numba.core.caching import NullCache

            d._cache = NullCache()


_key_on_sources()
