"""Both store backends against one contract: atomic multi-namespace transactions, ordered
scans, snapshots, durability across re-open, one writer."""

from __future__ import annotations

import uuid

import pytest

from archetype.errors import UserError
from archetype.live.store import open_store
from archetype.live.store.lmdb_store import LmdbStore


@pytest.fixture(params=["lmdb", "redis"])
def make_store(request, tmp_path):
    opened = []

    def make(reopen_of=None):
        if request.param == "lmdb":
            st = LmdbStore(tmp_path / "store") if reopen_of is None else LmdbStore(reopen_of)
        else:
            url = request.getfixturevalue("redis_url")
            prefix = reopen_of or f"t{uuid.uuid4().hex[:8]}:"
            from archetype.live.store.redis_store import RedisStore

            st = RedisStore(url, prefix=prefix, lease_ms=2000)
        opened.append(st)
        return st

    yield make
    for st in opened:
        st.close()


def _where(st):
    return st.path if st.kind == "lmdb" else st.prefix


def test_put_get_delete_and_namespaces(make_store):
    st = make_store()
    with st.transaction() as tx:
        tx.put("state", b"a", b"1")
        tx.put("meta", "a", b"other")
        assert tx.get("state", b"a") == b"1"  # reads see own writes
    assert st.get("state", "a") == b"1"
    assert st.get("meta", b"a") == b"other"
    assert st.get("seg", b"a") is None
    with st.transaction() as tx:
        assert tx.delete("state", b"a") is True
        assert tx.delete("state", b"zz") is False
        assert tx.get("state", b"a") is None
    assert st.get("state", b"a") is None
    with st.read() as r:
        assert r.get_many("meta", [b"a", b"b"]) == [b"other", None]


def test_abort_writes_nothing(make_store):
    st = make_store()
    with st.transaction() as tx:
        tx.put("state", b"k", b"old")
    with pytest.raises(RuntimeError, match="boom"), st.transaction() as tx:
        tx.put("state", b"k", b"new")
        tx.put("meta", b"offset", b"42")
        raise RuntimeError("boom")
    assert st.get("state", b"k") == b"old"
    assert st.get("meta", b"offset") is None


def test_scan_is_ordered_and_bounded(make_store):
    st = make_store()
    keys = [b"t:%03d" % i for i in (5, 1, 9, 3, 7)] + [b"u:1", b"s:9"]
    with st.transaction() as tx:
        for k in keys:
            tx.put("timers", k, k.upper())
        tx.put("other", b"t:000", b"x")
    with st.read() as r:
        got = [k for k, _ in r.scan("timers", prefix=b"t:")]
        assert got == sorted(k for k in keys if k.startswith(b"t:"))
        got = [k for k, _ in r.scan("timers", start=b"t:003", stop=b"t:009")]
        assert got == [b"t:003", b"t:005", b"t:007"]
        assert [k for k, _ in r.scan("timers", limit=2)] == sorted(keys)[:2]
        assert dict(r.scan("timers"))[b"u:1"] == b"U:1"
    with st.transaction() as tx:  # scans inside a transaction see its writes
        tx.put("timers", b"t:004", b"new")
        tx.delete("timers", b"t:005")
        got = [k for k, _ in tx.scan("timers", start=b"t:003", stop=b"t:009")]
        assert got == [b"t:003", b"t:004", b"t:007"]


def test_durable_across_reopen(make_store):
    st = make_store()
    with st.transaction() as tx:
        for i in range(1000):
            tx.put("state", i.to_bytes(4, "big"), b"v%d" % i)
    where = _where(st)
    st.close()
    st2 = make_store(reopen_of=where)
    with st2.read() as r:
        assert r.get("state", (999).to_bytes(4, "big")) == b"v999"
        assert sum(1 for _ in r.scan("state")) == 1000


def test_bad_names_and_values(make_store):
    st = make_store()
    with pytest.raises(ValueError, match="namespace"):
        st.get("Bad NS", b"k")
    with pytest.raises(ValueError, match="non-empty"), st.transaction() as tx:
        tx.put("state", b"", b"v")
    with pytest.raises(TypeError, match="bytes"), st.transaction() as tx:
        tx.put("state", b"k", "text")


def test_lmdb_snapshot_isolation(tmp_path):
    st = LmdbStore(tmp_path / "s")
    with st.transaction() as tx:
        tx.put("state", b"k", b"1")
    with st.read() as r:
        with st.transaction() as tx:
            tx.put("state", b"k", b"2")
        assert r.get("state", b"k") == b"1"  # the open view keeps its snapshot
    assert st.get("state", b"k") == b"2"
    st.close()


def test_lmdb_one_writer_per_folder(tmp_path):
    st = LmdbStore(tmp_path / "s")
    with pytest.raises(UserError, match="lock"):
        LmdbStore(tmp_path / "s")
    st.close()
    LmdbStore(tmp_path / "s").close()  # released on close


def test_redis_one_writer_per_prefix(redis_url):
    from archetype.live.store.redis_store import RedisStore

    a = RedisStore(redis_url, prefix="solo:", lease_ms=600)
    with pytest.raises(UserError, match="another replica"):
        RedisStore(redis_url, prefix="solo:", lease_ms=600)
    other = RedisStore(redis_url, prefix="other:", lease_ms=600)  # other shard: fine
    other.close()
    a.close()
    RedisStore(redis_url, prefix="solo:", lease_ms=600).close()


def test_open_store_specs(tmp_path, redis_url):
    st = open_store(f"lmdb:{tmp_path / 'x'}")
    assert st.kind == "lmdb"
    st.close()
    st = open_store(redis_url + "?prefix=spec:")
    assert st.kind == "redis" and st.prefix == "spec:"
    assert "spec:" in st.location
    st.close()
    with pytest.raises(UserError, match="unknown store"):
        open_store("mongo://x")
