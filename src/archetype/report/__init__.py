"""The self-contained HTML segment report (``archetype report``) and its plots."""

from __future__ import annotations

from archetype._lazy import lazy_getattr

_LAZY = {
    "ReportInputs": "html",
    "render_report": "html",
    "build_report": "build",
    "write_report": "build",
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
