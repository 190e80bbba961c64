"""pytest-benchmark suites: ``pytest benchmarks/ --benchmark-only``.

Never part of the test run (``testpaths = ["tests"]``).  The files here are named
``bench_*.py``; this conftest collects those that hold ``test_`` functions (the others are
plain scripts with a ``main``).  Sizes: ``ARCHETYPE_BENCH_N`` rows (default 200000),
``ARCHETYPE_BENCH_K`` clusters (16), ``ARCHETYPE_BENCH_D`` dims (32).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def pytest_collect_file(file_path: Path, parent):
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and "def test_" in file_path.read_text(errors="replace")
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@pytest.fixture(scope="session")
def sizes() -> dict[str, int]:
    return {
        "n": _env_int("ARCHETYPE_BENCH_N", 200_000),
        "k": _env_int("ARCHETYPE_BENCH_K", 16),
        "d": _env_int("ARCHETYPE_BENCH_D", 32),
    }


@pytest.fixture(scope="session")
def matrix(sizes, tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """The harness's shared planted-blob matrix and initial centers, in memory."""
    from archetype.bench.suite import blob_matrix, initial_centers

    root = tmp_path_factory.mktemp("bench-data")
    xp = blob_matrix(root / "X.npy", sizes["n"], sizes["d"], seed=0)
    cp = initial_centers(root / "C.npy", xp, sizes["k"], seed=0)
    return np.load(xp), np.load(cp)


@pytest.fixture(scope="session")
def device() -> str:
    """``ARCHETYPE_BENCH_DEVICE`` (cpu or cuda; default cuda when available)."""
    want = os.environ.get("ARCHETYPE_BENCH_DEVICE", "auto")
    from archetype.bench.harness import resolve_device

    return resolve_device(want)
