"""``archetype serve``: the HTTP API over :mod:`archetype.live` (FastAPI + uvicorn).

>>> from archetype.live import LiveSegmenter
>>> from archetype.serve import create_app
>>> app = create_app(LiveSegmenter.open("seg-root"))      # doctest: +SKIP
"""

from __future__ import annotations

from archetype._lazy import lazy_getattr

__all__ = ["create_app"]
__getattr__ = lazy_getattr(__name__, {"create_app": "app"})
