"""The feature definition of one model: from a live state to the batch feature vector.

>>> fd = FeatureDefinition.from_feature_manifest(json.load(open("feat/manifest.json")))
>>> st = fd.new_state(); st.apply(LiveEvent(7, ts_us, "view"))       # doctest: +SKIP
>>> fd.features(st, as_of_day=day_number(date(2026, 12, 31)), horizon_days=365)
"""

from __future__ import annotations

import datetime as dt
import itertools
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
from archetype.live.incremental import LIVE_MODULES, live_families, missing_families
from archetype.live.incremental.base import COS, SIN, LiveContext
from archetype.live.incremental.evaluate import evaluate_many, evaluate_one
from archetype.live.state import US_PER_DAY, CustomerState

_NONE = np.empty(0, np.int64)


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
        self._check_live_forms()
        # the kernels' row: LIVE_MODULES' blocks, scattered to feature_names order
        c = self.context(0, 1)
        live = [m.names(c) for m in LIVE_MODULES]
        self._blocks = np.cumsum([0] + [len(b) for b in live], dtype=np.int64)
        pos = {n: j for j, n in enumerate(self.feature_names)}
        self._perm = np.array([pos[n] for b in live for n in b], np.int64)
        self._occ_lo, self._occ_hi = c.occasion_bounds()
        self._channel_pos = {ch: j for j, ch in enumerate(self.channels)}
        self._cx_last: tuple = (None, None)  # ((as-of, horizon), context vector): reused
        self._chmaps: dict[tuple[str, ...], list[int]] = {}  # a state's channels -> map

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
            st._blob = None
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

    def _vector(self, as_of_day: int | dt.date, horizon_days: int | None) -> tuple[int, np.ndarray]:
        """``(as-of day, context vector)``; the last one is kept (one tuple: thread-safe)."""
        a = day_number(as_of_day) if isinstance(as_of_day, dt.date) else int(as_of_day)
        key, cx = self._cx_last
        if key != (a, horizon_days):
            cx = self.context(a, horizon_days).vector()
            self._cx_last = ((a, horizon_days), cx)
        return a, cx

    def _check_as_of(self, state: CustomerState, a: int) -> None:
        w, last = self.window_days, state.last_ts_us
        if w is not None and last is not None and a < last // US_PER_DAY:
            raise ValueError(
                f"as-of {_iso(a)} is before the customer's last event day "
                f"{_iso(last // US_PER_DAY)}; a {w}-day window state answers as-of days from "
                "that day on"
            )

    def features(
        self, state: CustomerState, as_of_day: int | dt.date, horizon_days: int | None = None
    ) -> np.ndarray:
        """Float64 ``(d,)`` vector equal to the batch row at ``as_of_day``.

        ``horizon_days``: the window length (default) or, without a window, days from the
        log's first event to ``as_of_day`` inclusive (the batch's global horizon).
        Raises :class:`NotInWindow` when the customer has no event in the window.
        """
        a, cx = self._vector(as_of_day, horizon_days)
        out = np.empty(len(self.feature_names))
        if not self._one(state, a, cx, out):
            raise NotInWindow(f"no event in the window ending {_iso(a)}")
        return out

    def features_many(
        self,
        states: Iterable[CustomerState],
        as_of_day: int | dt.date,
        horizon_days: int | None = None,
    ) -> np.ndarray:
        """``(n, d)`` float64; the row of a customer without events in the window is NaN.

        One kernel call for all of them (their tables concatenated)."""
        a, cx = self._vector(as_of_day, horizon_days)
        states = states if isinstance(states, list) else list(states)
        n = len(states)
        out = np.empty((n, len(self.feature_names)))
        if n == 1:
            self._one(states[0], a, cx, out[0])
        elif n:
            self._many(states, a, cx, out)
        return out

    def _one(self, state: CustomerState, a: int, cx: np.ndarray, out: np.ndarray) -> bool:
        self._check_as_of(state, a)
        body, n, p, wc, wg = state.packed()
        pos = self._channel_pos
        chmap = np.array([pos.get(v, -1) for v in state.channels], np.int64) if pos else _NONE
        return evaluate_one(
            body, n, p, wc, wg, chmap, len(state.categories), cx, self._occ_lo, self._occ_hi,
            SIN, COS, self._blocks, self._perm, out,
        )  # fmt: skip

    def _many(self, states: list[CustomerState], a: int, cx: np.ndarray, out: np.ndarray) -> None:
        n = len(states)
        bodies, rows, amts, wcs, wgs = zip(*[st.packed() for st in states], strict=True)
        if self.window_days is not None:
            last = max((t for st in states if (t := st.last_ts_us) is not None), default=None)
            if last is not None and last // US_PER_DAY > a:
                for st in states:
                    self._check_as_of(st, a)  # raises, naming the day
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(np.fromiter(map(len, bodies), np.int64, n), out=offsets[1:])
        ncat = np.fromiter((len(st.categories) for st in states), np.int64, n)
        chmaps = np.zeros(n + 1, np.int64)
        pos = self._channel_pos
        if pos:
            vocabs = [st.channels for st in states]
            known, get = self._chmaps, self._chmaps.get
            maps = [get(v) for v in map(tuple, vocabs)]  # many customers share value lists
            for k, m in enumerate(maps):
                if m is None:
                    if len(known) > 4096:
                        known.clear()
                    maps[k] = known[tuple(vocabs[k])] = [pos.get(v, -1) for v in vocabs[k]]
            chmap = np.fromiter(itertools.chain.from_iterable(maps), np.int64)
            np.cumsum(np.fromiter(map(len, vocabs), np.int64, n), out=chmaps[1:])
        else:
            chmap = _NONE
        evaluate_many(
            np.concatenate(bodies), offsets, np.array(rows, np.int64), np.array(amts, np.int64),
            np.array(wcs, np.int64), np.array(wgs, np.int64), chmap, chmaps, ncat, cx,
            self._occ_lo, self._occ_hi, SIN, COS, self._blocks, self._perm, out,
        )  # fmt: skip

    def is_present(self, state: CustomerState, as_of_day: int | dt.date) -> bool:
        """Whether the customer has an event in the window at ``as_of_day`` (a batch row)."""
        cx = self._vector(as_of_day, 1)[1]
        body, n = state.packed()[:2]
        ts = np.frombuffer(body, np.int64, n)  # the body starts with the rows' times
        return bool(np.searchsorted(ts, cx[4]) > np.searchsorted(ts, cx[3]))

    # ------------------------------------------------------------ checks
    def _check_live_forms(self) -> None:
        """Every batch feature has a live form, and no live form lacks a batch feature."""
        missing = missing_families()
        if missing:
            raise NotImplementedError(f"feature families without a live form: {missing}")
        dup = sorted({n for n in self.feature_names if self.feature_names.count(n) > 1})
        if dup:
            raise ValueError(f"two channels or occasions give the same feature names: {dup}")
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
    """Names the live families produce for this definition."""
    c = fd.context(0, 1)
    return [n for m in live_families() for n in m.names(c)]


def load_kernels() -> float:
    """Compile (first run after an install or an edit: ~20 s) or load from Numba's disk
    cache (~0.3 s) every live kernel, by running each once on a tiny state; returns the
    seconds it took.  ``archetype serve`` calls it before it accepts requests, so that no
    request or commit waits for a compilation."""
    import time

    from archetype.live.state import LiveEvent

    t0 = time.perf_counter()
    fd = FeatureDefinition(["web"], {"spring": ("03-01", "05-31")}, window_days=30)
    day = 20_000 * US_PER_DAY
    st = fd.new_state()
    for k, et in enumerate(("view", "purchase", "add_to_cart", "purchase")):
        st.apply(LiveEvent(0, day + k * 3_600_000_000, et, 5.0, 1, 0.0, "web", "a"))
    back = fd.decode(st.encode())
    fd.features(back, 20_001)
    fd.features_many([back, st], 20_001)
    from archetype.live.screen import screen  # the writer's duplicate screening

    screen(
        np.ones(2, np.uint64), np.zeros(2, np.int64), [(0, 2)], [np.empty(0, np.uint64)], [None], 30
    )
    return time.perf_counter() - t0
