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

flags: bit 0 no window (all history), bit 1 no event yet, bits 2-3 / 4-5 the width code
of ``ch`` / ``cat`` (0 absent, 1 uint8, 2 uint16, 3 int32).  Between the header and the
value lists is the table's *body* (:mod:`archetype.live.table`), which is also how a state
holds its table in memory: encoding is a header, a ``tobytes`` and the value lists (kept
encoded while they do not change); decoding is one copy.  States over
:data:`COMPRESS_ABOVE` bytes (heavy customers, a few in a thousand) are zlib-compressed
(level 1).  The table is canonical (see :mod:`archetype.live.table`), so equal states give
equal bytes whatever the order their events arrived in.
"""

from __future__ import annotations

import struct
import zlib

import msgpack
import numpy as np

from archetype.live.state import US_PER_DAY, CustomerState
from archetype.live.table import WIDTH_BYTES

VERSION = 2
_MARK = 0xC1
_RAW, _ZLIB = 0, 1
COMPRESS_ABOVE = 2048  # bytes
_HEAD = struct.Struct("<BBBBiqqIIII")
HEADER_BYTES = _HEAD.size  # 40
_NO_WINDOW, _NO_EVENT = 1, 2


def _width(n_values: int) -> int:
    return 0 if n_values == 0 else 1 if n_values < 256 else 2 if n_values < 65536 else 3


def encode_state(state: CustomerState) -> bytes:
    """Bytes of ``state`` (merged and pruned first: :meth:`CustomerState.encode`)."""
    body, n, p, wc, wg = state._body, state._n, state._p, state._wc, state._wg
    vocab = state._vb
    if vocab is None:
        vocab = state._vb = (
            msgpack.packb([state.channels, state.categories], use_bin_type=True)
            if wc or wg
            else b""
        )
    w, first, last = state.window_days, state.first_ts_us, state.last_ts_us
    flags = (_NO_WINDOW if w is None else 0) | (_NO_EVENT if last is None else 0)
    flags |= wc << 2 | wg << 4
    head = _HEAD.pack(
        _MARK, VERSION, _RAW, flags, w or 0, first or 0, last or 0, n, p, len(vocab), 0
    )
    out = b"".join((head, body.tobytes(), vocab))
    if len(out) > COMPRESS_ABOVE:
        return bytes((_MARK, VERSION, _ZLIB)) + zlib.compress(memoryview(out)[3:], 1)
    return out


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
            buf = bytearray(blob)  # one copy: a writable body (one kernel signature)
        else:
            buf = bytearray(blob[:3])
            buf += zlib.decompress(memoryview(blob)[3:])
        _, _, _, flags, w, first, last, n, p, nv, _ = _HEAD.unpack_from(buf, 0)
        wc, wg = flags >> 2 & 3, flags >> 4 & 3
        size = (9 + WIDTH_BYTES[wc] + WIDTH_BYTES[wg]) * n + 8 * p
        if HEADER_BYTES + size + nv != len(buf):
            raise ValueError(f"{len(buf)} bytes where the header says {HEADER_BYTES + size + nv}")
        st = CustomerState(None if flags & _NO_WINDOW else w)
        if not flags & _NO_EVENT:
            st.first_ts_us, st.last_ts_us = first, last
            if not flags & _NO_WINDOW:  # encoded pruned: no row before the window's floor
                st._pruned = (last // US_PER_DAY - w + 1) * US_PER_DAY
        st._body = np.frombuffer(buf, np.uint8, size, HEADER_BYTES)
        st._n, st._p, st._wc, st._wg = n, p, wc, wg
        if nv:
            st._vb = bytes(buf[HEADER_BYTES + size :])
            chans, cats = msgpack.unpackb(st._vb, use_list=True)
            st.channels, st.categories = chans, cats
            st._nch, st._ncat = len(chans), len(cats)
        if _width(st._nch) != wc or _width(st._ncat) != wg:
            raise ValueError("the value lists do not match the index columns")
    except (msgpack.UnpackException, ValueError, TypeError, struct.error, zlib.error) as e:
        raise ValueError(f"corrupt customer state ({type(e).__name__}: {e})") from None
    st._blob = blob if isinstance(blob, bytes) else bytes(blob)
    return st
