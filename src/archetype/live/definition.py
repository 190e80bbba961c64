"""The feature definition of one model: from a live state to the batch feature vector.

>>> fd = FeatureDefinition.from_feature_manifest(json.load(open("feat/manifest.json")))
>>> st = fd.new_state(); st.apply(LiveEvent(7, ts_us, "view"))       # doctest: +SKIP
>>> fd.features(st, as_of_day=day_number(date(2026, 12, 31)), horizon_days=365)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from archetype.features.build import feature_specs
from archetype.features.config import DEFAULT_OCCASIONS, FeatureConfig
from archetype.features.context import FeatureContext, day_number, slug
from archetype.features.spec import FeatureSpec
from archetype.live.codec import decode_state
from archetype.live.incremental import live_families, missing_families
from archetype.live.incremental.base import LiveContext, aggregate, window_days
from archetype.live.state import CustomerState


class NotInWindow(LookupError):
    """The customer has no event inside the window at this as-of (no batch row either)."""


class FeatureDefinition:
    """Which features, how: channels, occasion windows, the window length.

    Parameters
    ----------
    channels : sequence of str
        Channels with a share feature (the feature dir's / transform's ``channels``).
    occasions : dict[str, (str, str)], optional
        Occasion windows ``"MM-DD"`` inclusive; default :data:`DEFAULT_OCCASIONS`.
    window_days : int, optional
        Look-back window in days (``None``: all history).

    Attributes
    ----------
    feature_names : tuple[str, ...]
        The ``features.parquet`` columns (minus ``customer_id``), in order.
    specs : tuple[FeatureSpec, ...]
    """

    def __init__(
        self,
        channels: Iterable[str] = (),
        occasions: Mapping[str, tuple[str, str]] | None = None,
        window_days: int | None = None,
    ) -> None:
        if window_days is not None and (not isinstance(window_days, int) or window_days < 1):
            raise ValueError(f"window_days={window_days!r} should be an integer >= 1")
        occ = dict(DEFAULT_OCCASIONS if occasions is None else occasions)
        self.config = FeatureConfig(occasions={k: tuple(v) for k, v in occ.items()})
        self.channels = tuple(str(c) for c in channels)
        self.window_days = window_days
        ctx = FeatureContext.make(dt.date(1970, 1, 1), 1, self.config, list(self.channels))
        self._occasions = dict(ctx.occasions)
        self._slugs = tuple(slug(c) for c in self.channels)
        self.specs: tuple[FeatureSpec, ...] = tuple(feature_specs(ctx))
        self.feature_names: tuple[str, ...] = tuple(s.name for s in self.specs)
        self._families = live_families()
        self._extra = [m.intermediates for m in self._families if hasattr(m, "intermediates")]
        self._check_live_forms()

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_config(
        cls, config: FeatureConfig, channels: Iterable[str], window_days: int | None = None
    ) -> FeatureDefinition:
        """From a :class:`FeatureConfig` (window: the argument, else ``config.window_days``)."""
        w = window_days if window_days is not None else config.window_days
        return cls(channels, config.occasions, w)

    @classmethod
    def from_feature_manifest(cls, manifest: Mapping[str, Any]) -> FeatureDefinition:
        """From a feature dir's ``manifest.json`` (channels, occasions, window)."""
        try:
            fc = manifest.get("feature_config") or {}
            occ = {k: (v[0], v[1]) for k, v in (fc.get("occasions") or DEFAULT_OCCASIONS).items()}
            out = cls(manifest["channels"], occ, manifest.get("window_days"))
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError(f"not a feature-dir manifest ({type(e).__name__}: {e})") from None
        # ``features``: every raw feature (features.parquet); ``feature_names`` are only the
        # transform's inputs (constant / duplicate features are left out of the embedding).
        specs = manifest.get("features")
        names = None if specs is None else [s["name"] for s in specs]
        if names is not None and tuple(names) != out.feature_names:
            raise ValueError(
                "the manifest's raw features differ from the live definition's "
                f"({len(names)} vs {len(out.feature_names)} features)"
            )
        return out

    @classmethod
    def from_feature_dir(cls, path: str | Path) -> FeatureDefinition:
        """:meth:`from_feature_manifest` of ``path/manifest.json``."""
        return cls.from_feature_manifest(json.loads((Path(path) / "manifest.json").read_text()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "occasions": {k: list(v) for k, v in self.config.occasions.items()},
            "window_days": self.window_days,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureDefinition) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return (
            f"FeatureDefinition({len(self.feature_names)} features, channels={self.channels}, "
            f"window_days={self.window_days})"
        )

    # ------------------------------------------------------------ states
    def new_state(self) -> CustomerState:
        return CustomerState(self.window_days)

    def decode(self, blob: bytes) -> CustomerState:
        """A state from :meth:`CustomerState.encode` bytes (``ValueError`` if not one)."""
        st = decode_state(blob)
        if st.window_days != self.window_days:
            if st.window_days is not None and (
                self.window_days is None or self.window_days > st.window_days
            ):
                raise ValueError(
                    f"state was kept for a {st.window_days}-day window; this definition "
                    f"needs {self.window_days or 'all history'}"
                )
            st.window_days = self.window_days
            st.prune()
        return st

    # ------------------------------------------------------------ features
    def context(self, as_of_day: int | dt.date, horizon_days: int | None = None) -> LiveContext:
        """The :class:`LiveContext` at an as-of day (``horizon_days``: default the window)."""
        a = day_number(as_of_day) if isinstance(as_of_day, dt.date) else int(as_of_day)
        w = self.window_days
        if horizon_days is None:
            if w is None:
                raise ValueError("horizon_days is needed without a window (days of the log)")
            horizon_days = w
        start = None if w is None else a - w + 1
        return LiveContext(a, int(horizon_days), start, self._occasions, self.channels, self._slugs)

    def intermediates(self, state: CustomerState, c: LiveContext) -> dict | None:
        """The batch intermediates (``_events``, ``_spend``, ...) or None outside the window."""
        w, last = self.window_days, state.last_day
        if w is not None and last is not None and c.as_of_day < last:
            raise ValueError(
                f"as-of {_iso(c.as_of_day)} is before the customer's last event day "
                f"{_iso(last)}; a {w}-day window state answers as-of days from that day on"
            )
        days = window_days(state, c)
        if not days:
            return None
        i = aggregate(state, days, c)
        for extra in self._extra:
            i.update(extra(state, days, c))
        return i

    def values(self, i: dict, c: LiveContext) -> list[float]:
        """Feature values in :attr:`feature_names` order from intermediates."""
        out: dict[str, float] = {}
        for m in self._families:
            out.update(m.values(i, c))
        return [out[n] for n in self.feature_names]

    def features(
        self, state: CustomerState, as_of_day: int | dt.date, horizon_days: int | None = None
    ) -> np.ndarray:
        """Float64 ``(d,)`` vector equal to the batch row at ``as_of_day``.

        ``horizon_days``: the window length (default) or, without a window, days from the
        log's first event to ``as_of_day`` inclusive (the batch's global horizon).
        Raises :class:`NotInWindow` when the customer has no event in the window.
        """
        c = self.context(as_of_day, horizon_days)
        i = self.intermediates(state, c)
        if i is None:
            raise NotInWindow(f"no event in the window ending {_iso(c.as_of_day)}")
        return np.array(self.values(i, c), dtype=np.float64)

    def features_many(
        self,
        states: Iterable[CustomerState],
        as_of_day: int | dt.date,
        horizon_days: int | None = None,
    ) -> np.ndarray:
        """``(n, d)`` float64; the row of a customer without events in the window is NaN."""
        c = self.context(as_of_day, horizon_days)
        rows = []
        nan = [float("nan")] * len(self.feature_names)
        for st in states:
            i = self.intermediates(st, c)
            rows.append(nan if i is None else self.values(i, c))
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(self.feature_names))

    def is_present(self, state: CustomerState, as_of_day: int | dt.date) -> bool:
        """Whether the customer has an event in the window at ``as_of_day`` (a batch row)."""
        c = self.context(as_of_day, 1)
        return bool(window_days(state, c))

    # ------------------------------------------------------------ checks
    def _check_live_forms(self) -> None:
        """Every batch feature has a live form, and no live form lacks a batch feature."""
        missing = missing_families()
        if missing:
            raise NotImplementedError(f"feature families without a live form: {missing}")
        names = set(live_feature_names(self))
        batch = set(self.feature_names)
        if names != batch:
            raise NotImplementedError(
                "live and batch features differ: "
                f"batch only {sorted(batch - names)}, live only {sorted(names - batch)}"
            )


def _iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def live_feature_names(fd: FeatureDefinition) -> list[str]:
    """Names the live families produce for this definition (from sample intermediates)."""
    c = fd.context(0, 1)
    sample: dict[str, Any] = _SampleIntermediates()
    out: list[str] = []
    for m in live_families():
        out.extend(m.values(sample, c))
    return out


class _SampleIntermediates(dict):
    """Any intermediate reads as 1 (enough to enumerate the names a family returns)."""

    def __missing__(self, key: str) -> int:
        return 1
