"""``archetype serve``: the HTTP API over :mod:`archetype.live` (FastAPI + uvicorn).

>>> from archetype.live import LiveSegmenter
>>> from archetype.serve import create_app
>>> app = create_app(LiveSegmenter.open("seg-root"))      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from archetype.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'archetype.serve' has no attribute {name!r}")
