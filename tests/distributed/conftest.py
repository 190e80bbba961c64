"""One local Ray for the whole distributed test session (starting Ray costs seconds)."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """A private local Ray with 2 CPUs, shut down at the end of the session."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs ray (pip install 'archetype[ray]')")
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield ray
    if started:
        ray.shutdown()
