"""The second backend: state in Redis, for replicas past one machine.

Each namespace is one Redis hash ``{prefix}{ns}``; ``prefix`` carries the shard, so
replica ``i`` of ``n`` (customers sharded by hash, see docs/serve.md) owns
``archetype:{i}:*`` and writes nothing else.  A transaction buffers its writes (reads see
them) and commits them in one ``MULTI``/``EXEC`` block: all or nothing, applied
atomically.  Durability across a crash of the *Redis server* is Redis's own
(``appendonly yes``, ``appendfsync always`` for the embedded store's guarantee); a crash of
the service loses nothing acknowledged, because acknowledgement follows ``EXEC``.

One writer per prefix: the service is the only writer of its shard (a second writer of
the same prefix is refused: an owner key with a lease, checked at every commit).
``scan`` reads the whole hash (``HSCAN``) and sorts client-side, so ranges over large
namespaces are O(namespace) on this backend.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from redis.exceptions import WatchError

from archetype.errors import UserError
from archetype.live.store.base import (
    ReadView,
    Store,
    Transaction,
    as_key,
    check_namespace,
    in_range,
    validate_value,
)

_DELETED = object()
LEASE_MS = 5_000


class _RedisView(ReadView):
    def __init__(self, store: RedisStore) -> None:
        self._s = store

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        return self._s.client.hget(self._s.hash_name(ns), as_key(key))

    def get_many(self, ns: str, keys: Sequence[bytes | str]) -> list[bytes | None]:
        if not keys:
            return []
        return list(self._s.client.hmget(self._s.hash_name(ns), [as_key(k) for k in keys]))

    def scan(self, ns, *, start=None, stop=None, prefix=None, limit=None):
        start_b = None if start is None else as_key(start)
        stop_b = None if stop is None else as_key(stop)
        pre_b = None if prefix is None else as_key(prefix)
        match = None
        if pre_b is not None and not any(c in pre_b for c in b"*?[]\\"):
            match = pre_b + b"*"
        items = [
            (k, v)
            for k, v in self._s.client.hscan_iter(self._s.hash_name(ns), match=match, count=1000)
            if in_range(k, start_b, stop_b, pre_b)
        ]
        items.sort(key=lambda kv: kv[0])
        return iter(items if limit is None else items[:limit])


class _RedisTx(_RedisView, Transaction):
    def __init__(self, store: RedisStore) -> None:
        super().__init__(store)
        self.writes: dict[tuple[str, bytes], Any] = {}

    def get(self, ns: str, key: bytes | str) -> bytes | None:
        k = as_key(key)
        if (ns, k) in self.writes:
            v = self.writes[(ns, k)]
            return None if v is _DELETED else v
        return super().get(ns, k)

    def get_many(self, ns: str, keys: Sequence[bytes | str]) -> list[bytes | None]:
        ks = [as_key(k) for k in keys]
        missing = [k for k in ks if (ns, k) not in self.writes]
        found = dict(zip(missing, super().get_many(ns, missing), strict=True))
        out = []
        for k in ks:
            if (ns, k) in self.writes:
                v = self.writes[(ns, k)]
                out.append(None if v is _DELETED else v)
            else:
                out.append(found[k])
        return out

    def scan(self, ns, *, start=None, stop=None, prefix=None, limit=None):
        start_b = None if start is None else as_key(start)
        stop_b = None if stop is None else as_key(stop)
        pre_b = None if prefix is None else as_key(prefix)
        merged = dict(super().scan(ns, start=start, stop=stop, prefix=prefix))
        for (wns, k), v in self.writes.items():
            if wns == ns and in_range(k, start_b, stop_b, pre_b):
                if v is _DELETED:
                    merged.pop(k, None)
                else:
                    merged[k] = v
        items = sorted(merged.items())
        return iter(items if limit is None else items[:limit])

    def put(self, ns: str, key: bytes | str, value: bytes) -> None:
        check_namespace(ns)
        self.writes[(ns, as_key(key))] = validate_value(value)

    def delete(self, ns: str, key: bytes | str) -> bool:
        check_namespace(ns)
        existed = self.get(ns, key) is not None
        self.writes[(ns, as_key(key))] = _DELETED
        return existed

    def discard(self, ns: str, key: bytes | str) -> None:
        check_namespace(ns)
        self.writes[(ns, as_key(key))] = _DELETED

    def commit(self) -> None:
        if not self.writes:
            return
        puts: dict[str, dict[bytes, bytes]] = {}
        dels: dict[str, list[bytes]] = {}
        for (ns, k), v in self.writes.items():
            if v is _DELETED:
                dels.setdefault(ns, []).append(k)
            else:
                puts.setdefault(ns, {})[k] = v
        s = self._s
        for _attempt in range(3):
            with s.client.pipeline(transaction=True) as pipe:
                pipe.watch(s.owner_key)
                holder = pipe.get(s.owner_key)
                if holder is not None and holder != s.token:
                    raise RuntimeError(
                        f"{s.location}: another writer took over prefix {s.prefix!r}; "
                        "this replica stops writing"
                    )
                pipe.multi()
                for ns, mapping in puts.items():
                    pipe.hset(s.hash_name(ns), mapping=mapping)
                for ns, keys in dels.items():
                    pipe.hdel(s.hash_name(ns), *keys)
                pipe.set(s.owner_key, s.token, px=s.lease_ms)
                try:
                    pipe.execute()
                    return
                except WatchError:
                    continue  # the lease key was touched meanwhile: look again who holds it
        raise RuntimeError(f"{s.location}: could not commit (lease key kept changing)")


class RedisStore(Store):
    """A Redis-backed store (``redis://host:port/db?prefix=archetype:0:``).

    Parameters
    ----------
    url : str
        ``redis://[:password@]host:port/db``; the query parameter ``prefix`` (default
        ``archetype:``) names this replica's keyspace.  The password may also come from
        the environment variable ``ARCHETYPE_REDIS_PASSWORD``.
    owner : str
        The lease key (after the prefix) that makes this the only writer of its role:
        ``__owner`` for the service, ``__worker`` for its automation worker process
        (which writes only its own namespaces of the same prefix).
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        lease_ms: int = LEASE_MS,
        owner: str = "__owner",
    ) -> None:
        import redis

        self.url = url  # kept for a worker process that opens the same store
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = prefix or query.get("prefix", ["archetype:"])[0]
        clean = urlunsplit((parts.scheme, parts.hostname or "localhost", parts.path, "", ""))
        if parts.port:
            clean = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))
        self.location = f"{clean}?prefix={self.prefix}"
        password = parts.password or os.environ.get("ARCHETYPE_REDIS_PASSWORD")
        self.client = redis.Redis.from_url(
            urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            password=password,
            socket_timeout=30,
            health_check_interval=30,
        )
        try:
            self.client.ping()
        except redis.exceptions.RedisError as e:
            raise UserError(f"cannot reach Redis at {self.location}: {e}") from None
        # one lease per role: the service ("__owner"), its automation worker ("__worker")
        self.owner_key = f"{self.prefix}{owner}".encode()
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}".encode()
        self.lease_ms = int(lease_ms)
        deadline = time.monotonic() + self.lease_ms / 1000 + 1.0
        # A replica killed with -9 leaves its lease behind: wait for it to lapse.
        while not self.client.set(self.owner_key, self.token, nx=True, px=self.lease_ms):
            if time.monotonic() > deadline:
                holder = self.client.get(self.owner_key)
                raise UserError(
                    f"Redis prefix {self.prefix!r} is being written by another replica "
                    f"({(holder or b'?').decode(errors='replace')}); give each replica its "
                    "own prefix"
                )
            time.sleep(0.2)
        self._write = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="redis-lease", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        # Renew the lease between transactions (a commit renews it itself); never during
        # one, since touching the watched key would abort the commit.
        while not self._stop.wait(self.lease_ms / 5000):
            if not self._write.acquire(blocking=False):
                continue
            try:
                with contextlib.suppress(Exception):
                    if self.client.get(self.owner_key) == self.token:
                        self.client.pexpire(self.owner_key, self.lease_ms)
            finally:
                self._write.release()

    def hash_name(self, ns: str) -> bytes:
        return self.prefix.encode() + check_namespace(ns)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._write:
            tx = _RedisTx(self)
            yield tx
            tx.commit()

    @contextlib.contextmanager
    def read(self) -> Iterator[ReadView]:
        yield _RedisView(self)

    def stats(self) -> dict[str, Any]:
        try:
            mem = self.client.info("memory").get("used_memory")
        except Exception:  # stats are informative only
            mem = None
        return {"kind": self.kind, "location": self.location, "bytes_used": mem}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with contextlib.suppress(Exception):
            # release the lease only if still ours
            if self.client.get(self.owner_key) == self.token:
                self.client.delete(self.owner_key)
        self.client.close()
