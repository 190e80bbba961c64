"""Durable stores for the live service: LMDB embedded (default) or Redis.

>>> store = open_store("lmdb", path="serve-state")            # doctest: +SKIP
>>> store = open_store("redis://localhost:6379/0?prefix=archetype:0:")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from archetype.errors import UserError
from archetype.live.store.base import ReadView, Store, Transaction

__all__ = ["ReadView", "Store", "Transaction", "open_store"]


def open_store(spec: str | Store, *, path: str | Path | None = None) -> Store:
    """Open a store from a spec.

    Parameters
    ----------
    spec : str or Store
        ``"lmdb"`` (at ``path``), ``"lmdb:PATH"``, ``"redis"`` (localhost:6379),
        ``"redis://host:port/db?prefix=..."``; a Store is returned as is.
    path : path, optional
        Folder of the LMDB store when ``spec`` is ``"lmdb"``.
    """
    if isinstance(spec, Store):
        return spec
    s = str(spec)
    if s == "lmdb" or s.startswith("lmdb:"):
        from archetype.live.store.lmdb_store import LmdbStore

        where = s[5:] if s.startswith("lmdb:") else path
        if not where:
            raise UserError("the lmdb store needs a folder (lmdb:PATH or --state-dir)")
        return LmdbStore(where)
    if s == "redis" or s.startswith(("redis://", "rediss://", "unix://")):
        from archetype.live.store.redis_store import RedisStore

        return RedisStore("redis://localhost:6379/0" if s == "redis" else s)
    raise UserError(f"unknown store {s!r}; use lmdb, lmdb:PATH or redis://host:port/db")
