"""archetype.pipeline."""
