"""Byte layouts of what the segmenter keeps per customer, and its key encodings.

Namespaces (see :mod:`archetype.live.store.base`):

* ``st``   customer key -> :class:`CustomerRecord`: the ids of the events applied (for
  idempotent ingest) and the incremental feature state (``CustomerState.encode()``).
* ``seg``  customer key -> :class:`SegRecord`: the last assignment (segment, distance,
  margin, previous segment, moved-at, as-of day, model version, embedding vector).
* ``meta`` watermark, first event day, commit sequence, per-source offsets, counters.

Customer keys are ``b"\\x01" + 8-byte big-endian (id + 2**63)`` for integer ids (byte
order = numeric order) and ``b"\\x02" + UTF-8`` for string ids; both decode back.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

NO_SEGMENT = -1
NO_TIME = -(2**63)
_INT, _STR = b"\x01", b"\x02"
_OFF = 2**63


def customer_key(cid: int | str) -> bytes:
    """Store key of a customer id (``int`` or ``str``)."""
    if isinstance(cid, str):
        return _STR + cid.encode()
    return _INT + (int(cid) + _OFF).to_bytes(8, "big")


def customer_id(key: bytes) -> int | str:
    """Inverse of :func:`customer_key`."""
    if key[:1] == _INT:
        return int.from_bytes(key[1:9], "big") - _OFF
    return bytes(key[1:]).decode()


def shard_of(key: bytes, shards: int) -> int:
    """The replica (0..shards-1) that owns a customer key: a stable hash, any process."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") % shards


def event_key(
    event_id: str | None,
    ts_us: int,
    event_type: str,
    amount: float,
    quantity: int,
    discount: float,
    channel: str | None,
    category: str | None,
    dedupe: str = "auto",
) -> int:
    """64-bit de-duplication key of an event within its customer (0: never a duplicate).

    The batch's duplicate rule (:class:`archetype.vocab.DedupeMode`): ``auto`` /
    ``event-id``: a hash of the event id (a retry of the same event is the same event);
    an event without an id is never a duplicate (the batch keeps every such row), key 0.
    ``exact``: a hash of every canonical field, the id included (floats by their exact
    bits).  ``none``: 0.  This is the definition; :func:`event_keys` computes the same for
    a whole frame.
    """
    if dedupe == "none":
        return 0
    if dedupe != "exact":
        return 0 if event_id is None else (_hash("i" + event_id) or 1)
    material = _SEP.join(
        (
            "c",
            "\x00" if event_id is None else "s" + event_id,
            str(ts_us),
            str(_bits(amount)),
            str(_bits(discount)),
            str(int(quantity)),
            event_type,
            "\x00" if channel is None else "s" + channel,
            "\x00" if category is None else "s" + category,
        )
    )
    return _hash(material)


_SEP = "\x1f"


def _bits(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", float(x)))[0]


def _hash(material: str) -> int:
    return int.from_bytes(hashlib.blake2b(material.encode(), digest_size=8).digest(), "little")


def event_keys(ev: Any, dedupe: str = "auto") -> list[int]:
    """The de-duplication key of every row of a canonical frame, by the batch's rule.

    ``dedupe`` is the events config's mode (:class:`archetype.vocab.DedupeMode`), so a live
    customer counts exactly the events the nightly batch counts: ``auto`` / ``event-id``:
    the hash of the ``event_id`` (rows without one: 0, never de-duplicated, as the batch
    keeps every such row); ``exact``: the hash of every canonical field (the batch compares
    every source column); ``none``: 0 for every row.  Key 0 means "always apply".
    """
    import numpy as np
    import polars as pl

    if dedupe == "none":
        return [0] * ev.height

    def bits(col: str) -> pl.Series:
        a = ev[col].cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
        return pl.Series(np.ascontiguousarray(a).view(np.int64)).cast(pl.String)

    def opt(col: str) -> pl.Expr:
        c = pl.col(col).cast(pl.String)
        return pl.when(c.is_null()).then(pl.lit("\x00")).otherwise(pl.lit("s") + c)

    eid = pl.col("event_id")
    if dedupe == "exact":
        frame = ev.select(
            opt("event_id").alias("_id"),
            pl.col("event_type").cast(pl.String),
            pl.col("ts").dt.epoch("us").cast(pl.String).alias("_t"),
            pl.col("quantity").cast(pl.Int64).cast(pl.String).alias("_q"),
            opt("channel").alias("_ch"),
            opt("category").alias("_ca"),
        ).with_columns(bits("amount").alias("_a"), bits("discount").alias("_d"))
        cols = [pl.lit("c"), "_id", "_t", "_a", "_d", "_q", "event_type", "_ch", "_ca"]
        material = frame.select(pl.concat_str(cols, separator=_SEP)).to_series()
        return _hash_all(material.cast(pl.Binary).to_list())
    material = ev.select(pl.when(eid.is_not_null()).then(pl.lit("i") + eid)).to_series()
    return _hash_all(material.cast(pl.Binary).to_list(), nonzero=True)


def _hash_all(material: list[bytes | None], nonzero: bool = False) -> list[int]:
    """:func:`_hash` of each UTF-8 ``material`` (``None``: 0), in one loop; ``nonzero``:
    a hash of 0 becomes 1 (key 0 is kept for "no id")."""
    b2, fb = hashlib.blake2b, int.from_bytes
    if nonzero:
        return [
            0 if m is None else (fb(b2(m, digest_size=8).digest(), "little") or 1) for m in material
        ]
    return [0 if m is None else fb(b2(m, digest_size=8).digest(), "little") for m in material]


def _opt(s: str | None) -> bytes:  # kept for old callers; not part of the key
    return b"\xff" if s is None else b"s" + s.encode()


_CR_HEAD = struct.Struct("<BI")


@dataclass
class CustomerRecord:
    """Applied event ids (with their day, to forget them once out of reach) + state blob."""

    event_keys: np.ndarray  # uint64 (n,)
    event_days: np.ndarray  # int32 (n,)
    state: bytes

    def encode(self) -> bytes:
        n = len(self.event_keys)
        return b"".join(
            (
                _CR_HEAD.pack(1, n),
                np.ascontiguousarray(self.event_keys, dtype="<u8").tobytes(),
                np.ascontiguousarray(self.event_days, dtype="<i4").tobytes(),
                self.state,
            )
        )

    @classmethod
    def decode(cls, blob: bytes) -> CustomerRecord:
        version, n = _CR_HEAD.unpack_from(blob, 0)
        if version != 1:
            raise ValueError(f"customer record version {version} is not supported")
        o = _CR_HEAD.size
        keys = np.frombuffer(blob, dtype="<u8", count=n, offset=o)
        days = np.frombuffer(blob, dtype="<i4", count=n, offset=o + 8 * n)
        return cls(keys, days, bytes(blob[o + 12 * n :]))

    def prune(self, min_day: int) -> None:
        """Forget event ids of days before ``min_day`` (they are too late to arrive again)."""
        days = self.event_days
        if not len(days) or days.min() >= min_day:  # one pass when nothing is dropped
            return
        keep = days >= min_day
        if not keep.all():
            self.event_keys = self.event_keys[keep]
            self.event_days = self.event_days[keep]


_SEG = struct.Struct("<BiiffqiiHB")


@dataclass
class SegRecord:
    """A customer's latest assignment."""

    segment_id: int | None
    previous_segment_id: int | None
    distance: float | None
    margin: float | None
    moved_at_us: int | None
    as_of_day: int
    horizon: int
    model_version: str
    vector: np.ndarray | None  # float32 (d,) embedding, None when not in the window

    def stale(self) -> SegRecord:
        """The same record marked out of date (as-of day -1): lookups compute the answer,
        the background re-assign rewrites it (and records a move against this segment)."""
        return SegRecord(
            self.segment_id,
            self.previous_segment_id,
            self.distance,
            self.margin,
            self.moved_at_us,
            -1,
            self.horizon,
            self.model_version,
            self.vector,
        )

    def encode(self) -> bytes:
        vec = b"" if self.vector is None else np.asarray(self.vector, "<f4").tobytes()
        return seg_bytes(
            self.segment_id,
            self.previous_segment_id,
            self.distance,
            self.margin,
            self.moved_at_us,
            self.as_of_day,
            self.horizon,
            self.model_version.encode(),
            vec,
        )

    @classmethod
    def decode(cls, blob: bytes, *, vector: bool = True) -> SegRecord:
        ver, seg, prev, dist, margin, moved, day, hor, dim, vlen = _SEG.unpack_from(blob, 0)
        if ver != 1:
            raise ValueError(f"segment record version {ver} is not supported")
        o = _SEG.size
        version = bytes(blob[o : o + vlen]).decode()
        vec = (
            np.frombuffer(blob, dtype="<f4", count=dim, offset=o + vlen) if dim and vector else None
        )
        return cls(
            None if seg == NO_SEGMENT else seg,
            None if prev == NO_SEGMENT else prev,
            None if np.isnan(dist) else dist,
            None if np.isnan(margin) else margin,
            None if moved == NO_TIME else moved,
            day,
            hor,
            version,
            vec,
        )


def seg_bytes(
    segment_id: int | None,
    previous_segment_id: int | None,
    distance: float | None,
    margin: float | None,
    moved_at_us: int | None,
    as_of_day: int,
    horizon: int,
    version: bytes,
    vector: bytes,
) -> bytes:
    """:meth:`SegRecord.encode` from the fields (``version`` UTF-8, ``vector`` the
    little-endian float32 bytes, ``b""`` for none): the writer packs many at once."""
    return b"".join(
        (
            _SEG.pack(
                1,
                NO_SEGMENT if segment_id is None else int(segment_id),
                NO_SEGMENT if previous_segment_id is None else int(previous_segment_id),
                np.nan if distance is None else float(distance),
                np.nan if margin is None else float(margin),
                NO_TIME if moved_at_us is None else int(moved_at_us),
                int(as_of_day),
                int(horizon),
                len(vector) // 4,
                len(version),
            ),
            version,
            vector,
        )
    )
