"""Peak memory of one measurement: each runs in a fresh interpreter.

A fresh process per measurement keeps one implementation's allocations (and allocator
caches) from leaking into the next one's figure.

Which number: on Linux the child reads its own ``VmHWM`` (``/proc/self/status``), the
high-water mark of the address space created by ``exec`` -- exactly its own peak.  The
rusage ``ru_maxrss`` that ``wait4``/``RUSAGE_CHILDREN`` report is *not* that: Linux carries
the pre-``exec`` image's high-water mark over, and with ``vfork`` (what :mod:`subprocess`
uses) that image is the parent's, so a child of a 300 MB parent "peaks" at >= 300 MB
however little it uses.  ``wait4``'s figure is kept as the fallback where ``/proc`` is
missing (macOS), and it is per child, unlike ``RUSAGE_CHILDREN`` (the largest child so far).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``ru_maxrss`` is in kilobytes on Linux, in bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


def maxrss_bytes(usage: resource.struct_rusage) -> int:
    """``ru_maxrss`` of a rusage record, in bytes."""
    return int(usage.ru_maxrss) * _MAXRSS_UNIT


def peak_rss_self() -> int:
    """Peak resident set of this process (of its current program image) so far, in bytes.

    ``VmHWM`` from ``/proc/self/status`` where it exists, else ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF))


def current_rss() -> int:
    """Current resident set of this process, in bytes (0 if it cannot be read)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # pragma: no cover - psutil is a dependency
        return 0


@dataclass
class ChildResult:
    """Outcome of one isolated run.

    Attributes
    ----------
    status : {"ok", "failed", "timeout"}
    payload : dict
        What the child wrote as its result (empty unless it wrote one).
    peak_rss_bytes : int
        Peak resident set of the child: its own ``VmHWM`` report, else ``wait4``'s
        ``ru_maxrss`` (see the module docstring).
    seconds_wall : float
        Wall time of the whole child, interpreter start included.
    stderr_tail : str
        Last lines of the child's stderr, for failure notes.
    """

    status: str
    payload: dict[str, Any]
    peak_rss_bytes: int
    seconds_wall: float
    stderr_tail: str


def run_isolated(
    module: str,
    spec: dict[str, Any],
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> ChildResult:
    """Run ``python -m module SPEC RESULT`` in a fresh interpreter and reap it with ``wait4``.

    Parameters
    ----------
    module : str
        Module run as ``__main__``; it reads the JSON spec from its first argument and
        writes a JSON result to its second.
    spec : dict
        JSON-ready description of the measurement.
    timeout : float, optional
        Seconds before the child (and its process group) is killed; status ``"timeout"``.
    env : dict, optional
        Extra environment variables for the child.
    """
    with tempfile.TemporaryDirectory(prefix="archetype-bench-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        result_path = Path(tmp) / "result.json"
        err_path = Path(tmp) / "stderr.txt"
        spec_path.write_text(json.dumps(spec))
        child_env = {**os.environ, **(env or {})}
        t0 = time.perf_counter()
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, str(spec_path), str(result_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=child_env,
                start_new_session=True,
            )
            status, usage = _reap(proc, timeout)
        wall = time.perf_counter() - t0
        payload: dict[str, Any] = {}
        if result_path.exists():
            payload = json.loads(result_path.read_text())
        tail = "\n".join(err_path.read_text(errors="replace").strip().splitlines()[-8:])
    if status == "ok" and proc.returncode != 0:
        status = "failed"
    peak = payload.get("peak_rss_self_bytes") or maxrss_bytes(usage)
    return ChildResult(status, payload, int(peak), wall, tail)


def _reap(proc: subprocess.Popen, timeout: float | None) -> tuple[str, resource.struct_rusage]:
    """Wait for ``proc`` with ``wait4`` (its own rusage), killing it after ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    status = "ok"
    delay = 0.002
    while True:
        pid, wstatus, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(wstatus)
            return status, usage
        if deadline is not None and time.monotonic() > deadline and status == "ok":
            status = "timeout"
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
