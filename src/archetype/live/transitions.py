"""Segment moves: a durable, resumable stream.

Every move (a customer's stable segment id changed) is written, in the transaction that
caused it, to namespace ``tr`` under its sequence number, and then published to live
subscribers.  A subscriber that passes ``after=<last seq it saw>`` first gets the stored
moves after it, then the live ones, without a gap or a repeat (as long as the moves are
still kept: the newest ``keep`` are).  A slow subscriber's buffer is bounded: when it
overflows, the oldest moves are dropped and :attr:`Subscription.dropped` says how many
(it can resume from the store with ``after``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

NS = "tr"


@dataclass(frozen=True, slots=True)
class Transition:
    """One move of one customer."""

    seq: int
    customer_id: int | str
    from_segment: int | None
    to_segment: int | None
    at_us: int  # event time of the move (the watermark of the batch that caused it)
    model_version: str
    cause: str  # "event" | "time" | "model"

    @property
    def at(self) -> str:
        return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=self.at_us)).isoformat()

    def _fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def to_dict(self) -> dict[str, Any]:
        d = self._fields()
        d["at"] = self.at
        return d

    def encode(self) -> bytes:
        return orjson.dumps(self._fields())

    @classmethod
    def decode(cls, blob: bytes) -> Transition:
        return cls(**orjson.loads(blob))


def tr_key(seq: int) -> bytes:
    return seq.to_bytes(8, "big")


class Subscription:
    """A subscriber's bounded buffer; iterate it (threads) or ``async for`` it (asyncio)."""

    def __init__(self, hub: TransitionHub, maxsize: int) -> None:
        self._hub = hub
        self._buf: collections.deque[Transition] = collections.deque()
        self._max = maxsize
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aevent: asyncio.Event | None = None
        self.dropped = 0
        self.closed = False
        self.last_seq = 0

    def _push(self, items: list[Transition]) -> None:
        with self._cond:
            for t in items:
                if t.seq <= self.last_seq:
                    continue
                if len(self._buf) >= self._max:
                    self._buf.popleft()
                    self.dropped += 1
                self._buf.append(t)
                self.last_seq = t.seq
            self._cond.notify_all()
        if self._loop is not None and self._aevent is not None:
            with contextlib.suppress(RuntimeError):  # loop closed
                self._loop.call_soon_threadsafe(self._aevent.set)

    def get(self, timeout: float | None = None) -> list[Transition]:
        """The buffered moves (waits up to ``timeout`` s for one; ``[]`` on timeout)."""
        with self._cond:
            if not self._buf and not self.closed:
                self._cond.wait(timeout)
            out = list(self._buf)
            self._buf.clear()
            return out

    async def aget(self, timeout: float | None = None) -> list[Transition]:
        """:meth:`get` for asyncio code (does not block the event loop)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._aevent = asyncio.Event()
        with self._cond:
            if self._buf or self.closed:
                out = list(self._buf)
                self._buf.clear()
                return out
            self._aevent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._aevent.wait(), timeout)
        with self._cond:
            out = list(self._buf)
            self._buf.clear()
            return out

    def __iter__(self) -> Iterator[Transition]:
        while not self.closed:
            yield from self.get(timeout=1.0)

    async def __aiter__(self) -> AsyncIterator[Transition]:
        while not self.closed:
            for t in await self.aget(timeout=1.0):
                yield t

    def close(self) -> None:
        self._hub._remove(self)
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if self._loop is not None and self._aevent is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._aevent.set)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TransitionHub:
    """Fan-out of committed moves to subscribers (thread-safe)."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subs.remove(sub)

    def publish(self, items: list[Transition]) -> None:
        if not items:
            return
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s._push(items)

    def close(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s.close()

    @property
    def subscribers(self) -> int:
        return len(self._subs)
