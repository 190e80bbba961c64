"""Outputs that appear whole or not at all, and locks on output roots.

Every file or directory archetype writes goes to a temporary sibling first and is renamed
into place (``os.replace`` is atomic within one filesystem).  A crash at any moment leaves
either the old output or the new one, plus at worst a ``.tmp-*`` sibling that the next
writer of the same target removes.

This module sits below every layer (it imports nothing from archetype but errors), so
``features/``, ``cluster/`` and ``pipeline/`` can all use it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archetype.errors import LockedError

TMP_PREFIX = ".tmp-"


def _tmp_sibling(target: Path) -> Path:
    return target.parent / f"{TMP_PREFIX}{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def clean_stale_tmp(target: Path) -> None:
    """Remove temp siblings of ``target`` left behind by a crashed writer."""
    target = Path(target)
    if not target.parent.exists():
        return
    for p in target.parent.glob(f"{TMP_PREFIX}{target.name}.*"):
        with contextlib.suppress(OSError):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_dir(target: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp directory that becomes ``target`` when the block exits cleanly.

    On error the temp directory is removed and ``target`` is untouched.  With
    ``overwrite=True`` an existing ``target`` is replaced (old moved aside, new renamed in,
    old removed) so readers never see a half-written directory.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(target)
    tmp = _tmp_sibling(target)
    tmp.mkdir()
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        if target.exists():
            if not overwrite:
                raise FileExistsError(errno.EEXIST, "output exists", str(target))
            old = _tmp_sibling(target)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """Yield a temp file path that replaces ``target`` when the block exits cleanly."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(target)
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json_atomic(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


class DirLock:
    """An exclusive, non-blocking lock on a directory (``fcntl.flock`` on ``.lock``).

    The kernel drops the lock when the process dies, so a ``kill -9`` never leaves a stale
    lock.  A second holder fails at once with :class:`LockedError` (exit code 2).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise LockedError(
                f"another archetype process holds the lock ({holder or 'unknown holder'}); "
                "wait for it to finish",
                path=self.root,
            ) from e
        os.ftruncate(fd, 0)
        holder = f"pid={os.getpid()} host={socket.gethostname()} since={time.time():.0f}"
        os.write(fd, holder.encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
