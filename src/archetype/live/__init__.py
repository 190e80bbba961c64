"""The live side: per-event feature state, durable stores, the live segmenter.

Heavy modules load lazily, so ``import archetype.live`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "LiveSegmenter": "archetype.live.segmenter",
    "Applied": "archetype.live.listeners",
    "open_store": "archetype.live.store",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archetype.live' has no attribute {name!r}")
