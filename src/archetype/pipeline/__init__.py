"""The nightly pipeline: config, model registry, run, backfill, forget, engines.

Names are imported lazily (``from archetype.pipeline import run_date``) so the CLI starts
fast and nothing heavy (torch, ray) loads until used.  See docs/pipeline.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "RunConfig": "config",
    "run_date": "run",
    "backfill": "history",
    "backfill_assign": "history",
    "date_range": "history",
    "Registry": "registry",
    "forget": "erasure",
    "LocalEngine": "engine",
    "get_engine": "engine",
    "Layout": "layout",
    "SegmentModel": "model",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'archetype.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(f"archetype.pipeline.{mod}"), name)
