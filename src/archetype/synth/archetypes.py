"""The planted behavioral archetypes: one parameter row per archetype.

Each archetype is a :class:`ArchetypeSpec`: expected counts of each kind of activity per
365 days of tenure (scaled by the customer's active span and a per-customer lognormal
activity multiplier), how purchase days are chosen (evenly spaced, on promo days, in
occasion windows, or at random), how long the customer browses before buying, spend,
discounts, returns, hour of day, channel and category habits.  See ``README.md`` next to
this module for the behavior each row encodes and the feature signature it leaves.

Every archetype has a small non-zero rate of every activity, so the log holds "noise"
events of every type for every kind of customer and no archetype is recognised by one
feature alone.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from archetype.events import schema

#: Event types in code order (``event_type`` codes used inside the generator): the schema's.
EVENT_TYPES: tuple[str, ...] = schema.EVENT_TYPES
VIEW, ADD_TO_CART, PURCHASE, EMAIL_OPEN, EMAIL_CLICK, AD_CLICK, REFERRAL, SESSION_START = range(8)

#: Channels in code order; ``SHOP_CHANNELS`` are those a shopping session can use.
CHANNELS: tuple[str, ...] = ("web", "app", "store", "social", "email")
SHOP_CHANNELS = 4  # web, app, store, social
EMAIL_CHANNEL = 4
SOCIAL_CHANNEL = 3

#: Product categories in code order.
CATEGORIES: tuple[str, ...] = (
    "electronics",
    "apparel",
    "home",
    "beauty",
    "grocery",
    "sports",
    "toys",
    "books",
    "garden",
    "jewelry",
)


@dataclass(frozen=True)
class ArchetypeSpec:
    """Behavior parameters of one archetype (rates are expected counts per 365 active days).

    Attributes
    ----------
    name : str
        snake_case archetype name, as written to ``truth.parquet``.
    share : float
        Fraction of customers drawn from this archetype.
    purchases : float
        Purchase journeys (view → add_to_cart → purchase) per year.
    regular : float
        Spacing of purchase days: 0 = at random (Poisson, CV ~ 1); > 0 = evenly spaced with
        a jitter of ``1 - regular`` interval (CV well below 1).
    p_promo, p_occasion : float
        Probability that a purchase day is moved onto a promo day / an occasion day.
    lead_lo, lead_hi : float
        Hours between the journey's first view and its purchase, uniform in [lo, hi].
    journey_views : float
        Extra views per journey (Poisson) besides the first one.
    browse : float
        Browse sessions per year that end without a purchase.
    browse_views, browse_carts : float
        Views (1 + Poisson) and abandoned add_to_carts (Poisson) per browse session.
    emails, p_click : float
        Email opens per year, and the chance that an open is followed by a click.
    ads, referrals : float
        Ad clicks and referrals per year.
    price_mu, price_sigma : float
        Lognormal unit price (log-mean, log-sd) in currency units.
    extra_qty : float
        Quantity is ``1 + Poisson(extra_qty)``.
    p_discount : float
        Chance of a discount on a purchase that is not on a promo day.
    p_return : float
        Chance that a purchase is later returned (a negative-amount purchase event).
    hour, hour_sd : float
        Preferred hour of day of sessions and purchases (normal, wrapped to 0..24).
    p_weekend : float
        Chance that a random activity day is moved to the weekend.
    channels : tuple of 4 floats
        Shopping channel mix over (web, app, store, social).
    p_fav : float
        Chance that a shopping event is in the customer's favourite category.
    p_new : float
        Chance that the customer's tenure starts part-way through the window.
    lapsed : bool
        The customer goes silent for the last 100–180 days of the window.
    """

    name: str
    share: float
    purchases: float
    regular: float
    p_promo: float
    p_occasion: float
    lead_lo: float
    lead_hi: float
    journey_views: float
    browse: float
    browse_views: float
    browse_carts: float
    emails: float
    p_click: float
    ads: float
    referrals: float
    price_mu: float
    price_sigma: float
    extra_qty: float
    p_discount: float
    p_return: float
    hour: float
    hour_sd: float
    p_weekend: float
    channels: tuple[float, float, float, float]
    p_fav: float
    p_new: float = 0.12
    lapsed: bool = False


_S = ArchetypeSpec
SPECS: tuple[ArchetypeSpec, ...] = (
    _S("loyal_advocate", 0.12, purchases=7, regular=0.8, p_promo=0.0, p_occasion=0.0,
       lead_lo=0.2, lead_hi=3.0, journey_views=1.0, browse=1.5, browse_views=1.0,
       browse_carts=0.1, emails=7, p_click=0.3, ads=1, referrals=3,
       price_mu=3.6, price_sigma=0.5, extra_qty=0.5, p_discount=0.08, p_return=0.03,
       hour=8, hour_sd=1.5, p_weekend=0.0, channels=(0.2, 0.75, 0.03, 0.02), p_fav=0.85),
    _S("deal_hunter", 0.15, purchases=5, regular=0.0, p_promo=0.92, p_occasion=0.0,
       lead_lo=96, lead_hi=360, journey_views=1.0, browse=3.5, browse_views=1.5,
       browse_carts=0.3, emails=6, p_click=0.25, ads=7, referrals=0.1,
       price_mu=3.2, price_sigma=0.6, extra_qty=1.0, p_discount=0.15, p_return=0.10,
       hour=20, hour_sd=2.0, p_weekend=0.0, channels=(0.45, 0.2, 0.05, 0.3), p_fav=0.15),
    _S("last_minute_buyer", 0.10, purchases=5.5, regular=0.0, p_promo=0.0, p_occasion=0.0,
       lead_lo=24, lead_hi=48, journey_views=1.5, browse=0.3, browse_views=1.0,
       browse_carts=0.1, emails=3, p_click=0.1, ads=1, referrals=0.1,
       price_mu=4.0, price_sigma=0.6, extra_qty=0.3, p_discount=0.0, p_return=0.04,
       hour=23, hour_sd=1.0, p_weekend=0.0, channels=(0.85, 0.1, 0.0, 0.05), p_fav=0.3),
    _S("occasion_shopper", 0.10, purchases=5, regular=0.0, p_promo=0.0, p_occasion=0.92,
       lead_lo=72, lead_hi=240, journey_views=1.0, browse=3, browse_views=1.0,
       browse_carts=0.2, emails=8, p_click=0.15, ads=2, referrals=0.2,
       price_mu=4.4, price_sigma=0.6, extra_qty=1.2, p_discount=0.05, p_return=0.06,
       hour=14, hour_sd=2.0, p_weekend=0.7, channels=(0.25, 0.15, 0.55, 0.05), p_fav=0.2),
    _S("cart_abandoner", 0.12, purchases=3, regular=0.0, p_promo=0.0, p_occasion=0.0,
       lead_lo=0.5, lead_hi=6, journey_views=1.0, browse=6, browse_views=1.0,
       browse_carts=2.5, emails=4, p_click=0.15, ads=2, referrals=0.05,
       price_mu=3.7, price_sigma=0.6, extra_qty=0.3, p_discount=0.1, p_return=0.05,
       hour=21, hour_sd=2.5, p_weekend=0.0, channels=(0.3, 0.6, 0.0, 0.1), p_fav=0.5),
    _S("window_shopper", 0.14, purchases=0.1, regular=0.0, p_promo=0.0, p_occasion=0.0,
       lead_lo=100, lead_hi=400, journey_views=2.0, browse=9, browse_views=3.5,
       browse_carts=0.0, emails=3, p_click=0.1, ads=3, referrals=0.05,
       price_mu=3.5, price_sigma=0.6, extra_qty=0.2, p_discount=0.1, p_return=0.05,
       hour=15, hour_sd=3.0, p_weekend=0.5, channels=(0.55, 0.25, 0.05, 0.15), p_fav=0.2),
    _S("lapsed", 0.10, purchases=9, regular=0.5, p_promo=0.0, p_occasion=0.0,
       lead_lo=0.2, lead_hi=4, journey_views=1.5, browse=2, browse_views=1.0,
       browse_carts=0.2, emails=2, p_click=0.2, ads=2, referrals=0.3,
       price_mu=3.3, price_sigma=0.5, extra_qty=0.2, p_discount=0.35, p_return=0.05,
       hour=17, hour_sd=2.0, p_weekend=0.2, channels=(0.2, 0.7, 0.05, 0.05), p_fav=0.8,
       p_new=0.0, lapsed=True),
    _S("vip", 0.05, purchases=14, regular=0.6, p_promo=0.0, p_occasion=0.0,
       lead_lo=0.1, lead_hi=2.0, journey_views=0.5, browse=1, browse_views=1.0,
       browse_carts=0.1, emails=6, p_click=0.2, ads=1, referrals=1.0,
       price_mu=5.6, price_sigma=1.0, extra_qty=1.5, p_discount=0.03, p_return=0.08,
       hour=12, hour_sd=2.0, p_weekend=0.2, channels=(0.2, 0.3, 0.48, 0.02), p_fav=0.6),
    _S("email_engaged_non_buyer", 0.12, purchases=0.15, regular=0.0, p_promo=0.0,
       p_occasion=0.0, lead_lo=0.05, lead_hi=1.0, journey_views=0.5, browse=2,
       browse_views=1.0, browse_carts=0.0, emails=26, p_click=0.4, ads=0.5,
       referrals=0.05, price_mu=3.4, price_sigma=0.5, extra_qty=0.2, p_discount=0.2,
       p_return=0.05, hour=9, hour_sd=2.0, p_weekend=0.0, channels=(0.7, 0.2, 0.0, 0.1),
       p_fav=0.4),
)
del _S

#: Planted archetype names, in the order of their integer codes.
ARCHETYPES: tuple[str, ...] = tuple(s.name for s in SPECS)
#: Configured share of each archetype (sums to 1).
ARCHETYPE_MIX: dict[str, float] = {s.name: s.share for s in SPECS}

#: Per-customer activity multiplier: lognormal(0, ACTIVITY_SIGMA) on every rate.
ACTIVITY_SIGMA = 0.25
#: Lapsed customers are silent for the last LAPSE_MIN..LAPSE_MAX days of the window.
LAPSE_MIN_DAYS, LAPSE_MAX_DAYS = 100, 180


def spec_table(specs: tuple[ArchetypeSpec, ...] = SPECS) -> dict[str, np.ndarray]:
    """Every numeric :class:`ArchetypeSpec` field as an array indexed by archetype code.

    ``specs`` defaults to the planted archetypes (:data:`SPECS`); the drift scenario passes
    its own.

    ``channels`` becomes an ``(n_archetypes, 4)`` cumulative-probability table
    (``"channel_cdf"``) for inverse-CDF sampling.
    """
    out: dict[str, np.ndarray] = {}
    for f in fields(ArchetypeSpec):
        if f.name in ("name", "channels"):
            continue
        out[f.name] = np.array([getattr(s, f.name) for s in specs], dtype=np.float64)
    ch = np.array([s.channels for s in specs], dtype=np.float64)
    ch /= ch.sum(axis=1, keepdims=True)
    out["channel_cdf"] = np.cumsum(ch, axis=1)
    out["share_cdf"] = np.cumsum(out["share"] / out["share"].sum())
    return out
