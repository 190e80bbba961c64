"""An in-memory transactional key-value store with the live store's transaction contract.

The trigger, experiment and learning engines keep all their state in namespaced keys of a
store transaction (``archetype.live.store``: LMDB or Redis), so the service commits it
atomically with its own state::

    with kv.transaction() as tx:
        tx.put("ns", "key", b"value")      # keys: str (UTF-8) or bytes; values: bytes
        tx.get("ns", "key")                # -> bytes | None (sees this transaction's writes)
        tx.delete("ns", "key")             # -> True if it existed
        tx.scan("ns", start=..., stop=..., prefix=..., limit=...)  # (key, value), key order

:class:`MemoryKV` is that contract over dicts: replays/backfills and the tests use it.  A
transaction's writes become visible only when its ``with`` block exits cleanly; an
exception discards them (a crash between two commits loses nothing committed and keeps
nothing half-done).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterator
from contextlib import contextmanager

from archetype.live.store.base import Transaction, as_key, validate_value

_DELETED = object()


def _opt(key: bytes | str | None) -> bytes | None:
    return None if key is None else (key.encode() if isinstance(key, str) else bytes(key))


class MemoryKV:
    """Namespaces of sorted byte keys to ``bytes`` values, committed per transaction."""

    kind = "memory"
    location = "memory"

    def __init__(self) -> None:
        self._data: dict[str, dict[bytes, bytes]] = {}
        self._keys: dict[str, list[bytes]] = {}  # sorted keys per namespace (for scans)
        self.commits = 0

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        tx = MemoryTx(self)
        yield tx
        tx._commit()
        self.commits += 1

    @contextmanager
    def read(self) -> Iterator[MemoryTx]:
        yield MemoryTx(self)  # never committed

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        return self._data.get(ns, {}).get(as_key(key))

    def close(self) -> None:
        pass

    def copy(self) -> MemoryKV:
        """A deep copy of the committed state (what survives a ``kill -9`` right now)."""
        other = MemoryKV()
        other._data = copy.deepcopy(self._data)
        other._keys = copy.deepcopy(self._keys)
        return other

    def namespace(self, ns: str) -> dict[str, bytes]:
        """The committed contents of ``ns`` with keys decoded (a copy, for tests/tools)."""
        return {k.decode(): v for k, v in self._data.get(ns, {}).items()}

    def _put(self, ns: str, key: bytes, value: bytes) -> None:
        d = self._data.setdefault(ns, {})
        if key not in d:
            bisect.insort(self._keys.setdefault(ns, []), key)
        d[key] = value

    def _delete(self, ns: str, key: bytes) -> None:
        d = self._data.get(ns)
        if d is not None and key in d:
            del d[key]
            keys = self._keys[ns]
            del keys[bisect.bisect_left(keys, key)]


class MemoryTx(Transaction):
    """One transaction of a :class:`MemoryKV` (reads see its own uncommitted writes)."""

    def __init__(self, kv: MemoryKV) -> None:
        self._kv = kv
        self._writes: dict[str, dict[bytes, object]] = {}

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        k = as_key(key)
        w = self._writes.get(ns)
        if w is not None and k in w:
            v = w[k]
            return None if v is _DELETED else v  # type: ignore[return-value]
        return self._kv._data.get(ns, {}).get(k)

    def put(self, ns: str, key: bytes | str, value: bytes) -> None:
        self._writes.setdefault(ns, {})[as_key(key)] = validate_value(value)

    def delete(self, ns: str, key: bytes | str) -> bool:
        existed = self.get(ns, key) is not None
        self._writes.setdefault(ns, {})[as_key(key)] = _DELETED
        return existed

    def discard(self, ns: str, key: bytes | str) -> None:
        self._writes.setdefault(ns, {})[as_key(key)] = _DELETED

    def scan(self, ns, *, start=None, stop=None, prefix=None, limit=None):
        lo, hi, pre = _opt(start), _opt(stop), _opt(prefix)
        if pre is not None and (lo is None or lo < pre):
            lo = pre
        keys = self._kv._keys.get(ns, [])
        i = 0 if lo is None else bisect.bisect_left(keys, lo)
        j = len(keys) if hi is None else bisect.bisect_left(keys, hi)
        data = self._kv._data.get(ns, {})
        merged: dict[bytes, object] = {k: data[k] for k in keys[i:j]}
        for k, v in self._writes.get(ns, {}).items():
            if (lo is None or k >= lo) and (hi is None or k < hi):
                merged[k] = v
        n = 0
        for k in sorted(merged):
            if pre is not None and not k.startswith(pre):
                if k > pre:
                    break
                continue
            v = merged[k]
            if v is _DELETED:
                continue
            yield k, v  # type: ignore[misc]
            n += 1
            if limit is not None and n >= limit:
                return

    def _commit(self) -> None:
        for ns, w in self._writes.items():
            for k, v in w.items():
                if v is _DELETED:
                    self._kv._delete(ns, k)
                else:
                    self._kv._put(ns, k, v)  # type: ignore[arg-type]
        self._writes.clear()
