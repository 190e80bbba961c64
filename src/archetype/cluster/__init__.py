"""archetype.cluster."""
