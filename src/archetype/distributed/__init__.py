"""archetype.distributed."""
