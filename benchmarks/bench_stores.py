"""Which embedded store for the live service: LMDB vs SQLite vs RocksDB, measured.

The service's access pattern, reproduced on raw bytes (no archetype code involved):

* durable batch commits: a batch of customer records (about 400 B each) plus one offset
  key in ONE transaction, synced to disk before the call returns;
* point reads of random customers from another thread's point of view (p50/p99);
* reads of 100 random customers (``batch_get``);
* re-open time of a store holding all the customers, and bytes on disk per customer.

Run::

    python benchmarks/bench_stores.py --customers 200000

Prints one table; the choice and its reasons are in docs/serve.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

VALUE_BYTES = 400


def _keys(n: int) -> list[bytes]:
    return [b"i" + int(i).to_bytes(8, "big") for i in range(n)]


def _value(rng: np.random.Generator) -> bytes:
    return rng.integers(0, 255, VALUE_BYTES, dtype=np.uint8).tobytes()


def _du(path: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


class LmdbStore:
    name = "lmdb"
    writemap = False

    def __init__(self, path: Path) -> None:
        import lmdb

        self.path = path
        self.env = lmdb.open(
            str(path),
            map_size=1 << 36,
            max_dbs=4,
            sync=True,
            readahead=False,
            metasync=True,
            writemap=self.writemap,
        )
        self.db = self.env.open_db(b"state")
        self.meta = self.env.open_db(b"meta")

    def commit(self, items, offset: bytes) -> None:
        with self.env.begin(write=True) as txn:
            for k, v in items:
                txn.put(k, v, db=self.db)
            txn.put(b"offset", offset, db=self.meta)

    def get(self, k):
        with self.env.begin(db=self.db, buffers=False) as txn:
            return txn.get(k)

    def get_many(self, ks):
        with self.env.begin(db=self.db) as txn:
            return [txn.get(k) for k in ks]

    def close(self):
        self.env.close()


class LmdbWritemapStore(LmdbStore):
    name = "lmdb-writemap"
    writemap = True


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = sqlite3.connect(
            path / "db.sqlite", isolation_level=None, check_same_thread=False
        )
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=FULL")
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS state (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"
        )
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS meta (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"
        )
        self.rd = sqlite3.connect(path / "db.sqlite", check_same_thread=False)

    def commit(self, items, offset: bytes) -> None:
        c = self.con
        c.execute("BEGIN IMMEDIATE")
        c.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", items)
        c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (b"offset", offset))
        c.execute("COMMIT")

    def get(self, k):
        row = self.rd.execute("SELECT v FROM state WHERE k = ?", (k,)).fetchone()
        return None if row is None else row[0]

    def get_many(self, ks):
        q = f"SELECT k, v FROM state WHERE k IN ({','.join('?' * len(ks))})"
        found = dict(self.rd.execute(q, ks).fetchall())
        return [found.get(k) for k in ks]

    def close(self):
        self.rd.close()
        self.con.close()


class RocksStore:
    name = "rocksdb"

    def __init__(self, path: Path) -> None:
        from rocksdict import Options, Rdict, WriteOptions

        self.path = path
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        self.db = Rdict(str(path), opts)
        self.wo = WriteOptions()
        self.wo.sync = True
        self.db.set_write_options(self.wo)

    def commit(self, items, offset: bytes) -> None:
        from rocksdict import WriteBatch

        wb = WriteBatch(raw_mode=True)
        for k, v in items:
            wb.put(k, v)
        wb.put(b"m:offset", offset)
        self.db.write(wb)

    def get(self, k):
        return self.db.get(k)

    def get_many(self, ks):
        return self.db.get(ks)

    def close(self):
        self.db.close()


BACKENDS = {
    "lmdb": LmdbStore,
    "lmdb-writemap": LmdbWritemapStore,
    "sqlite": SqliteStore,
    "rocksdb": RocksStore,
}


def _pcts(xs) -> tuple[float, float]:
    a = np.asarray(xs) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def run_one(cls, root: Path, n: int, batch: int, rng) -> dict:
    path = root / cls.name
    keys = _keys(n)
    vals = [_value(rng) for _ in range(1024)]
    st = cls(path)
    t0 = time.perf_counter()
    for s in range(0, n, 10_000):
        st.commit([(k, vals[i % 1024]) for i, k in enumerate(keys[s : s + 10_000])], b"x")
    fill = time.perf_counter() - t0
    # durable update batches of `batch` random customers + the offset, one transaction each
    n_tx = max(20, 100_000 // batch)
    t0 = time.perf_counter()
    for t in range(n_tx):
        idx = rng.integers(0, n, batch)
        st.commit([(keys[i], vals[(i + t) % 1024]) for i in idx], t.to_bytes(8, "big"))
    upd = time.perf_counter() - t0
    gets = []
    for i in rng.integers(0, n, 20_000):
        t1 = time.perf_counter()
        st.get(keys[i])
        gets.append(time.perf_counter() - t1)
    many = []
    for _ in range(500):
        ks = [keys[i] for i in rng.integers(0, n, 100)]
        t1 = time.perf_counter()
        st.get_many(ks)
        many.append(time.perf_counter() - t1)
    st.close()
    t0 = time.perf_counter()
    st = cls(path)
    st.get(keys[n // 2])
    reopen = time.perf_counter() - t0
    st.close()
    g50, g99 = _pcts(gets)
    m50, m99 = _pcts(many)
    return {
        "store": cls.name,
        "fill_keys_s": n / fill,
        "batch": batch,
        "durable_keys_s": n_tx * batch / upd,
        "commits_s": n_tx / upd,
        "get_p50_us": g50,
        "get_p99_us": g99,
        "get100_p99_us": m99,
        "reopen_ms": reopen * 1e3,
        "disk_bytes_per_key": _du(path) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--batch", type=int, nargs="+", default=[100, 2000])
    ap.add_argument("--stores", nargs="+", default=list(BACKENDS))
    ap.add_argument("--dir", default=None, help="scratch folder (default: a temp dir)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="archetype-bench-stores-", dir=args.dir))
    rows = []
    try:
        for name in args.stores:
            for b in args.batch:
                shutil.rmtree(root / name, ignore_errors=True)
                rows.append(
                    run_one(BACKENDS[name], root, args.customers, b, np.random.default_rng(0))
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cols = list(rows[0])
    print(
        f"# {args.customers:,} customers x {VALUE_BYTES} B, durable commits (fsync); "
        f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in r.values()))


if __name__ == "__main__":
    main()
