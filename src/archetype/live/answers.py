"""What a lookup returns, and how it is computed from one consistent read of the store.

A stored assignment (``seg``) is answered as is when it was computed for the same model,
as-of day and horizon; otherwise (the as-of day moved on, a new model, an explicit
``as_of``) the answer is computed from the stored feature state with the current model,
without writing (the background re-assign persists it later).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from archetype.features.context import EPOCH
from archetype.live.model import LiveModel
from archetype.live.records import CustomerRecord, SegRecord
from archetype.live.state import US_PER_DAY


class CustomerNotFound(KeyError):
    """No event of this customer was ever ingested."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "customer not found"


@functools.lru_cache(maxsize=4096)
def iso_day(day: int) -> str:
    return (EPOCH + dt.timedelta(days=int(day))).isoformat()


def iso_us(us: int | None) -> str | None:
    if us is None:
        return None
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))).isoformat()


@dataclass(frozen=True, slots=True)
class CustomerAnswer:
    """The segment of one customer at one as-of day, from one model."""

    customer_id: int | str
    found: bool
    in_window: bool
    segment_id: int | None
    segment_name: str | None
    distance: float | None
    margin: float | None
    previous_segment_id: int | None
    moved_at: str | None
    model_version: str
    features_as_of: str | None
    computed: str  # "stored" (assignment kept by ingest/re-assign) or "live" (just computed)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class FeaturesAnswer:
    customer_id: int | str
    in_window: bool
    features: dict[str, float] | None
    model_version: str
    features_as_of: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def not_found(cid: int | str, model: LiveModel, day: int | None) -> CustomerAnswer:
    return CustomerAnswer(
        cid,
        False,
        False,
        None,
        None,
        None,
        None,
        None,
        None,
        model.version,
        None if day is None else iso_day(day),
        "stored",
    )


def from_seg(cid: int | str, seg: SegRecord, model: LiveModel) -> CustomerAnswer:
    return CustomerAnswer(
        cid,
        True,
        seg.segment_id is not None,
        seg.segment_id,
        model.segment_name(seg.segment_id),
        _finite(seg.distance),
        _finite(seg.margin),
        seg.previous_segment_id,
        iso_us(seg.moved_at_us),
        seg.model_version,
        iso_day(seg.as_of_day),
        "stored",
    )


def compute_many(
    cids: list,
    seg_recs: list,
    st_blobs: list,
    model: LiveModel,
    day: int,
    horizon: int,
    *,
    watermark_us: int | None,
    default_as_of: bool,
) -> list[CustomerAnswer]:
    """Answers for customers from their decoded :class:`SegRecord` (``None``: not found)
    and, for the stale ones, their state blobs; stale ones are computed together."""
    out: list[CustomerAnswer | None] = [None] * len(cids)
    todo, segs, states = [], [], []
    for i, (cid, seg) in enumerate(zip(cids, seg_recs, strict=True)):
        if seg is None:
            out[i] = not_found(cid, model, day)
            continue
        fresh_model = seg.model_version.split("+", 1)[0] == model.base_version
        if fresh_model and seg.as_of_day == day and seg.horizon == horizon:
            out[i] = from_seg(cid, seg, model)
            continue
        todo.append(i)
        segs.append(seg)
        states.append(model.definition.decode(CustomerRecord.decode(st_blobs[i]).state))
    if todo:
        _check_as_of(states, model, day)
        x = model.definition.features_many(states, day, horizon)
        present = ~np.isnan(x).any(axis=1) if x.shape[1] else np.zeros(len(todo), bool)
        emb = model.embed(x[present]) if present.any() else None
        cur = [
            -1 if s.segment_id is None else s.segment_id
            for s, p in zip(segs, present, strict=True)
            if p
        ]
        ids, dist, margin = model.nearest(emb, cur) if emb is not None else (None, None, None)
        r = 0
        for n, i in enumerate(todo):
            seg = segs[n]
            if present[n]:
                sid, d, m = int(ids[r]), float(dist[r]), float(margin[r])
                r += 1
            else:
                sid, d, m = None, None, None
            prev, moved = seg.previous_segment_id, seg.moved_at_us
            if default_as_of and sid != seg.segment_id:
                prev, moved = seg.segment_id, watermark_us
            out[i] = CustomerAnswer(
                cids[i],
                True,
                sid is not None,
                sid,
                model.segment_name(sid),
                _finite(d),
                _finite(m),
                prev,
                iso_us(moved),
                model.version,
                iso_day(day),
                "live",
            )
    return out  # type: ignore[return-value]


def _check_as_of(states: list, model: LiveModel, day: int) -> None:
    if model.window_days is None:
        return
    for st in states:
        last = st.last_ts_us
        if last is not None and last // US_PER_DAY > day:
            from archetype.errors import UserError

            raise UserError(
                f"as_of {iso_day(day)} is before this customer's last event "
                f"({iso_day(last // US_PER_DAY)}); the live state answers as-of days from "
                "each customer's last event on"
            )
