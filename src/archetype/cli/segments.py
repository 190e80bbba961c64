"""CLI commands ``archetype sweep``, ``archetype report`` and ``archetype profile``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from archetype.cli._common import Overwrite, check_out, console, progress_tracker
from archetype.errors import UserError

QUIET_HELP = "No progress bars."


def load_segments_config(path: Path | None, currency: str | None = None):
    """The ``[segments]`` table of a config TOML (``None``: defaults); ``--currency`` wins."""
    from archetype.segments.config import SegmentsConfig

    table: dict = {}
    if path is not None:
        if not path.is_file():
            raise UserError("config file not found", path=path)
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise UserError(f"not valid TOML: {e}", path=path) from None
        table = dict(doc.get("segments", {}))
    if currency is not None:
        table["currency"] = currency
    try:
        return SegmentsConfig.from_dict(table)
    except UserError as e:
        raise UserError(str(e), path=path) from None


CONFIG_HELP = "Config TOML whose \\[segments] table sets currency, lifecycle and naming thresholds."
CURRENCY_HELP = "Currency shown with money: a symbol (€) or a code (EUR). \\[segments] currency"


def load_name_overrides(path: Path | None) -> dict[int, str]:
    """Segment-name overrides from a TOML or JSON file.

    Accepts ``{"3" = "Bargain fans"}`` at the top level, or under ``[names]`` or
    ``[segments.names]``.
    """
    if path is None:
        return {}
    if not path.is_file():
        raise UserError("names file not found", path=path)
    try:
        raw = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(
            path.read_text()
        )
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"unreadable names file: {e}", path=path) from None
    table = raw.get("segments", {}).get("names") or raw.get("names") or raw
    out = {}
    for k, v in table.items():
        try:
            out[int(k)] = str(v)
        except ValueError:
            raise UserError(f"segment id {k!r} is not an integer", path=path) from None
    return out


def sweep(
    features: Annotated[Path, typer.Option("--features", help="Feature directory.")],
    k: Annotated[str, typer.Option("--k", help="k values: 4:32, 4:32:2 or 4,6,8.")] = "4:32",
    step: Annotated[int | None, typer.Option("--step", help="Step of an a:b range.", min=1)] = None,
    seeds: Annotated[int, typer.Option(help="Fits per k (stability needs >= 2).", min=1)] = 3,
    sample: Annotated[int, typer.Option(help="Rows sampled for every fit and measure.",
                                        min=3)] = 50_000,  # fmt: skip
    silhouette_sample: Annotated[int, typer.Option(help="Rows for the silhouette.",
                                                   min=2)] = 5_000,  # fmt: skip
    min_stability: Annotated[float, typer.Option(help="Stability a k needs to be "
                                                 "recommended.")] = 0.9,  # fmt: skip
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Directory for sweep.json and sweep.png.")]
    = Path("sweep"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    overwrite: Overwrite = False,
) -> None:
    """Choose k: inertia, silhouette, Davies–Bouldin, Calinski–Harabasz, seed stability.

    Example: every even k from 4 to 24, three seeds each

      archetype sweep --features feats --k 4:24:2 --out sweep
    """
    from archetype._atomic import atomic_dir
    from archetype.features import load_feature_dir
    from archetype.report.plots import plot_sweep, to_png
    from archetype.segments.sweep import parse_k_range, sweep_k

    ks = parse_k_range(k, step=step)
    check_out(out, "sweep", overwrite)
    fs = load_feature_dir(features, mmap=True)
    with progress_tracker(enabled=not quiet) as tracker:
        res = sweep_k(fs.embedding, ks, seeds=seeds, sample=sample,
                      silhouette_sample=silhouette_sample, random_state=seed,
                      min_stability=min_stability, tracker=tracker)  # fmt: skip
    png = to_png(plot_sweep(res))
    d = res.to_dict()
    d["features_dir"] = str(features)
    with atomic_dir(out, kind="sweep", overwrite=overwrite) as tmp:
        (tmp / "sweep.json").write_text(json.dumps(d, indent=2, default=str) + "\n")
        (tmp / "sweep.png").write_bytes(png)

    table = Table(title=f"k sweep on {res.n_sample:,} of {res.n:,} rows ({res.estimator})")
    for c in ("k", "inertia", "silhouette", "Davies–Bouldin", "Calinski–Harabasz", "stability"):
        table.add_column(c, justify="right")
    for r in res.rows():
        mark = " ←" if r["k"] == res.recommended_k else ""
        stab = "–" if r["stability"] is None else f"{r['stability']:.3f}"
        table.add_row(f"{r['k']}{mark}", f"{r['inertia']:.4g}", f"{r['silhouette']:.3f}",
                      f"{r['davies_bouldin']:.3f}", f"{r['calinski_harabasz']:.1f}", stab)
    console.print(table)
    console.print(f"recommended k = {res.recommended_k}: {res.reason}", style="bold")
    console.print(f"wrote {out / 'sweep.json'} and {out / 'sweep.png'}")


def report(
    features: Annotated[Path, typer.Option("--features", help="Feature directory.")],
    assignments: Annotated[Path, typer.Option("--assignments",
                                              help="Assignments Parquet (customer_id, "
                                              "segment_id[, previous_segment_id]).")],  # fmt: skip
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    model: Annotated[Path | None, typer.Option("--model", help="Model directory (its segment "
                                               "names are kept).")] = None,  # fmt: skip
    previous: Annotated[Path | None, typer.Option("--previous", help="Previous run's "
                                                  "assignments: adds the migration "
                                                  "matrix.")] = None,  # fmt: skip
    sweep_json: Annotated[Path | None, typer.Option("--sweep", help="sweep.json from "
                                                    "`archetype sweep`.")] = None,  # fmt: skip
    names: Annotated[Path | None, typer.Option("--names", help="TOML/JSON {segment_id: "
                                               "name} overrides.")] = None,  # fmt: skip
    title: Annotated[str, typer.Option(help="Report title.")] = "Customer segments",
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    currency: Annotated[str | None, typer.Option(help=CURRENCY_HELP)] = None,
    sample: Annotated[int, typer.Option(help="Customers in the 2-D map.", min=10)] = 5_000,
    no_projection: Annotated[bool, typer.Option("--no-projection", help="Skip the 2-D map.")]
    = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    experiments: Annotated[Path | None, typer.Option("--experiments", help="exposures.parquet "
                                                     "(or its folder) of `archetype triggers "
                                                     "replay`: adds the uplift of each "
                                                     "variant.")] = None,  # fmt: skip
    overwrite: Overwrite = False,
) -> None:
    """Write a self-contained HTML report a marketer can read (no network needed).

    Example:

      archetype report --features feats --assignments assignments.parquet --model model \\
        --out report.html --currency €
    """
    from archetype.features import load_feature_dir
    from archetype.pipeline.model import SegmentModel
    from archetype.report.build import build_report, read_sweep, read_table, write_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError("--out should end in .html", path=out)
    check_out(out, "report", overwrite)
    overrides = load_name_overrides(names)
    seg_cfg = load_segments_config(config, currency)
    fs = load_feature_dir(features, mmap=True)
    asg = read_table(assignments, "assignments")
    prev = read_table(previous, "previous assignments") if previous is not None else None
    m = SegmentModel.load(model) if model is not None else None
    sw = read_sweep(sweep_json) if sweep_json is not None else None
    uplift = None
    if experiments is not None:
        from archetype.live.experiments.uplift import read_uplift

        uplift = read_uplift(experiments)
    facts = {}
    if m is not None:
        facts = {k: str(v) for k, v in (("model", m.version), ("date", m.date)) if v}
    with progress_tracker(enabled=not quiet) as tracker:
        inputs = build_report(
            fs.features, asg, embedding=None if no_projection else fs.embedding, model=m,
            previous=prev, sweep=sw, overrides=overrides, sample=sample, title=title,
            facts=facts, config=seg_cfg, horizon_days=fs.manifest.get("horizon_days"),
            experiments=uplift, tracker=tracker,
        )  # fmt: skip
        with tracker.task("render report", total=None):
            write_report(out, inputs, overwrite=overwrite)
    console.print(f"wrote {out} ({inputs.profiles.k} segments, {inputs.profiles.n:,} customers)")


def profile(
    features: Annotated[Path, typer.Option("--features", help="Feature directory.")],
    assignments: Annotated[Path, typer.Option("--assignments", help="Assignments Parquet.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write profiles as JSON "
                                             "(or .parquet: long table).")] = None,  # fmt: skip
    names: Annotated[Path | None, typer.Option("--names", help="TOML/JSON overrides.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help=CONFIG_HELP)] = None,
    currency: Annotated[str | None, typer.Option(help=CURRENCY_HELP)] = None,
    top: Annotated[int, typer.Option(help="Features listed per segment.", min=1)] = 3,
    overwrite: Overwrite = False,
) -> None:
    """Print segment profiles: size, revenue share, name and its evidence, what else sets
    each apart.  Averages count only customers for whom a value is defined.

    Example:

      archetype profile --features feats --assignments assignments.parquet --top 5
    """
    from archetype._atomic import atomic_file, write_json_atomic
    from archetype.features import load_feature_dir
    from archetype.report.build import build_report, read_table
    from archetype.segments.evidence import describe_segment

    seg_cfg = load_segments_config(config, currency)
    kind = "profiles-parquet" if out is not None and out.suffix == ".parquet" else "profiles"
    if out is not None:
        check_out(out, kind, overwrite)
    fs = load_feature_dir(features, mmap=True)
    asg = read_table(assignments, "assignments")
    inputs = build_report(fs.features, asg, overrides=load_name_overrides(names), config=seg_cfg,
                          horizon_days=fs.manifest.get("horizon_days"))  # fmt: skip
    p = inputs.profiles
    table = Table(title=f"{p.k} segments, {p.n:,} customers")
    cols = ["id", "name", "customers", "share"] + (["revenue"] if p.has_money else [])
    for c in (*cols, "why this name", "what else sets it apart"):
        table.add_column(c, justify="right" if c in ("customers", "share", "revenue") else "left")
    for i, sid in enumerate(int(s) for s in p.segment_ids):
        why = p.naming[sid].evidence
        rev = [f"{100 * p.revenue_shares[i]:.1f}%"] if p.revenue_shares is not None else []
        apart = [s for s in describe_segment(p, sid, top + len(why)) if s not in why][:top]
        table.add_row(str(sid), inputs.names[sid], f"{p.sizes[i]:,}",
                      f"{100 * p.shares[i]:.1f}%", *rev, "\n".join(why),
                      "\n".join(apart))  # fmt: skip
    console.print(table)
    if out is not None:
        if out.suffix == ".parquet":
            with atomic_file(out, kind=kind, overwrite=overwrite) as tmp:
                p.to_frame().write_parquet(tmp, metadata={"archetype_kind": "profiles"})
        else:
            d = p.to_dict()
            d["triggers_suggested"] = {str(k): v for k, v in inputs.triggers.items()}
            write_json_atomic(out, d, kind=kind, overwrite=overwrite)
        console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("sweep")(sweep)
    app.command("report")(report)
    app.command("profile")(profile)
