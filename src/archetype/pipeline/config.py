"""The pipeline's configuration: a TOML file whose every key a command-line flag overrides.

::

    [pipeline]
    events = "data/events"        # --events
    out = "segments"              # --out
    k = 12                        # --k
    window_days = 365             # --window-days   (omit: all history)
    engine = "local"              # --engine local|ray
    ray_address = ""              # --ray-address (env RAY_ADDRESS)
    jobs = 2                      # --jobs  (parallel dates of backfill --assign-only)
    report = true                 # --report/--no-report  (reports/<date>.html)

    [cluster]
    backend = "auto"              # --backend auto|torch|faiss|numba
    device = "auto"               # --device auto|cpu|cuda
    metric = "l2"                 # --metric l2|cosine
    seed = 0                      # --seed
    batch_size = 4096             # --batch-size
    max_iter = 50                 # --max-iter
    refit = false                 # --refit  (fresh fit and fresh transform)

    [matching]
    max_cost = 0.6                # --max-cost
    distance_weight = 0.5         # --distance-weight

    [privacy]
    pseudonymize = false          # --pseudonymize / --no-pseudonymize
    key_env = "ARCHETYPE_ID_KEY"  # --key-env

    [events]    # archetype.events.EventsConfig (column mapping, timestamps, ...);
                # --column, --event-type, --timestamp-format, ... override it
    [features]  # archetype.features.FeatureConfig
    [segments]  # archetype.segments.SegmentsConfig (currency, lifecycle, naming, names)

:meth:`RunConfig.load` reads the file (optional) and applies the overrides (flag values
that are not ``None``); everything is validated once, here, by pydantic: a wrong type or
an unknown key is one line naming the file, the table, the key and the expected type.
Relative paths in the file (``events``, ``out``) are relative to the file's folder, so a
cron job started anywhere reads the same data; paths given as flags are relative to the
current directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
)
from pydantic.dataclasses import dataclass

from archetype._config import describe_error, expected_phrase
from archetype.errors import UserError
from archetype.vocab import Backend, Device, EngineName, Metric

# table -> keys of that table that map onto RunConfig fields
_TABLES: dict[str, tuple[str, ...]] = {
    "pipeline": ("events", "out", "k", "window_days", "engine", "ray_address", "jobs", "report"),
    "cluster": ("backend", "device", "metric", "seed", "batch_size", "max_iter", "refit"),
    "matching": ("max_cost", "distance_weight"),
    "privacy": ("pseudonymize", "key_env"),
}
_TABLE_OF = {key: table for table, keys in _TABLES.items() for key in keys}
_PASSTHROUGH = ("events", "features", "segments")
_PATHS = ("events", "out")  # resolved relative to the config file
BACKENDS = tuple(b.value for b in Backend)
DEVICES = tuple(d.value for d in Device)
METRICS = tuple(m.value for m in Metric)
ENGINES = tuple(e.value for e in EngineName)
# Keys that do not change the model (left out of the config hash).
_NOT_HASHED = (
    "events",
    "out",
    "engine",
    "ray_address",
    "jobs",
    "refit",
    "backend",
    "device",
    "key_env",
    "source",
    "report",
    "segments_table",
)

PositiveInt = Annotated[StrictInt, Field(ge=1)]
Share = Annotated[StrictFloat, Field(ge=0.0, le=1.0)]


@dataclass(config=ConfigDict(extra="forbid"))
class RunConfig:
    """Everything one nightly run needs.  Build with :meth:`load`.

    A pydantic dataclass: constructing one (``dataclasses.replace`` included) validates
    every field's type and range.
    """

    events: Path | None = None
    out: Path | None = None
    k: PositiveInt | None = None
    window_days: PositiveInt | None = None
    engine: EngineName = EngineName.LOCAL
    ray_address: str | None = None
    jobs: PositiveInt = 2
    report: StrictBool = True
    backend: Backend = Backend.AUTO
    device: Device = Device.AUTO
    metric: Metric = Metric.L2
    seed: Annotated[StrictInt, Field(ge=0)] = 0
    batch_size: PositiveInt = 4096
    max_iter: PositiveInt = 50
    refit: StrictBool = False
    max_cost: Share = 0.6
    distance_weight: Share = 0.5
    pseudonymize: StrictBool = False
    key_env: Annotated[str, Field(min_length=1)] = "ARCHETYPE_ID_KEY"
    events_table: dict[str, Any] = dataclasses.field(default_factory=dict)
    features_table: dict[str, Any] = dataclasses.field(default_factory=dict)
    segments_table: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str | None = None

    @field_validator("ray_address")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v or None

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        overrides: dict[str, Any] | None = None,
        *,
        events: dict[str, Any] | None = None,
    ) -> RunConfig:
        """Read ``path`` (TOML, optional) and apply ``overrides`` (``None`` values ignored).

        ``events`` overrides the ``[events]`` table (the CLI's ``--column``,
        ``--event-type``, ``--timestamp-format``, ... flags): ``columns`` and
        ``event_types`` are merged key by key, other keys replace the file's.

        Raises
        ------
        UserError
            Unreadable file, unknown key, bad value, or a required key (events, out, k)
            missing from both file and flags.
        """
        values: dict[str, Any] = {}
        origin: dict[str, str] = {}  # key -> "file" | "flag"
        passthrough: dict[str, dict[str, Any]] = {}
        source = None
        if path is not None:
            path = Path(path)
            source = str(path)
            doc = _read_toml(path)
            for table, body in doc.items():
                if table in _PASSTHROUGH:
                    if not isinstance(body, dict):
                        raise UserError(f"[{table}] must be a table", path=path)
                    passthrough[table] = body
                    continue
                if table not in _TABLES or not isinstance(body, dict):
                    known = ", ".join(f"[{t}]" for t in (*_TABLES, *_PASSTHROUGH))
                    raise UserError(f"unknown table or key {table!r} (known: {known})", path=path)
                for key, val in body.items():
                    if key not in _TABLES[table]:
                        raise UserError(
                            f"unknown key {key!r} in [{table}] "
                            f"(known: {', '.join(_TABLES[table])})",
                            path=path,
                        )
                    values[key] = val
                    origin[key] = "file"
            for key in _PATHS:
                if isinstance(values.get(key), str) and values[key]:
                    values[key] = _relative_to(path.parent, values[key])
        for key, val in (overrides or {}).items():
            if val is not None:
                if key not in _TABLE_OF:
                    raise UserError(f"unknown setting {key!r}")
                values[key] = val
                origin[key] = "flag"
        if values.get("ray_address") in (None, "") and os.environ.get("RAY_ADDRESS"):
            values["ray_address"] = os.environ["RAY_ADDRESS"]
        where = f" (in {source} or as a flag)" if source else " (as a flag)"
        for req in ("events", "out", "k"):
            if values.get(req) in (None, ""):
                raise UserError(f"missing setting {req!r}{where}: pass --{req.replace('_', '-')}")
        file_events = passthrough.get("events", {})
        events_table = _merge_events(file_events, events or {})
        features_table = passthrough.get("features", {})
        segments_table = passthrough.get("segments", {})
        _validate_passthrough(file_events, events_table, features_table, segments_table, source)
        try:
            return cls(
                **values,
                events_table=events_table,
                features_table=features_table,
                segments_table=segments_table,
                source=source,
            )
        except ValidationError as e:
            err = e.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else ""
            if origin.get(key) == "flag":
                flag = f"--{key.replace('_', '-')}"
                got = f"{flag} {values[key]!r}"
                raise UserError(f"{got}: expected {expected_phrase(err)}") from None
            table = _TABLE_OF.get(key, "pipeline")
            raise UserError(describe_error(err, table, values), path=source) from None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in ("events", "out"):
            d[key] = None if d[key] is None else str(d[key])
        return d

    def config_hash(self) -> str:
        """SHA-256 of the settings that shape the model (paths and engines excluded)."""
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED}
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError("config file not found", path=path)
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"not valid TOML: {e}", path=path) from None


def _relative_to(folder: Path, value: str) -> str:
    """``value`` (a path or glob) taken relative to ``folder`` unless absolute or ``~``."""
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else folder / p)


def _merge_events(table: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    out = dict(table)
    for key, val in flags.items():
        if val is None:
            continue
        if key in ("columns", "event_types"):
            out[key] = {**dict(out.get(key) or {}), **dict(val)}
        else:
            out[key] = val
    return out


def _validate_passthrough(
    file_events: dict, events: dict, features: dict, segments: dict, source: str | None
) -> None:
    """Check [events], [features] and [segments] now, so a bad key fails before any work:
    the file's tables name the file; a bad event-reading flag names no file."""
    from archetype.events.config import EventsConfig
    from archetype.features.config import FeatureConfig
    from archetype.segments.config import SegmentsConfig

    EventsConfig.from_dict(file_events, path=source)
    FeatureConfig.from_dict(features, path=source)
    SegmentsConfig.from_dict(segments, path=source)
    if events != file_events:
        EventsConfig.from_dict(events)
