"""The automation inbox: what each service commit hands to triggers and learning.

The live service calls its listeners inside every commit (:mod:`archetype.live.listeners`).
Instead of running the triggers, experiments and online centroids there, the
:class:`InboxWriter` listener appends one compact :class:`Record` per hook call to the
``auto.inbox`` namespace *in the commit's transaction*: the events the rules read (rows),
the segment moves, the new vectors of the customers (for learning) and the service's
event time.  A worker (:mod:`archetype.live.worker`: a thread, or a process on another
core) consumes the records in order in its own transactions, committing its progress with
its outputs, so a ``kill -9`` of either side loses or repeats nothing, and the worker's
decisions are exactly those the service would have taken inline (same records, same
order).

Namespaces: ``auto.inbox`` ``<seq>`` (20 digits) -> record (MessagePack), written by the
service; ``auto.head`` ``seq`` -> the last record's number (service); ``auto.done`` ``seq``
-> the last record consumed (worker), plus ``learn`` -> the newest centroid version
(what the service serves next).  Records are numbered without gaps by the committed
``auto.head``, so the worker reads exactly the records ``done + 1 .. head``.
``auto.models`` ``<base version>`` -> the segment ids, names and centroids of each model
the records refer to (written once per model), so the worker needs no registry.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import msgpack
import numpy as np

from archetype.live.triggers.rows import TS, event_rows

NS_INBOX = "auto.inbox"
NS_HEAD = "auto.head"
NS_DONE = "auto.done"
NS_MODELS = "auto.models"
APPLIED, WATERMARK = 0, 1
_pack = msgpack.Packer(use_bin_type=True).pack
_ts = operator.itemgetter(TS)


def seq_key(seq: int) -> str:
    return f"{int(seq):020d}"


@dataclass
class Record:
    """One listener call of one commit, as the service writes it (cheap to build: no
    Python work per event, see :func:`record_from_applied`).

    ``kind`` :data:`APPLIED` (``on_applied``): per applied customer a tuple
    ``customers[i] = (customer, old segment, new segment, model version, event time)``,
    its number of events ``counts[i]`` (the rows ``events`` hold them in customer order,
    :mod:`archetype.live.triggers.rows`), whether it has a new vector ``has_x[i]`` and
    those vectors ``x`` (n, d) float32.  :data:`WATERMARK` (``on_watermark``): ``now``.
    ``muted`` marks a bootstrap from history.  :meth:`expand` derives what the
    automation consumes.
    """

    kind: int
    now: int = 0
    muted: bool = False
    customers: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    events: list = field(default_factory=list)
    has_x: bytes = b""
    x: np.ndarray | None = None

    def encode(self) -> bytes:
        x = self.x
        return _pack(
            [
                self.kind,
                self.now,
                self.muted,
                self.customers,
                self.counts,
                self.events,
                self.has_x,
                None if x is None else [x.shape[1], np.ascontiguousarray(x, "<f4").tobytes()],
            ]
        )

    @classmethod
    def decode(cls, b: bytes) -> Record:
        kind, now, muted, cust, counts, ev, has_x, x = msgpack.unpackb(
            b, raw=False, use_list=False, strict_map_key=False
        )
        arr = None
        if x is not None:
            arr = np.frombuffer(x[1], dtype="<f4").reshape(-1, x[0])
        return cls(kind, now, muted, cust, counts, ev, has_x, arr)

    def expand(self) -> Expanded:
        """Service event time, segment moves ``(customer, ts, old, new)`` and learning rows;
        a customer's time is its latest event's in this commit (the service's event time
        for a re-assign without events)."""
        out = Expanded(model=str(self.customers[0][3] or "") if self.customers else "")
        ev, has = self.events, self.has_x
        models: dict[str, int] = {}
        o = 0
        for i, (cid, old, new, mv, et) in enumerate(self.customers):
            n = self.counts[i]
            et = int(et or 0)
            if et > out.now:
                out.now = et
            if n:
                t_a = int(max(map(_ts, ev[o : o + n])))
                o += n
            else:
                t_a = et  # a re-assign (time or model): at the service's event time
            if old != new:
                out.changes.append((cid, t_a, old, new))
            if has and has[i]:
                mv = str(mv or "")
                j = models.get(mv)
                if j is None:
                    j = models[mv] = len(models)
                out.learn_ids.append(cid)
                out.learn_ts.append(t_a)
                out.learn_models.append(j)
        out.models = list(models)
        out.learn_x = self.x
        return out


@dataclass
class Expanded:
    """What :meth:`Record.expand` derives (see there)."""

    model: str = ""
    now: int = 0
    changes: list = field(default_factory=list)
    models: list = field(default_factory=list)
    learn_ids: list = field(default_factory=list)
    learn_ts: list = field(default_factory=list)
    learn_models: list = field(default_factory=list)
    learn_x: np.ndarray | None = None


_CUSTOMER = operator.attrgetter(
    "customer_id", "old_segment", "new_segment", "model_version", "event_time_us"
)
_EVENTS = operator.attrgetter("events")
_VECTOR = operator.attrgetter("new_vector")


def record_from_applied(applied: Sequence[Any], *, learning: bool, muted: bool = False) -> Record:
    """The :data:`APPLIED` record of one ``on_applied`` call (vectors only with
    ``learning``), built with C-level maps: no Python bytecode per event."""
    evs = list(map(_EVENTS, applied))
    events = list(chain.from_iterable(evs))  # LiveEvents are rows (named tuples)
    if events and not isinstance(events[0], tuple):
        events = event_rows(events)
    has_x, x = b"", None
    if learning:
        vecs = list(map(_VECTOR, applied))
        some = [v for v in vecs if v is not None]
        if some:
            has_x = bytes(v is not None for v in vecs)
            x = np.asarray(np.stack(some), dtype=np.float32)
    return Record(
        APPLIED,
        0,
        muted,
        list(map(_CUSTOMER, applied)),
        list(map(len, evs)),
        events,
        has_x,
        x,
    )


class InboxWriter:
    """The service-side listener: one inbox record per hook call, in the commit.

    Parameters
    ----------
    learning : bool
        Write the customers' new vectors (online centroids are on).
    model_info : callable(base version) -> bytes or None
        The encoded :class:`~archetype.live.automation.ModelInfo` of a base model version
        (None: not known here); written once per model to ``auto.models``.
    muted : callable() -> bool, optional
        True while the service ingests history (a bootstrap from its log): the records
        say so, and the worker fires nothing and exposes no one for them.
    """

    def __init__(
        self,
        *,
        learning: bool,
        model_info: Callable[[str], bytes | None],
        muted: Callable[[], bool] | None = None,
    ) -> None:
        self.learning = learning
        self.model_info = model_info
        self.muted = muted or (lambda: False)
        #: called after each commit that wrote records (wakes an in-process worker)
        self.on_commit: Callable[[], None] | None = None
        #: facts for the service's /healthz (set by archetype.live.hooks)
        self.health: Callable[[], dict] | None = None

    def _append(self, tx: Any, rec: Record) -> list:
        raw = tx.get(NS_HEAD, "seq")
        seq = (0 if raw is None else int(raw)) + 1
        tx.put(NS_INBOX, seq_key(seq), rec.encode())
        tx.put(NS_HEAD, "seq", str(seq).encode())
        return [seq]

    def _announce(self, tx: Any, versions: Iterable[str]) -> None:
        for base in {str(v or "").split("+", 1)[0] for v in versions} - {""}:
            if tx.get(NS_MODELS, base) is None:  # one read per commit and model
                info = self.model_info(base)
                if info is not None:
                    tx.put(NS_MODELS, base, info)

    def on_applied(self, tx: Any, applied: list) -> list:
        rec = record_from_applied(applied, learning=self.learning, muted=self.muted())
        self._announce(tx, {c[3] for c in rec.customers})
        return self._append(tx, rec)

    def on_watermark(self, tx: Any, event_time_us: int) -> list:
        return self._append(tx, Record(WATERMARK, int(event_time_us), muted=self.muted()))

    def deliver(self, outputs: list) -> None:
        if self.on_commit is not None:
            self.on_commit()
