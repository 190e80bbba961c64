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

    [events]    # passed through to archetype.events (column mapping, ...)
    [features]  # passed through to archetype.features
    [segments]  # passed through to archetype.segments (currency, lifecycle, naming, names)

:meth:`RunConfig.load` reads the file (optional) and applies the overrides (flag values
that are not ``None``); everything is validated once, here.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from archetype.errors import UserError

# table -> keys of that table that map onto RunConfig fields
_TABLES: dict[str, tuple[str, ...]] = {
    "pipeline": ("events", "out", "k", "window_days", "engine", "ray_address", "jobs", "report"),
    "cluster": ("backend", "device", "metric", "seed", "batch_size", "max_iter", "refit"),
    "matching": ("max_cost", "distance_weight"),
    "privacy": ("pseudonymize", "key_env"),
}
_PASSTHROUGH = ("events", "features", "segments")
BACKENDS = ("auto", "torch", "faiss", "numba")
DEVICES = ("auto", "cpu", "cuda")
METRICS = ("l2", "cosine")
ENGINES = ("local", "ray")
# Keys that do not change the model (left out of the config hash).
_NOT_HASHED = ("events", "out", "engine", "ray_address", "jobs", "refit", "backend", "device",
               "key_env", "source", "report", "segments_table")


@dataclass
class RunConfig:
    """Everything one nightly run needs.  Build with :meth:`load`."""

    events: Path | None = None
    out: Path | None = None
    k: int | None = None
    window_days: int | None = None
    engine: str = "local"
    ray_address: str | None = None
    jobs: int = 2
    report: bool = True
    backend: str = "auto"
    device: str = "auto"
    metric: str = "l2"
    seed: int = 0
    batch_size: int = 4096
    max_iter: int = 50
    refit: bool = False
    max_cost: float = 0.6
    distance_weight: float = 0.5
    pseudonymize: bool = False
    key_env: str = "ARCHETYPE_ID_KEY"
    events_table: dict[str, Any] = field(default_factory=dict)
    features_table: dict[str, Any] = field(default_factory=dict)
    segments_table: dict[str, Any] = field(default_factory=dict)  # archetype.segments.config
    source: str | None = None

    @classmethod
    def load(
        cls, path: str | Path | None = None, overrides: dict[str, Any] | None = None
    ) -> RunConfig:
        """Read ``path`` (TOML, optional) and apply ``overrides`` (``None`` values ignored).

        Raises
        ------
        UserError
            Unreadable file, unknown key, bad value, or a required key (events, out, k)
            missing from both file and flags.
        """
        values: dict[str, Any] = {}
        passthrough: dict[str, dict[str, Any]] = {}
        source = None
        if path is not None:
            path = Path(path)
            source = str(path)
            if not path.is_file():
                raise UserError("config file not found", path=path)
            try:
                doc = tomllib.loads(path.read_text())
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
                raise UserError(f"not valid TOML: {e}", path=path) from None
            for table, body in doc.items():
                if table in _PASSTHROUGH and table not in _TABLES:
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
        for key, val in (overrides or {}).items():
            if val is not None:
                values[key] = val
        if values.get("ray_address") in (None, "") and os.environ.get("RAY_ADDRESS"):
            values["ray_address"] = os.environ["RAY_ADDRESS"]
        cfg = cls(
            events_table=passthrough.get("events", {}),
            features_table=passthrough.get("features", {}),
            segments_table=passthrough.get("segments", {}),
            source=source,
        )
        known_fields = {f.name for f in fields(cls)}
        for key, val in values.items():
            if key not in known_fields:
                raise UserError(f"unknown setting {key!r}")
            setattr(cfg, key, val)
        cfg._validate(source)
        return cfg

    def _validate(self, source: str | None) -> None:
        where = f" (in {source} or as a flag)" if source else " (as a flag)"
        for req in ("events", "out", "k"):
            if getattr(self, req) in (None, ""):
                raise UserError(f"missing setting {req!r}{where}: pass --{req.replace('_', '-')}")
        self.events = Path(self.events)
        self.out = Path(self.out)
        for name, lo in (("k", 1), ("seed", 0), ("batch_size", 1), ("max_iter", 1), ("jobs", 1)):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or val < lo:
                raise UserError(f"{name}={val!r} should be an integer >= {lo}")
        if self.window_days is not None and (
            isinstance(self.window_days, bool)
            or not isinstance(self.window_days, int)
            or self.window_days < 1
        ):
            raise UserError(f"window_days={self.window_days!r} should be an integer >= 1")
        for name, allowed in (("backend", BACKENDS), ("device", DEVICES), ("metric", METRICS),
                              ("engine", ENGINES)):
            if getattr(self, name) not in allowed:
                raise UserError(
                    f"{name}={getattr(self, name)!r} should be one of {', '.join(allowed)}"
                )
        for name in ("max_cost", "distance_weight"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int | float) or not 0 <= val <= 1:
                raise UserError(f"{name}={val!r} should be a number in [0, 1]")
        for name in ("refit", "pseudonymize", "report"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"{name}={getattr(self, name)!r} should be true or false")
        if not isinstance(self.key_env, str) or not self.key_env:
            raise UserError(f"key_env={self.key_env!r} should be an environment variable name")
        if self.ray_address == "":
            self.ray_address = None
        from archetype.segments.config import SegmentsConfig  # [segments]: validated here

        SegmentsConfig.from_dict(self.segments_table, where=f"[segments]{where}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("events", "out"):
            d[key] = None if d[key] is None else str(d[key])
        return d

    def config_hash(self) -> str:
        """SHA-256 of the settings that shape the model (paths and engines excluded)."""
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED}
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()
