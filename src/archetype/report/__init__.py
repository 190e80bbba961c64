"""The self-contained HTML segment report (``archetype report``) and its plots."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ReportInputs": "html",
    "render_report": "html",
    "build_report": "build",
    "write_report": "build",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'archetype.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"archetype.report.{mod}"), name)
