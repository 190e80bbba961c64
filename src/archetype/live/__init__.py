"""The live side: per-event feature state, live assignment, triggers, experiments and
online centroids (see docs/serve.md, docs/triggers.md).

Nothing here knows HTTP (``archetype.serve`` wraps it).  Submodules are imported on
demand, so ``import archetype.live`` stays light:

>>> from archetype.live.state import FeatureDefinition, LiveEvent   # doctest: +SKIP
>>> from archetype.live import LiveSegmenter                         # doctest: +SKIP
"""

from __future__ import annotations

from archetype._lazy import lazy_getattr

_LAZY = {
    "LiveSegmenter": "segmenter",
    "Applied": "listeners",
    "open_store": "store",
    "Automation": "automation",
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
