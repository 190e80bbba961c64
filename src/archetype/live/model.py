"""The model the live service answers with, loaded from a pipeline root.

``archetype run`` leaves ``ROOT/models/CURRENT`` -> ``models/<version>/`` (centroids,
transform, stable segment ids and names) and the feature dir of that date
(``features/date=D/manifest.json``: channels, occasions, window, the events column map).
:func:`load_live_model` reads all of it into one immutable :class:`LiveModel`; the
segmenter holds one reference and swaps it whole, so a request that took the reference
answers entirely with one model.

This module reads the registry/model-dir formats (``archetype.pipeline.model``,
``registry``, ``layout``) and nothing else of the pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype.cluster.assign import assign
from archetype.errors import UserError
from archetype.events.config import EventsConfig
from archetype.features.context import day_number
from archetype.features.transform import FeatureTransform
from archetype.pipeline.layout import Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.privacy import load_key
from archetype.pipeline.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LiveModel:
    """Everything needed to turn customer states into answers, for one model version.

    Attributes
    ----------
    version : str
        Model version (the registry name, e.g. ``"2026-12-30"``).
    model : SegmentModel
    definition : FeatureDefinition
        ``archetype.live.state`` definition built from the model's feature manifest.
    transform : FeatureTransform
    window_days : int or None
        Lookback window of the features (``None``: all history).
    events_config : EventsConfig
        Column / event-type maps the nightly run read the log with.
    id_dtype : {"int", "str"}
        Type of the customer ids the model knows (after pseudonymization).
    pseudonymize_key : bytes or None
        The nightly run's HMAC key, when it pseudonymized ids.
    events_path : str or None
        The event log the model's features were built from.
    """

    version: str
    model: SegmentModel
    definition: Any
    transform: FeatureTransform
    window_days: int | None
    events_config: EventsConfig
    id_dtype: str
    pseudonymize_key: bytes | None = field(default=None, repr=False)
    events_path: str | None = None
    assign_backend: str = "numpy"
    model_day: int = 0
    hysteresis: float = 0.0

    @property
    def base_version(self) -> str:
        """The nightly model's version (online-centroid versions are ``<base>+<n>``):
        assignments made by any version of one base are not stale for another."""
        return self.version.split("+", 1)[0]

    def with_centroids(
        self, centroids: np.ndarray, version: str, hysteresis: float | None = None
    ) -> LiveModel:
        """The same model with other centroids (same ids, transform), named ``version``."""
        import dataclasses

        m = dataclasses.replace(
            self.model, centroids=centroids, version=version, parent=self.version
        )
        h = self.hysteresis if hysteresis is None else float(hysteresis)
        return dataclasses.replace(self, version=version, model=m, hysteresis=h)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.definition.feature_names)

    @property
    def segment_ids(self) -> np.ndarray:
        return self.model.segment_id_array()

    def segment_name(self, segment_id: int | None) -> str | None:
        if segment_id is None:
            return None
        names = self.__dict__.get("_names")
        if names is None:  # built once per model (frozen dataclass: set through __dict__)
            names = dict(zip(self.model.segment_ids, self.model.segment_names or [], strict=False))
            self.__dict__["_names"] = names
        return names.get(int(segment_id))

    def horizon(self, as_of_day: int, first_day: int | None) -> int:
        """Horizon of the feature build: the window, or days since the log's first event."""
        if self.window_days is not None:
            return int(self.window_days)
        if first_day is None:
            return 1
        return max(1, as_of_day - first_day + 1)

    @property
    def transform_columns(self) -> np.ndarray:
        """Column of each transform input among the raw features (the transform may leave
        some raw features out of the embedding: constant, never defined, duplicates)."""
        cols = self.__dict__.get("_cols")
        if cols is None:  # once per model (frozen dataclass: set through __dict__)
            pos = {n: j for j, n in enumerate(self.feature_names)}
            cols = np.array([pos[n] for n in self.transform.feature_names], dtype=np.intp)
            self.__dict__["_cols"] = cols
        return cols

    def embed(self, raw: np.ndarray) -> np.ndarray:
        """Raw features (n, d_raw) float64, in :attr:`feature_names` order -> embedding
        (n, d) float32, exactly as the batch transform computes it."""
        x = np.asarray(raw, dtype=np.float64)[:, self.transform_columns]
        fast = getattr(self.transform, "transform_numpy", None)
        if fast is not None:
            return fast(x)
        df = pl.DataFrame(x, schema=list(self.transform.feature_names), orient="row")
        return self.transform.transform(df)

    def nearest(
        self, emb: np.ndarray, current: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(segment ids, distances, margins) of embedding rows (``cluster.assign``).

        With ``hysteresis > 0`` and ``current`` (each row's segment id now, -1 for none), a
        row stays in its current segment unless the nearest is closer by that factor
        (``d_nearest <= (1 - hysteresis) * d_current``; see ``archetype.live.learning``).
        """
        if emb.shape[0] == 0:
            z = np.empty(0, np.float32)
            return np.empty(0, np.int64), z, z
        a = assign(
            emb,
            self.model.centroids,
            metric=self.model.metric,
            backend=self.assign_backend,
            device="cpu",
        )
        ids = self.segment_ids[a.labels]
        if self.hysteresis > 0 and current is not None:
            ids, dist = self._sticky(emb, ids, a.distances, np.asarray(current, np.int64))
            return ids, dist, a.margin
        return ids, a.distances, a.margin

    def _sticky(self, emb, ids, dist, current):
        row = {int(s): i for i, s in enumerate(self.segment_ids)}
        cur = np.array([row.get(int(c), -1) for c in current], dtype=np.int64)
        has = np.flatnonzero((cur >= 0) & (ids != current))
        if has.size == 0:
            return ids, dist
        x = np.asarray(emb[has], dtype=np.float64)
        c = np.asarray(self.model.centroids[cur[has]], dtype=np.float64)
        if self.model.metric == "cosine":
            xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
            cn = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-30)
            d_cur = 1.0 - (xn * cn).sum(1)  # cluster.assign: 1 - cos
        else:
            d_cur = ((x - c) ** 2).sum(1)
        stay = dist[has] > (1.0 - self.hysteresis) * d_cur
        ids, dist = ids.copy(), dist.copy()
        ids[has[stay]] = current[has[stay]]
        dist[has[stay]] = d_cur[stay].astype(dist.dtype)
        return ids, dist


def _definition_from_manifest(manifest: dict[str, Any]) -> Any:
    from archetype.live.state import FeatureDefinition

    return FeatureDefinition.from_feature_manifest(manifest)


def _id_dtype(features_dir: Path) -> str:
    try:
        dtype = pl.read_parquet_schema(features_dir / "ids.parquet")["customer_id"]
    except (OSError, KeyError, pl.exceptions.PolarsError) as e:
        raise UserError(f"cannot read customer ids ({e})", path=features_dir) from None
    return "int" if dtype.is_integer() else "str"


def _privacy(root: Path, date: str) -> tuple[bool, str | None]:
    rec = root / "runs" / f"{date}.json"
    try:
        cfg = json.loads(rec.read_text()).get("config") or {}
    except (OSError, ValueError):
        return False, None
    return bool(cfg.get("pseudonymize")), cfg.get("key_env")


def load_live_model(
    root: str | Path,
    version: str | None = None,
    *,
    definition_factory: Callable[[dict[str, Any]], Any] | None = None,
    assign_backend: str = "numpy",
) -> LiveModel:
    """Load the CURRENT model (or ``version``) of pipeline ``root`` with its feature settings.

    Raises
    ------
    UserError
        No model in the registry, missing feature dir of the model's date, or the run
        pseudonymized ids and the key's environment variable is not set.
    """
    root = Path(root)
    reg = Registry(root)
    v = version or reg.current()
    if v is None:
        raise UserError(
            "no current model (models/CURRENT is missing); run `archetype run` first",
            path=root,
        )
    model = reg.load(v)
    if not model.date:
        raise UserError(f"model {v} has no date in its manifest", path=reg.path(v))
    fdir = Layout(root).features(dt.date.fromisoformat(model.date))
    mf = fdir / "manifest.json"
    if not mf.is_file():
        raise UserError(
            f"the feature dir of model {v} is missing (the live features need its manifest)",
            path=fdir,
        )
    try:
        manifest = json.loads(mf.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"unreadable feature manifest ({e})", path=mf) from None
    definition = (definition_factory or _definition_from_manifest)(manifest)
    transform = FeatureTransform.from_dict(model.transform)
    missing = [n for n in transform.feature_names if n not in set(definition.feature_names)]
    if missing:
        raise UserError(
            f"model {v}: its transform needs feature(s) {', '.join(missing[:5])} that the live "
            "feature definition does not compute",
            path=reg.path(v),
        )
    pseudo, key_env = _privacy(root, model.date)
    key = load_key(key_env or "ARCHETYPE_ID_KEY") if pseudo else None
    window = manifest.get("window_days")
    return LiveModel(
        version=v,
        model=model,
        definition=definition,
        transform=transform,
        window_days=None if window is None else int(window),
        events_config=EventsConfig.from_dict(manifest.get("events_config") or {}),
        id_dtype="str" if key is not None else _id_dtype(fdir),
        pseudonymize_key=key,
        events_path=manifest.get("events_path"),
        assign_backend=assign_backend,
        model_day=day_number(dt.date.fromisoformat(model.date)),
    )
