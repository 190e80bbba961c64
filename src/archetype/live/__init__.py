"""The live side: per-event feature state, live assignment, triggers, experiments and
online centroids (see docs/serve.md, docs/triggers.md).

Nothing here knows HTTP (``archetype.serve`` wraps it).  Submodules are imported on
demand, so ``import archetype.live`` stays light:

>>> from archetype.live.state import FeatureDefinition, LiveEvent   # doctest: +SKIP
>>> from archetype.live import LiveSegmenter                         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "LiveSegmenter": "archetype.live.segmenter",
    "Applied": "archetype.live.listeners",
    "open_store": "archetype.live.store",
    "Automation": "archetype.live.automation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archetype.live' has no attribute {name!r}")
