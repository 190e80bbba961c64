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
        if len(set(self.segment_ids)) != k:
            raise ValueError(f"segment_ids {self.segment_ids} has duplicates")
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
        with atomic_dir(path, overwrite=overwrite, kind="model") as tmp:
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
            manifest = json.loads(mf.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"unreadable manifest: {e}", path=mf) from None
        try:
            centroids = np.load(cf, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise UserError(f"unreadable centroids: {e}", path=cf) from None
        kwargs = validate_manifest(manifest, centroids, mf)
        try:
            return cls(centroids=centroids, **kwargs)
        except (TypeError, ValueError) as e:
            raise UserError(f"invalid model: {e}", path=mf) from None

    def segment_id_array(self) -> np.ndarray:
        """Stable ids as an int64 array indexed by centroid row (label → segment id)."""
        return np.asarray(self.segment_ids, dtype=np.int64)


_STR_FIELDS = ("version", "parent", "date", "config_hash", "backend", "device")


def _int_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)


def validate_manifest(manifest: Any, centroids: np.ndarray, mf: Path) -> dict[str, Any]:
    """Check a loaded manifest + centroids; return the constructor's keyword arguments.

    Any tampering (not an object, wrong types, duplicate or missing segment ids, 1-D,
    string or non-finite centroids, k/dim that disagree with the centroids) is a
    :class:`UserError` naming the file and the field.
    """
    from archetype.vocab import Metric, choices

    def bad(what: str) -> UserError:
        return UserError(f"invalid model manifest: {what}", path=mf)

    if not isinstance(manifest, dict):
        raise bad(f"expected a JSON object, got {type(manifest).__name__}")
    cf = mf.with_name(CENTROIDS)
    if centroids.ndim != 2 or centroids.shape[0] < 1 or centroids.shape[1] < 1:
        raise UserError(
            f"centroids should be a non-empty 2-D array, got shape {centroids.shape}", path=cf
        )
    if centroids.dtype.kind not in "fiu":
        raise UserError(f"centroids should be numbers, got dtype {centroids.dtype}", path=cf)
    if not np.isfinite(centroids).all():
        raise UserError("centroids hold NaN or infinite values", path=cf)
    k, dim = centroids.shape
    for name, want in (("k", k), ("dim", dim)):
        if name in manifest and manifest[name] != want:
            raise bad(f"{name}={manifest[name]!r} but {CENTROIDS} has shape {centroids.shape}")
    m = {key: v for key, v in manifest.items() if key not in ("format_version", "k", "dim")}
    for name in ("feature_names", "transform"):
        if name not in m:
            raise bad(f"missing {name!r}")
    names = m["feature_names"]
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise bad("'feature_names' should be a list of strings")
    for name in ("transform", "metrics", "extra"):
        if name in m and not isinstance(m[name], dict):
            raise bad(f"{name!r} should be an object, got {type(m[name]).__name__}")
    metric = m.get("metric", "l2")
    if metric not in {x.value for x in Metric}:
        raise bad(f"metric={metric!r} should be {choices(Metric)}")
    ids = m.get("segment_ids") or list(range(k))
    if not _int_list(ids) or len(ids) != k:
        raise bad(f"'segment_ids' should be {k} integers (one per centroid), got {ids!r}")
    if len(set(ids)) != k:
        dup = sorted({x for x in ids if ids.count(x) > 1})
        raise bad(f"duplicate segment_ids {dup}")
    retired = m.get("retired_ids") or []
    if not _int_list(retired):
        raise bad("'retired_ids' should be a list of integers")
    if set(retired) & set(ids):
        raise bad(f"segment ids {sorted(set(retired) & set(ids))} are both live and retired")
    seg_names = m.get("segment_names")
    if seg_names is not None and (
        not isinstance(seg_names, list)
        or len(seg_names) != k
        or not all(isinstance(x, str) for x in seg_names)
    ):
        raise bad(f"'segment_names' should be {k} strings")
    nxt = m.get("next_segment_id")
    if nxt is not None and (
        not isinstance(nxt, int) or isinstance(nxt, bool) or nxt <= max([*ids, *retired])
    ):
        raise bad(f"next_segment_id={nxt!r} should be an integer above every used id")
    for name in _STR_FIELDS:
        if m.get(name) is not None and not isinstance(m[name], str):
            raise bad(f"{name!r} should be a string")
    known = set(SegmentModel.__dataclass_fields__) - {"centroids"}
    extra = {key: v for key, v in m.items() if key not in known}
    kwargs = {key: v for key, v in m.items() if key in known}
    kwargs["extra"] = {**(kwargs.get("extra") or {}), **extra}
    kwargs["metrics"] = kwargs.get("metrics") or {}
    return kwargs
