"""Fixtures of the service tests: small real pipeline roots (synth + the nightly run)."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import polars as pl
import pytest

from archetype.live.testing import make_pipeline_root, read_log

KEY_ENV = "ARCHETYPE_TEST_SERVE_KEY"
END = dt.date(2026, 12, 31)


@pytest.fixture(scope="session")
def root_now(tmp_path_factory):
    """(events dir, root, log) with the model of the log's last day (window 30)."""
    ev, root = make_pipeline_root(
        tmp_path_factory.mktemp("now"), customers=600, days=60, seed=7, window_days=30
    )
    return ev, root, read_log(ev)


@pytest.fixture(scope="session")
def root_earlier(tmp_path_factory):
    """A model of 2026-12-20 over a log running to 12-31 (events after the model's date)."""
    ev, root = make_pipeline_root(
        tmp_path_factory.mktemp("earlier"),
        customers=500,
        days=50,
        seed=3,
        window_days=21,
        model_date=dt.date(2026, 12, 20),
    )
    return ev, root, read_log(ev)


@pytest.fixture(scope="session")
def root_private(tmp_path_factory):
    """A pseudonymizing run (key in KEY_ENV, set for the session)."""
    os.environ[KEY_ENV] = "test-secret-key"
    ev, root = make_pipeline_root(
        tmp_path_factory.mktemp("private"),
        customers=300,
        days=40,
        seed=5,
        window_days=None,
        pseudonymize_env=KEY_ENV,
    )
    return ev, root, read_log(ev)


def shuffled_with_duplicates(log: pl.DataFrame, seed: int, dup_share: float = 0.05):
    """The log in random order with ``dup_share`` of its rows sent twice."""
    rng = np.random.default_rng(seed)
    n = log.height
    dups = log[rng.choice(n, int(n * dup_share), replace=False).tolist()]
    both = pl.concat([log, dups])
    return both[rng.permutation(both.height).tolist()]


def batches(df: pl.DataFrame, size: int):
    for s in range(0, df.height, size):
        yield df.slice(s, size)
