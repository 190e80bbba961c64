"""The store interface every live component writes through.

A store holds byte values under ``(namespace, key)``.  Namespaces are short names
(``state``, ``seg``, ``meta``; other components add their own, e.g. trigger timers or an
outbox); keys are bytes (``str`` keys are UTF-8 encoded).  Everything one ingest batch
changes -- customer states, assignments, the ingest offset, and whatever listeners write
-- goes through ONE :meth:`Store.transaction`, which either commits whole or not at all::

    with store.transaction() as tx:
        old = tx.get("state", key)
        tx.put("state", key, new)
        tx.put("meta", b"offset", b"...")
    # committed (durable) here; an exception inside the block aborts everything

Reads outside a transaction go through :meth:`Store.read`, a consistent snapshot
(LMDB) or atomic multi-key reads (Redis).  One writer at a time: ``transaction()``
serializes writers of one process; across processes, customers are sharded so that each
replica writes only its own keys (see docs/serve.md).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

_NS = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


_CHECKED: dict[str, bytes] = {}  # namespaces already validated (a handful per process)


def check_namespace(ns: str) -> bytes:
    """The namespace as bytes; a name outside ``[a-z][a-z0-9_.-]{0,31}`` is a ValueError."""
    b = _CHECKED.get(ns) if isinstance(ns, str) else None
    if b is not None:
        return b
    if not isinstance(ns, str) or not _NS.match(ns):
        raise ValueError(f"namespace {ns!r} should match [a-z][a-z0-9_.-]{{0,31}}")
    b = _CHECKED[ns] = ns.encode()
    return b


def as_key(key: bytes | str) -> bytes:
    """Keys are bytes; ``str`` is UTF-8 encoded.  Empty keys are refused."""
    if isinstance(key, str):
        key = key.encode()
    elif isinstance(key, memoryview | bytearray):
        key = bytes(key)
    if not isinstance(key, bytes) or not key:
        raise ValueError(f"store keys are non-empty bytes or str, got {key!r}")
    return key


def in_range(k: bytes, start: bytes | None, stop: bytes | None, prefix: bytes | None) -> bool:
    """``start <= k < stop`` and ``k.startswith(prefix)`` (``None`` = unbounded)."""
    if prefix is not None and not k.startswith(prefix):
        return False
    if start is not None and k < start:
        return False
    return stop is None or k < stop


class ReadView(ABC):
    """Reads of one consistent view of the store."""

    @abstractmethod
    def get(self, ns: str, key: bytes | str) -> bytes | None:
        """The value under ``key``, or ``None``."""

    def get_many(self, ns: str, keys: Sequence[bytes | str]) -> list[bytes | None]:
        """Values of ``keys`` in order (``None`` where absent)."""
        return [self.get(ns, k) for k in keys]

    @abstractmethod
    def scan(
        self,
        ns: str,
        *,
        start: bytes | str | None = None,
        stop: bytes | str | None = None,
        prefix: bytes | str | None = None,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` pairs with ``start <= key < stop`` (and ``prefix``), in key
        byte order, at most ``limit``."""


class Transaction(ReadView):
    """A write transaction: reads see its own writes; all of it commits or none."""

    @abstractmethod
    def put(self, ns: str, key: bytes | str, value: bytes) -> None:
        """Set ``key`` to ``value`` (bytes)."""

    @abstractmethod
    def delete(self, ns: str, key: bytes | str) -> bool:
        """Remove ``key``; ``True`` if it existed."""

    def discard(self, ns: str, key: bytes | str) -> None:
        """Remove ``key`` if it exists, without saying whether it did (no read: one
        round trip less per key on Redis)."""
        self.delete(ns, key)


class Store(ABC):
    """A durable key-value store with atomic multi-namespace transactions."""

    #: "lmdb" or "redis"
    kind: str = ""
    #: where it lives (a path or a URL without password), for logs and /healthz
    location: str = ""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction; commits (durably) when the block exits without error."""

    @abstractmethod
    def read(self) -> AbstractContextManager[ReadView]:
        """A read-only view; cheap enough to open per request."""

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        """One value, read in its own view."""
        with self.read() as r:
            return r.get(ns, key)

    @abstractmethod
    def close(self) -> None:
        """Release the store (idempotent)."""

    def stats(self) -> dict[str, Any]:
        """Backend facts for /healthz and the benchmark (sizes, entries)."""
        return {"kind": self.kind, "location": self.location}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def validate_value(value: Any) -> bytes:
    """Values are bytes (``bytearray``/``memoryview`` are copied to bytes)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"store values are bytes, got {type(value).__name__}")
