"""``archetype demo``: the whole job on built-in synthetic data, in about a minute.

synth (planted archetypes) → features → fit (k = number of archetypes) → assign →
profiles and names → HTML report.  Leaves ``DIR/report.html``, ``DIR/assignments.parquet``
(``customer_id, segment_id, distance, margin, segment_name``), ``DIR/truth.parquet``,
``DIR/model/``, ``DIR/features/``, ``DIR/events/`` and ``DIR/demo.json`` (the figures
printed at the end).  The directory appears whole: it is built in a temporary sibling and
renamed into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from archetype.cli._common import console, progress_tracker
from archetype.errors import UserError
from archetype.progress import Tracker

MARKER = "demo.json"

#: Automatic names (before any " · qualifier") that describe each planted archetype of
#: :mod:`archetype.synth`; used to score "names match the archetype".  Written from the
#: archetypes' definitions (synth/README.md), not from what the namer happens to print.
EXPECTED_NAMES: dict[str, frozenset[str]] = {
    "loyal_advocate": frozenset({"Loyal advocates", "Frequent regulars"}),
    "deal_hunter": frozenset({"Deal hunters", "Black Friday shoppers"}),
    "last_minute_buyer": frozenset({"Last-minute buyers"}),
    "occasion_shopper": frozenset(
        {"Holiday shoppers", "Back-to-school shoppers", "Black Friday shoppers"}
    ),
    "cart_abandoner": frozenset({"Cart abandoners"}),
    "window_shopper": frozenset({"Window shoppers"}),
    # regular buyers who went silent: any lapsed/lapsing repeat-buyer name
    "lapsed": frozenset({"Lapsed customers", "Lapsed loyalists", "Lapsing customers",
                         "Lapsing loyalists"}),  # fmt: skip
    "vip": frozenset({"VIP big spenders"}),
    "email_engaged_non_buyer": frozenset({"Email fans (non-buyers)", "Email fans"}),
}
#: For the lapsed archetype a behavior may join the lifecycle word ("Lapsed deal hunters").
_LAPSED_PREFIXES = ("Lapsed ", "Lapsing ")


def name_matches(name: str, archetype: str) -> bool:
    """Whether an automatic segment name describes a planted archetype."""
    base = name.split(" · ")[0].split(" #")[0]
    if base in EXPECTED_NAMES.get(archetype, frozenset()):
        return True
    return (
        archetype == "lapsed"
        and base.startswith(_LAPSED_PREFIXES)
        and not base.startswith("Lapsed one-time")
    )


@dataclass
class DemoResult:
    out: Path
    n_customers: int
    n_events: int
    n_without_events: int  # planted customers with no event in the window (not segmented)
    k: int
    ari: float
    rows: list[dict[str, Any]]  # per segment: id, name, size, archetype, purity, match
    seconds: dict[str, float]


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise UserError(
            "exists and is not an archetype demo directory; choose another --out", path=out
        )


def run_demo(
    out: Path,
    *,
    customers: int,
    seed: int,
    days: int = 365,
    currency: str = "$",
    tracker: Tracker | None = None,
) -> DemoResult:
    """Run the demo into ``out`` (replaced whole if it is a previous demo)."""
    import time

    import polars as pl
    from sklearn.metrics import adjusted_rand_score

    from archetype import MiniBatchKMeans
    from archetype._atomic import atomic_dir, write_json_atomic
    from archetype.cluster.assign import assign
    from archetype.features import compute_feature_dir
    from archetype.pipeline.model import SegmentModel
    from archetype.report.build import build_report, write_report
    from archetype.synth import ARCHETYPES, generate

    _check_out(out)
    k = len(ARCHETYPES)
    secs: dict[str, float] = {}
    with atomic_dir(out) as tmp:
        t = time.perf_counter()
        summary = generate(tmp, customers=customers, days=days, seed=seed, tracker=tracker)
        secs["synth"] = time.perf_counter() - t

        t = time.perf_counter()
        fs = compute_feature_dir(tmp / "events", summary.end_date, tmp / "features",
                                 tracker=tracker)  # fmt: skip
        secs["features"] = time.perf_counter() - t

        t = time.perf_counter()
        X = np.ascontiguousarray(fs.embedding)
        km = MiniBatchKMeans(n_clusters=k, init="k-means||", n_init=10, random_state=seed).fit(
            X, tracker=tracker
        )
        a = assign(X, km.cluster_centers_)
        secs["fit+assign"] = time.perf_counter() - t

        t = time.perf_counter()
        ids = fs.ids.to_numpy()
        asg = pl.DataFrame({
            "customer_id": ids, "segment_id": a.labels.astype(np.int64),
            "distance": a.distances, "margin": a.margin,
        })  # fmt: skip
        truth = pl.read_parquet(tmp / "truth.parquet")
        # A customer with no event in the feature window has no feature row and cannot be
        # segmented: ARI and purity are over the customers present; the rest are counted.
        tj = asg.select("customer_id").join(truth, on="customer_id", how="left",
                                            maintain_order="left")["archetype"]  # fmt: skip
        present = truth["customer_id"].is_in(asg["customer_id"].implode())
        no_events = int(truth.height - present.sum())
        ari = float(adjusted_rand_score(tj.to_numpy(), a.labels))
        inputs = build_report(
            fs.features, asg, embedding=X, seed=seed, title="archetype demo: synthetic customers",
            facts={"planted archetypes": str(k), "adjusted Rand index vs truth": f"{ari:.3f}"},
            notes=[f"Synthetic data: {customers:,} customers over {days} days (seed {seed}), "
                   f"{summary.n_events:,} events. Segments found by mini-batch k-means with "
                   f"k = {k} planted archetypes; names are automatic."],
            config={"currency": currency}, horizon_days=fs.manifest.get("horizon_days"),
            tracker=tracker,
        )  # fmt: skip
        names = inputs.names
        asg = asg.with_columns(
            pl.col("segment_id").replace_strict(names, return_dtype=pl.String).alias("segment_name")
        )
        asg.write_parquet(tmp / "assignments.parquet")
        SegmentModel(
            centroids=km.cluster_centers_, feature_names=list(fs.feature_names),
            transform=fs.transform.to_dict(), segment_ids=list(range(k)),
            segment_names=[names[i] for i in range(k)], backend=km.backend_, device=km.device_,
            metrics={"inertia": float(km.inertia_), "n_samples": int(X.shape[0]), "ari": ari},
        ).save(tmp / "model")  # fmt: skip
        write_report(tmp / "report.html", inputs)
        secs["report"] = time.perf_counter() - t

        rows = _purity(asg.with_columns(tj.alias("archetype")), names)
        result = DemoResult(out=out, n_customers=customers, n_events=summary.n_events,
                            n_without_events=no_events, k=k, ari=ari, rows=rows,
                            seconds=secs)  # fmt: skip
        write_json_atomic(tmp / MARKER, {
            "customers": customers, "seed": seed, "days": days, "events": summary.n_events,
            "segmented": asg.height, "without_events": no_events, "k": k, "ari": ari,
            "segments": rows, "seconds": secs,
        })  # fmt: skip
    return result


def _purity(df, names: dict[int, str]) -> list[dict[str, Any]]:
    """Per segment: dominant planted archetype, its share (purity), and name match."""
    import polars as pl

    counts = df.group_by("segment_id", "archetype").len().sort(
        ["segment_id", "len", "archetype"], descending=[False, True, False]
    )
    rows = []
    for sid in sorted(names):
        sub = counts.filter(pl.col("segment_id") == sid)
        total = int(sub["len"].sum())
        top = sub["archetype"][0] if total else ""
        purity = int(sub["len"][0]) / total if total else 0.0
        rows.append({"segment_id": sid, "name": names[sid], "size": total, "archetype": top,
                     "purity": purity, "name_matches": name_matches(names[sid], top)})  # fmt: skip
    return rows


def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory to write (a previous demo "
                                      "there is replaced).")] = Path("archetype-demo"),  # fmt: skip
    customers: Annotated[int, typer.Option(help="Synthetic customers.", min=100)] = 30_000,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 1,
    days: Annotated[int, typer.Option(help="Days of events.", min=30, max=3660)] = 365,
    currency: Annotated[str, typer.Option(help="Currency shown with money in the report "
                                          "(symbol or code).")] = "$",  # fmt: skip
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run the whole job on synthetic data: synth → features → fit → assign → report."""
    with progress_tracker(enabled=not quiet) as tracker:
        res = run_demo(out, customers=customers, seed=seed, days=days, currency=currency,
                       tracker=tracker)  # fmt: skip
    table = Table(title="segments found vs planted archetypes")
    for c in ("segment", "automatic name", "customers", "dominant archetype", "purity", "name ok"):
        table.add_column(c, justify="right" if c in ("customers", "purity") else "left")
    for r in res.rows:
        table.add_row(str(r["segment_id"]), r["name"], f"{r['size']:,}", r["archetype"],
                      f"{100 * r['purity']:.0f}%", "yes" if r["name_matches"] else "no")
    console.print(table)
    ok = sum(r["name_matches"] for r in res.rows)
    total = sum(res.seconds.values())
    console.print(
        f"adjusted Rand index vs planted archetypes: [bold]{res.ari:.3f}[/] (k = {res.k}); "
        f"names match the dominant archetype for {ok} of {res.k} segments; "
        f"{res.n_customers:,} customers, {res.n_events:,} events, {total:.0f} s"
    )
    if res.n_without_events:
        console.print(
            f"{res.n_without_events:,} planted customers had no events in the window and were "
            "not segmented (ARI and purity are over the customers present)"
        )
    console.print(f"report:      {out / 'report.html'}")
    console.print(f"assignments: {out / 'assignments.parquet'}")
    console.print(f"truth:       {out / 'truth.parquet'}")
    console.print(f"model:       {out / 'model'}   features: {out / 'features'}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("demo")(demo)


__all__ = ["DemoResult", "EXPECTED_NAMES", "name_matches", "register", "run_demo"]
