"""CLI command ``archetype bench``: the benchmark suite against the peers, CPU and GPU."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from archetype.cli._common import Overwrite, check_out, console, progress_tracker, warn
from archetype.errors import UserError
from archetype.vocab import Device

log = logging.getLogger(__name__)


def _human_bytes(b: int | None) -> str:
    if b is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if b < 1024 or unit == "TiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b}"  # pragma: no cover


def _num(x: float | None, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def results_table(doc: dict[str, Any]) -> Table:
    """One line per measurement: time, rows/s, inertia, memory and the ours/peer ratio.

    ``time`` is per pass over the data for fit and pass lines, else the whole call;
    ``ratio`` is ours / ``vs`` on the same data (below 1: ours is faster).
    """
    recs = doc["records"]
    devices = len({r["device"] for r in recs}) > 1
    gpu = any("gpu_peak_mem_bytes" in r for r in recs)
    t = Table(title=f"archetype bench --suite {doc['suite']} ({doc['device']})",
              header_style="bold")
    cols = ["stage", "impl"] + (["dev"] if devices else []) + [
        "n", "k", "time s", "rows/s", "inertia", "peak mem"] + (["gpu mem"] if gpu else []) + [
        "ratio", "vs"]
    for col in cols:
        t.add_column(col, justify="left" if col in ("stage", "impl", "dev", "vs") else "right")
    prev = None
    for r in recs:
        key = (r["stage"], r["n"], r["k"])
        if prev is not None and key != prev:
            t.add_section()
        prev = key
        style = "bold cyan" if r.get("role") == "ours" else ("dim" if r.get("derived") else None)
        row = [r["stage"], r["impl"]] + ([r["device"]] if devices else []) + [
            f"{r['n']:,}", str(r["k"] or ""),
            f"{r.get('seconds_per_pass') or r['seconds']:.3g}",
            _num(r.get("rows_per_s"), ".3g"), _num(r["inertia"], ".6g"),
            _human_bytes(r["peak_mem_bytes"])]
        if gpu:
            row.append(_human_bytes(r.get("gpu_peak_mem_bytes")))
        row += [_num(r.get("ratio"), ".3g"), r.get("ratio_vs") or ""]
        t.add_row(*row, style=style)
    return t


def scaling_table(doc: dict[str, Any]) -> Table:
    """Log-log slopes: ~1 vs n means time grows linearly in the number of rows."""
    t = Table(title="scaling (slope of log time on log n or log k)", header_style="bold")
    for col in ("stage", "impl", "device", "vs", "at", "points", "slope"):
        t.add_column(col, justify="right" if col in ("slope", "points") else "left")
    for s in doc["scaling"]:
        at = "" if s["fixed"] is None else (f"k={s['fixed']}" if s["vs"] == "n"
                                            else f"n={s['fixed']:,}")
        t.add_row(s["stage"], s["impl"], s["device"], s["vs"], at, str(len(s["points"])),
                  f"{s['slope']:.2f}")
    return t


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the root app."""

    @app.command("bench")
    def bench(
        suite: Annotated[str, typer.Option(
            help="quick (minutes on a laptop) or full (real machines, up to 10M rows).")] = "quick",
        device: Annotated[Device, typer.Option(
            help="auto, cpu or cuda (cuda also measures every line on the CPU).")
        ] = Device.AUTO,
        json_out: Annotated[Path | None, typer.Option(
            "--json", help="Write the results (machine info + one record per measurement) "
            "to this file.")] = None,
        stages: Annotated[list[str] | None, typer.Option(
            "--stages", help="Only these stages: synth, features, fit, assign, nightly "
            "(repeat or comma-separate).")] = None,
        impl: Annotated[list[str] | None, typer.Option(
            "--impl", help="Only these implementations, e.g. archetype,faiss (floors are "
            "always measured).")] = None,
        n: Annotated[list[int] | None, typer.Option(
            "--n", help="Override the fit/assign row counts (repeat).")] = None,
        k: Annotated[list[int] | None, typer.Option(
            "--k", help="Override the cluster counts (repeat; the first is used vs n).")] = None,
        customers: Annotated[list[int] | None, typer.Option(
            "--customers", help="Override the synth/features customer counts (repeat).")] = None,
        threads: Annotated[int | None, typer.Option(
            help="Threads for every implementation (default: each library's own).")] = None,
        seed: Annotated[int, typer.Option(help="Seed of the shared data.")] = 0,
        work_dir: Annotated[Path | None, typer.Option(
            help="Scratch directory for the shared data (default: a temporary one).")] = None,
        overwrite: Overwrite = False,
    ) -> None:
        """Benchmark every stage against DuckDB, scikit-learn, FAISS, plain torch and the
        machine's own limits (GEMM, memory bandwidth), each measurement in a fresh process.

        Example: the quick suite on the CPU, results kept as JSON

          archetype bench --suite quick --device cpu --json bench.json
        """
        from archetype.bench.harness import resolve_device, run_suite
        from archetype.bench.suite import get_suite

        chosen = get_suite(suite, fit_n=n, ks=k, data_n=customers)
        resolve_device(device)  # fail before any work: cuda without CUDA is a user error
        if json_out is not None and json_out.is_dir():
            raise UserError("--json should be a file, not a directory", path=json_out)
        if json_out is not None:
            check_out(json_out, "bench", overwrite)
        if threads is not None and threads < 1:
            raise UserError(f"--threads={threads} should be >= 1")
        with tempfile.TemporaryDirectory(prefix="archetype-bench-") as tmp:
            scratch = work_dir or Path(tmp)
            with progress_tracker() as tracker:
                doc = run_suite(chosen, device=device, stages=stages, work_dir=scratch,
                                seed=seed, threads=threads, impls=impl, tracker=tracker)
        console.print(results_table(doc))
        if doc["scaling"]:
            console.print(scaling_table(doc))
        for s in doc["skipped"]:
            warn(f"skipped {s['stage']} {s['impl']} ({s['device']}): {s['reason']}")
        if json_out is not None:
            _write(json_out, doc, overwrite)
            console.print(f"results written to {json_out}")


def _write(path: Path, doc: dict[str, Any], overwrite: bool = True) -> None:
    from archetype._atomic import write_json_atomic

    try:
        from archetype.bench.schema import validation_errors

        problems = validation_errors(doc)
    except ImportError:  # jsonschema is a dev/bench extra
        problems = []
    if problems:  # a bug in the harness, not a user mistake
        raise RuntimeError("bench result does not match its schema: " + "; ".join(problems[:5]))
    write_json_atomic(path, doc, kind="bench", overwrite=overwrite)
