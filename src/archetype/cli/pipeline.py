"""CLI commands: ``run``, ``backfill``, ``models list|show``, ``forget``.

Every config key has a flag; a flag given on the command line wins over the config file,
so a run can be scripted with flags alone.  User mistakes exit 2 (one line, from the root
group); runtime failures exit 1 with one line naming the run record that says why.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from archetype.cli import _events_options as E
from archetype.cli._common import console, fail, parse_date, progress_tracker, warn
from archetype.errors import UserError, interruption
from archetype.vocab import Backend as BackendName
from archetype.vocab import Device as DeviceName
from archetype.vocab import EngineName
from archetype.vocab import Metric as MetricName

Config = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.")]
Events = Annotated[
    str | None, typer.Option(help="Events path (file, dir or glob). \\[pipeline] events")
]
Out = Annotated[
    Path | None, typer.Option("--out", help="Pipeline root directory. \\[pipeline] out")
]
K = Annotated[int | None, typer.Option("--k", help="Number of segments. \\[pipeline] k")]
WindowDays = Annotated[
    int | None, typer.Option(help="Only events of the last N days. \\[pipeline] window_days")
]
Engine = Annotated[EngineName | None, typer.Option(help="local or ray. \\[pipeline] engine")]
RayAddress = Annotated[
    str | None,
    typer.Option(envvar="RAY_ADDRESS", help="Ray cluster address. \\[pipeline] ray_address"),
]
Backend = Annotated[
    BackendName | None, typer.Option(help="auto|torch|faiss|numba. \\[cluster] backend")
]
Device = Annotated[DeviceName | None, typer.Option(help="auto|cpu|cuda. \\[cluster] device")]
Metric = Annotated[MetricName | None, typer.Option(help="l2 or cosine. \\[cluster] metric")]
Seed = Annotated[int | None, typer.Option(help="Random seed. \\[cluster] seed")]
BatchSize = Annotated[int | None, typer.Option(help="Mini-batch size. \\[cluster] batch_size")]
MaxIter = Annotated[int | None, typer.Option(help="Max k-means passes. \\[cluster] max_iter")]
Refit = Annotated[
    bool | None,
    typer.Option("--refit/--no-refit",
                 help="Fresh fit and fresh feature transform (no warm start). \\[cluster] refit"),
]
MaxCost = Annotated[
    float | None,
    typer.Option(help="Match cost above which a segment is new. \\[matching] max_cost"),
]
DistanceWeight = Annotated[
    float | None,
    typer.Option(
        help="Weight of centroid distance vs member overlap. \\[matching] distance_weight"
    ),
]
Pseudonymize = Annotated[
    bool | None,
    typer.Option("--pseudonymize/--no-pseudonymize",
                 help="Replace customer ids by keyed HMAC-SHA256. \\[privacy] pseudonymize"),
]
KeyEnv = Annotated[
    str | None, typer.Option(help="Env var holding the HMAC key. \\[privacy] key_env")
]
Jobs = Annotated[
    int | None, typer.Option(help="Parallel dates for --assign-only. \\[pipeline] jobs")
]
Report = Annotated[
    bool | None,
    typer.Option("--report/--no-report",
                 help="Write reports/<date>.html. \\[pipeline] report"),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
FallbackModel = Annotated[
    bool,
    typer.Option("--fallback-model",
                 help="If the latest model before the date is broken, warm-start from the "
                      "newest readable older one (default: stop with an error naming it)."),
]


def _overrides(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _load(config: Path | None, events_flags: dict[str, Any] | None = None, **kw: Any):
    from archetype.pipeline.config import RunConfig

    return RunConfig.load(config, _overrides(**kw), events=events_flags)


_EVENTS_FLAGS = tuple(inspect.signature(E.events_flags).parameters)
_RUN_KEYS = (
    "events", "out", "k", "window_days", "engine", "ray_address", "backend", "device", "metric",
    "seed", "batch_size", "max_iter", "refit", "max_cost", "distance_weight", "pseudonymize",
    "key_env", "jobs", "report",
)


def _load_flags(flags: dict[str, Any]):
    """The run config from a command's flags (its ``locals()``): ``--config``, the
    ``[events]`` flags and the config keys given (a key the command lacks is not given)."""
    ev = E.events_flags(**{name: flags[name] for name in _EVENTS_FLAGS})
    return _load(flags["config"], ev, **{key: flags.get(key) for key in _RUN_KEYS})


def _runtime_failure(what: str, e: BaseException, record: Path | None) -> typer.Exit:
    where = f" (run record: {record})" if record is not None and record.exists() else ""
    stop = interruption(e)
    if stop is not None:
        return fail(f"{what} {stop}; stopped cleanly, nothing half-written{where}",
                    code=stop.exit_code)
    return fail(f"{what} failed: {type(e).__name__}: {e}{where}", code=1)


@contextmanager
def _runtime_failures(what: str, record: Path | None = None) -> Iterator[None]:
    """A runtime failure or an interruption inside becomes one line (exit 1, or the
    interruption's code) naming ``record`` if it was written; user errors pass through."""
    try:
        yield
    except UserError:
        raise
    except BaseException as e:
        if not isinstance(e, Exception) and interruption(e) is None:
            raise
        raise _runtime_failure(what, e, record) from None


def run_cmd(
    date: Annotated[str, typer.Option("--date", help="As-of date, YYYY-MM-DD.")],
    config: Config = None, events: Events = None, out: Out = None, k: K = None,
    window_days: WindowDays = None, engine: Engine = None, ray_address: RayAddress = None,
    backend: Backend = None, device: Device = None, metric: Metric = None, seed: Seed = None,
    batch_size: BatchSize = None, max_iter: MaxIter = None, refit: Refit = None,
    max_cost: MaxCost = None, distance_weight: DistanceWeight = None,
    pseudonymize: Pseudonymize = None, key_env: KeyEnv = None, report: Report = None,
    fallback_model: FallbackModel = False, quiet: Quiet = False,
    column: E.Column = None, event_type: E.EventType = None,
    timestamp_format: E.TimestampFormat = None, timestamp_unit: E.TimestampUnitOpt = None,
    timezone: E.Timezone = None, csv_separator: E.CsvSeparator = None,
    on_bad_value: E.OnBadValue = None, decimal_comma: E.DecimalComma = None,
    dedupe: E.Dedupe = None, id_dtype: E.IdDtypeOpt = None, format: E.Format = None,  # noqa: A002
) -> None:
    from archetype.pipeline.layout import Layout
    from archetype.pipeline.run import run_date

    day = parse_date(date)
    cfg = _load_flags(locals())
    record = Layout(cfg.out).run_record(day)
    with _runtime_failures(f"run of {day}", record), progress_tracker(not quiet) as tracker:
        rec = run_date(cfg, day, tracker=tracker, fallback_model=fallback_model)
    _print_run(rec)


def _print_run(rec: dict[str, Any]) -> None:
    m, c = rec.get("metrics") or {}, rec.get("counts") or {}
    share = m.get("share_moved")
    console.print(
        f"{rec['date']} model {rec.get('model_version')} "
        f"(parent {rec.get('parent') or 'none'}, {'warm' if rec.get('warm_start') else 'fresh'}"
        f" fit): {c.get('customers')} customers, {c.get('transitions')} moved"
        + (f" ({share:.2%})" if share is not None else "")
        + (f", new ids {m['new_segment_ids']}" if m.get("new_segment_ids") else "")
        + (f", retired {m['retired_segment_ids']}" if m.get("retired_segment_ids") else "")
        + (f", {rec['suppressed']} forgotten customers dropped" if rec.get("suppressed")
           else ""),
        highlight=False,
    )
    t = Table("stage", "seconds", "peak RSS MB", title="stages")
    for name, s in (rec.get("stages") or {}).items():
        t.add_row(name, f"{s['seconds']:.2f}", f"{s['peak_rss_mb']:.0f}")
    tot = rec.get("total") or {}
    if tot:
        t.add_row("total", f"{tot['seconds']:.2f}", f"{tot.get('peak_rss_mb') or 0:.0f}",
                  style="bold")
    console.print(t)


def backfill_cmd(
    start: Annotated[str, typer.Option("--start", help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last date (inclusive), YYYY-MM-DD.")],
    every: Annotated[str, typer.Option(help="day or week.")] = "day",
    assign_only: Annotated[
        bool, typer.Option("--assign-only", help="Re-assign the range with --model (no fit).")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="Model version for --assign-only.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Redo dates that are already complete.")] = False,
    config: Config = None, events: Events = None, out: Out = None, k: K = None,
    window_days: WindowDays = None, engine: Engine = None, ray_address: RayAddress = None,
    backend: Backend = None, device: Device = None, metric: Metric = None, seed: Seed = None,
    batch_size: BatchSize = None, max_iter: MaxIter = None, refit: Refit = None,
    max_cost: MaxCost = None, distance_weight: DistanceWeight = None,
    pseudonymize: Pseudonymize = None, key_env: KeyEnv = None, jobs: Jobs = None,
    report: Report = None, fallback_model: FallbackModel = False, quiet: Quiet = False,
    column: E.Column = None, event_type: E.EventType = None,
    timestamp_format: E.TimestampFormat = None, timestamp_unit: E.TimestampUnitOpt = None,
    timezone: E.Timezone = None, csv_separator: E.CsvSeparator = None,
    on_bad_value: E.OnBadValue = None, decimal_comma: E.DecimalComma = None,
    dedupe: E.Dedupe = None, id_dtype: E.IdDtypeOpt = None, format: E.Format = None,  # noqa: A002
) -> None:
    from archetype.pipeline.history import backfill, backfill_assign

    d0, d1 = parse_date(start, option="--start"), parse_date(end, option="--end")
    if assign_only and not model:
        raise UserError("--assign-only needs --model VERSION (see `archetype models list`)")
    if model and not assign_only:
        raise UserError("--model is only used with --assign-only")
    if assign_only and k is None:
        k = 1  # k comes from the fixed model; the setting is not used
    cfg = _load_flags(locals())
    t0 = time.perf_counter()
    with _runtime_failures("backfill"), progress_tracker(not quiet) as tracker:
        if assign_only:
            res = backfill_assign(cfg, d0, d1, model, every, tracker=tracker, force=force)
        else:
            res = backfill(cfg, d0, d1, every, tracker=tracker, force=force,
                           fallback_model=fallback_model)
    console.print(
        f"backfill {d0}..{d1}: ran {len(res.ran)}, skipped {len(res.skipped)} (complete) "
        f"in {time.perf_counter() - t0:.1f}s",
        highlight=False,
    )


models_app = typer.Typer(help="The model registry under a pipeline root.", no_args_is_help=True)
Root = Annotated[Path | None, typer.Option("--root", "--out", help="Pipeline root.")]


def _root(root: Path | None, config: Path | None) -> Path:
    if root is not None:
        return root
    if config is not None:
        import tomllib

        try:
            out = tomllib.loads(config.read_text()).get("pipeline", {}).get("out")
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise UserError(f"unreadable config: {e}", path=config) from None
        if out:
            return Path(out)
    raise UserError("pass --root ROOT (or --config with \\[pipeline] out)")


@models_app.command("list")
def models_list(root: Root = None, config: Config = None) -> None:
    """All model versions, oldest first (* = current).

    Example:

      archetype models list --root segments
    """
    from archetype.pipeline.registry import Registry

    rows = Registry(_root(root, config)).summary()
    if not rows:
        console.print("no models yet")
        return
    t = Table("")
    for name in ("version", "parent"):
        t.add_column(name, no_wrap=True, min_width=10)
    for name in ("k", "engine", "customers", "inertia", "moved", "config"):
        t.add_column(name)
    for r in rows:
        if "error" in r:
            t.add_row("*" if r["current"] else "", r["version"], "unreadable", "", "", "", "",
                      "", "", style="red")
            continue
        t.add_row(
            "*" if r["current"] else "", r["version"], str(r["parent"] or "-"), str(r["k"]),
            f"{r['backend']}/{r['device']}", str(r["customers"] or "-"),
            _num(r["inertia"], ".4g"), _num(r["share_moved"], ".2%"), r["config_hash"][:8],
        )
    console.print(t)
    for r in rows:
        if "error" in r:
            warn(r["error"])


def _num(v: Any, fmt: str) -> str:
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    return format(v, fmt) if ok else "-"


@models_app.command("show")
def models_show(
    version: Annotated[str | None, typer.Argument(help="Version (default: current).")] = None,
    root: Root = None, config: Config = None,
) -> None:
    """One model's manifest: lineage, metrics, segments and names.

    Example: the current model, or one version by its date

      archetype models show --root segments
      archetype models show 2026-03-29 --config nightly.toml
    """
    from archetype.pipeline.registry import Registry

    reg = Registry(_root(root, config))
    version = version or reg.current()
    if version is None:
        raise UserError("no current model; run `archetype run` first", path=reg.dir)
    reg.path(version)  # a plain version name, never a path outside the registry
    m = reg.load(version).manifest()  # validated: a tampered manifest is one line, exit 2
    metrics = m.get("metrics") or {}
    drift = metrics.get("drift") if isinstance(metrics.get("drift"), dict) else {}
    for key in ("version", "date", "parent", "config_hash", "k", "dim", "metric", "backend",
                "device", "next_segment_id", "retired_ids"):
        console.print(f"{key}: {m.get(key)}", highlight=False)
    console.print(f"features: {', '.join(m.get('feature_names') or [])}", highlight=False)
    console.print(f"inertia: {metrics.get('inertia')}  customers: {metrics.get('customers')}  "
                  f"share moved: {drift.get('share_moved')}", highlight=False)
    sizes = metrics.get("sizes") if isinstance(metrics.get("sizes"), dict) else {}
    shift = drift.get("centroid_shift") if isinstance(drift.get("centroid_shift"), dict) else {}
    names = m.get("segment_names") or [None] * len(m.get("segment_ids") or [])
    new_ids = set(drift.get("new_segment_ids") or [])
    t = Table("segment id", "name", "customers", "centroid shift", title="segments")
    for sid, name in zip(m.get("segment_ids") or [], names, strict=False):
        sh = shift.get(str(sid))
        t.add_row(str(sid), name or "-", str(sizes.get(str(sid), "-")),
                  "new" if sid in new_ids else _num(sh, ".4f"))
    console.print(t)


def forget_cmd(
    ids: Annotated[Path, typer.Option("--ids", help="File of customer ids (txt/csv/parquet).")],
    root: Root = None, config: Config = None, pseudonymize: Pseudonymize = None,
    key_env: KeyEnv = None,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing",
        help="Put the ids on the suppression list even if none is stored yet.")] = False,
    quiet: Quiet = False,
) -> None:
    """Erase customers from every stored partition and keep them out of later runs.

    Example: ids one per line (or a CSV/Parquet with a customer_id column)

      archetype forget --ids erase-requests.txt --config nightly.toml
    """
    import tomllib

    from archetype.pipeline.erasure import forget
    from archetype.pipeline.privacy import load_key

    privacy: dict[str, Any] = {}
    if config is not None:
        try:
            doc = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise UserError(f"unreadable config: {e}", path=config) from None
        privacy = doc.get("privacy", {}) if isinstance(doc.get("privacy", {}), dict) else {}
    use = pseudonymize if pseudonymize is not None else privacy.get("pseudonymize") is True
    env = key_env or privacy.get("key_env") or "ARCHETYPE_ID_KEY"
    if not isinstance(env, str):
        raise UserError(f"[privacy] key_env={env!r} should be a variable name", path=config)
    key = load_key(env) if use else None
    the_root = _root(root, config)
    with progress_tracker(not quiet) as tracker:
        rep = forget(the_root, ids, key=key, key_env=env, allow_missing=allow_missing,
                     tracker=tracker)
    t = Table("partition", "rows removed", title=f"forget: {rep.ids_given} ids")
    for part, n in rep.removed.items():
        if n:
            t.add_row(part, str(n))
    t.add_row("total", str(rep.total), style="bold")
    console.print(t)
    console.print(
        f"{rep.ids_found} of {rep.ids_given} ids found and removed "
        f"({rep.total} rows in {sum(1 for n in rep.removed.values() if n)} partitions); "
        f"{rep.already_forgotten} already forgotten; {rep.not_found} not found; "
        f"{rep.suppressed_added} added to the suppression list"
        + (f"; {len(rep.purged)} stale temp entries purged" if rep.purged else ""),
        highlight=False, soft_wrap=True,
    )
    if rep.not_found:
        warn(f"{rep.not_found} of {rep.ids_given} ids are not stored under {the_root} "
             "(never seen, or a wrong id); they are on the suppression list")


RUN_HELP = escape(
    """Nightly run for one date: features → warm-started fit → stable ids → assign →
transitions → new model version.

Example: a nightly cron job over a web-event export whose columns have their own names.
nightly.toml (relative paths are relative to this file, so cron can start anywhere):

  [pipeline]
  events = "exports/events"      # a folder of CSV or Parquet files
  out = "segments"
  k = 12
  window_days = 365
  [events]
  timezone = "America/New_York"
  [events.columns]
  customer_id = "visitor_id"
  ts = "event_time"
  event_type = "event_name"
  event_id = "message_id"
  [events.event_types]
  page_view = "view"
  order_completed = "purchase"

  archetype run --config /etc/archetype/nightly.toml --date 2026-03-31

Or with flags only (a flag wins over the file):

  archetype run --date 2026-03-31 --events exports/events --out segments --k 12 \\
    --column customer_id=visitor_id --column ts=event_time \\
    --column event_type=event_name --event-type order_completed=purchase"""
)
BACKFILL_HELP = escape(
    """Run a range of dates in order (each warm-starts from the one before); complete dates
are skipped, so re-running resumes an interrupted backfill.

Takes the same config file and flags as `run`.

Example: the first quarter, one run a week, with the nightly config

  archetype backfill --config nightly.toml --start 2026-01-04 --end 2026-03-29 --every week

Re-assign those dates with one fixed model (no fit):

  archetype backfill --config nightly.toml --start 2026-01-04 --end 2026-03-29 \\
    --assign-only --model 2026-03-29"""
)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("run", help=RUN_HELP)(run_cmd)
    app.command("backfill", help=BACKFILL_HELP)(backfill_cmd)
    app.command("forget")(forget_cmd)
    app.add_typer(models_app, name="models")
