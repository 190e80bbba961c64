"""archetype.report."""
