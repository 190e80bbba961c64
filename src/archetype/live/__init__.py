"""The live side: per-event feature state, live assignment, triggers (see docs/serve.md).

Nothing here knows HTTP (``archetype.serve`` wraps it).  Submodules are imported on
demand, so ``import archetype.live`` stays light:

>>> from archetype.live.state import FeatureDefinition, LiveEvent   # doctest: +SKIP
"""
