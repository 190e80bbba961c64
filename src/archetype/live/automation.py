"""Triggers, experiments and online centroids behind one listener, plus an event-time replay.

:class:`Automation` is the object the live service plugs in with
``segmenter.add_listener(automation)``: after each applied batch, inside the same store
transaction, the service calls ``on_applied(tx, applied)`` and, when the event-time
watermark advances, ``on_watermark(tx, event_time_us)``, which returns the firings to
deliver after commit.  :func:`archetype.live.backfill.replay` drives the same object over
an event log without the service (backfills, tests): same firings as live, delivery off.

Config: the ``[triggers]``, ``[experiments]`` and ``[learning]`` tables of a TOML file
(:func:`load_config`), e.g. the service's config file.
"""

from __future__ import annotations

import logging
import struct
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archetype.errors import UserError
from archetype.live.experiments.config import ExperimentConfig, parse_experiments
from archetype.live.experiments.runner import ExperimentRunner
from archetype.live.learning import LearningConfig, LearningStep, OnlineCentroids
from archetype.live.triggers.codec import ckey, dumps, loads, tkey
from archetype.live.triggers.config import TriggersConfig
from archetype.live.triggers.engine import TriggerEngine
from archetype.live.triggers.outbox import Firing

log = logging.getLogger(__name__)

NS_LEARN = "learn"
NS_LEARN_CUST = "learn.cust"
NS_LEARN_VERSION = "learn.version"


@dataclass(frozen=True)
class AutomationConfig:
    """The three tables, validated."""

    triggers: TriggersConfig = field(default_factory=TriggersConfig)
    experiments: dict[str, ExperimentConfig] = field(default_factory=dict)
    learning: LearningConfig | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "") -> AutomationConfig:
        pre = f"{source}: " if source else ""
        learning = d.get("learning")
        return cls(
            triggers=TriggersConfig.from_dict(d.get("triggers"), source=f"{pre}[triggers]"),
            experiments=parse_experiments(d.get("experiments"), source=f"{pre}[experiments]"),
            learning=None
            if learning is None
            else LearningConfig.from_dict(learning, source=f"{pre}[learning]"),
        )


def load_config(path: str | Path) -> AutomationConfig:
    """Read ``[triggers]``, ``[experiments]``, ``[learning]`` from a TOML file."""
    p = Path(path)
    try:
        d = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("config file not found", path=p) from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"not valid TOML: {e}", path=p) from None
    return AutomationConfig.from_dict(d, source=str(p))


@dataclass(frozen=True)
class SegmentChange:
    """A customer moved ``old -> new`` (segment ids; ``old=None``: first assignment)."""

    customer_id: int | str
    ts_us: int
    old: int | None
    new: int | None


class Automation:
    """Triggers + experiments (+ online centroids) driven in event time.

    Parameters
    ----------
    config : AutomationConfig
    segment_names : mapping id -> name, optional
        The model's segment names (rules may name segments).
    replay : bool
        Record firings as ``replay`` (never delivered).
    learner : OnlineCentroids, optional
        The online centroids to start from (needs ``[learning]``); contributions come from
        the ``new_vector`` of applied customers, each under its nearest centroid.
    model_provider : callable, optional
        Returns the model being served (``LiveModel``): when applied customers carry
        another base model version (the nightly run promoted one), the learner restarts
        from that model and segment names are resolved again.
    """

    def __init__(
        self,
        config: AutomationConfig,
        *,
        segment_names: Mapping[int, str] | None = None,
        replay: bool = False,
        learner: OnlineCentroids | None = None,
        model_provider: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.experiments = ExperimentRunner(config.experiments)
        self._replay = replay
        self.triggers = TriggerEngine(
            config.triggers,
            segment_names=segment_names,
            experiments=self.experiments,
            replay=replay,
        )
        self._learner_init = learner
        self._learner_cache: tuple[bytes, OnlineCentroids] | None = None
        self.model_provider = model_provider
        self._names_base: str | None = None
        self.steps: list[LearningStep] = []
        #: called after commit with the newest LearningStep / when webhooks are owed
        self.on_step: Callable[[LearningStep], None] | None = None
        self.on_owed: Callable[[], None] | None = None

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Apply history without acting on it (a service bootstrapping from its log):
        decisions due meanwhile fire nothing, set no cooldown and expose no one."""
        self.triggers.muted = True
        try:
            yield
        finally:
            self.triggers.muted = False

    # ----- the listener protocol ------------------------------------------------------------
    def on_applied(self, tx: Any, applied: Sequence[Any]) -> list:
        """Events, segment moves and vector changes of one applied batch."""
        if applied and self.model_provider is not None:
            self._follow_model(applied[0])
        events, changes = [], []
        for a in applied:
            evs = _events_of(a)
            events.extend(evs)
            old, new = getattr(a, "old_segment", None), getattr(a, "new_segment", None)
            if old != new:
                ts = max((int(e.ts_us) for e in evs), default=None)
                if ts is None:  # a re-assign (time or model): at the service's event time
                    ts = int(getattr(a, "event_time_us", 0) or 0)
                changes.append((a.customer_id, ts, old, new))
        now = max((int(getattr(a, "event_time_us", 0) or 0) for a in applied), default=0)
        if now:  # the service: decide in the same pass (each record written once)
            _, out = self.triggers.apply_and_advance(tx, events, changes, now)
        else:
            self.triggers.apply_events(tx, events, changes)
            out = []
        if self._learner_init is not None:
            self._learn(tx, applied)
        return out

    def on_segment_change(self, tx: Any, change: SegmentChange) -> None:
        self.triggers.apply_segment_change(
            tx, change.customer_id, change.ts_us, change.old, change.new
        )

    def on_watermark(self, tx: Any, event_time_us: int, *, flush: bool = False) -> list:
        """Run the decisions now due; returns the firings (and a learning step, if any)."""
        out: list = self.triggers.advance(tx, event_time_us, flush=flush)
        if self._learner_init is not None:
            step = self._maybe_step(tx, event_time_us)
            if step is not None:
                out.append(step)
        return out

    def deliver(self, outputs: Sequence[Any]) -> None:
        """After the commit: hand the newest centroids to ``on_step``, wake the webhooks."""
        steps = [o for o in outputs if isinstance(o, LearningStep)]
        if steps and self.on_step is not None:
            self.on_step(steps[-1])
        if self.on_owed is not None and any(
            isinstance(o, Firing) and o.status == "pending" for o in outputs
        ):
            self.on_owed()

    def _follow_model(self, a: Any) -> None:
        """Re-resolve segment names when the served base model changed."""
        base = str(getattr(a, "model_version", "") or "").split("+", 1)[0]
        if not base or base == self._names_base:
            return
        m = self.model_provider()
        if m is None or m.base_version != base:
            return
        names = dict(zip(m.model.segment_ids, m.model.segment_names or [], strict=False))
        if self._names_base is not None:
            try:
                self.triggers = TriggerEngine(
                    self.config.triggers,
                    segment_names=names,
                    experiments=self.experiments,
                    replay=self._replay,
                )
            except UserError as e:  # keep serving with the old resolution; say why
                log.error("model %s: trigger rules keep the previous segment names: %s", base, e)
        self._names_base = base

    # ----- online centroids -------------------------------------------------------------------
    def learner(self, tx: Any) -> OnlineCentroids | None:
        """The online centroids as committed in ``tx`` (the initial learner before any).

        Loaded from the store on every call (a cached object is reused while the stored
        bytes are unchanged), so a transaction that fails leaves no trace in memory.
        """
        if self._learner_init is None:
            return None
        raw = tx.get(NS_LEARN, "state")
        if raw is None:
            return OnlineCentroids.from_bytes(self._learner_init.to_bytes())
        if self._learner_cache is None or self._learner_cache[0] != raw:
            self._learner_cache = (raw, OnlineCentroids.from_bytes(raw))
        return self._learner_cache[1]

    def _store_learner(self, tx: Any, L: OnlineCentroids) -> None:
        raw = L.to_bytes()
        tx.put(NS_LEARN, "state", raw)
        self._learner_cache = (raw, L)

    def _restart_learner(self, L: OnlineCentroids, base: str) -> OnlineCentroids:
        """A learner from the served model ``base`` (the nightly run promoted it)."""
        m = self.model_provider() if self.model_provider is not None else None
        if m is None or m.base_version != base:
            return L
        new = OnlineCentroids(
            m.model.centroids,
            m.model.segment_ids,
            L.config,
            model_version=base,
            metric=m.model.metric,
        )
        new.generation = L.generation + 1  # contributions of the old model are not removed
        log.info("online centroids restart from model %s", base)
        return new

    def bootstrap_learning(
        self,
        tx: Any,
        customer_ids: Sequence[Any],
        X: np.ndarray,
        segment_ids: Sequence[int | None] | None = None,
        t_us: int = 0,
    ) -> None:
        """Start the online sums from every customer's current vector (under its nearest
        centroid; ``segment_ids`` instead when given)."""
        L = self.learner(tx)
        X = np.asarray(X, dtype=np.float64)
        if segment_ids is None:
            rows = L.assign(X)
        else:
            rows = np.array(
                [-1 if s is None else L.row.get(int(s), -1) for s in segment_ids], np.int64
            )
        L.bootstrap(X, rows, t_us)
        for cid, r, x in zip(customer_ids, rows.tolist(), X, strict=True):
            tx.put(NS_LEARN_CUST, ckey(cid), _contribution(r, int(t_us), L.generation, x))
        self._store_learner(tx, L)

    def _learn(self, tx: Any, applied: Sequence[Any]) -> None:
        L = self.learner(tx)
        todo = [a for a in applied if getattr(a, "new_vector", None) is not None]
        bases = {str(getattr(a, "model_version", "") or "").split("+", 1)[0] for a in todo}
        bases.discard("")
        if self.model_provider is not None and bases and L.model_version not in bases:
            L = self._restart_learner(L, sorted(bases)[-1])
        if not todo:
            return
        X = np.stack([np.asarray(a.new_vector, dtype=np.float64).ravel() for a in todo])
        rows = L.assign(X)  # the Lloyd labels: nearest centroid, no hysteresis
        d = L.centroids.shape[1]
        old_l, old_x, old_t, new_t = [], [], [], []
        for a, row, x in zip(todo, rows.tolist(), X, strict=True):
            ck = ckey(a.customer_id)
            ts = max(
                (int(e.ts_us) for e in _events_of(a)),
                default=int(getattr(a, "event_time_us", 0) or 0),
            )
            rec = tx.get(NS_LEARN_CUST, ck)
            r, t, gen, xo = _uncontribution(rec) if rec is not None else (-1, ts, -1, None)
            if gen == L.generation and r >= 0:  # remove exactly what it contributed
                old_l.append(r)
                old_x.append(xo)
                old_t.append(t)
            else:
                old_l.append(-1)
                old_x.append(np.zeros(d))
                old_t.append(ts)
            new_t.append(ts)
            tx.put(NS_LEARN_CUST, ck, _contribution(row, ts, L.generation, x))
        L.update(old_l, rows, np.stack(old_x), X, old_t=np.array(old_t), new_t=np.array(new_t))
        self._store_learner(tx, L)

    def _maybe_step(self, tx: Any, now_us: int) -> LearningStep | None:
        L = self.learner(tx)
        every = int(L.config.update_every)
        if L.last_step_us is not None and now_us - L.last_step_us < every:
            return None
        step = L.step(now_us)
        if step is not None:
            self.steps.append(step)
            tx.put(NS_LEARN_VERSION, tkey(now_us) + "|" + step.version, dumps(step.to_dict()))
        self._store_learner(tx, L)
        return step


def _events_of(a: Any) -> list:
    evs = getattr(a, "events", None)
    if evs is None:
        ev = getattr(a, "event", None)
        return [] if ev is None else [ev]
    return list(evs)


def _contribution(row: int, t_us: int, generation: int, x: np.ndarray) -> bytes:
    """A customer's contribution to the sums: label row, event time, learner generation,
    vector (float64)."""
    return struct.pack("<qqq", row, t_us, generation) + np.asarray(x, dtype="<f8").tobytes()


def _uncontribution(b: bytes) -> tuple[int, int, int, np.ndarray]:
    row, t, gen = struct.unpack_from("<qqq", b)
    return row, t, gen, np.frombuffer(b, dtype="<f8", offset=24)


def read_versions(tx: Any) -> list[dict]:
    """The online-centroid versions recorded in ``tx`` (event-time order)."""
    return [loads(v) for _, v in tx.scan(NS_LEARN_VERSION)]
