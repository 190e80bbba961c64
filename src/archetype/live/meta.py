"""The service's own facts, stored in namespace ``meta`` with the states they describe.

* ``wm``     event-time watermark: the latest event time applied (microseconds, naive);
             the default as-of of every answer is its day.
* ``first``  day number of the earliest event applied (the batch horizon without a window).
* ``seq``    commit sequence number (one per committed batch).
* counters: events applied / duplicate / too old (older than the window of their
  customer's latest event: applied, no feature changes) / ignored, customers, moves.
* ``src:<name>`` an ingest source's offset (e.g. a followed file's rows and bytes done),
             written in the same transaction as the events it covers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

NS = "meta"
KEY = b"service"
SRC = b"src:"


@dataclass
class Meta:
    watermark_us: int | None = None
    first_day: int | None = None
    seq: int = 0
    customers: int = 0
    applied: int = 0
    duplicates: int = 0
    too_old: int = 0
    ignored: int = 0
    transitions: int = 0
    model_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def watermark_day(self) -> int | None:
        from archetype.live.state import US_PER_DAY

        return None if self.watermark_us is None else self.watermark_us // US_PER_DAY

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, blob: bytes | None) -> Meta:
        if blob is None:
            return cls()
        d = orjson.loads(blob)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def copy(self) -> Meta:
        return replace(self, extra=dict(self.extra))


def load_meta(view: Any) -> Meta:
    return Meta.decode(view.get(NS, KEY))


def source_key(name: str) -> bytes:
    return SRC + name.encode()
