"""Pipeline fixtures: a small in-process engine independent of the features/k-means layers.

``ToyEngine`` reads a Parquet "events" file with ``customer_id, day, x0..x{d-1}``; the
features of a customer as of D are its latest row with ``day <= D``.  The transform is a
plain standardization (mean/std) stored as a dict; fit is scikit-learn ``KMeans`` (an
independent reference), assign is NumPy.  It writes real feature dirs (same files as the
features layer), so every pipeline step except the engine itself is exercised.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from archetype._atomic import atomic_dir
from archetype.pipeline.config import RunConfig

D = 4


class ToyEngine:
    name = "toy"

    def __init__(self, supports_id_map: bool = False) -> None:
        self.calls: list[tuple] = []
        self.supports_id_map = supports_id_map

    def features(self, events_path, as_of, out_dir, *, config=None, window_days=None,
                 transform=None, tracker=None, id_map=None):
        ev = pl.read_parquet(events_path)
        cols = [c for c in ev.columns if c.startswith("x")]
        feats = (
            ev.filter(pl.col("day") <= as_of)
            .sort("customer_id", "day")
            .group_by("customer_id", maintain_order=True)
            .last()
            .select("customer_id", *cols)
            .sort("customer_id")
        )
        if feats.height == 0:
            from archetype.errors import DataError

            raise DataError(f"no events up to {as_of}", path=events_path)
        x = feats.select(cols).to_numpy().astype(np.float64)
        if id_map is not None:
            assert self.supports_id_map
            feats = feats.with_columns(id_map(feats["customer_id"]))
        if transform is None:
            transform = {"kind": "toy-standard", "feature_names": cols,
                         "mean": x.mean(0).tolist(), "std": (x.std(0) + 1e-9).tolist()}
        emb = ((x - np.array(transform["mean"])) / np.array(transform["std"])).astype(np.float32)
        emb = np.ascontiguousarray(emb)
        self.calls.append(("features", as_of, transform is not None))
        with atomic_dir(out_dir) as tmp:
            feats.write_parquet(tmp / "features.parquet")
            feats.select("customer_id").write_parquet(tmp / "ids.parquet")
            np.save(tmp / "embedding.npy", emb)
            (tmp / "transform.json").write_text(json.dumps(transform))
            (tmp / "manifest.json").write_text(json.dumps({"as_of": str(as_of)}))
        return SimpleNamespace(ids=feats["customer_id"], features=feats, embedding=emb,
                               transform=transform, manifest={}, path=Path(out_dir))

    def fit(self, embedding, k, *, init=None, seed=0, backend="auto", device="auto",
            metric="l2", tracker=None):
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, init="k-means++" if init is None else init, n_init=1,
                    random_state=seed, max_iter=100, tol=0.0)
        km.fit(embedding)
        self.calls.append(("fit", k, init is not None))
        return km.cluster_centers_.astype(np.float32), {"inertia": float(km.inertia_),
                                                        "backend": "sklearn", "device": "cpu"}

    def assign(self, embedding, centroids, *, metric="l2", backend="auto", device="auto"):
        x = np.asarray(embedding, dtype=np.float64)
        c = np.asarray(centroids, dtype=np.float64)
        d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        order = np.argsort(d2, axis=1)
        lab = order[:, 0]
        best = d2[np.arange(len(x)), lab]
        second = d2[np.arange(len(x)), order[:, 1]] if c.shape[0] > 1 else best
        return SimpleNamespace(labels=lab.astype(np.int64), distances=best.astype(np.float32),
                               margin=(second - best).astype(np.float32))


CENTERS = np.array([[0, 0, 0, 0], [8, 0, 0, 0], [0, 8, 0, 0], [0, 0, 8, 0]], dtype=np.float64)


def make_events(path: Path, rng: np.random.Generator, *, n: int = 400,
                dates: list[dt.date], noise: float = 0.5, move: float = 0.0) -> pl.DataFrame:
    """One row per customer per date around 4 planted centers; ``move`` of them re-drawn."""
    truth = rng.integers(0, len(CENTERS), size=n)
    rows = []
    for i, day in enumerate(dates):
        if i and move:
            flip = rng.random(n) < move
            truth = np.where(flip, rng.integers(0, len(CENTERS), size=n), truth)
        x = CENTERS[truth] + rng.normal(scale=noise, size=(n, D))
        frame = {"customer_id": np.arange(1, n + 1, dtype=np.int64),
                 "day": [day] * n}
        for j in range(D):
            frame[f"x{j}"] = x[:, j]
        rows.append(pl.DataFrame(frame))
    ev = pl.concat(rows)
    ev.write_parquet(path)
    return ev


DATES = [dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)]


def toy_cli_world(tmp_path: Path, monkeypatch) -> Path:
    """The toy events at ``tmp_path/events.parquet`` (seed 3, 5% move per date), and the toy
    engine in place of the real one for CLI runs and backfills; returns the events path."""
    events = tmp_path / "events.parquet"
    make_events(events, np.random.default_rng(3), dates=DATES, move=0.05)
    for mod in ("run", "history"):
        monkeypatch.setattr(f"archetype.pipeline.{mod}.make_engine", lambda cfg: ToyEngine())
    return events


@pytest.fixture
def toy(tmp_path, rng):
    """(config, engine, events frame) for a 400-customer, 3-date toy pipeline."""
    events = tmp_path / "events.parquet"
    ev = make_events(events, rng, dates=DATES, move=0.05)
    cfg = RunConfig.load(None, {"events": str(events), "out": str(tmp_path / "root"), "k": 4,
                                "report": False})
    return cfg, ToyEngine(), ev
