"""Suggested marketing triggers per segment, from a documented table.

These are *suggestions* for a marketer to consider, not decisions: each is keyed on the
automatic rule that named the segment (:data:`archetype.segments.naming.RULES`), so a
segment whose name was overridden still gets the triggers its behavior suggests.  A
segment no rule fits gets :data:`DEFAULT_TRIGGERS`.  The table is in ``docs/segments.md``.
"""

from __future__ import annotations

from archetype.segments.naming import RULES, rule_scores
from archetype.segments.profiles import SegmentProfiles

#: Marker prefixed to every suggestion shown to a user.
SUGGESTION_LABEL = "Suggested"

#: Rule name → suggested triggers.
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
    "Email fans (non-buyers)": (
        "Convert the attention: first-purchase incentive in the email they open",
        "Product-led emails (bestsellers, reviews) rather than newsletters",
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
    "Lapsed loyalists": (
        "Win-back: personal offer on their favourite category, referencing their history",
        "Ask why they stopped: one-question survey with a thank-you credit",
    ),
    "Lapsed customers": (
        "Win-back sequence with a time-limited incentive, then stop generic sends",
        "Suppress from paid retargeting if the win-back gets no response",
    ),
    "Lapsing loyalists": (
        "Win-back: personal 'we miss you' offer before they go silent",
        "Ask for feedback: what changed since their last purchase",
    ),
    "Lapsing customers": (
        "Win-back sequence with a time-limited incentive",
        "Reduce frequency of generic sends to protect deliverability",
    ),
    "Fading regulars": (
        "Re-engagement nudge: replenishment or 'new since your last visit'",
        "Check service issues (returns, delivery) in their recent history",
    ),
    "Weekend browsers": (
        "Schedule sends and promotions for Friday evening / Saturday morning",
        "Weekend-only offer to turn browsing into a first purchase",
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
    "Newcomers": (
        "Onboarding series: second-purchase incentive within 30 days",
        "Preference centre: ask what they want to hear about",
    ),
    "Occasional low spenders": (
        "Low-cost channels only; seasonal reminders",
        "Entry-price bestsellers to grow basket size",
    ),
}

DEFAULT_TRIGGERS: tuple[str, ...] = (
    "Regular newsletter; test which message this group responds to",
)


def suggest_triggers(profiles: SegmentProfiles) -> dict[int, list[str]]:
    """Suggested triggers per segment, keyed by segment id.

    Each segment gets the triggers of its best-scoring firing rule, then those of its
    second-best rule when that one has a different name (one extra suggestion), so a
    "Deal hunter" who also abandons carts hears about both.  Suggestions only: the
    caller shows them marked as such (:data:`SUGGESTION_LABEL`).
    """
    scores = rule_scores(profiles)
    out: dict[int, list[str]] = {}
    for sid in (int(s) for s in profiles.segment_ids):
        fired = scores[sid]
        if not fired:
            out[sid] = list(DEFAULT_TRIGGERS)
            continue
        first = RULES[fired[0][1]].name
        sugg = list(TRIGGERS.get(first, DEFAULT_TRIGGERS))
        for _score, i in fired[1:]:
            other = RULES[i].name
            if other != first and other in TRIGGERS:
                extra = TRIGGERS[other][0]
                if extra not in sugg:
                    sugg.append(extra)
                break
        out[sid] = sugg
    return out
