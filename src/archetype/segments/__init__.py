"""archetype.segments."""
