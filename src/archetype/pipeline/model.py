"""The model directory: ``manifest.json`` + ``centroids.npy``, written whole or not at all.

A model is what ``archetype fit`` and each nightly ``archetype run`` produce and what
``archetype assign`` reads.  Row ``i`` of ``centroids.npy`` is the segment whose stable id
is ``segment_ids[i]``; assignments report ``segment_ids[label]``, never the raw row index.

The manifest carries the feature transform (``transform``) so assignment re-applies the
exact scaling the model was fitted on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archetype._atomic import atomic_dir
from archetype.errors import UserError

MANIFEST = "manifest.json"
CENTROIDS = "centroids.npy"
FORMAT_VERSION = 1


@dataclass
class SegmentModel:
    """A fitted segmentation model.

    Parameters
    ----------
    centroids : ndarray of shape (k, d), float32
        Cluster centers in embedding space.
    feature_names : list of str
        Names of the embedding's input features (raw feature columns).
    transform : dict
        The fitted feature transform (``FeatureTransform.to_dict()``).
    metric : {"l2", "cosine"}
    segment_ids : list of int
        Stable segment id of each centroid row.
    segment_names : list of str, optional
        Human-readable name of each centroid row.
    """

    centroids: np.ndarray
    feature_names: list[str]
    transform: dict[str, Any]
    metric: str = "l2"
    segment_ids: list[int] = field(default_factory=list)
    segment_names: list[str] | None = None
    version: str | None = None
    parent: str | None = None
    date: str | None = None
    config_hash: str | None = None
    backend: str | None = None
    device: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    retired_ids: list[int] = field(default_factory=list)
    next_segment_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.centroids = np.ascontiguousarray(self.centroids, dtype=np.float32)
        if self.centroids.ndim != 2:
            raise ValueError(f"centroids must be 2-D, got shape {self.centroids.shape}")
        k = self.centroids.shape[0]
        if not self.segment_ids:
            self.segment_ids = list(range(k))
        if len(self.segment_ids) != k:
            raise ValueError(f"{len(self.segment_ids)} segment ids for {k} centroids")
        if self.next_segment_id is None:
            used = list(self.segment_ids) + list(self.retired_ids)
            self.next_segment_id = (max(used) + 1) if used else 0

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centroids.shape[1])

    def manifest(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("centroids")
        d["format_version"] = FORMAT_VERSION
        d["k"] = self.k
        d["dim"] = self.dim
        return d

    def save(self, path: str | Path, *, overwrite: bool = True) -> Path:
        """Write the model directory atomically; returns its path."""
        path = Path(path)
        with atomic_dir(path, overwrite=overwrite) as tmp:
            np.save(tmp / CENTROIDS, self.centroids)
            (tmp / MANIFEST).write_text(json.dumps(self.manifest(), indent=2, default=str) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SegmentModel:
        """Read a model directory; a missing or broken one is a :class:`UserError`."""
        path = Path(path)
        mf, cf = path / MANIFEST, path / CENTROIDS
        if not path.is_dir():
            raise UserError("model directory not found", path=path)
        if not mf.is_file() or not cf.is_file():
            raise UserError(f"not a model directory (needs {MANIFEST} and {CENTROIDS})", path=path)
        try:
            manifest = json.loads(mf.read_text())
            centroids = np.load(cf)
        except (OSError, ValueError) as e:
            raise UserError(f"unreadable model: {e}", path=path) from None
        manifest.pop("format_version", None)
        manifest.pop("k", None)
        manifest.pop("dim", None)
        known = set(cls.__dataclass_fields__) - {"centroids"}
        extra = {k: v for k, v in manifest.items() if k not in known}
        kwargs = {k: v for k, v in manifest.items() if k in known}
        kwargs.setdefault("extra", {}).update(extra)
        return cls(centroids=centroids, **kwargs)

    def segment_id_array(self) -> np.ndarray:
        """Stable ids as an int64 array indexed by centroid row (label → segment id)."""
        return np.asarray(self.segment_ids, dtype=np.int64)
