"""Names a package exports but imports only on first use (so the CLI starts fast and
nothing heavy, such as torch or ray, loads until needed)::

    _LAZY = {"run_date": "run", "Registry": "registry"}   # name -> submodule
    __all__ = sorted(_LAZY)
    __getattr__ = lazy_getattr(__name__, _LAZY)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) giving ``name`` from ``package.table[name]``."""

    def __getattr__(name: str) -> Any:
        mod = table.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{mod}"), name)

    return __getattr__
