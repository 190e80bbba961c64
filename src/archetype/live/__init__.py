"""The live side: incremental features, state stores, live assignment, triggers,
experiments and online centroids.  Nothing here knows HTTP (``archetype.serve`` wraps it).
"""
