"""What machine a benchmark ran on: CPU, cores, memory, GPU, library versions.

Every result file carries this block so that figures from different machines are never
compared blindly.  Nothing here fails: a field that cannot be read is ``None``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from importlib import metadata
from typing import Any

#: Distributions whose versions go into every result file (import name -> distribution).
LIBRARIES = {
    "numpy": "numpy",
    "polars": "polars",
    "torch": "torch",
    "faiss": "faiss-cpu",
    "sklearn": "scikit-learn",
    "duckdb": "duckdb",
    "numba": "numba",
    "archetype": "archetype",
}

_FAISS_DISTS = ("faiss-cpu", "faiss-gpu", "faiss-gpu-cu12", "faiss-gpu-cu11", "faiss")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :mod:`platform`)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the benchmark compares, ``None`` when absent."""
    out: dict[str, str | None] = {}
    for name, dist in LIBRARIES.items():
        candidates = _FAISS_DISTS if name == "faiss" else (dist,)
        out[name] = None
        for cand in candidates:
            with contextlib.suppress(metadata.PackageNotFoundError):
                out[name] = metadata.version(cand)
                break
    return out


def gpu_info() -> dict[str, Any] | None:
    """Name, memory and CUDA version of GPU 0, or ``None`` without CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {
        "name": props.name,
        "memory_bytes": int(props.total_memory),
        "count": int(torch.cuda.device_count()),
        "cuda": torch.version.cuda,
        "capability": f"{props.major}.{props.minor}",
    }


def machine_info() -> dict[str, Any]:
    """Everything about the machine a result depends on, as a JSON-ready dict."""
    ram = None
    physical = None
    with contextlib.suppress(ImportError):
        import psutil

        ram = int(psutil.virtual_memory().total)
        physical = psutil.cpu_count(logical=False)
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_cores_logical": os.cpu_count(),
        "cpu_cores_physical": physical,
        "cpu_cores_usable": usable_cores(),
        "ram_bytes": ram,
        "gpu": gpu_info(),
        "libraries": library_versions(),
    }
