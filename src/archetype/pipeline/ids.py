"""The one path by which customer ids reach a stored feature dir: pseudonyms + suppression.

``run`` (:func:`archetype.pipeline.steps.build_features`) and ``backfill --assign-only``
(:mod:`archetype.pipeline.history`) both call :func:`engine_features`:

* with a key, an engine that ``supports_id_map`` gets ``id_map=`` and writes pseudonyms
  directly (raw ids never reach a file it writes); other engines write into the caller's
  private staging dir, whose ids are replaced before it is promoted;
* customers on ROOT's suppression list (``archetype forget``) are dropped from the ids,
  features and embedding rows before the dir is promoted, so a forgotten customer never
  comes back from the event log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype.pipeline.privacy import Suppression, pseudonymize_series


@dataclass
class Features:
    """What a run needs of a feature dir (ids possibly pseudonymized)."""

    ids: pl.Series
    features: pl.DataFrame
    embedding: np.ndarray
    transform: Any
    path: Path
    suppressed: int = 0

    @property
    def transform_dict(self) -> dict[str, Any]:
        t = self.transform
        return t if isinstance(t, dict) else t.to_dict()

    @property
    def feature_names(self) -> list[str]:
        t = self.transform
        if isinstance(t, dict):
            return list(t.get("feature_names") or [])
        return list(t.feature_names)


def feature_config(cfg: Any) -> dict[str, Any] | None:
    """The ``config=`` of ``compute_feature_dir``: the [events]/[features] tables as a dict."""
    if not cfg.events_table and not cfg.features_table:
        return None
    return {"events": cfg.events_table, "features": cfg.features_table}


def engine_features(
    engine: Any,
    cfg: Any,
    date: dt.date,
    out_dir: Path,
    *,
    transform: Any,
    key: bytes | None,
    suppress: Suppression | None = None,
    tracker: Any = None,
) -> Features:
    """Features as of ``date`` written into ``out_dir`` (a private staging dir) with the
    final ids: pseudonymized with ``key``, suppressed customers removed."""
    out_dir = Path(out_dir)
    direct = key is not None and bool(getattr(engine, "supports_id_map", False))
    gone_ps: set[str] = set()
    extra: dict[str, Any] = {}
    if direct:

        def id_map(raw: pl.Series) -> pl.Series:
            ps = pseudonymize_series(raw, key=key)
            if suppress:
                gone_ps.update(ps.filter(pl.Series(suppress.mask(raw, ps))).to_list())
            return ps

        extra["id_map"] = id_map
    fs = engine.features(
        cfg.events,
        date,
        out_dir,
        config=feature_config(cfg),
        window_days=cfg.window_days,
        transform=transform,
        tracker=tracker,
        **extra,
    )
    ids, feats, emb = fs.ids, fs.features, fs.embedding
    rewrite = False
    drop = None
    if key is not None and not direct:
        ps = pseudonymize_series(fs.ids, key=key)
        if suppress:
            drop = suppress.mask(fs.ids, ps)
        mapping = pl.DataFrame({"__raw": fs.ids, "__ps": ps})
        feats = (
            fs.features.join(
                mapping, left_on="customer_id", right_on="__raw", how="left", maintain_order="left"
            )
            .with_columns(pl.col("__ps").alias("customer_id"))
            .drop("__ps")
        )
        ids, rewrite = ps, True
    elif direct and gone_ps:
        drop = ids.is_in(list(gone_ps)).to_numpy()
    elif key is None and suppress:
        drop = suppress.mask(ids, None)
    n_drop = int(drop.sum()) if drop is not None else 0
    if n_drop:
        keep = ~drop
        ids = ids.filter(pl.Series(keep))
        emb = np.ascontiguousarray(np.asarray(emb)[keep])
        feats = feats.filter(pl.col("customer_id").is_in(ids.implode()))
        rewrite = True
    if rewrite:
        _rewrite(out_dir, ids, feats, emb if n_drop else None, n_drop)
    return Features(
        ids=ids,
        features=feats,
        embedding=emb,
        transform=fs.transform,
        path=out_dir,
        suppressed=n_drop,
    )


def _rewrite(
    d: Path, ids: pl.Series, feats: pl.DataFrame, emb: np.ndarray | None, n_drop: int
) -> None:
    """Replace the id-bearing files of the staging dir ``d`` (each via temp + rename)."""

    def put(name: str, write) -> None:
        tmp = d / f".{name}.{os.getpid()}.part"
        write(tmp)
        os.replace(tmp, d / name)

    put("features.parquet", feats.write_parquet)
    put("ids.parquet", pl.DataFrame({"customer_id": ids}).write_parquet)
    if emb is not None:

        def save(p: Path) -> None:
            with open(p, "wb") as fh:
                np.save(fh, emb)

        put("embedding.npy", save)
    mf = d / "manifest.json"
    if n_drop and mf.is_file():
        try:
            doc = json.loads(mf.read_text())
        except ValueError:
            return
        if isinstance(doc, dict):
            doc["n_customers"] = len(ids)
            if emb is not None:
                doc["embedding_shape"] = list(emb.shape)
            doc["suppressed"] = n_drop
            put("manifest.json", lambda p: p.write_text(json.dumps(doc, indent=2) + "\n"))
