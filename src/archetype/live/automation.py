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
from archetype.live.inbox import WATERMARK, Expanded, Record, record_from_applied
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


def read_toml(path: str | Path) -> dict[str, Any]:
    """The whole TOML document of a config file (a missing file or bad TOML: UserError)."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("config file not found", path=p) from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"not valid TOML: {e}", path=p) from None


def load_config(path: str | Path) -> AutomationConfig:
    """Read ``[triggers]``, ``[experiments]``, ``[learning]`` from a TOML file."""
    return AutomationConfig.from_dict(read_toml(path), source=str(path))


@dataclass(frozen=True)
class SegmentChange:
    """A customer moved ``old -> new`` (segment ids; ``old=None``: first assignment)."""

    customer_id: int | str
    ts_us: int
    old: int | None
    new: int | None


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """What the automation needs of a served model: ids, names, centroids, metric."""

    version: str
    segment_ids: tuple[int, ...]
    segment_names: tuple[str, ...]
    centroids: np.ndarray
    metric: str = "l2"

    @classmethod
    def of(cls, live_model: Any) -> ModelInfo:
        """From a :class:`~archetype.live.model.LiveModel` (its base version)."""
        m = live_model.model
        return cls(
            live_model.base_version,
            tuple(int(i) for i in m.segment_ids),
            tuple(m.segment_names or ()),
            np.asarray(m.centroids),
            m.metric,
        )

    def names(self) -> dict[int, str]:
        return dict(zip(self.segment_ids, self.segment_names, strict=False))

    def encode(self) -> bytes:
        c = np.ascontiguousarray(self.centroids, dtype="<f8")
        return dumps(
            [
                self.version,
                list(self.segment_ids),
                list(self.segment_names),
                self.metric,
                list(c.shape),
                c.tobytes(),
            ]
        )

    @classmethod
    def decode(cls, b: bytes) -> ModelInfo:
        v, ids, names, metric, shape, raw = loads(b)
        c = np.frombuffer(raw, dtype="<f8").reshape(shape)
        return cls(v, tuple(ids), tuple(names), c, metric)


#: ``provider(tx, base_version) -> ModelInfo | None``: the model of that base version.
ModelProvider = Callable[[Any, str], "ModelInfo | None"]


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
    model_provider : callable(tx, base version) -> ModelInfo or None, optional
        When applied customers carry another base model version (the nightly run
        promoted one), the learner restarts from that model and segment names are
        resolved again.
    defer : bool
        Write the customer records and the learner only in :meth:`flush` (the worker:
        many records in one transaction, each key written once).
    """

    def __init__(
        self,
        config: AutomationConfig,
        *,
        segment_names: Mapping[int, str] | None = None,
        replay: bool = False,
        learner: OnlineCentroids | None = None,
        model_provider: ModelProvider | None = None,
        defer: bool = False,
    ) -> None:
        self.config = config
        self.experiments = ExperimentRunner(config.experiments)
        self._replay = replay
        self.defer = defer
        self.triggers = self._engine(segment_names)
        self._learner_init = learner
        self._learner_cache: tuple[bytes, OnlineCentroids] | None = None
        self._work: tuple[Any, OnlineCentroids] | None = None  # (tx, learner changed in it)
        self._learner_dirty = False
        self.model_provider = model_provider
        self._names_base: str | None = None
        self.steps: list[LearningStep] = []
        #: called after commit with the newest LearningStep / when webhooks are owed
        self.on_step: Callable[[LearningStep], None] | None = None
        self.on_owed: Callable[[], None] | None = None

    def _engine(self, names: Mapping[int, str] | None) -> TriggerEngine:
        return TriggerEngine(
            self.config.triggers,
            segment_names=names,
            experiments=self.experiments,
            replay=self._replay,
            defer=self.defer,
        )

    @property
    def learning(self) -> bool:
        return self._learner_init is not None

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
        return self.apply_record(tx, record_from_applied(applied, learning=self.learning))

    def apply_record(self, tx: Any, rec: Record) -> list:
        """One inbox record (:mod:`archetype.live.inbox`): what ``on_applied`` /
        ``on_watermark`` of the commit that wrote it would have done."""
        was = self.triggers.muted
        self.triggers.muted = was or bool(rec.muted)
        try:
            if rec.kind == WATERMARK:
                return self.on_watermark(tx, rec.now)
            ex = rec.expand()
            if ex.model and self.model_provider is not None:
                self._follow_model(tx, ex.model)
                self.triggers.muted = was or bool(rec.muted)
            if ex.now:  # the service: decide in the same pass (each record written once)
                _, out = self.triggers.apply_and_advance(tx, rec.events, ex.changes, ex.now)
            else:
                self.triggers.apply_events(tx, rec.events, ex.changes)
                out = []
            if self._learner_init is not None:
                self._learn(tx, ex)
            return out
        finally:
            self.triggers.muted = was

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

    def prepare(self, tx: Any, records: Sequence[Record]) -> None:
        """Before running ``records`` in ``tx`` (the worker): read the timer index once up
        to the last of their event times."""
        now = 0
        for rec in records:
            if rec.kind == WATERMARK:
                now = max(now, int(rec.now))
            elif rec.customers:
                now = max(now, max(int(c[4] or 0) for c in rec.customers))
        if now:
            self.triggers.scan_timers(tx, now)

    def flush(self, tx: Any) -> None:
        """Write what ``defer=True`` kept in memory (call before committing ``tx``)."""
        self.triggers.flush(tx)
        if self._learner_dirty and self._work is not None and self._work[0] is tx:
            L = self._work[1]
            raw = L.to_bytes()
            tx.put(NS_LEARN, "state", raw)
            self._learner_cache = (raw, L)
            self._learner_dirty = False

    def deliver(self, outputs: Sequence[Any]) -> None:
        """After the commit: hand the newest centroids to ``on_step``, wake the webhooks."""
        steps = [o for o in outputs if isinstance(o, LearningStep)]
        if steps and self.on_step is not None:
            self.on_step(steps[-1])
        if self.on_owed is not None and any(
            isinstance(o, Firing) and o.status == "pending" for o in outputs
        ):
            self.on_owed()

    def _follow_model(self, tx: Any, version: str) -> None:
        """Re-resolve segment names when the served base model changed."""
        base = version.split("+", 1)[0]
        if not base or base == self._names_base:
            return
        info = self.model_provider(tx, base)
        if info is None or info.version != base:
            return
        if self._names_base is not None:
            try:
                engine = self._engine(info.names())
            except UserError as e:  # keep serving with the old resolution; say why
                log.error("model %s: trigger rules keep the previous segment names: %s", base, e)
            else:
                self.triggers.flush(tx)  # what the old engine holds, written first
                engine.muted = self.triggers.muted
                engine.stats = self.triggers.stats
                self.triggers = engine
        self._names_base = base

    # ----- online centroids -------------------------------------------------------------------
    def learner(self, tx: Any) -> OnlineCentroids | None:
        """The online centroids as of ``tx`` (the initial learner before any commit).

        Read from the store (a cached object is reused while the stored bytes are
        unchanged; an object changed in a transaction is cached again only once stored),
        so a transaction that fails leaves no trace in memory.
        """
        if self._learner_init is None:
            return None
        w = self._work
        if w is not None and w[0] is tx:
            return w[1]
        raw = tx.get(NS_LEARN, "state")
        if raw is None:
            L = OnlineCentroids.from_bytes(self._learner_init.to_bytes())
        elif self._learner_cache is not None and self._learner_cache[0] == raw:
            L = self._learner_cache[1]
        else:
            L = OnlineCentroids.from_bytes(raw)
        self._learner_cache = None  # L may change in tx: cached again when stored
        self._work = (tx, L)
        self._learner_dirty = False
        return L

    def _store_learner(self, tx: Any, L: OnlineCentroids) -> None:
        self._work = (tx, L)
        if self.defer:
            self._learner_dirty = True
            return
        raw = L.to_bytes()
        tx.put(NS_LEARN, "state", raw)
        self._learner_cache = (raw, L)

    def _restart_learner(self, tx: Any, L: OnlineCentroids, base: str) -> OnlineCentroids:
        """A learner from the served model ``base`` (the nightly run promoted it)."""
        info = self.model_provider(tx, base) if self.model_provider is not None else None
        if info is None or info.version != base:
            return L
        new = OnlineCentroids(
            info.centroids,
            info.segment_ids,
            L.config,
            model_version=base,
            metric=info.metric,
        )
        new.generation = L.generation + 1  # contributions of the old model are not removed
        log.info("online centroids restart from model %s", base)
        self._work = (tx, new)
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
        n = len(rows)
        recs = _contributions(rows, np.full(n, int(t_us)), L.generation, X)
        for cid, rec in zip(customer_ids, recs, strict=True):
            tx.put(NS_LEARN_CUST, ckey(cid), rec)
        self._store_learner(tx, L)

    def _learn(self, tx: Any, rec: Expanded) -> None:
        L = self.learner(tx)
        used = {rec.models[i].split("+", 1)[0] for i in set(rec.learn_models)} - {""}
        if self.model_provider is not None and used and L.model_version not in used:
            L = self._restart_learner(tx, L, sorted(used)[-1])
        n = len(rec.learn_ids)
        if not n:
            return
        X = np.asarray(rec.learn_x, dtype=np.float64)
        rows = L.assign(X)  # the Lloyd labels: nearest centroid, no hysteresis
        d = X.shape[1]
        new_t = np.asarray(rec.learn_ts, dtype=np.int64)
        cks = [ckey(c) for c in rec.learn_ids]
        old_l = np.full(n, -1, np.int64)
        old_x = np.zeros((n, d))
        old_t = new_t.copy()
        prev = tx.get_many(NS_LEARN_CUST, cks)
        have = [i for i, b in enumerate(prev) if b is not None and len(b) == 24 + 8 * d]
        if have:
            arr = np.frombuffer(b"".join(prev[i] for i in have), dtype=_contribution_dtype(d))
            mine = (arr["gen"] == L.generation) & (arr["row"] >= 0)  # remove what it added
            idx = np.asarray(have)[mine]
            old_l[idx] = arr["row"][mine]
            old_x[idx] = arr["x"][mine]
            old_t[idx] = arr["t"][mine]
        put = tx.put
        for ck, b in zip(cks, _contributions(rows, new_t, L.generation, X), strict=True):
            put(NS_LEARN_CUST, ck, b)
        L.update(old_l, rows, old_x, X, old_t=old_t, new_t=new_t)
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


def _contribution_dtype(d: int) -> np.dtype:
    return np.dtype([("row", "<i8"), ("t", "<i8"), ("gen", "<i8"), ("x", "<f8", (d,))])


def _contributions(rows: np.ndarray, t_us: np.ndarray, generation: int, X: np.ndarray) -> list:
    """Customers' contributions to the sums, one record each: label row, event time,
    learner generation, vector (float64)."""
    n, d = X.shape
    arr = np.empty(n, dtype=_contribution_dtype(d))
    arr["row"], arr["t"], arr["gen"], arr["x"] = rows, t_us, generation, X
    raw = arr.tobytes()
    size = arr.itemsize
    return [raw[i * size : (i + 1) * size] for i in range(n)]


def read_versions(tx: Any) -> list[dict]:
    """The online-centroid versions recorded in ``tx`` (event-time order)."""
    return [loads(v) for _, v in tx.scan(NS_LEARN_VERSION)]
