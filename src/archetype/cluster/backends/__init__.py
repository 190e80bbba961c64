"""archetype.cluster.backends."""
