"""archetype.features."""
