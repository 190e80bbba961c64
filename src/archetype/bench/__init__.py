"""archetype.bench."""
