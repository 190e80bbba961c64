import json
import multiprocessing as mp

import pytest

from archetype._atomic import DirLock, atomic_dir, atomic_file, write_json_atomic
from archetype.errors import LockedError, UserError


def test_atomic_dir_appears_whole(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_atomic_dir_error_leaves_old_output(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("new")
        raise RuntimeError("boom")
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_atomic_file_and_json(tmp_path):
    f = tmp_path / "x.json"
    write_json_atomic(f, {"a": 1})
    assert json.loads(f.read_text()) == {"a": 1}
    with pytest.raises(ValueError), atomic_file(f) as tmp:
        tmp.write_text("garbage")
        raise ValueError
    assert json.loads(f.read_text()) == {"a": 1}


def _try_lock(root, q):
    try:
        with DirLock(root):
            q.put("got")
    except LockedError as e:
        q.put(f"locked: {e}")


def test_lock_excludes_second_process(tmp_path):
    with DirLock(tmp_path):
        q = mp.get_context("spawn").Queue()
        p = mp.get_context("spawn").Process(target=_try_lock, args=(tmp_path, q))
        p.start()
        p.join(30)
        msg = q.get(timeout=5)
    assert msg.startswith("locked:")
    assert issubclass(LockedError, UserError)
    with DirLock(tmp_path):  # released: can take it again
        pass
