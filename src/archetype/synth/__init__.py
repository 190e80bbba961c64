"""archetype.synth."""
