"""Suggested marketing triggers per segment, from a documented table.

These are *suggestions* for a marketer to consider, not decisions.  A segment gets the
triggers of its lifecycle state (win-back for lapsed customers, onboarding for new ones,
first-purchase offers for non-buyers ...; :data:`STATE_TRIGGERS`) and of the behavior rule
its evidence supports (:data:`TRIGGERS`), whatever its displayed name, so a segment whose
name was overridden still gets the triggers its behavior suggests.  A segment with
neither gets :data:`DEFAULT_TRIGGERS`.  The tables are in ``docs/segments.md``.
"""

from __future__ import annotations

from archetype.segments.naming import explain_names
from archetype.segments.profiles import SegmentProfiles

#: Marker prefixed to every suggestion shown to a user.
SUGGESTION_LABEL = "Suggested"

#: Lifecycle state (segment level) → suggested triggers.
STATE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "new": (
        "Onboarding series: second-purchase incentive within 30 days",
        "Preference centre: ask what they want to hear about",
    ),
    "non_buyer": (
        "First-purchase incentive in the channel they already use",
        "Stop generic sends after 90 days without any response",
    ),
    "one_time": (
        "Second-purchase nudge: related items to their first purchase",
        "Ask for a review of what they bought",
    ),
    "one_time_lapsed": (
        "One win-back offer, then suppress from regular sends",
        "Exclude from paid retargeting audiences",
    ),
    "lapsed": (
        "Win-back sequence with a time-limited incentive, then stop generic sends",
        "Ask why they stopped: one-question survey with a thank-you credit",
    ),
    "lapsing": (
        "Win-back: personal 'we miss you' offer before they go silent",
        "Replenishment or 'new since your last visit' reminder",
    ),
    "active": ("Loyalty points or a subscription offer",),
}

#: Behavior rule name → suggested triggers.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "VIP big spenders": (
        "Early access to new collections and a personal concierge contact",
        "Protect margin: avoid blanket discounts; reward with service, not price",
    ),
    "Loyal advocates": (
        "Referral rewards: thank-you credit when a referred friend buys",
        "Invite to reviews, beta programs and the loyalty tier above",
    ),
    "Deal hunters": (
        "Sale and price-drop alerts on viewed items",
        "Bundle offers that lift basket size instead of deeper discounts",
    ),
    "Cart abandoners": (
        "Abandoned-cart reminder within 1-24 h (email or push)",
        "Free-shipping threshold or payment-option message at checkout",
    ),
    "Holiday shoppers": (
        "Gift guides and reminders 3-4 weeks before the holidays",
        "Shipping-deadline countdown emails in December",
    ),
    "Back-to-school shoppers": (
        "Back-to-school checklist campaign in late July",
        "Reminder of last year's categories before the season",
    ),
    "Black Friday shoppers": (
        "Early-access Black Friday list sign-up in early November",
        "Post-sale cross-sell of complementary items",
    ),
    "Last-minute buyers": (
        "Urgency messages: low stock, delivery-by dates, same-day shipping",
        "Retarget browsing sessions within 24-48 h with the viewed items",
    ),
    "Window shoppers": (
        "Browse-abandonment emails with the items viewed",
        "Social proof (reviews, popularity) on product pages they revisit",
    ),
    "Weekend shoppers": ("Schedule sends and promotions for Friday evening / Saturday morning",),
    "Frequent regulars": (
        "Loyalty points and subscription / auto-replenish offers",
        "Ask for a referral: they already buy often",
    ),
    "Serial returners": (
        "Fit and size guidance before purchase",
        "Review return policy costs for this group",
    ),
    "Email fans": (
        "Convert the attention: first-purchase incentive in the email they open",
        "Product-led emails (bestsellers, reviews) rather than newsletters",
    ),
}

#: Triggers of an occasion rule not in :data:`TRIGGERS` (a configured occasion window).
OCCASION_TRIGGERS: tuple[str, ...] = (
    "Reminder 3-4 weeks before the occasion with last year's categories",
    "Shipping-deadline countdown in the days before it",
)

DEFAULT_TRIGGERS: tuple[str, ...] = (
    "Regular newsletter; test which message this group responds to",
)


def suggest_triggers(profiles: SegmentProfiles) -> dict[int, list[str]]:
    """Suggested triggers per segment, keyed by segment id.

    Its lifecycle state's triggers (an active segment with a behavior: only the
    behavior's), then its behavior rule's (a configured occasion gets
    :data:`OCCASION_TRIGGERS`), without repeats.  Uses the names already explained on
    ``profiles`` (or explains them).  Suggestions only: the caller shows them marked as
    such (:data:`SUGGESTION_LABEL`).
    """
    naming = profiles.naming or explain_names(profiles)
    out: dict[int, list[str]] = {}
    for sid in (int(s) for s in profiles.segment_ids):
        n = naming[sid]
        sugg: list[str] = []
        if n.state is not None and not (n.state == "active" and n.rule is not None):
            sugg += STATE_TRIGGERS.get(n.state, ())
        if n.rule is not None:
            rule_trig = TRIGGERS.get(n.rule, OCCASION_TRIGGERS)
            sugg += [t for t in rule_trig if t not in sugg]
        out[sid] = sugg or list(DEFAULT_TRIGGERS)
    return out
