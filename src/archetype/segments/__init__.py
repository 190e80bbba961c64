"""Understanding segments: profiles, names, suggested triggers, choosing k, id matching.

Names are imported lazily (``from archetype.segments import profile_segments``) so each
module loads only when used.
"""

from __future__ import annotations

from archetype._lazy import lazy_getattr

_LAZY = {
    "SegmentProfiles": "profiles",
    "profile_segments": "profiles",
    "name_segments": "naming",
    "explain_names": "naming",
    "SegmentName": "naming",
    "describe_segment": "evidence",
    "RULES": "rules",
    "SegmentsConfig": "config",
    "customer_states": "lifecycle",
    "suggest_triggers": "triggers",
    "TRIGGERS": "triggers",
    "SweepResult": "sweep",
    "sweep_k": "sweep",
    "parse_k_range": "sweep",
    "match_segments": "matching",
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
