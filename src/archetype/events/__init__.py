"""archetype.events."""
