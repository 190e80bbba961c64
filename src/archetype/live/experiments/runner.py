"""Experiments attached to trigger rules: assignment, exposures, conversions, bandit updates.

Driven by :class:`~archetype.live.triggers.engine.TriggerEngine` in event time, inside the
caller's store transaction:

* a firing of a rule with ``experiment = X`` is an **exposure**: the customer's variant is
  their recorded one if any (sticky across restarts *and* allocation changes), otherwise
  the holdout when their bucket is below ``holdout x 10,000``, otherwise the fixed
  allocation's variant for the bucket or a Thompson draw; a row is written and a window
  close timer set at ``exposure + conversion.within``;
* a conversion event (``conversion.event`` matching ``conversion.where``) at time ``t``
  converts every open exposure of the customer with ``exposure < t <= exposure + within``
  (attribution per exposure: the first qualifying event after each exposure), counted as a
  bandit success at once;
* at the window close an unconverted exposure becomes a failure (and every exposure
  *matured*: only matured exposures enter the uplift figures).

Namespaces: ``exp.assign`` ``<experiment>|<customer>`` -> variant;
``exp.exposure`` ``<experiment>|<time>|<firing key>`` -> exposure row (JSON);
``exp.stats`` ``<experiment>`` -> ``{variant: [exposures, successes, failures]}``.
"""

from __future__ import annotations

from typing import Any

from archetype.live.experiments.bandit import thompson_choice
from archetype.live.experiments.bucketing import bucket, fixed_variant
from archetype.live.experiments.config import HOLDOUT, ExperimentConfig
from archetype.live.triggers.codec import ckey, dumps, loads, tkey
from archetype.live.triggers.engine import CLOSE, EventMatcher

NS_ASSIGN = "exp.assign"
NS_EXPOSURE = "exp.exposure"
NS_STATS = "exp.stats"


class ExperimentRunner:
    """Runs the enabled experiments of ``experiments`` (``{name: ExperimentConfig}``)."""

    HOLDOUT = HOLDOUT

    def __init__(self, experiments: dict[str, ExperimentConfig]) -> None:
        self.experiments = {k: e for k, e in experiments.items() if e.enabled}
        self._conv = {k: EventMatcher(e.conversion.where) for k, e in self.experiments.items()}
        self.conversion_types = frozenset(e.conversion.event for e in self.experiments.values())
        self._tx: Any = None
        self._cached: dict[str, dict] = {}
        self._dirty: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.experiments

    # ----- assignment ---------------------------------------------------------------------
    def variant_for(
        self, tx: Any, name: str, customer_id: Any, draw_key: str = "", known: str | None = None
    ) -> str:
        """The customer's variant: recorded if any (``known``: as the customer's trigger
        record remembers it, saving a read), else decided now and recorded."""
        exp = self.experiments[name]
        if known is not None and (known in exp.variants or known == HOLDOUT):
            return known
        akey = f"{name}|{ckey(customer_id)}"
        got = tx.get(NS_ASSIGN, akey)
        if got is not None and (got.decode() in exp.variants or got.decode() == HOLDOUT):
            return got.decode()  # sticky (a variant since removed from the config is re-drawn)
        b = bucket(customer_id, exp.salt)
        if b < exp.holdout_buckets or exp.allocation == "fixed":
            v = fixed_variant(b, exp)
        else:
            v = thompson_choice(
                self.stats(tx, name), list(exp.variants), exp.salt, ckey(customer_id), draw_key
            )
        tx.put(NS_ASSIGN, akey, v.encode())
        return v

    # ----- called by the trigger engine ---------------------------------------------------
    def expose(
        self,
        tx: Any,
        blob: dict,
        name: str,
        customer_id: Any,
        key: str,
        e: int,
        rule: str,
        segment_id: int | None,
        schedule: Any,
    ) -> str:
        """The firing ``key`` of ``rule`` at ``e`` exposes the customer: their variant."""
        exp = self.experiments[name]
        known = blob.get("v")
        v = self.variant_for(tx, name, customer_id, key, None if known is None else known.get(name))
        blob.setdefault("v", {})[name] = v
        end = e + int(exp.conversion.within)
        # open exposure: [experiment, variant, time, key, window end, converted, rule,
        # segment, conversion time, value] (the row is rewritten from it, not read back)
        x = [name, v, e, key, end, 0, rule, segment_id, None, None]
        blob["x"].append(x)
        tx.put(NS_EXPOSURE, f"{name}|{tkey(e)}|{key}", dumps(_row(customer_id, x, "open", False)))
        stats = self.stats(tx, name)
        stats.setdefault(v, [0, 0, 0])[0] += 1
        self._put_stats(tx, name, stats)
        schedule(end, CLOSE, name, e, key, [key])
        return v

    def convert(self, tx: Any, blob: dict, t: int, pay: list) -> None:
        """A conversion event ``pay = [type, category, amount]`` at ``t``."""
        et, cat, amount = pay
        for x in blob["x"]:
            name, v, e, key, end, done = x[:6]
            exp = self.experiments.get(name)
            if (
                done
                or exp is None
                or et != exp.conversion.event
                or not e < t <= end
                or not self._conv[name].row(cat, amount)
            ):
                continue
            x[5] = 1
            rkey = f"{name}|{tkey(e)}|{key}"
            if len(x) > 6:
                x[8], x[9] = t, amount
                row = _row(blob["id"], x, "converted", False)
            else:  # an exposure opened before its record carried the row's fields
                row = loads(tx.get(NS_EXPOSURE, rkey))
                row.update(status="converted", conversion_ts_us=t, value=amount)
            tx.put(NS_EXPOSURE, rkey, dumps(row))
            stats = self.stats(tx, name)
            stats.setdefault(v, [0, 0, 0])[1] += 1
            self._put_stats(tx, name, stats)

    def close(self, tx: Any, blob: dict, t: int, pay: list) -> None:
        """The conversion window of exposure ``pay = [firing key]`` closes at ``t``."""
        keep = []
        for x in blob["x"]:
            if x[3] != pay[0]:
                keep.append(x)
                continue
            name, v, e, key, _, done = x[:6]
            rkey = f"{name}|{tkey(e)}|{key}"
            if len(x) > 6:
                row = _row(blob["id"], x, "converted" if done else "not_converted", True)
            else:
                row = loads(tx.get(NS_EXPOSURE, rkey))
            row["matured"] = True
            if not done:
                row["status"] = "not_converted"
                if name in self.experiments:
                    stats = self.stats(tx, name)
                    stats.setdefault(v, [0, 0, 0])[2] += 1
                    self._put_stats(tx, name, stats)
            tx.put(NS_EXPOSURE, rkey, dumps(row))
        blob["x"] = keep

    # ----- reading --------------------------------------------------------------------------
    def stats(self, tx: Any, name: str) -> dict[str, list[int]]:
        """``{variant: [exposures, successes, failures]}`` of experiment ``name``."""
        if self._tx is not tx:  # a new transaction: nothing cached, nothing pending
            self._tx, self._cached, self._dirty = tx, {}, set()
        got = self._cached.get(name)
        if got is None:
            raw = tx.get(NS_STATS, name)
            got = self._cached[name] = {} if raw is None else loads(raw)
        return got

    def _put_stats(self, tx: Any, name: str, stats: dict) -> None:
        self._cached[name] = stats
        self._dirty.add(name)

    def flush(self, tx: Any) -> None:
        """Write the statistics changed in ``tx`` (called once per advance)."""
        if self._tx is tx:
            for name in self._dirty:
                tx.put(NS_STATS, name, dumps(self._cached[name]))
            self._dirty = set()


def _row(customer_id: Any, x: list, status: str, matured: bool) -> dict:
    """The exposure row of an open-exposure entry (written at exposure, rewritten when it
    converts or matures)."""
    name, v, e, key, _, _, rule, seg, conv_t, value = x
    return {
        "experiment": name,
        "variant": v,
        "customer_id": customer_id,
        "ts_us": e,
        "key": key,
        "rule": rule,
        "segment_id": seg,
        "status": status,
        "matured": matured,
        "conversion_ts_us": conv_t,
        "value": value,
    }


def read_exposures(tx: Any, name: str | None = None) -> list[dict]:
    """Exposure rows (of one experiment, or all) in (experiment, time) order."""
    if name is None:
        return [loads(v) for _, v in tx.scan(NS_EXPOSURE)]
    return [loads(v) for _, v in tx.scan(NS_EXPOSURE, prefix=f"{name}|")]
