"""Bytes of a :class:`~archetype.live.state.CustomerState`: compact, canonical, versioned.

Layout (all integers LEB128 varints after zig-zag, packed with NumPy in one pass)::

    b"L" version(u8) | n_ints varint-stream | float64 amounts (little-endian) | vocab

    ints = [window+1 (0: none), first_ts, last_ts, n_channels, n_categories,
            n_days, n_buys, n_views,
            per day (ascending): day - previous day, 12 counts, n_amounts, n_seconds,
                                 seconds (ascending, as deltas), n_channel_pairs,
                                 (vocab index, count)..., n_category_pairs, (index, count)...,
            buys (ascending, as deltas from first_ts), views (likewise)]
    vocab = the channel values then the category values, UTF-8, each length-prefixed

Everything is sorted before it is written, so equal states give equal bytes whatever the
order the events were applied in.  Amounts are sorted per day too.
"""

from __future__ import annotations

import struct

import numpy as np

from archetype.live.state import (
    AMOUNTS,
    CATEGORIES,
    CHANNELS,
    N_COUNTS,
    SECONDS,
    CustomerState,
)

MAGIC = b"L"
VERSION = 1
_HEAD = struct.Struct("<cBII")  # magic, version, n_ints, n_amounts


def _zigzag(a: np.ndarray) -> np.ndarray:
    return ((a << 1) ^ (a >> 63)).view(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return (u >> np.uint64(1)).view(np.int64) ^ -(u & np.uint64(1)).view(np.int64)


_SHIFTS = np.arange(0, 64, 7, dtype=np.uint64)  # 10 groups of 7 bits


def pack_varints(values: list[int]) -> bytes:
    """Signed integers -> zig-zag LEB128 bytes (vectorized)."""
    u = _zigzag(np.asarray(values, dtype=np.int64))
    groups = (u[:, None] >> _SHIFTS[None, :]) & np.uint64(0x7F)  # (n, 10)
    nbytes = np.maximum(1, 10 - np.argmax((groups != 0)[:, ::-1], axis=1))
    nbytes[(groups == 0).all(axis=1)] = 1
    keep = np.arange(10)[None, :] < nbytes[:, None]
    cont = np.arange(10)[None, :] < (nbytes[:, None] - 1)
    out = (groups | (cont.astype(np.uint64) << np.uint64(7)))[keep]
    return out.astype(np.uint8).tobytes()


def unpack_varints(buf: bytes, n: int) -> tuple[np.ndarray, int]:
    """The first ``n`` zig-zag LEB128 integers of ``buf`` and the bytes they took."""
    b = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(b < 0x80)
    if len(ends) < n:
        raise ValueError("truncated state bytes")
    ends = ends[:n]
    used = int(ends[-1]) + 1 if n else 0
    b = b[:used].astype(np.uint64)
    starts = np.empty(n, dtype=np.int64)
    if n:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    pos = np.arange(used) - np.repeat(starts, ends - starts + 1)
    vals = (b & np.uint64(0x7F)) << (np.uint64(7) * pos.astype(np.uint64))
    idx = np.repeat(np.arange(n), ends - starts + 1)
    u = np.zeros(n, dtype=np.uint64)
    np.bitwise_or.at(u, idx, vals)
    return _unzigzag(u), used


def encode_state(state: CustomerState) -> bytes:
    """Canonical bytes of ``state`` (call :meth:`CustomerState.prune` first)."""
    chans: dict[str, int] = {}
    cats: dict[str, int] = {}
    for b in state.days.values():
        for c in b[CHANNELS]:
            chans.setdefault(c, 0)
        for c in b[CATEGORIES]:
            cats.setdefault(c, 0)
    ch_list, cat_list = sorted(chans), sorted(cats)
    for i, c in enumerate(ch_list):
        chans[c] = i
    for i, c in enumerate(cat_list):
        cats[c] = i
    w = state.window_days
    first = state.first_ts_us
    ints: list[int] = [
        0 if w is None else w + 1,
        0 if first is None else first,
        0 if state.last_ts_us is None else state.last_ts_us,
        len(ch_list),
        len(cat_list),
        len(state.days),
        len(state.buys),
        len(state.views),
    ]
    amounts: list[float] = []
    prev = 0
    for d in sorted(state.days):
        b = state.days[d]
        ints.append(d - prev)
        prev = d
        ints.extend(b[:N_COUNTS])
        am = sorted(b[AMOUNTS])
        amounts.extend(am)
        secs = sorted(b[SECONDS])
        ints.append(len(am))
        ints.append(len(secs))
        p = 0
        for s in secs:
            ints.append(s - p)
            p = s
        ints.append(len(b[CHANNELS]))
        for c, n in sorted((chans[c], n) for c, n in b[CHANNELS].items()):
            ints.append(c)
            ints.append(n)
        ints.append(len(b[CATEGORIES]))
        for c, n in sorted((cats[c], n) for c, n in b[CATEGORIES].items()):
            ints.append(c)
            ints.append(n)
    base = first or 0
    for inst in (state.buys, state.views):
        p = base
        for t in sorted(inst):
            ints.append(t - p)
            p = t
    vocab = bytearray()
    for s in (*ch_list, *cat_list):
        raw = s.encode()
        vocab += pack_varints([len(raw)]) + raw
    return b"".join(
        (
            _HEAD.pack(MAGIC, VERSION, len(ints), len(amounts)),
            pack_varints(ints),
            np.asarray(amounts, dtype="<f8").tobytes(),
            bytes(vocab),
        )
    )


def decode_state(blob: bytes) -> CustomerState:
    """Inverse of :func:`encode_state`; ``ValueError`` on bytes it did not write."""
    if len(blob) < _HEAD.size or blob[:1] != MAGIC:
        raise ValueError("not a live customer state (bad magic)")
    _, version, n_ints, n_am = _HEAD.unpack_from(blob)
    if version != VERSION:
        raise ValueError(f"customer state version {version} is not supported (<= {VERSION})")
    off = _HEAD.size
    arr, used = unpack_varints(blob[off:], n_ints)
    ints = arr.tolist()
    off += used
    amounts = np.frombuffer(blob, dtype="<f8", count=n_am, offset=off).tolist()
    off += 8 * n_am
    w, first, last, n_ch, n_cat, n_days, n_buys, n_views = ints[:8]
    strings: list[str] = []
    mv = memoryview(blob)
    for _ in range(n_ch + n_cat):
        ln, u = unpack_varints(bytes(mv[off : off + 10]), 1)
        off += u
        strings.append(bytes(mv[off : off + int(ln[0])]).decode())
        off += int(ln[0])
    ch_list, cat_list = strings[:n_ch], strings[n_ch:]
    st = CustomerState(None if w == 0 else w - 1)
    if n_days:  # the last event's day is never pruned: no days means no events
        st.first_ts_us, st.last_ts_us = first, last
    i, d, ai = 8, 0, 0
    for _ in range(n_days):
        d += ints[i]
        b = ints[i + 1 : i + 1 + N_COUNTS]
        i += 1 + N_COUNTS
        na, ns = ints[i], ints[i + 1]
        i += 2
        b.append(amounts[ai : ai + na])
        ai += na
        secs, s = [], 0
        for k in range(ns):
            s += ints[i + k]
            secs.append(s)
        i += ns
        b.append(secs)
        nc = ints[i]
        b.append({ch_list[ints[i + 1 + 2 * k]]: ints[i + 2 + 2 * k] for k in range(nc)})
        i += 1 + 2 * nc
        nc = ints[i]
        b.append({cat_list[ints[i + 1 + 2 * k]]: ints[i + 2 + 2 * k] for k in range(nc)})
        i += 1 + 2 * nc
        st.days[d] = b
    base = first
    for name, n in (("buys", n_buys), ("views", n_views)):
        out, t = set(), base
        for k in range(n):
            t += ints[i + k]
            out.add(t)
        i += n
        setattr(st, name, out)
    if i != len(ints) or ai != len(amounts):
        raise ValueError("corrupt customer state (lengths do not add up)")
    return st
