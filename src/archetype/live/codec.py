"""Bytes of a :class:`~archetype.live.state.CustomerState`: compact, versioned, fast.

A 3-byte header (0xC1, a byte no MessagePack message starts with; the version; 0 = raw,
1 = zlib) then MessagePack (C-accelerated, compact integers: 1 byte below 128) of the
state's own containers, so encoding walks no Python loop per day; bodies over
:data:`COMPRESS_ABOVE` bytes are zlib-compressed (level 1)::

    [window (nil: all history), first_ts_us, last_ts_us,
     channels [str...], categories [str...],
     {day: [12 counts..., [amounts], [seconds of day], {channel index: count},
            {category index: count}]},
     [purchase instants, ascending, as deltas from first_ts_us],
     [view instants, likewise]]

The state is put in canonical order before it is encoded (sorted days, vocabularies,
count keys, amounts and seconds), so equal states give equal bytes whatever the order their
events arrived in; :func:`canonical_state` is the same content as a Python tuple.
"""

from __future__ import annotations

import zlib

import msgpack

from archetype.live.state import (
    AMOUNTS,
    CATEGORIES,
    CHANNELS,
    N_COUNTS,
    SECONDS,
    CustomerState,
)

VERSION = 1
_MARK = 0xC1  # a MessagePack byte that never starts a valid message: our own header
_RAW, _ZLIB = 0, 1
COMPRESS_ABOVE = 1536  # bytes: larger states (about 1 in 10) are zlib-compressed (level 1)


def _deltas(instants: set[int], base: int) -> list[int]:
    out, p = [], base
    for t in sorted(instants):
        out.append(t - p)
        p = t
    return out


def _undeltas(deltas: list[int], base: int) -> set[int]:
    out, t = set(), base
    for x in deltas:
        t += x
        out.add(t)
    return out


def encode_state(state: CustomerState) -> bytes:
    """Bytes of ``state`` (call :meth:`CustomerState.prune` first)."""
    base = state.first_ts_us or 0
    body = msgpack.packb(
        [
            state.window_days,
            state.first_ts_us,
            state.last_ts_us,
            state.channels,
            state.categories,
            state.days,
            _deltas(state.buys, base),
            _deltas(state.views, base),
        ],
        use_bin_type=True,
    )
    if len(body) > COMPRESS_ABOVE:
        return bytes((_MARK, VERSION, _ZLIB)) + zlib.compress(body, 1)
    return bytes((_MARK, VERSION, _RAW)) + body


def decode_state(blob: bytes) -> CustomerState:
    """Inverse of :func:`encode_state`; ``ValueError`` on bytes it did not write."""
    if len(blob) < 3 or blob[0] != _MARK or blob[2] not in (_RAW, _ZLIB):
        raise ValueError("not a live customer state (bad header)")
    if blob[1] != VERSION:
        raise ValueError(f"customer state version {blob[1]} is not supported (<= {VERSION})")
    try:
        body = memoryview(blob)[3:] if blob[2] == _RAW else zlib.decompress(memoryview(blob)[3:])
        w, first, last, chans, cats, days, buys, views = msgpack.unpackb(
            body, strict_map_key=False, use_list=True
        )
        st = CustomerState(w)
        st.first_ts_us, st.last_ts_us = first, last
        st._set_vocab(chans, cats)
        st.days = days
        st._max_day = next(reversed(days)) if days else None
        base = first or 0
        st.buys = _undeltas(buys, base)
        st.views = _undeltas(views, base)
        for b in days.values():
            if len(b) != N_COUNTS + 4:
                raise ValueError("a day bucket has the wrong length")
    except (msgpack.UnpackException, ValueError, TypeError, zlib.error) as e:
        raise ValueError(f"corrupt customer state ({type(e).__name__}: {e})") from None
    return st


def canonical_state(state: CustomerState) -> tuple:
    """The content of ``state`` independent of arrival order (hashable, comparable)."""
    ch, cat = state.channels, state.categories
    days = tuple(
        (
            d,
            tuple(b[:N_COUNTS]),
            tuple(sorted(b[AMOUNTS])),
            tuple(sorted(b[SECONDS])),
            tuple(sorted((ch[k], n) for k, n in b[CHANNELS].items())),
            tuple(sorted((cat[k], n) for k, n in b[CATEGORIES].items())),
        )
        for d, b in sorted(state.days.items())
    )
    return (
        state.window_days,
        state.first_ts_us,
        state.last_ts_us,
        days,
        tuple(sorted(state.buys)),
        tuple(sorted(state.views)),
    )
