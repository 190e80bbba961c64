"""The benchmark's entries: every implementation of every stage, ours, peers and floors.

An entry names the function the worker calls (``"module:function"``) and what it needs
importable.  An entry whose needs do not import is shown as "not available" with the
reason, and the rest of the suite runs: each stage of archetype is pluggable.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

#: Stages in the order a suite runs them (data stages first: later ones read their output).
STAGES = ("synth", "features", "nightly", "bandwidth", "pass", "fit", "assign")
#: Stages a user may select with ``--stages``.
USER_STAGES = ("synth", "features", "fit", "assign", "nightly")
ROLES = ("ours", "peer", "floor")
BOTH = ("cpu", "cuda")

_OURS = "archetype.bench.ours"
_PEERS = "archetype.bench.direct_peers"
_FLOORS = "archetype.bench.floors"


@dataclass(frozen=True)
class Entry:
    """One implementation of one stage.

    Attributes
    ----------
    stage : str
    impl : str
        Name shown in the table and the JSON (``"archetype"`` for ours).
    role : {"ours", "peer", "floor"}
    target : str
        ``"module:function"`` called by the worker as ``fn(spec, X, C)``.
    needs : tuple of str
        ``"module"`` or ``"module:attribute"`` that must import for the entry to run.
    devices : tuple of str
        Devices it can run on.
    params : dict
        Extra spec fields (e.g. ``{"backend": "numba"}``).
    """

    stage: str
    impl: str
    role: str
    target: str
    needs: tuple[str, ...] = ()
    devices: tuple[str, ...] = BOTH
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


ENTRIES: tuple[Entry, ...] = (
    Entry("synth", "archetype", "ours", f"{_OURS}:synth", ("archetype.synth:generate",), ("cpu",)),
    Entry("features", "archetype", "ours", f"{_OURS}:features",
          ("archetype.events:read_events", "archetype.features:build_features"), ("cpu",)),
    Entry("features", "duckdb", "peer", f"{_OURS}:features_duckdb",
          ("duckdb", "archetype.bench.duckdb_features"), ("cpu",)),
    Entry("nightly", "archetype", "ours", f"{_OURS}:nightly",
          ("archetype.pipeline.run:run_date", "archetype.pipeline.config:RunConfig")),
    Entry("bandwidth", "numpy-read", "floor", f"{_FLOORS}:bandwidth_read", (), ("cpu",)),
    Entry("bandwidth", "numpy-copy", "floor", f"{_FLOORS}:bandwidth_copy", (), ("cpu",)),
    Entry("bandwidth", "torch-copy", "floor", f"{_FLOORS}:bandwidth_device", ("torch",),
          ("cuda",)),
    Entry("pass", "archetype", "ours", f"{_OURS}:lloyd_pass",
          ("archetype.cluster:partial_stats",)),
    Entry("pass", "torch", "peer", f"{_PEERS}:pass_torch", ("torch",)),
    Entry("pass", "gemm", "floor", f"{_FLOORS}:gemm", ("torch",)),
    Entry("fit", "archetype", "ours", f"{_OURS}:fit", ("archetype:MiniBatchKMeans",)),
    Entry("fit", "sklearn-kmeans", "peer", f"{_PEERS}:fit_sklearn_kmeans", ("sklearn",), ("cpu",)),
    Entry("fit", "sklearn-minibatch", "peer", f"{_PEERS}:fit_sklearn_minibatch", ("sklearn",),
          ("cpu",)),
    Entry("fit", "faiss", "peer", f"{_PEERS}:fit_faiss", ("faiss",)),
    Entry("fit", "torch-lloyd", "peer", f"{_PEERS}:fit_torch_lloyd", ("torch",)),
    Entry("fit", "gemm", "floor", f"{_FLOORS}:gemm", ("torch",)),
    Entry("assign", "archetype", "ours", f"{_OURS}:assign", ("archetype.cluster:assign",)),
    Entry("assign", "faiss", "peer", f"{_PEERS}:assign_faiss", ("faiss",)),
    Entry("assign", "sklearn", "peer", f"{_PEERS}:assign_sklearn", ("sklearn",), ("cpu",)),
    Entry("assign", "torch", "peer", f"{_PEERS}:assign_torch", ("torch",)),
    Entry("assign", "gemm", "floor", f"{_FLOORS}:gemm", ("torch",)),
)

#: Backend variants of our fit, measured in the full suite beside ``backend="auto"``.
BACKEND_VARIANTS: tuple[Entry, ...] = tuple(
    Entry("fit", f"archetype-{b}", "ours", f"{_OURS}:fit", ("archetype:MiniBatchKMeans",),
          BOTH if b != "numba" else ("cpu",), {"backend": b})
    for b in ("torch", "faiss", "numba")
)


def entries_for(stage: str, *, variants: bool = False) -> list[Entry]:
    """The entries of ``stage`` (with our backend variants if ``variants``)."""
    pool = ENTRIES + (BACKEND_VARIANTS if variants else ())
    return [e for e in pool if e.stage == stage]


@cache
def unavailable_reason(entry: Entry) -> str | None:
    """``None`` if every need of ``entry`` imports, else why not (one line)."""
    for need in entry.needs:
        module, _, attr = need.partition(":")
        try:
            mod = importlib.import_module(module)
        except Exception as e:  # ImportError, or a half-built module failing at import
            return f"{module} not available ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
        if attr:
            try:
                getattr(mod, attr)
            except Exception:  # AttributeError, or a lazy attribute failing to import
                return f"{module}.{attr} not available yet"
    return None
