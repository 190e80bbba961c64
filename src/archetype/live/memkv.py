"""An in-memory transactional key-value store with the service store's transaction API.

The trigger, experiment and learning engines keep all their state in namespaced keys of a
store transaction, so the service can commit it atomically with its own state::

    with kv.transaction() as tx:
        tx.put("ns", "key", b"value")
        tx.get("ns", "key")            # -> bytes | None (sees this transaction's writes)
        tx.delete("ns", "key")
        tx.scan("ns", lo, hi)          # -> [(key, value)] sorted by key, lo <= key < hi

:class:`MemoryKV` is that API over dicts: the engines' replay/backfill path and the tests
use it, and it stands for the service store until the engines run inside the service.
A transaction's writes become visible only when its ``with`` block exits cleanly; an
exception discards them (a crash between two commits loses nothing committed and keeps
nothing half-done).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterator
from contextlib import contextmanager

_DELETED = object()


class MemoryKV:
    """Namespaces of sorted string keys to ``bytes`` values, committed per transaction."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, bytes]] = {}
        self._keys: dict[str, list[str]] = {}  # sorted keys per namespace (for scans)
        self.commits = 0

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        tx = MemoryTx(self)
        yield tx
        tx._commit()
        self.commits += 1

    def copy(self) -> MemoryKV:
        """A deep copy of the committed state (what survives a ``kill -9`` right now)."""
        other = MemoryKV()
        other._data = copy.deepcopy(self._data)
        other._keys = copy.deepcopy(self._keys)
        return other

    def namespace(self, ns: str) -> dict[str, bytes]:
        """The committed contents of ``ns`` (a copy)."""
        return dict(self._data.get(ns, {}))

    def _put(self, ns: str, key: str, value: bytes) -> None:
        d = self._data.setdefault(ns, {})
        if key not in d:
            bisect.insort(self._keys.setdefault(ns, []), key)
        d[key] = value

    def _delete(self, ns: str, key: str) -> None:
        d = self._data.get(ns)
        if d is not None and key in d:
            del d[key]
            keys = self._keys[ns]
            del keys[bisect.bisect_left(keys, key)]


class MemoryTx:
    """One transaction of a :class:`MemoryKV` (reads see its own uncommitted writes)."""

    def __init__(self, kv: MemoryKV) -> None:
        self._kv = kv
        self._writes: dict[str, dict[str, object]] = {}

    def get(self, ns: str, key: str) -> bytes | None:
        w = self._writes.get(ns)
        if w is not None and key in w:
            v = w[key]
            return None if v is _DELETED else v  # type: ignore[return-value]
        return self._kv._data.get(ns, {}).get(key)

    def put(self, ns: str, key: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"value must be bytes, got {type(value).__name__}")
        self._writes.setdefault(ns, {})[key] = bytes(value)

    def delete(self, ns: str, key: str) -> None:
        self._writes.setdefault(ns, {})[key] = _DELETED

    def scan(
        self, ns: str, lo: str | None = None, hi: str | None = None, *, limit: int | None = None
    ) -> list[tuple[str, bytes]]:
        """``(key, value)`` pairs with ``lo <= key < hi`` in key order."""
        keys = self._kv._keys.get(ns, [])
        i = 0 if lo is None else bisect.bisect_left(keys, lo)
        j = len(keys) if hi is None else bisect.bisect_left(keys, hi)
        data = self._kv._data.get(ns, {})
        merged = {k: data[k] for k in keys[i:j]}
        for k, v in self._writes.get(ns, {}).items():
            if (lo is None or k >= lo) and (hi is None or k < hi):
                merged[k] = v
        out = sorted((k, v) for k, v in merged.items() if v is not _DELETED)
        return out if limit is None else out[:limit]

    def _commit(self) -> None:
        for ns, w in self._writes.items():
            for k, v in w.items():
                if v is _DELETED:
                    self._kv._delete(ns, k)
                else:
                    self._kv._put(ns, k, v)  # type: ignore[arg-type]
        self._writes.clear()
