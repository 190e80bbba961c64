"""CLI commands ``archetype fit`` and ``archetype assign``: k-means on a feature directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from archetype.cli._common import Overwrite, check_out, console, progress_tracker
from archetype.errors import UserError
from archetype.vocab import Backend, Device, EngineName, Metric

BACKEND_HELP = "Distance backend: auto, torch, faiss, numba (auto picks by device)."
DEVICE_HELP = "Device: auto (CUDA when available), cpu or cuda."
EngineOpt = Annotated[
    EngineName, typer.Option(help="Who computes: local, or ray ('archetype\\[ray]').")
]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", envvar="RAY_ADDRESS", help="Ray cluster for --engine ray.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _check_model_fits_features(model, fs, model_path: Path, features_path: Path) -> None:
    names = list(fs.feature_names)
    if list(model.feature_names) != names:
        missing = sorted(set(model.feature_names) - set(names))
        raise UserError(
            f"model features do not match the feature dir {features_path} "
            f"(model has {len(model.feature_names)}, dir has {len(names)}"
            + (f"; missing {missing[:5]}" if missing else "") + ")",
            path=model_path,
        )
    if model.dim != fs.embedding.shape[1]:
        raise UserError(f"model dim {model.dim} != embedding width {fs.embedding.shape[1]} "
                        f"of {features_path}", path=model_path)


def fit(
    features: Annotated[Path, typer.Option("--features", help="Feature directory.")],
    k: Annotated[int, typer.Option("--k", help="Number of segments (clusters).", min=1)],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    backend: Annotated[Backend, typer.Option(help=BACKEND_HELP)] = Backend.AUTO,
    device: Annotated[Device, typer.Option(help=DEVICE_HELP)] = Device.AUTO,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, backend, device: same "
                                           "centroids).")] = 0,
    init_from: Annotated[Path | None, typer.Option("--init-from",
                                                   help="Warm start from this model.")] = None,
    metric: Annotated[Metric, typer.Option(help="l2 or cosine (spherical k-means).")
                      ] = Metric.L2,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.", min=1)] = 4096,
    max_iter: Annotated[int, typer.Option(help="Max full-data Lloyd passes.", min=0)] = 50,
    n_init: Annotated[int, typer.Option(help="Runs; the best is kept.", min=1)] = 1,
    engine: EngineOpt = EngineName.LOCAL,
    ray_address: RayAddressOpt = None,
    quiet: QuietOpt = False,
    overwrite: Overwrite = False,
) -> None:
    """Cluster a feature directory's embedding into K segments and write a model directory.

    Example: 12 segments on whatever hardware is there

      archetype fit --features feats --k 12 --out model
    """
    from archetype.features import load_feature_dir
    from archetype.pipeline.engine import get_engine
    from archetype.pipeline.model import SegmentModel

    check_out(out, "model", overwrite)
    fs = load_feature_dir(features, mmap=True)
    init = None
    parent = None
    segment_ids: list[int] = []
    if init_from is not None:
        prev = SegmentModel.load(init_from)
        _check_model_fits_features(prev, fs, init_from, features)
        if prev.k != k:
            raise UserError(f"--k {k} but the --init-from model has {prev.k} centroids",
                            path=init_from)
        init, parent, segment_ids = prev.centroids, prev.version or str(init_from), prev.segment_ids
    eng = get_engine(engine, ray_address, batch_size=batch_size, max_iter=max_iter)
    with progress_tracker(enabled=not quiet) as tracker:
        centers, info = eng.fit(fs.embedding, k, init=init, seed=seed, n_init=n_init,
                                backend=backend, device=device, metric=metric, tracker=tracker)
    counts = np.asarray(info["sizes"], dtype=np.int64)
    inertia, n_iter, n_steps = info["inertia"], info["n_iter"], info["n_steps"]
    used_backend, used_device = info["backend"], info["device"]
    model = SegmentModel(
        centroids=centers, feature_names=list(fs.feature_names),
        transform=fs.transform.to_dict(), metric=metric, segment_ids=segment_ids,
        parent=parent, backend=used_backend, device=used_device,
        metrics={"inertia": inertia, "n_samples": int(fs.embedding.shape[0]),
                 "n_iter": n_iter, "n_steps": n_steps, "sizes": counts.tolist(),
                 "seed": seed, "engine": engine},
        extra={"features_dir": str(features), "output_names": list(fs.transform.output_names)},
    )
    model.save(out, overwrite=overwrite)
    console.print(f"wrote model {out}: k={k}, n={fs.embedding.shape[0]}, "
                  f"inertia={inertia:.6g}, backend={used_backend}/{used_device}, engine={engine}")


def assign_cmd(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")],
    features: Annotated[Path, typer.Option("--features", help="Feature directory.")],
    out: Annotated[Path, typer.Option("--out", help="Assignments Parquet file to write.")],
    backend: Annotated[Backend, typer.Option(help=BACKEND_HELP)] = Backend.AUTO,
    device: Annotated[Device, typer.Option(help=DEVICE_HELP)] = Device.AUTO,
    chunk_size: Annotated[int, typer.Option(help="Rows per chunk.", min=1)] = 1 << 18,
    engine: EngineOpt = EngineName.LOCAL,
    ray_address: RayAddressOpt = None,
    quiet: QuietOpt = False,
    overwrite: Overwrite = False,
) -> None:
    """Assign every customer to its nearest segment: customer_id, segment_id, distance, margin.

    Example:

      archetype assign --model model --features feats --out assignments.parquet
    """
    import polars as pl

    from archetype._atomic import atomic_file
    from archetype.features import load_feature_dir
    from archetype.pipeline.engine import get_engine
    from archetype.pipeline.model import SegmentModel

    if out.suffix != ".parquet":
        raise UserError("--out should end in .parquet", path=out)
    check_out(out, "assignments", overwrite)
    m = SegmentModel.load(model)
    fs = load_feature_dir(features, mmap=True)
    _check_model_fits_features(m, fs, model, features)
    eng = get_engine(engine, ray_address, chunk_size=chunk_size)
    n = fs.embedding.shape[0]
    with progress_tracker(enabled=not quiet) as tracker:
        a = eng.assign(fs.embedding, m.centroids, metric=m.metric, backend=backend,
                       device=device, tracker=tracker)
    labels, dist, margin = a.labels, a.distances, a.margin
    df = pl.DataFrame({
        "customer_id": fs.ids,
        "segment_id": m.segment_id_array()[labels],
        "distance": dist,
        "margin": margin,
    })
    with atomic_file(out, kind="assignments", overwrite=overwrite) as tmp:
        df.write_parquet(tmp, metadata={"archetype_kind": "assignments"})
    console.print(f"wrote {out}: {n} customers in {m.k} segments")


def register(app: typer.Typer) -> None:
    """Add ``fit`` and ``assign`` to the root app."""
    app.command("fit")(fit)
    app.command("assign")(assign_cmd)
