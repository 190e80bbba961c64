"""Connecting to Ray: one place that imports it, starts or joins a cluster, and maps errors.

Ray is an optional extra (``pip install 'archetype[ray]'``).  Every other module of
``archetype.distributed`` gets Ray through :func:`require_ray`, so a missing install is one
clear :class:`~archetype.errors.UserError` instead of an ``ImportError`` deep in a stack.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import Any

from archetype.errors import UserError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'archetype[ray]'"


def require_ray() -> ModuleType:
    """Import and return the ``ray`` module, or raise a :class:`UserError` saying how to get it."""
    try:
        import ray
    except ImportError as e:  # pragma: no cover - exercised only without ray
        raise UserError(f"--engine ray needs Ray installed ({INSTALL_HINT})") from e
    return ray


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> ModuleType:
    """Make sure this process is connected to a Ray cluster and return ``ray``.

    Parameters
    ----------
    address : str, optional
        ``"auto"``, ``"ray://head:10001"``, ``"head:6379"``, or ``None``.  ``None`` uses
        ``RAY_ADDRESS`` when set, else starts a private local Ray (one "node" of this
        machine).  Ignored when this process is already connected (the caller's cluster wins).
    num_cpus : int, optional
        CPUs for a private local Ray only.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
    if address is None:
        kwargs.update(include_dashboard=False, num_cpus=num_cpus)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise UserError(f"cannot connect to the Ray cluster at {address!r}: {e}") from e
    log.info("connected to Ray at %s", address or "a new local instance")
    return ray


def cluster_cpus(ray: ModuleType) -> int:
    """Number of CPUs the connected cluster offers (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
