"""Bytes of a :class:`~archetype.live.state.CustomerState`: the packed table as it is.

Layout (little-endian; format 2)::

    header, 40 bytes:
      0xC1 (a byte no MessagePack message starts with), format version,
      compression (0 = raw, 1 = zlib of everything after these 3 bytes), flags,
      int32 window days, int64 first_ts_us, int64 last_ts_us,
      uint32 rows, uint32 purchase amounts, uint32 value-list bytes, uint32 0
    ts    int64  x rows           (canonical row order)
    amt   float64 x purchases
    kind  uint8  x rows
    ch    uint8/16/32 x rows       (width in flags; absent when the customer has no channel)
    cat   uint8/16/32 x rows       (likewise)
    MessagePack [channels, categories] (absent when both are empty)

flags: bit 0 no window (all history), bit 1 no event yet, bits 2-3 / 4-5 the width code of
``ch`` / ``cat`` (0 absent, 1 uint8, 2 uint16, 3 int32).  Encoding is a header and a few
``tobytes``; decoding is one copy and a few ``frombuffer`` (8-byte columns first, so
they stay aligned).  Bodies over :data:`COMPRESS_ABOVE` bytes (heavy customers, a few in a
thousand) are zlib-compressed (level 1).  The table is canonical (see
:mod:`archetype.live.table`), so equal states give equal bytes whatever the order their
events arrived in.
"""

from __future__ import annotations

import struct
import zlib

import msgpack
import numpy as np

from archetype.live.state import US_PER_DAY, CustomerState

VERSION = 2
_MARK = 0xC1
_RAW, _ZLIB = 0, 1
COMPRESS_ABOVE = 2048  # bytes
_HEAD = struct.Struct("<BBBBiqqIIII")
HEADER_BYTES = _HEAD.size  # 40
_NO_WINDOW, _NO_EVENT = 1, 2
_WIDTH_DTYPE = (None, np.dtype("<u1"), np.dtype("<u2"), np.dtype("<i4"))
_I4, _I8, _F8, _U1 = np.dtype("<i4"), np.dtype("<i8"), np.dtype("<f8"), np.dtype("<u1")


def _width(n_values: int) -> int:
    return 0 if n_values == 0 else 1 if n_values < 256 else 2 if n_values < 65536 else 3


def encode_state(state: CustomerState) -> bytes:
    """Bytes of ``state`` (merged and pruned first: :meth:`CustomerState.encode`)."""
    ts, kind, ch, cat, amt = state._ts, state._kind, state._ch, state._cat, state._amt
    chans, cats = state.channels, state.categories
    wc, wg = _width(len(chans)), _width(len(cats))
    vocab = state._vb
    if vocab is None:
        vocab = state._vb = msgpack.packb([chans, cats], use_bin_type=True) if wc or wg else b""
    w, first, last = state.window_days, state.first_ts_us, state.last_ts_us
    flags = (_NO_WINDOW if w is None else 0) | (_NO_EVENT if last is None else 0)
    flags |= wc << 2 | wg << 4
    head = _HEAD.pack(
        _MARK, VERSION, _RAW, flags, w or 0, first or 0, last or 0, len(ts), len(amt),
        len(vocab), 0,
    )  # fmt: skip
    parts = [head, ts.tobytes(), amt.tobytes(), kind.tobytes()]
    if wc:
        parts.append((ch if wc == 3 else ch.astype(_WIDTH_DTYPE[wc])).tobytes())
    if wg:
        parts.append((cat if wg == 3 else cat.astype(_WIDTH_DTYPE[wg])).tobytes())
    parts.append(vocab)
    body = b"".join(parts)
    if len(body) > COMPRESS_ABOVE:
        return bytes((_MARK, VERSION, _ZLIB)) + zlib.compress(memoryview(body)[3:], 1)
    return body


def decode_state(blob: bytes) -> CustomerState:
    """Inverse of :func:`encode_state`; ``ValueError`` on bytes it did not write."""
    if len(blob) < 3 or blob[0] != _MARK or blob[2] not in (_RAW, _ZLIB):
        raise ValueError("not a live customer state (bad header)")
    if blob[1] != VERSION:
        raise ValueError(
            f"this customer state is in format {blob[1]}; this archetype reads format "
            f"{VERSION}: rebuild the live state folder from the event log"
        )
    try:
        if blob[2] == _RAW:
            buf = bytearray(blob)  # one copy: writable, aligned columns
        else:
            buf = bytearray(blob[:3])
            buf += zlib.decompress(memoryview(blob)[3:])
        _, _, _, flags, w, first, last, n, p, nv, _ = _HEAD.unpack_from(buf, 0)
        wc, wg = flags >> 2 & 3, flags >> 4 & 3
        end = HEADER_BYTES + 9 * n + 8 * p + _nbytes(wc, n) + _nbytes(wg, n) + nv
        if end != len(buf):
            raise ValueError(f"{len(buf)} bytes where the header says {end}")
        o = HEADER_BYTES
        st = CustomerState(None if flags & _NO_WINDOW else w)
        if not flags & _NO_EVENT:
            st.first_ts_us, st.last_ts_us = first, last
            if not flags & _NO_WINDOW:  # encoded pruned: no row before the window's floor
                st._pruned = (last // US_PER_DAY - w + 1) * US_PER_DAY
        st._ts = np.frombuffer(buf, _I8, n, o)
        o += 8 * n
        if p:
            st._amt = np.frombuffer(buf, _F8, p, o)
            o += 8 * p
        st._kind = np.frombuffer(buf, _U1, n, o)
        o += n
        if wc == wg and wc:  # both columns in one conversion
            both = np.frombuffer(buf, _WIDTH_DTYPE[wc], 2 * n, o).astype(np.int32)
            st._ch, st._cat = both[:n], both[n:]
            o += 2 * n * _WIDTH_DTYPE[wc].itemsize
        else:
            st._ch, o = _index_column(buf, wc, n, o)
            st._cat, o = _index_column(buf, wg, n, o)
        if nv:
            st._vb = bytes(buf[o:])
            chans, cats = msgpack.unpackb(st._vb, use_list=True)
            st.channels, st.categories = chans, cats
            st._nch, st._ncat = len(chans), len(cats)
        if _width(st._nch) != wc or _width(st._ncat) != wg:
            raise ValueError("the value lists do not match the index columns")
    except (msgpack.UnpackException, ValueError, TypeError, struct.error, zlib.error) as e:
        raise ValueError(f"corrupt customer state ({type(e).__name__}: {e})") from None
    st._blob = blob if isinstance(blob, bytes) else bytes(blob)
    return st


def _nbytes(code: int, n: int) -> int:
    return 0 if code == 0 else n * _WIDTH_DTYPE[code].itemsize


def _index_column(buf: bytearray, code: int, n: int, o: int) -> tuple[np.ndarray, int]:
    if code == 0:
        return np.zeros(n, np.int32), o
    dt = _WIDTH_DTYPE[code]
    col = np.frombuffer(buf, dt, n, o).astype(np.int32)  # a copy: aligned, int32
    return col, o + n * dt.itemsize
