"""Outputs that appear whole or not at all, private temp dirs, and locks on output roots.

Every file or directory archetype writes goes to a temporary sibling first
(``.tmp-<name>.<pid>.<rand>``) and is renamed into place.  Replacing an existing directory
swaps the two atomically (``renameat2(RENAME_EXCHANGE)`` on Linux), so a crash at any moment
leaves the old output or the new one, never neither; the old copy then sits in a temp
sibling that the next writer removes.

A temp dir is *live* while its writer holds a shared ``flock`` on it (or, for plain files,
while the pid in its name runs); only stale ones are ever removed, so two processes writing
the same target never delete each other's work.  Outputs get owner-only permissions
(0600 files, 0700 dirs) unless ``ARCHETYPE_UMASK`` says otherwise (e.g. ``022``).

What an output *is* and whether it may be replaced (``--overwrite``) is decided by
:mod:`archetype._outputs`; ``atomic_dir(..., kind=...)`` asks it.  This module sits below
every layer (it imports nothing from archetype but errors and _outputs).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archetype.errors import LockedError, UserError

TMP_PREFIX = ".tmp-"
UMASK_ENV = "ARCHETYPE_UMASK"
DEFAULT_UMASK = 0o077
STALE_AFTER_S = 24 * 3600  # a temp entry whose pid lives on is stale after this long
_TMP_RE = re.compile(r"^\.tmp-(?P<name>.+)\.(?P<pid>\d+)\.(?P<rand>[0-9a-f]{8})(?P<old>\.old)?$")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


# ------------------------------------------------------------------ permissions


def output_umask() -> int:
    """The umask applied to outputs: ``ARCHETYPE_UMASK`` (octal) or 077 (owner only)."""
    raw = os.environ.get(UMASK_ENV, "").strip()
    if not raw:
        return DEFAULT_UMASK
    try:
        val = int(raw, 8)
    except ValueError:
        val = -1
    if not 0 <= val <= 0o777:
        raise UserError(f"{UMASK_ENV}={raw!r} should be an octal umask such as 077 or 022")
    return val


def dir_mode() -> int:
    return 0o777 & ~output_umask()


def file_mode() -> int:
    return 0o666 & ~output_umask()


def make_dirs(path: str | Path) -> Path:
    """``mkdir -p`` whose new directories get the output mode (0700 by default)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=dir_mode())
            os.chmod(d, dir_mode())
    return path


def make_private(path: Path) -> None:
    """Apply the output modes to ``path`` and, for a directory, everything below it."""
    dm, fm = dir_mode(), file_mode()
    if path.is_symlink():
        return
    if path.is_dir():
        os.chmod(path, dm)
        for base, dirs, files in os.walk(path):
            for n in dirs:
                p = os.path.join(base, n)
                if not os.path.islink(p):
                    os.chmod(p, dm)
            for n in files:
                p = os.path.join(base, n)
                if not os.path.islink(p):
                    os.chmod(p, fm)
    elif path.exists():
        os.chmod(path, fm)


# ------------------------------------------------------------------ temp entries


def tmp_sibling(target: Path, tag: str | None = None) -> Path:
    """A fresh temp path next to ``target`` (``.tmp-<name>.<pid>.<rand>``)."""
    name = tag if tag is not None else target.name
    return target.parent / f"{TMP_PREFIX}{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _flock_held(path: Path) -> bool:
    """Whether some process holds a flock on ``path`` (a temp dir's writer does)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def is_stale(path: Path) -> bool:
    """A temp entry whose writer is gone (no flock held, and its pid dead or it is old)."""
    m = _TMP_RE.match(path.name)
    if m is None or _flock_held(path):
        return False
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return not _pid_alive(int(m["pid"])) or age > STALE_AFTER_S


def _remove(p: Path) -> None:
    with contextlib.suppress(OSError):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink()


def clean_stale_in(directory: str | Path, name: str | None = None) -> list[Path]:
    """Remove stale temp entries in ``directory`` (only those of ``name`` when given).

    A stale ``.old`` copy of a target that no longer exists (a crash between the two
    renames of the non-atomic fallback swap) is moved back, never deleted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for p in sorted(directory.iterdir()):
        m = _TMP_RE.match(p.name)
        if m is None or (name is not None and m["name"] != name) or not is_stale(p):
            continue
        target = directory / m["name"]
        if m["old"] and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.replace(p, target)
                continue
        _remove(p)
        removed.append(p)
    return removed


def clean_stale_tmp(target: str | Path) -> None:
    """Remove stale temp siblings of ``target`` left behind by a crashed writer."""
    target = Path(target)
    clean_stale_in(target.parent, target.name)


@contextlib.contextmanager
def _held(path: Path) -> Iterator[None]:
    """Hold a shared flock on ``path`` (marks a temp dir live) for the block."""
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def private_tmpdir(parent: str | Path | None = None, tag: str = "archetype") -> Iterator[Path]:
    """A private (0700) temp directory under ``parent`` (default ``$TMPDIR``).

    Stale ones of the same ``tag`` left in ``parent`` by a killed process are removed first;
    this one is removed on every exit path (error, ``KeyboardInterrupt``, SIGTERM raised as an
    exception).  After ``kill -9`` it stays, private, until the next start-up.
    """
    base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    make_dirs(base)
    clean_stale_in(base, tag)
    tmp = tmp_sibling(base / tag)
    tmp.mkdir(mode=0o700)
    try:
        with _held(tmp):
            yield tmp
    finally:
        _remove(tmp)


# ------------------------------------------------------------------ atomic writes


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file() and not f.is_symlink():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, target: Path, check: Any = None) -> None:
    """Put the finished ``tmp`` dir at ``target``; an old ``target`` dir is swapped out.

    No lock is needed between concurrent writers: renaming onto a non-empty directory
    fails instead of replacing it, so a ``target`` that appears meanwhile is re-checked
    (``check()``) and then swapped atomically like any existing one.
    """
    if not os.path.lexists(target):
        try:
            os.replace(tmp, target)
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if check is not None:
            check()
    if target.is_symlink() or not target.is_dir():
        raise UserError("exists and is not a directory; archetype will not replace it", path=target)
    if _exchange(tmp, target):
        _remove(tmp)  # tmp now holds the old output
        return
    old = tmp.with_name(tmp.name + ".old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


@contextlib.contextmanager
def atomic_dir(
    target: str | Path, *, overwrite: bool = True, kind: str | None = None
) -> Iterator[Path]:
    """Yield a temp directory that becomes ``target`` when the block exits cleanly.

    On error the temp directory is removed and ``target`` is untouched.  An existing
    ``target`` directory is replaced (atomically swapped) when ``overwrite`` is true.

    With ``kind`` (see :mod:`archetype._outputs`) ``target`` is an output the user named:
    it may only replace a previous output of the same kind, and it is marked as one.
    Without ``kind`` (internal partitions) any existing directory may be replaced, never
    a file or link.
    """
    from archetype import _outputs

    target = Path(os.path.abspath(target))
    if kind is not None:
        _outputs.check_output(target, kind, overwrite=overwrite)
    elif os.path.lexists(target) and (target.is_symlink() or not target.is_dir()):
        raise UserError("exists and is not a directory; archetype will not replace it", path=target)
    make_dirs(target.parent)
    clean_stale_tmp(target)
    tmp = tmp_sibling(target)
    tmp.mkdir(mode=0o700)
    try:
        with _held(tmp):
            yield tmp
            if kind is not None:
                _outputs.write_marker(tmp, kind)
            _fsync_tree(tmp)
            make_private(tmp)

            def recheck() -> None:
                if kind is not None:
                    _outputs.check_output(target, kind, overwrite=overwrite, appeared=True)
                elif not overwrite:
                    raise UserError("exists; not replaced", path=target)

            if os.path.lexists(target):
                recheck()
            _swap_in(tmp, target, recheck)
        _fsync_dir(target.parent)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_file(
    target: str | Path, *, overwrite: bool = True, kind: str | None = None
) -> Iterator[Path]:
    """Yield a temp file path that replaces ``target`` when the block exits cleanly.

    ``kind`` as for :func:`atomic_dir` (a file kind recognizes its previous outputs by
    content, see :mod:`archetype._outputs`).
    """
    from archetype import _outputs

    target = Path(os.path.abspath(target))
    if kind is not None:
        _outputs.check_output(target, kind, overwrite=overwrite)
    elif os.path.lexists(target) and (target.is_symlink() or target.is_dir()):
        raise UserError(
            "exists and is not a plain file; archetype will not replace it", path=target
        )
    make_dirs(target.parent)
    clean_stale_tmp(target)
    tmp = tmp_sibling(target)
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, file_mode())
        if os.path.lexists(target):
            if kind is not None:
                _outputs.check_output(target, kind, overwrite=overwrite, appeared=True)
            elif not overwrite:
                raise UserError("exists; not replaced", path=target)
            if target.is_symlink() or target.is_dir():
                raise UserError(
                    "exists and is not a plain file; archetype will not replace it", path=target
                )
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json_atomic(
    target: str | Path, obj: Any, *, kind: str | None = None, overwrite: bool = True
) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    with atomic_file(target, kind=kind, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


# ------------------------------------------------------------------ locks


class DirLock:
    """An exclusive, non-blocking lock on a directory (``fcntl.flock`` on ``.lock``).

    The kernel drops the lock when the process dies, so a ``kill -9`` never leaves a stale
    lock.  A second holder fails at once with :class:`LockedError` (exit code 2).  The
    lock file is never followed if it is a symbolic link (its target is left alone).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        make_dirs(self.root)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            if e.errno == errno.ELOOP or self.path.is_symlink():
                raise UserError(
                    "is a symbolic link; remove it (archetype will not follow or truncate it)",
                    path=self.path,
                ) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UserError("is not a regular file; remove it", path=self.path)
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
