"""The nightly pipeline: config, model registry, run, backfill, forget, engines.

Names are imported lazily (``from archetype.pipeline import run_date``) so the CLI starts
fast and nothing heavy (torch, ray) loads until used.  See docs/pipeline.md.
"""

from __future__ import annotations

from archetype._lazy import lazy_getattr

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
__getattr__ = lazy_getattr(__name__, _LAZY)
