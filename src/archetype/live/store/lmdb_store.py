"""The embedded store: LMDB (one memory-mapped B-tree file, copy-on-write, fsync on commit).

Chosen over SQLite and RocksDB by measurement (``benchmarks/bench_stores.py``, numbers in
docs/serve.md): point reads of about 2 us (p99 ~3 us) and 100 random keys in ~0.2 ms, from
any thread without locks, against a consistent snapshot; re-open in under a millisecond
whatever the size; no background threads competing with the server for the CPU.  RocksDB
commits random updates ~3x faster but reads are 3-30x slower at p99 and its compaction
threads share the two cores with the HTTP server; SQLite is slower at both.

Layout: one LMDB database; a namespace is a key prefix ``ns + b"\\x00"``, so a
transaction spans namespaces for free and a namespace scan is a range scan.  Commits are
durable (``sync=True``): a ``kill -9`` after :meth:`transaction` returned loses nothing,
and a kill inside it leaves the previous commit.  The directory is locked
(``writer.lock``) so that two processes never write one store.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from archetype._atomic import DirLock
from archetype.live.store.base import (
    ReadView,
    Store,
    Transaction,
    as_key,
    check_namespace,
    in_range,
    validate_value,
)

DEFAULT_MAP_SIZE = 1 << 40  # 1 TiB of address space; the file grows only as data does
SEP = b"\x00"


def _full(ns: str, key: bytes | str) -> bytes:
    return check_namespace(ns) + SEP + as_key(key)


class _LmdbView(ReadView):
    def __init__(self, txn: Any) -> None:
        self._txn = txn

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        return self._txn.get(_full(ns, key))

    def get_many(self, ns: str, keys: Sequence[bytes | str]) -> list[bytes | None]:
        p = check_namespace(ns) + SEP
        g = self._txn.get
        return [g(p + as_key(k)) for k in keys]

    def scan(self, ns, *, start=None, stop=None, prefix=None, limit=None):
        p = check_namespace(ns) + SEP
        start_b = None if start is None else as_key(start)
        stop_b = None if stop is None else as_key(stop)
        pre_b = None if prefix is None else as_key(prefix)
        first = p + max(start_b or b"", pre_b or b"")
        n = 0
        with self._txn.cursor() as cur:
            if not cur.set_range(first):
                return
            for full, value in cur.iternext(keys=True, values=True):
                if not full.startswith(p):
                    return
                k = full[len(p) :]
                if stop_b is not None and k >= stop_b:
                    return
                if pre_b is not None and not k.startswith(pre_b):
                    if k > pre_b:
                        return
                    continue
                if not in_range(k, start_b, None, None):
                    continue
                yield k, value
                n += 1
                if limit is not None and n >= limit:
                    return


class _LmdbTx(_LmdbView, Transaction):
    def put(self, ns: str, key: bytes | str, value: bytes) -> None:
        self._txn.put(_full(ns, key), validate_value(value))

    def delete(self, ns: str, key: bytes | str) -> bool:
        return bool(self._txn.delete(_full(ns, key)))


class LmdbStore(Store):
    """An LMDB environment in directory ``path`` (created if missing).

    Parameters
    ----------
    path : path
        Folder holding ``data.mdb``, ``lock.mdb`` and ``writer.lock``.
    map_size : int
        Largest size the file may grow to (address space, not disk; default 1 TiB).
    readonly : bool
        Open for reading only (no writer lock; e.g. an inspection tool beside the service).
    lock_name : str
        The writer lock file (default ``writer.lock``, the service's).  The automation
        worker, a second process that writes only its own namespaces, takes
        ``worker.lock`` (LMDB itself serializes the two processes' write transactions).
    """

    kind = "lmdb"

    def __init__(
        self,
        path: str | Path,
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        readonly: bool = False,
        lock_name: str = "writer.lock",
    ) -> None:
        import lmdb

        self.path = Path(path)
        self.location = str(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = None if readonly else DirLock(self.path)
        if self._lock is not None:
            self._lock.path = self.path / lock_name
            self._lock.acquire()
        try:
            self.env = lmdb.open(
                str(self.path),
                map_size=map_size,
                subdir=True,
                readonly=readonly,
                sync=True,
                metasync=True,
                readahead=False,
                max_readers=512,
                max_dbs=0,
            )
        except Exception:
            if self._lock is not None:
                self._lock.release()
            raise
        self._write = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._write:
            txn = self.env.begin(write=True)
            try:
                yield _LmdbTx(txn)
            except BaseException:
                txn.abort()
                raise
            txn.commit()

    @contextlib.contextmanager
    def read(self) -> Iterator[ReadView]:
        txn = self.env.begin(buffers=False)
        try:
            yield _LmdbView(txn)
        finally:
            txn.abort()

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        with self.env.begin() as txn:
            return txn.get(_full(ns, key))

    def stats(self) -> dict[str, Any]:
        info, st = self.env.info(), self.env.stat()
        return {
            "kind": self.kind,
            "location": self.location,
            "entries": int(st["entries"]),
            "bytes_used": int((info["last_pgno"] + 1) * st["psize"]),
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.env.close()
        if self._lock is not None:
            self._lock.release()
