"""Worker process pools that die with their parent.

``backfill --assign-only --jobs N`` runs dates in a spawn ``ProcessPoolExecutor``.  Two
ways such pools outlive a dead parent are closed here:

* the parent is killed (``kill -9``, OOM killer): each worker asks the kernel for SIGKILL
  when its parent dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) and, everywhere, watches
  its parent pid from a daemon thread and exits when it changes;
* the parent stops on an error, Ctrl-C or SIGTERM (raised as
  :class:`~archetype.errors.Interrupted`): :func:`worker_pool` cancels pending dates and
  kills the workers instead of waiting for them.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1
POLL_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: this worker exits when ``parent_pid`` does."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _kill(pool: ProcessPoolExecutor) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(5)


@contextlib.contextmanager
def worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A spawn process pool of ``jobs`` workers tied to this process's life."""
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=mp.get_context("spawn"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        yield pool
    except BaseException:
        _kill(pool)
        raise
    pool.shutdown(wait=True)
