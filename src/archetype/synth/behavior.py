"""Vectorized generation of one chunk of customers' events.

A chunk is :data:`CHUNK` consecutive customers generated with their own RNG, seeded from
``(seed, chunk index)``; the output therefore depends on the seed and the customer range
only, never on how chunks are grouped into write blocks.  Everything is NumPy over whole
chunks: per-customer counts are Poisson draws, ``np.repeat`` turns them into per-activity
owner indices, and every activity's times are drawn in one call.

Times are float days since the window's first day (``t = day + hour / 24``); events that
fall outside ``[0, days)`` (a journey that started before the window, a return after its
end) are dropped.  Missing values: ``amount``/``discount`` NaN, ``quantity`` and
``category`` -1 (written as nulls).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archetype.synth import archetypes as A
from archetype.synth.calendar import CAMPAIGN_HOUR

#: Customers per RNG chunk (the unit of reproducibility).
CHUNK = 2048
_MIN = 1.0 / 1440.0  # one minute in days
_HOUR = 1.0 / 24.0


@dataclass(frozen=True)
class World:
    """Everything global a chunk needs: window length, calendars, archetype table."""

    days: int
    promo: np.ndarray  # sorted day offsets
    occasion: tuple[np.ndarray, ...]  # sorted day offsets per calendar.OCCASION_CYCLE slot
    campaign: np.ndarray
    weekend: np.ndarray  # bool per day offset
    promo_mask: np.ndarray  # bool per day offset
    first_weekday: int  # weekday (Mon=0) of day offset 0
    table: dict[str, np.ndarray]


@dataclass
class ChunkEvents:
    """Column arrays of one chunk's events (unsorted) and its customers' archetypes."""

    customer: np.ndarray  # int64 customer ids
    t: np.ndarray  # float64 days since window start
    event_type: np.ndarray  # int8 code into A.EVENT_TYPES
    amount: np.ndarray  # float64, NaN = null
    quantity: np.ndarray  # int32, -1 = null
    discount: np.ndarray  # float64, NaN = null
    channel: np.ndarray  # int8 code into A.CHANNELS
    category: np.ndarray  # int8 code into A.CATEGORIES, -1 = null
    archetype: np.ndarray  # int8 per customer of the chunk


class _Parts:
    """Collects event columns piece by piece, filling absent ones with nulls."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in _COLS}

    def add(self, owner, t, etype, channel, category=None, amount=None, qty=None, disc=None):
        n = len(owner)
        self.cols["owner"].append(owner)
        self.cols["t"].append(t)
        self.cols["event_type"].append(np.full(n, etype, dtype=np.int8))
        self.cols["channel"].append(np.broadcast_to(np.asarray(channel, np.int8), (n,)))
        self.cols["category"].append(_or(category, n, -1, np.int8))
        self.cols["amount"].append(_or(amount, n, np.nan, np.float64))
        self.cols["quantity"].append(_or(qty, n, -1, np.int32))
        self.cols["discount"].append(_or(disc, n, np.nan, np.float64))

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.cols.items()}


_COLS = ("owner", "t", "event_type", "channel", "category", "amount", "quantity", "discount")


def _or(values, n: int, fill, dtype) -> np.ndarray:
    if values is None:
        return np.full(n, fill, dtype=dtype)
    return np.broadcast_to(np.asarray(values, dtype=dtype), (n,))


class _Chunk:
    """Per-customer draws of one chunk and the samplers that use them."""

    def __init__(self, world: World, rng: np.random.Generator, n: int) -> None:
        self.w, self.rng, self.n = world, rng, n
        tab, days = world.table, world.days
        self.arch = np.searchsorted(tab["share_cdf"], rng.random(n), side="right").astype(np.int8)
        np.minimum(self.arch, len(A.ARCHETYPES) - 1, out=self.arch)
        a = self.arch
        self.mult = rng.lognormal(0.0, A.ACTIVITY_SIGMA, n)
        lapsed = tab["lapsed"][a] > 0
        new = rng.random(n) < tab["p_new"][a]
        first = np.where(new, np.floor(rng.random(n) * 0.4 * days), 0.0)
        first = np.where(lapsed, np.floor(rng.random(n) * 0.1 * days), first)
        quiet = rng.uniform(A.LAPSE_MIN_DAYS, A.LAPSE_MAX_DAYS, n)
        quiet = np.minimum(quiet, 0.6 * days)
        last = np.where(lapsed, np.floor(days - 1 - quiet), days - 1.0)
        self.first = first.astype(np.int64)
        self.last = np.maximum(last.astype(np.int64), self.first)
        self.span = (self.last - self.first + 1).astype(np.float64)
        self.fav = rng.integers(0, len(A.CATEGORIES), n).astype(np.int8)
        self.occ_offset = rng.integers(0, len(world.occasion), n)

    # ----- counts and per-activity draws -------------------------------------------------
    def counts(self, rate: str) -> tuple[np.ndarray, np.ndarray]:
        """Poisson count per customer of activity ``rate``; returns (owner, counts)."""
        lam = self.w.table[rate][self.arch] * self.mult * self.span / 365.0
        cnt = self.rng.poisson(lam)
        return np.repeat(np.arange(self.n), cnt), cnt

    def param(self, name: str, owner: np.ndarray) -> np.ndarray:
        return self.w.table[name][self.arch[owner]]

    def uniform_day(self, owner: np.ndarray) -> np.ndarray:
        return self.first[owner] + np.floor(self.rng.random(len(owner)) * self.span[owner]).astype(
            np.int64
        )

    def weekend_shift(self, owner: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Move a share ``p_weekend`` of days to the Saturday/Sunday of their week."""
        move = self.rng.random(len(owner)) < self.param("p_weekend", owner)
        wd = (day + self.w.first_weekday) % 7
        target = day - wd + 5 + (self.rng.random(len(owner)) < 0.5)
        ok = move & (target >= self.first[owner]) & (target <= self.last[owner])
        return np.where(ok, target, day)

    def calendar_day(self, cal: np.ndarray, owner: np.ndarray, day: np.ndarray, p) -> tuple:
        """With probability ``p`` replace ``day`` by a random calendar day in the span."""
        move = self.rng.random(len(owner)) < p
        if len(cal) == 0:
            return day, np.zeros(len(owner), dtype=bool)
        lo = np.searchsorted(cal, self.first[owner], side="left")
        hi = np.searchsorted(cal, self.last[owner], side="right")
        move &= hi > lo
        idx = lo + np.floor(self.rng.random(len(owner)) * (hi - lo)).astype(np.int64)
        picked = cal[np.minimum(idx, len(cal) - 1)]
        return np.where(move, picked, day), move

    def hour(self, owner: np.ndarray) -> np.ndarray:
        h = self.rng.normal(self.param("hour", owner), self.param("hour_sd", owner))
        return np.mod(h, 24.0) * _HOUR

    def category(self, owner: np.ndarray) -> np.ndarray:
        fav = self.rng.random(len(owner)) < self.param("p_fav", owner)
        rnd = self.rng.integers(0, len(A.CATEGORIES), len(owner)).astype(np.int8)
        return np.where(fav, self.fav[owner], rnd)

    def channel(self, owner: np.ndarray) -> np.ndarray:
        cdf = self.w.table["channel_cdf"][self.arch[owner]]
        u = self.rng.random(len(owner))[:, None]
        return np.minimum((u >= cdf).sum(axis=1), A.SHOP_CHANNELS - 1).astype(np.int8)


def generate_chunk(world: World, seed: int, chunk: int, first_id: int, n: int) -> ChunkEvents:
    """Events of customers ``first_id .. first_id + n - 1`` (chunk number ``chunk``)."""
    rng = np.random.default_rng([seed, chunk])
    c = _Chunk(world, rng, n)
    parts = _Parts()
    _purchases(c, parts)
    _browse(c, parts)
    _email(c, parts)
    _ads_and_referrals(c, parts)
    cols = parts.concat()
    keep = (cols["t"] >= 0.0) & (cols["t"] < world.days)
    return ChunkEvents(
        customer=cols["owner"][keep].astype(np.int64) + first_id,
        t=cols["t"][keep],
        event_type=cols["event_type"][keep],
        amount=cols["amount"][keep],
        quantity=cols["quantity"][keep],
        discount=cols["discount"][keep],
        channel=cols["channel"][keep],
        category=cols["category"][keep],
        archetype=c.arch,
    )


def _purchases(c: _Chunk, parts: _Parts) -> None:
    """Purchase journeys: first view (lead time before) → add_to_cart → purchase → return."""
    rng, w = c.rng, c.w
    owner, cnt = c.counts("purchases")
    m = len(owner)
    # Purchase day: evenly spaced (regular) or random, then promo / occasion days.
    rank = np.arange(m) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    regular = c.param("regular", owner)
    jitter = rng.normal(0.0, 1.0, m) * (1.0 - regular) * 0.5
    frac = np.clip((rank + 0.5 + jitter) / np.maximum(cnt[owner], 1), 0.0, 0.999999)
    spaced = c.first[owner] + np.floor(frac * c.span[owner]).astype(np.int64)
    day = np.where(regular > 0, spaced, c.weekend_shift(owner, c.uniform_day(owner)))
    day, on_sale = c.calendar_day(w.promo, owner, day, c.param("p_promo", owner))
    # Occasion purchases cycle through the occasions (holidays, back-to-school, ...).
    occ = rng.random(m) < c.param("p_occasion", owner)
    slot = (rank + c.occ_offset[owner]) % len(w.occasion)
    for i, cal_i in enumerate(w.occasion):
        sel = np.flatnonzero(occ & (slot == i))
        day[sel], _ = c.calendar_day(cal_i, owner[sel], day[sel], 1.0)
    tp = day + c.hour(owner)
    lead = rng.uniform(c.param("lead_lo", owner), c.param("lead_hi", owner)) * _HOUR
    t0 = tp - lead
    cat = c.category(owner)
    chan = c.channel(owner)
    # Money: lognormal unit price × quantity × (1 − discount).
    qty = 1 + rng.poisson(c.param("extra_qty", owner)).astype(np.int32)
    price = rng.lognormal(c.param("price_mu", owner), c.param("price_sigma", owner))
    promo_day = w.promo_mask[np.clip(day, 0, w.days - 1)]
    p_disc = np.where(on_sale, 1.0, np.where(promo_day, 0.5, c.param("p_discount", owner)))
    disc = np.where(rng.random(m) < p_disc, np.round(rng.uniform(0.1, 0.5, m) * 20) / 20, 0.0)
    amount = np.round(price * qty * (1.0 - disc), 2)

    parts.add(owner, t0, A.SESSION_START, chan)
    parts.add(owner, t0 + _MIN, A.VIEW, chan, cat)
    xv = rng.poisson(c.param("journey_views", owner))
    xo = np.repeat(np.arange(m), xv)
    long_lead = c.param("lead_lo", owner)[xo] >= 72.0
    spread = np.where(long_lead, lead[xo], np.minimum(lead[xo], 2 * _HOUR))
    parts.add(owner[xo], t0[xo] + rng.random(len(xo)) * spread, A.VIEW, chan[xo], cat[xo])
    cart_t = np.minimum(t0 + rng.uniform(2, 30, m) * _MIN, tp - _MIN)
    parts.add(owner, cart_t, A.ADD_TO_CART, chan, cat, qty=qty)
    new_sess = lead > _HOUR
    parts.add(owner[new_sess], tp[new_sess] - 3 * _MIN, A.SESSION_START, chan[new_sess])
    parts.add(owner, tp, A.PURCHASE, chan, cat, amount=amount, qty=qty, disc=disc)
    ret = rng.random(m) < c.param("p_return", owner)
    t_ret = tp[ret] + rng.uniform(3.0, 30.0, int(ret.sum()))
    parts.add(owner[ret], t_ret, A.PURCHASE, chan[ret], cat[ret], amount=-amount[ret],
              qty=qty[ret], disc=disc[ret])


def _browse(c: _Chunk, parts: _Parts) -> None:
    """Sessions without a purchase: views and (abandoned) add_to_carts."""
    rng = c.rng
    owner, _ = c.counts("browse")
    day = c.weekend_shift(owner, c.uniform_day(owner))
    day, _ = c.calendar_day(c.w.promo, owner, day, 0.5 * c.param("p_promo", owner))
    ts = day + c.hour(owner)
    chan = c.channel(owner)
    parts.add(owner, ts, A.SESSION_START, chan)
    nv = 1 + rng.poisson(c.param("browse_views", owner))
    vo = np.repeat(np.arange(len(owner)), nv)
    parts.add(owner[vo], ts[vo] + rng.uniform(1, 30, len(vo)) * _MIN, A.VIEW, chan[vo],
              c.category(owner[vo]))
    nc = rng.poisson(c.param("browse_carts", owner))
    co = np.repeat(np.arange(len(owner)), nc)
    parts.add(owner[co], ts[co] + rng.uniform(2, 35, len(co)) * _MIN, A.ADD_TO_CART,
              chan[co], c.category(owner[co]), qty=1)


def _email(c: _Chunk, parts: _Parts) -> None:
    """Email opens on campaign days (delay after the send), some followed by a click+view."""
    rng = c.rng
    owner, _ = c.counts("emails")
    day, _ = c.calendar_day(c.w.campaign, owner, c.uniform_day(owner), 1.0)
    t = day + CAMPAIGN_HOUR * _HOUR + rng.exponential(4.0, len(owner)) * _HOUR
    parts.add(owner, t, A.EMAIL_OPEN, A.EMAIL_CHANNEL)
    click = rng.random(len(owner)) < c.param("p_click", owner)
    co, tc = owner[click], t[click] + rng.uniform(0.5, 15.0, int(click.sum())) * _MIN
    cat = c.category(co)
    parts.add(co, tc, A.EMAIL_CLICK, A.EMAIL_CHANNEL, cat)
    view = rng.random(len(co)) < 0.6
    parts.add(co[view], tc[view] + _MIN, A.VIEW, A.EMAIL_CHANNEL, cat[view])


def _ads_and_referrals(c: _Chunk, parts: _Parts) -> None:
    """Ad clicks (social, half followed by a view) and referrals."""
    rng = c.rng
    owner, _ = c.counts("ads")
    day, _ = c.calendar_day(c.w.promo, owner, c.uniform_day(owner), 0.5 * c.param("p_promo", owner))
    t = day + c.hour(owner)
    cat = c.category(owner)
    parts.add(owner, t, A.AD_CLICK, A.SOCIAL_CHANNEL, cat)
    view = rng.random(len(owner)) < 0.5
    parts.add(owner[view], t[view] + _MIN, A.VIEW, A.SOCIAL_CHANNEL, cat[view])
    owner, _ = c.counts("referrals")
    t = c.weekend_shift(owner, c.uniform_day(owner)) + c.hour(owner)
    parts.add(owner, t, A.REFERRAL, c.channel(owner))
