"""Understanding segments: profiles, names, suggested triggers, choosing k, id matching.

Names are imported lazily (``from archetype.segments import profile_segments``) so each
module loads only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'archetype.segments' has no attribute {name!r}")
    return getattr(importlib.import_module(f"archetype.segments.{mod}"), name)
