"""Hand-built customer bases where the right name is unambiguous.

Each test builds an event log, computes the real features, profiles the planted groups
(group index = segment id), and checks the names, that every part of a name is backed by
evidence, and that every evidence sentence is printed on that segment's card.
"""

from __future__ import annotations

import re
from html import escape

import numpy as np
import polars as pl
import pytest
from tests.segments.bases import Group, features, make_log

from archetype.report.build import build_report
from archetype.report.html import render_report
from archetype.segments.display import label
from archetype.segments.lifecycle import STATE_NAMES
from archetype.segments.rules import active_rules, resolve_signals


def _report(feats, seg, horizon, **kw):
    asg = pl.DataFrame({"customer_id": feats["customer_id"], "segment_id": seg})
    inputs = build_report(feats, asg, horizon_days=horizon, **kw)
    return inputs, render_report(inputs)


def _card(html: str, sid: int) -> str:
    start = html.index(f'id="segment-{sid}"')
    nxt = html.find('id="segment-', start + 10)
    end = html.index("</section>", start) if nxt < 0 else nxt
    return html[start:end]


def assert_evidence_on_cards(inputs, html):
    """Every name has evidence for each claim, and every sentence is on its card."""
    p = inputs.profiles
    sig = resolve_signals(p.feature_names)
    rules = {r.name: r for r in active_rules(p)}
    for sid, nm in p.naming.items():
        assert nm.evidence, (sid, nm.name)
        card = _card(html, sid)
        assert escape(nm.name) in card
        for line in nm.evidence:
            assert escape(line) in card, (sid, line)
        if nm.state is not None and nm.state != "active":
            assert STATE_NAMES[nm.state].split()[0].lower() in nm.name.lower() or (
                nm.rule is not None
            ), nm
            assert nm.evidence[0][0].isdigit() and "%" in nm.evidence[0]  # "78% lapsed: ..."
        if nm.rule is not None:
            for cond in rules[nm.rule].conditions:
                f = sig[cond.signal]
                assert any(line.startswith(label(f) + ":") for line in nm.evidence), (nm, f)


def test_mostly_lapsed_transaction_base():
    """A CD store: most customers bought once long ago; the largest segments are lapsed."""
    groups = [
        Group(600, [[500], [450], [560], [420]]),  # one-time buyers, 420-560 days ago
        Group(250, [[330, 400], [320, 390], [340, 600]]),  # 2 purchase days, then silence
        Group(100, [[5, 35, 65, 95, 125, 155], [12, 40, 75, 101, 130]]),  # active monthly
        Group(150, [[40], [60], [75]], weekend=True),  # recent one-time, on a weekend
    ]
    log, seg = make_log(groups, seed=1, first_day=700)
    feats, seg, horizon = features(log, seg, drop_types=True)
    inputs, html = _report(feats, seg, horizon)
    names = inputs.names
    assert names[0] == "Lapsed one-time buyers"
    assert names[1] == "Lapsed customers"
    assert names[2] in ("Frequent regulars", "Active repeat buyers")
    assert inputs.profiles.naming[2].state == "active"
    assert names[3] == "One-time buyers"  # not "Weekend shoppers": one purchase is no habit
    # the fill-value artefact: two purchase days have cv 0 by definition; not a fact
    j = inputs.profiles.feature("interpurchase_cv")
    assert inputs.profiles.n_defined[inputs.profiles.row(1), j] == 0
    assert "irregularity" not in " ".join(inputs.profiles.naming[1].evidence)
    assert len(set(names.values())) == 4
    assert_evidence_on_cards(inputs, html)


def test_all_one_time_buyers():
    groups = [Group(300, [[20], [50], [80]]), Group(300, [[300], [330], [360]])]
    log, seg = make_log(groups, seed=2, first_day=400)
    feats, seg, horizon = features(log, seg)
    inputs, html = _report(feats, seg, horizon)
    assert inputs.names == {0: "One-time buyers", 1: "Lapsed one-time buyers"}
    p = inputs.profiles
    for f in ("interpurchase_mean_days", "interpurchase_cv"):
        assert p.pop_n_defined[p.feature(f)] == 0
        assert label(f) not in html  # never shown: nobody has the value
    assert_evidence_on_cards(inputs, html)


def test_non_buyers_are_named_as_such():
    groups = [
        Group(300, [[10, 40, 70, 100], [15, 45, 80]], views_before=1, browse_days=[5, 60]),
        Group(300, browse_days=[3, 30, 90]),  # browse a little, never buy, 0 revenue
        Group(200, browse_days=[20], email_days=list(range(2, 300, 7))),  # read every email
    ]
    log, seg = make_log(groups, seed=3, first_day=365)
    feats, seg, horizon = features(log, seg)
    inputs, html = _report(feats, seg, horizon)
    names = inputs.names
    assert names[1] == "Non-buyers"
    assert names[2] == "Email fans (non-buyers)"
    assert not names[0].startswith(("Non-buyers", "Email"))
    assert "low spender" not in " ".join(names.values()).lower()
    assert inputs.profiles.revenue_shares[inputs.profiles.row(1)] == 0.0
    assert_evidence_on_cards(inputs, html)


def test_new_customers_by_their_own_first_day():
    groups = [
        Group(200, [[3], [8], [12]], browse_days=[14]),  # first seen 14 days ago
        Group(300, [[2, 60, 120, 172], [5, 70, 140, 172]]),  # tenure ~172 days
        Group(300, [[3, 50, 110, 178], [6, 80, 150, 178]]),  # tenure ~178 days
    ]
    log, seg = make_log(groups, seed=4, first_day=365)
    feats, seg, horizon = features(log, seg)
    inputs, html = _report(feats, seg, horizon)
    names = inputs.names
    assert names[0] == "New customers"
    # 172 vs 178 days of tenure is not "new", however far below average it is
    assert not any(names[s].startswith("New") for s in (1, 2))
    assert len(set(names.values())) == 3
    assert_evidence_on_cards(inputs, html)


def test_new_needs_a_log_longer_than_the_new_window():
    # a 20-day log: everybody's first event is recent; nobody can be told "new"
    groups = [Group(100, [[2, 10], [4, 12]]), Group(100, [[15], [18]])]
    log, seg = make_log(groups, seed=5)
    feats, seg, horizon = features(log, seg)
    assert horizon < 30
    inputs, _html = _report(feats, seg, horizon)
    assert not any(n.startswith("New") for n in inputs.names.values())


def test_two_purchase_customers():
    groups = [
        Group(300, [[10, 40], [20, 50], [5, 30]]),  # two purchase days, recent
        Group(300, [[3, 11, 40, 44, 90, 150, 152], [6, 9, 70, 75, 120, 200]]),  # irregular
    ]
    log, seg = make_log(groups, seed=6, first_day=365)
    feats, seg, horizon = features(log, seg)
    inputs, html = _report(feats, seg, horizon)
    p = inputs.profiles
    assert p.n_defined[p.row(0), p.feature("interpurchase_cv")] == 0
    n0 = inputs.profiles.naming[0]
    assert n0.state == "active" and n0.name == "Active repeat buyers"
    assert "irregular" not in html.split('id="segment-0"')[1].split('id="segment-1"')[0]
    assert inputs.names[1] == "Frequent regulars"
    assert_evidence_on_cards(inputs, html)


def test_log_without_money_never_talks_about_revenue():
    groups = [
        Group(200, [[5, 30, 60, 90]], amount=0.0),
        Group(200, [[200], [250]], amount=0.0),
    ]
    log, seg = make_log(groups, seed=7, first_day=365)
    feats, seg, horizon = features(log, seg)
    inputs, html = _report(feats, seg, horizon)
    assert inputs.profiles.revenue_shares is None
    cards = html[html.index('<section id="segments">') : html.index('<section id="heatmap">')]
    assert "revenue" not in cards.lower() and "spend" not in cards.lower()
    assert not any("VIP" in n for n in inputs.names.values())
    assert "no money amounts" in html


def test_last_minute_and_deal_hunters_on_behavior():
    buy = [[5, 40, 80, 120, 160], [10, 50, 90, 130, 170]]
    groups = [
        Group(300, buy, views_before=1),  # browsed the day before: last-minute
        Group(300, buy, views_before=6, discount=0.3),  # planners, always on discount
        Group(300, buy, views_before=6),
    ]
    log, seg = make_log(groups, seed=8, first_day=365)
    feats, seg, horizon = features(log, seg)
    inputs, html = _report(feats, seg, horizon, config={"currency": "€"})
    assert inputs.names[0] == "Last-minute buyers"
    assert inputs.names[1] == "Deal hunters"
    assert re.search(r"€\d", html)  # money carries the configured currency
    assert_evidence_on_cards(inputs, html)


@pytest.mark.parametrize("majority", [0.5, 0.9])
def test_lifecycle_threshold_is_configurable(majority):
    groups = [
        Group(70, [[300, 330]]) ,
        Group(30, [[5, 30, 60]]),
    ]  # fmt: skip
    both = Group(100, [[300, 330], [300, 330], [5, 30, 60]])  # 2/3 lapsed in one segment
    log, seg = make_log([both, *groups], seed=9, first_day=400)
    feats, seg, horizon = features(log, seg)
    inputs, _ = _report(feats, seg, horizon, config={"lifecycle": {"majority": majority}})
    n0 = inputs.profiles.naming[0]
    assert (n0.state == "lapsed") == (majority == 0.5)
    assert np.isclose(inputs.profiles.lifecycle.share(0, "lapsed"), 2 / 3, atol=0.02)


def test_two_segments_in_one_state_are_told_apart_by_what_differs():
    # both lapsed one-time buyers; the smaller bought on a weekend, the larger on weekdays
    weekday = [[416], [444], [472], [500]]  # Thursdays before the as-of (a Thursday)
    groups = [Group(150, [[420], [450], [480]], weekend=True), Group(400, weekday)]
    log, seg = make_log(groups, seed=10, first_day=600)
    feats, seg, horizon = features(log, seg)
    inputs, html = _report(feats, seg, horizon)
    assert inputs.names[1] == "Lapsed one-time buyers"  # the larger keeps the plain name
    assert inputs.names[0] == "Lapsed one-time buyers · higher share of purchases on weekends"
    assert (
        "in \u201cLapsed one-time buyers\u201d (segment 1" in inputs.profiles.naming[0].evidence[-1]
    )
    assert_evidence_on_cards(inputs, html)
