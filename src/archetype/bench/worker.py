"""One measurement in a fresh interpreter: ``python -m archetype.bench.worker SPEC RESULT``.

Reads the JSON spec, loads the data (fully into memory, outside the timed region), warms the
entry up, calls it ``rounds`` times (the fastest round is kept: contention from other
processes only ever adds time), recomputes quality the same way for every implementation, and
writes a JSON result.  The parent reads this process's peak RSS from ``wait4``; GPU peak
memory (``torch.cuda.max_memory_allocated``) is reported from here.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from archetype.bench.memory import current_rss, peak_rss_self
from archetype.bench.timing import (
    Measured,
    Unavailable,
    inertia_from_centers,
    inertia_from_labels,
)


def resolve(target: str):
    """``"package.module:function"`` -> the function."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the measurement described by ``spec`` in this process; return the result dict."""
    try:
        fn = resolve(spec["target"])
    except (ImportError, AttributeError) as e:
        return {"status": "unavailable", "note": f"{type(e).__name__}: {e}"}
    paths = spec.get("paths", {})
    X = np.load(paths["X"]) if "X" in paths else None
    C = np.load(paths["C"]) if "C" in paths else None
    try:
        warm = warm_up(fn, spec, X, C)
    except Unavailable as e:
        return {"status": "unavailable", "note": str(e)}
    cuda = spec["device"].startswith("cuda")
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = current_rss()
    m: Measured = fn(spec, X, C)
    rounds = [m.seconds]
    # best of rounds (robust to noise); not for data stages, which write their outputs
    for _ in range(int(spec.get("rounds", 1)) - 1 if X is not None else 0):
        again = fn(spec, X, C)
        rounds.append(again.seconds)
        if again.seconds < m.seconds:
            m = again
    out: dict[str, Any] = {
        "status": "ok",
        "seconds": float(m.seconds),
        "rss_before_bytes": rss_before,
        "peak_rss_self_bytes": peak_rss_self(),
        "extra": dict(m.extra),
    }
    if warm is not None:
        out["extra"]["warmup_seconds"] = warm
    if len(rounds) > 1:
        out["extra"]["rounds_seconds"] = rounds
    if cuda:
        import torch

        out["gpu_peak_mem_bytes"] = int(torch.cuda.max_memory_allocated())
    inertia = m.inertia
    if inertia is None and X is not None:
        if m.labels is not None and C is not None:
            inertia = inertia_from_labels(X, C, m.labels)
        elif m.centers is not None:
            inertia = inertia_from_centers(X, np.asarray(m.centers))
    out["inertia"] = None if inertia is None else float(inertia)
    return out


def warm_up(fn, spec: dict[str, Any], X, C) -> float | None:
    """Call ``fn`` once, untimed, on the first few thousand rows (JIT compiles, caches, lazy
    CUDA init), so the measurement is the steady state.  Returns the warm-up's seconds."""
    if X is None or C is None or not spec.get("warmup", True):
        return None
    # two mini-batches at least (scikit-learn's MiniBatchKMeans fails on a single step)
    rows = min(X.shape[0], max(4 * C.shape[0], 4096, 2 * int(spec.get("batch_size", 0))))
    t0 = time.perf_counter()
    fn({**spec, "iters": 1, "repeats": 1, "n": rows}, np.ascontiguousarray(X[:rows]), C)
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(Path(argv[0]).read_text())
    try:
        result = measure(spec)
    except Exception as e:  # reported as a failed line, not a crash of the suite
        result = {
            "status": "failed",
            "note": f"{type(e).__name__}: {e}".splitlines()[0][:300],
            "traceback": traceback.format_exc()[-2000:],
        }
    Path(argv[1]).write_text(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
